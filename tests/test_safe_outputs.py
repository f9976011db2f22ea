"""Text from outside is safe in every output: CSV cells never start a formula (the codes CSV, the
report CSVs, `/report`'s file), and a `$` in a roster value draws as a dollar, not as mathtext."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from core.csvsafe import SafeDictWriter, csv_text, safe_cell
from reports.charts import PNG_SIGNATURE, coverage_bars, stacked_bars
from reports.export import BOM, to_csv
from reports.tables import Row, Table
from storage import seed
from storage.db import make_engine, transaction
from storage.models import School
from tests.chat import Chat
from tests.test_cli import run
from tests.test_reports import LEFT_2025, Seeded, alumnus, destination, dispatcher, seeded

__all__ = ["seeded"]  # the fixture, used by name

HYPERLINK = '=HYPERLINK("http://evil.example","x")'
MATH = "$\\undefinedmacro{x}$"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+44 20 7946 0000", "'+44 20 7946 0000"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        (HYPERLINK, "'" + HYPERLINK),
        ("-3", "-3"),  # a plain number stays a number
        ("+4.5", "+4.5"),
        ("12%", "12%"),
        ("Zoë =1", "Zoë =1"),
        ("", ""),
        (None, ""),
        (7, "7"),
    ],
)
def test_a_cell_never_starts_a_formula(value: object, written: str) -> None:
    assert safe_cell(value) == written


def test_the_writers_read_back_as_text() -> None:
    out = io.StringIO(newline="")
    writer = SafeDictWriter(out, ["name", "form"])
    writer.writeheader()
    writer.writerows([{"name": "=1+1", "form": "10A", "ignored": "=x"}, {"name": 'He said "hi", then left'}])
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [
        ["name", "form"],
        ["'=1+1", "10A"],
        ['He said "hi", then left', ""],
    ]
    assert csv_text([["a", "@b"]]) == "a,'@b\r\n"


def table_with(labels: list[str]) -> Table:
    rows = [Row(label, 4, [3, 1]) for label in labels]
    return Table(
        title=f"Destinations by {MATH}", row_header="Gender", base_header="Alumni", columns=[MATH, "=x"], rows=rows
    )


def test_report_csv_and_charts_take_hostile_labels() -> None:
    table = table_with([HYPERLINK, MATH, "-1+1", "Female"])
    cells = list(csv.reader(io.StringIO(to_csv(table).decode("utf-8").removeprefix(BOM))))
    assert cells[0][2:6] == [MATH, f"{MATH} %", "'=x", "'=x %"]
    assert [row[0] for row in cells[1:]] == ["'" + HYPERLINK, MATH, "'-1+1", "Female", "All"]
    for draw in (stacked_bars, coverage_bars):
        assert draw(table).startswith(PNG_SIGNATURE)


def test_report_in_the_chat_with_a_dollar_and_a_formula_in_the_roster(engine: Engine, seeded: Seeded) -> None:
    for gender in (MATH, HYPERLINK):
        person = alumnus(engine, seeded.school_id, "Odd", LEFT_2025, gender=gender)
        destination(engine, person, 1, 240, "education", datetime(2025, 10, 5, tzinfo=UTC))
    chat = Chat(dispatcher(engine), "lee")
    chat.say("/report")
    chat.press("Destinations year 1")
    text, chart, sheet = chat.press("Gender")
    assert MATH in text.text
    assert chart.image is not None and chart.image.startswith(PNG_SIGNATURE)
    assert sheet.file is not None
    labels = [row[0] for row in csv.reader(io.StringIO(sheet.file.decode("utf-8").removeprefix(BOM)))]
    assert "'" + HYPERLINK in labels and MATH in labels and HYPERLINK not in labels


def test_the_codes_csv_writes_names_as_text(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'school.db'}")
    try:
        with transaction(engine, write=False) as session:
            school_id = session.exec(select(School.id)).one()  # the one `waymark init` made
        assert school_id is not None
        seed.pupil(engine, school_id, "=1+1", "@Khan", form="-10A")
    finally:
        engine.dispose()
    out = tmp_path / "codes.csv"
    done = run(tmp_path, "codes", "--out", str(out))
    assert done.returncode == 0, done.stderr
    row = next(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert row["name"] == "'=1+1 @Khan" and row["form"] == "'-10A"
