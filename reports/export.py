"""CSV export of a report table: a header row, then one row per line of the table and a total.

UTF-8 with a byte-order mark, because Excel on Windows reads a CSV without one as the local code
page and mangles names like "Zoë". Each count has a percentage column beside it. Counts and
percentages come from the published view (`reports.tables.publish`), so a suppressed CSV holds
no hidden number.
"""

from __future__ import annotations

from core.csvsafe import csv_text
from reports.tables import HIDDEN_NOTE, Shown, Table, publish

BOM = "\ufeff"


def header(table: Table) -> list[str]:
    cells = [table.row_header, table.base_header]
    for name in table.columns:
        cells += [name, f"{name} %"]
    return cells


def lines(shown: Shown) -> list[list[str]]:
    """The header, then each row and the total, as text cells (shared by CSV and XLSX)."""
    rows = [header(shown.table)]
    for index, row in enumerate(shown.rows):
        cells = [row.label, shown.base_text(index)]
        for column in range(len(shown.table.columns)):
            cells += [shown.count_text(index, column), shown.share_text(index, column)]
        rows.append(cells)
    return rows


def to_csv(table: Table, *, suppress_small: bool = False) -> bytes:
    """Labels come from the roster (a gender, an ethnicity): written by `core.csvsafe`, never as formulas."""
    shown = publish(table, suppress_small=suppress_small)
    rows = lines(shown)
    if shown.suppressed:
        rows.append([HIDDEN_NOTE])
    return (BOM + csv_text(rows)).encode("utf-8")


def to_markdown(table: Table, *, suppress_small: bool = False) -> str:
    """A Markdown table (for the README or a wiki): each count with its percentage, e.g. "17 (55%)".

    From the published view like every other form; `|` in a label is escaped so a cell stays one cell."""
    shown = publish(table, suppress_small=suppress_small)

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    head = [table.row_header, table.base_header, *table.columns]
    rows = [
        "| " + " | ".join(cell(h) for h in head) + " |",
        "| " + " | ".join(["---"] + ["---:"] * (len(head) - 1)) + " |",
    ]
    for index, row in enumerate(shown.rows):
        cells = [row.label, shown.base_text(index)]
        for column in range(len(table.columns)):
            share = shown.share_text(index, column)
            cells.append(shown.count_text(index, column) + (f" ({share})" if share else ""))
        rows.append("| " + " | ".join(cell(c) for c in cells) + " |")
    return "\n".join(rows)
