"""CSV export of a report table: a header row, then one row per line of the table and a total.

UTF-8 with a byte-order mark, because Excel on Windows reads a CSV without one as the local code
page and mangles names like "Zoë". Each count has a percentage column beside it.
"""

from __future__ import annotations

from core.csvsafe import csv_text
from reports.tables import Row, Table, count_text, percent_text

BOM = "\ufeff"


def header(table: Table) -> list[str]:
    cells = [table.row_header, table.base_header]
    for name in table.columns:
        cells += [name, f"{name} %"]
    return cells


def _line(row: Row, suppress_small: bool) -> list[str]:
    cells = [row.label, count_text(row.base, suppress_small)]
    for count in row.cells:
        cells += [count_text(count, suppress_small), percent_text(count, row.base, suppress_small)]
    return cells


def to_csv(table: Table, *, suppress_small: bool = False) -> bytes:
    """Labels come from the roster (a gender, an ethnicity): written by `core.csvsafe`, never as formulas."""
    rows = [header(table), *(_line(row, suppress_small) for row in table.rows)]
    if table.rows:
        rows.append(_line(table.total(), suppress_small))
    return (BOM + csv_text(rows)).encode("utf-8")
