"""One registry, table by table, of how the children's-data rules cover what Waymark stores.

Each rule stays beside the code that applies it: what subject access reads (storage.subject_access
PARTS, or NOT_PERSONAL with the reason), what erasure deletes or clears (storage.erasure), what
retention removes (storage.retention RULES, or NOT_RETAINED with the reason), which columns are
encrypted (storage.encrypted COLUMNS, or NOT_ENCRYPTED). This module gathers them for every table
in the metadata: `registry()` says how each table is exported, erased and retained and which of its
columns are encrypted, and `gaps()` lists every table a rule set forgets and every name a rule set
gives that is no table. The coverage tests read `gaps()`: a table added later without its rules,
or a binary column neither encrypted nor explained, fails them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import LargeBinary, MetaData
from sqlmodel import SQLModel

from storage import encrypted, erasure, retention, subject_access

ASPECTS = ("subject access", "erasure", "retention", "encryption")


@dataclass(frozen=True)
class TableCoverage:
    table: str
    exported: str  # how the export relates its rows to the person, or why it holds nothing personal
    erased: str  # what erasure does to its rows
    retained: str  # the retention kind that removes its rows, or why retention leaves them
    encrypted: tuple[str, ...]  # its encrypted columns (storage.encrypted), decrypted only by readers


def _exported() -> dict[str, str]:
    parts = {name: info.relation for name, info in subject_access.PARTS.items()}
    return {**{name: f"not exported: {why}" for name, why in subject_access.NOT_PERSONAL.items()}, **parts}


def _encrypted_columns() -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for column in encrypted.COLUMNS:
        table = str(column.model.__tablename__)
        found[table] = (*found.get(table, ()), column.name)
    return found


def registry(metadata: MetaData | None = None) -> dict[str, TableCoverage]:
    """Every table of the metadata (default: Waymark's) with its coverage; "" where a rule set has
    none for it (`gaps` names those)."""
    import storage.models  # noqa: F401  (registers every table)

    tables = (metadata or SQLModel.metadata).tables
    exported, erased, retained, columns = _exported(), erasure.coverage(), retention.coverage(), _encrypted_columns()
    return {
        name: TableCoverage(
            name, exported.get(name, ""), erased.get(name, ""), retained.get(name, ""), columns.get(name, ())
        )
        for name in sorted(tables)
    }


def gaps(metadata: MetaData | None = None) -> dict[str, list[str]]:
    """For each aspect, the tables (or binary columns) its rules forget, and the names its rules
    give that are not in the metadata (a rule left behind by a removed table); empty when all is
    covered."""
    import storage.models  # noqa: F401  (registers every table)

    meta = metadata or SQLModel.metadata
    tables = set(meta.tables)
    named = {
        "subject access": set(_exported()),
        "erasure": set(erasure.coverage()),
        "retention": set(retention.coverage()),
    }
    found: dict[str, list[str]] = {}
    for aspect, covered in named.items():
        missing = sorted(tables - covered)
        unknown = sorted(f"{name} (no such table)" for name in covered - tables)
        if missing or unknown:
            found[aspect] = missing + unknown
    binary = {
        f"{table.name}.{column.name}"
        for table in meta.sorted_tables
        for column in table.columns
        if isinstance(column.type, LargeBinary)
    }
    explained = {c.label for c in encrypted.COLUMNS} | set(encrypted.NOT_ENCRYPTED)
    if binary - explained:
        found["encryption"] = sorted(binary - explained)
    return found
