"""The one CSV writer for everything Waymark writes (enrolment codes, reports, exports).

Names and roster values come from outside: a cell starting `=`, `+`, `-`, `@`, a tab or a carriage
return is read by Excel and LibreOffice as a formula (`=HYPERLINK(...)` in a gender column becomes a
live link in the leader's spreadsheet). As OWASP's "CSV Injection" page advises, such a cell is
written with a leading apostrophe, which spreadsheets show as text and do not evaluate. A plain
number (`-3`, `+4.5`, `12%`) is left alone: it is a number, not a formula.

Rows end CRLF (RFC 4180, as Excel writes); callers open files with `newline=""` and, for Excel on
Windows, `utf-8-sig` (a byte-order mark, or "Zoë" is mangled).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?%?$")


def safe_cell(value: object) -> str:
    """`value` as a cell no spreadsheet evaluates."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


class SafeWriter:
    """`csv.writer` whose every cell goes through `safe_cell`."""

    def __init__(self, handle: TextIO) -> None:
        self._writer = csv.writer(handle, lineterminator="\r\n")

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([safe_cell(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)


class SafeDictWriter:
    """`csv.DictWriter` (missing keys empty, extra keys ignored) whose every cell goes through `safe_cell`."""

    def __init__(self, handle: TextIO, fieldnames: Sequence[str]) -> None:
        self.fieldnames = list(fieldnames)
        self._writer = SafeWriter(handle)

    def writeheader(self) -> None:
        self._writer.writerow(self.fieldnames)

    def writerow(self, row: Mapping[str, Any]) -> None:
        self._writer.writerow(row.get(name, "") for name in self.fieldnames)

    def writerows(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    """Rows as CSV text, every cell safe."""
    buffer = io.StringIO(newline="")
    SafeWriter(buffer).writerows(rows)
    return buffer.getvalue()
