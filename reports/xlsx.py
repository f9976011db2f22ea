"""Report workbooks: a sheet per table, counts and percentages as numbers, headers frozen.

Built from the published view (`reports.tables.publish`), so a suppressed workbook holds no hidden
count, not even in a cell's value. Labels come from the roster and are written as text that no
spreadsheet evaluates (`core.csvsafe.safe_cell`), as the CSV is.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

from core.csvsafe import safe_cell
from reports.tables import HIDDEN, HIDDEN_NOTE, Table, publish

SHEET_NAME_MAX = 31  # Excel's limit
_NOT_IN_SHEET_NAMES = re.compile(r"[\[\]:*?/\\]")


def sheet_name(title: str, taken: set[str]) -> str:
    base = _NOT_IN_SHEET_NAMES.sub(" ", title.split(": ", 1)[-1]).strip()[:SHEET_NAME_MAX] or "Report"
    name, number = base, 2
    while name.casefold() in taken:
        suffix = f" ({number})"
        name, number = base[: SHEET_NAME_MAX - len(suffix)] + suffix, number + 1
    taken.add(name.casefold())
    return name


def to_xlsx(tables: Sequence[Table], *, suppress_small: bool = False) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    taken: set[str] = set()
    for table in tables:
        shown = publish(table, suppress_small=suppress_small)
        sheet = book.create_sheet(sheet_name(table.title, taken))
        sheet.append([safe_cell(table.title)])
        sheet["A1"].font = Font(bold=True)
        header = [table.row_header, table.base_header]
        for name in table.columns:
            header += [name, f"{name} %"]
        sheet.append([safe_cell(h) for h in header])
        for cell in sheet[2]:
            cell.font = Font(bold=True)
        for index, row in enumerate(shown.rows):
            values: list[object] = [safe_cell(row.label), _number(shown.base(index))]
            for column in range(len(table.columns)):
                share = shown.share(index, column)
                values += [_number(shown.count(index, column)), None if share is None else float(share) / 100]
            sheet.append(values)
            for cell in sheet[sheet.max_row][3::2]:
                cell.number_format = "0%"
        for note in (*table.notes, *((HIDDEN_NOTE,) if shown.suppressed else ())):
            sheet.append([safe_cell(note)])
        sheet.freeze_panes = "B3"  # the title, headers and row labels stay in view
        sheet.column_dimensions["A"].width = max(12, *(len(r.label) + 2 for r in shown.rows)) if shown.rows else 12
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def list_xlsx(title: str, header: Sequence[str], rows: Sequence[Sequence[str]], notes: Sequence[str] = ()) -> bytes:
    """A list of people (alumni who can help) on one sheet: the title, a bold frozen header, a row each."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = sheet_name(title, set())
    sheet.append([safe_cell(title)])
    sheet["A1"].font = Font(bold=True)
    sheet.append([safe_cell(h) for h in header])
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([safe_cell(c) for c in row])
    for note in notes:
        sheet.append([safe_cell(note)])
    sheet.freeze_panes = "A3"
    for index, name in enumerate(header):
        letter = sheet.cell(row=2, column=index + 1).column_letter
        sheet.column_dimensions[letter].width = min(60, max([len(name), *(len(r[index]) for r in rows)]) + 2)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _number(count: int | None) -> int | str:
    """A count as a number; a hidden one as the marker text, never a number."""

    return HIDDEN if count is None else count
