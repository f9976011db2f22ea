"""The one registry of how every table is exported, erased, retained and encrypted (storage/coverage.py)."""

from __future__ import annotations

from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table
from sqlmodel import SQLModel

from storage import coverage


def test_every_table_says_how_it_is_exported_erased_and_retained() -> None:
    import storage.models  # noqa: F401  (registers every table)

    found = coverage.registry()
    assert set(found) == set(SQLModel.metadata.tables)
    assert coverage.gaps() == {}
    for table in found.values():
        assert table.exported and table.erased and table.retained, table
    assert found["advicerecord"].encrypted == ("staff_note",)
    assert set(found["concern"].encrypted) == {"words", "context"}
    assert found["journalentry"].encrypted == ()
    assert found["school"].exported.startswith("not exported:")


def test_a_table_added_without_its_rules_is_a_gap_in_every_aspect() -> None:
    import storage.models  # noqa: F401  (registers every table)

    later = MetaData()
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(later)
    Table("pupilphoto", later, Column("id", Integer, primary_key=True), Column("image", LargeBinary))
    found = coverage.gaps(later)
    assert found == {
        "subject access": ["pupilphoto"],
        "erasure": ["pupilphoto"],
        "retention": ["pupilphoto"],
        "encryption": ["pupilphoto.image"],
    }
    assert coverage.registry(later)["pupilphoto"] == coverage.TableCoverage("pupilphoto", "", "", "", ())
