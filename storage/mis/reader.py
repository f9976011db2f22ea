"""Opening an export: its text encoding found, then read as CSV one row at a time.

Excel writes UTF-8 with a BOM ("CSV UTF-8") or, in an older "CSV" save, Windows-1252, where
"Zoë" is one byte per letter and not UTF-8. The whole file is scanned once in fixed-size binary
chunks to decide (and to count its lines for a progress bar), then read as a stream, so memory
stays the same whatever the file's size.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

CHUNK = 1 << 20
# C0 control characters except tab, line feed and carriage return (which CSV itself uses), and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# In a name even tabs and line breaks are out of place.
_CONTROL_IN_NAME = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_NAMES = {0: "NUL", 9: "tab", 10: "line break", 13: "carriage return", 27: "ESC", 127: "DEL"}
# Bytes Windows-1252 leaves undefined: a file with them is not text in that encoding either.
_NOT_1252 = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")


class FileError(ValueError):
    """The file as a whole cannot be read; the message says what to do."""


@dataclass(frozen=True)
class Encoding:
    codec: str  # what Python decodes it with
    label: str  # what the person importing is told
    lines: int  # line breaks in the file (an upper bound on its rows, for progress)


def detect(stream: BinaryIO) -> Encoding:
    """UTF-8 (with or without a BOM) or Windows-1252; the stream is left at its start."""
    start = stream.read(4)
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileError("the file is saved as Unicode text (UTF-16); in Excel use Save As > 'CSV UTF-8'")
    bom = start.startswith(codecs.BOM_UTF8)
    stream.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8, not_1252, lines = True, False, 0
    while chunk := stream.read(CHUNK):
        lines += chunk.count(b"\n")
        not_1252 = not_1252 or bool(_NOT_1252.search(chunk))
        if utf8:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                utf8 = False
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    stream.seek(0)
    if utf8:
        return Encoding("utf-8-sig", "UTF-8 with BOM" if bom else "UTF-8", lines)
    if not_1252:
        raise FileError("the file is not text (neither UTF-8 nor Windows-1252); in Excel use Save As > 'CSV UTF-8'")
    return Encoding("cp1252", "Windows-1252 (an older Excel 'CSV' save)", lines)


def rows(stream: BinaryIO, encoding: Encoding) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) for each row, the header first; FileError for broken CSV quoting."""
    text = io.TextIOWrapper(stream, encoding=encoding.codec, newline="")  # csv handles CRLF itself
    reader = csv.reader(text)
    try:
        for cells in reader:
            yield reader.line_num, cells
    except csv.Error as exc:
        raise FileError(f"line {reader.line_num + 1}: {exc}") from None
    finally:
        with contextlib.suppress(ValueError):  # already closed by its owner
            text.detach()  # the caller owns the binary stream: closing this wrapper must not close it


def has_control(text: str) -> bool:
    """Whether any control character at all (line breaks included) is in the text."""
    return _CONTROL_IN_NAME.search(text) is not None


def control_message(cell: str, *, name: bool) -> str | None:
    """Why a cell is refused for a control character, saying where but never what the cell holds
    (it would put a pupil's data in a terminal or a log)."""
    match = (_CONTROL_IN_NAME if name else _CONTROL).search(cell)
    if match is None:
        return None
    code = ord(match.group())
    what = _CONTROL_NAMES.get(code, f"U+{code:04X}")
    return (
        f"has a control character ({what}) at character {match.start() + 1}; remove it in the MIS or the "
        "spreadsheet and export again (the cell is not shown, to keep pupils' data out of logs)"
    )
