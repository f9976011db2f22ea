"""Every published output of every report, from one rule: no count from 1 to 4 anywhere, and `x` the only marker.

Walks the demo school (60 pupils, 40 alumni over three years: small groups in every breakdown) and
the equality fixture school through each report (destinations for years 1 to 3 by every breakdown,
the Benchmark 3 summary and evidence, the equality lens by every breakdown, the national comparison)
and each form it is published in with `--suppress-small`: chat text, CSV, workbook, HTML page, the
Rich table, the chart's bars, labels and words. Each form is read back the way a reader would
(cells, numbers, "N alumni") rather than trusted.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime

from rich.console import Console
from sqlalchemy import Engine
from sqlmodel import select

import bot.cli  # noqa: F401  (registers the report commands before report_cli is imported alone)
from bot.report_cli import print_table
from reports import build, equality
from reports.charts import alt_text, answered_line, stacked_segments
from reports.evidence import summary, year_groups
from reports.export import to_csv
from reports.html import Part, evidence_html, tables_html
from reports.tables import HIDDEN, Table, publish, render_text
from reports.xlsx import to_xlsx
from storage import crypto, demo
from storage.db import transaction
from storage.equality import alumni_courses, pupil_interests
from storage.models import School
from storage.reports import Breakdown
from storage.schools import sector_keywords
from tests.test_equality import _school as equality_school
from tests.test_reports import SETTINGS

TODAY = date(2026, 11, 23)
SMALL = {1, 2, 3, 4}
# "Female: 3 alumni", "  Education: 2 (50%)", "All: x pupils": the count after a label's colon.
TEXT_COUNT = re.compile(r"^\s*[^:\n]+: (\S+)(?: \(\d+%\))?(?: (?:alumni|alumnus|pupils|pupil|interests|interest))?$")


def _tables(engine: Engine) -> Iterator[tuple[Table, Breakdown | None]]:
    """Each report table, with the breakdown of a destinations table (for the national comparison)."""
    with transaction(engine, write=False) as session:
        for school in session.exec(select(School)).all():
            assert school.id is not None
            for year in (1, 2, 3):
                for by in Breakdown:
                    table = build.destinations(session, school, SETTINGS, today=TODAY, year_after_leaving=year, by=by)
                    yield table, by
            evidence = build.benchmark3_evidence(session, school, SETTINGS, today=TODAY)
            yield from ((t, None) for c in evidence.criteria for t in c.tables)
            yield from ((t, None) for t in (year_groups(evidence), summary(evidence)))
            for by in Breakdown:
                lens = equality.tables(
                    pupil_interests(session, school.id, by),
                    alumni_courses(session, school.id, by, 1),
                    by=by,
                    year_after_leaving=1,
                    extra=sector_keywords(school),
                )
                yield from ((t, None) for t in lens)


def _assert_published(cells: list[str], where: str) -> None:
    for cell in cells:
        assert cell == HIDDEN or not cell.isdigit() or int(cell) not in SMALL, f"{cell} in {where}"


def test_every_report_published_shows_no_count_from_one_to_four_and_only_x(sqlite_only: Engine) -> None:
    """On SQLite only: the counts come from the same SQL on both databases (tests/test_reports.py), and
    what is under test here is every rendering of them."""
    engine = sqlite_only
    with transaction(engine) as session:
        demo.populate(session, today=TODAY, now=datetime(2026, 11, 23, 9, tzinfo=UTC), encryption_key=crypto.new_key())
    equality_school(engine)
    found = list(_tables(engine))
    assert len(found) >= 90  # 2 schools x (21 destinations + summary + evidence + 14 equality)
    hidden_somewhere = 0
    for table, by in found:
        shown = publish(table, suppress_small=True)
        hidden_somewhere += bool(shown.hidden)
        where = table.title

        # Chat text: the count after each label.
        text = render_text(table, suppress_small=True)
        counts = [m.group(1) for line in text.splitlines() if (m := TEXT_COUNT.match(line))]
        assert counts or not table.rows
        _assert_published(counts, f"text of {where}")

        # CSV: the base and every count column (percentages are beside them).
        lines = list(csv.reader(io.StringIO(to_csv(table, suppress_small=True).decode("utf-8-sig"))))
        assert lines[0][:2] == [table.row_header, table.base_header]
        for line in lines[1 : 1 + len(shown.rows)]:
            _assert_published([line[1], *line[2::2]], f"CSV of {where}")
            for count, share in zip(line[2::2], line[3::2], strict=True):
                assert count != HIDDEN or share == "", f"a share of a hidden count in {where}"

        # HTML: every data cell's count (its percentage follows a <br>).
        page = tables_html(table.title, [Part(table)], suppress_small=True)
        _assert_published(re.findall(r"<td>([^<]*)", page), f"HTML of {where}")

        # The Rich table at the terminal: what follows each row's label.
        console = Console(width=80, record=True)
        print_table(table, True, console)
        terminal = console.export_text()
        assert max(len(line) for line in terminal.splitlines()) <= 80
        labels = sorted((r.label for r in shown.rows), key=len, reverse=True)
        for line in terminal.splitlines():
            label = next((x for x in labels if line.strip().startswith(x)), None)
            if label is not None:
                _assert_published(line.strip()[len(label) :].split(), f"Rich {where}")

        # The chart: each bar's counts and label, the "answered" line and the words for a screen reader.
        if table.adds_up:
            for bar in stacked_segments(shown, table.adds_up):
                _assert_published([str(s.count) for s in bar.segments if s.count is not None], f"chart of {where}")
                _assert_published(re.findall(r"\((\S+) ", bar.words), f"chart label of {where}")
        _assert_published(answered_line(table, True).split()[:1], f"chart line of {where}")
        words = alt_text(table, suppress_small=True).split(table.title, 1)[1]
        for name in sorted((*table.columns, *labels), key=len, reverse=True):
            words = words.replace(name, "")
        _assert_published(re.findall(r"(?<![\w%.(])(\d+)(?![\w%])", words), f"chart words of {where}")

        for marker in ("*", "<5"):
            assert marker not in text + page + terminal + words, f"{marker!r} in {where}"
        if by is not None:
            for comparison in build.national_comparison(table, by, suppress_small=True):
                for m in re.finditer(r"\((\d+) of (\d+)\)", comparison.lines()[0]):
                    _assert_published([m.group(1), m.group(2)], f"national comparison of {where}")
    assert hidden_somewhere > 20  # the walk met small numbers to hide, not only big ones

    # The equality lens and the evidence as one page each, as the CLI writes them.
    workbook_tables = [t for t, _ in found if t.rows]
    book = to_xlsx(workbook_tables[:40], suppress_small=True)
    _assert_workbook(book)
    with transaction(engine, write=False) as session:
        school = session.exec(select(School)).first()
        assert school is not None
        page = evidence_html(build.benchmark3_evidence(session, school, SETTINGS, today=TODAY), suppress_small=True)
    _assert_published(re.findall(r"<td>([^<]*)", page), "evidence page")


def _assert_workbook(data: bytes) -> None:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data))
    for sheet in book.worksheets:
        for row in sheet.iter_rows(min_row=3):
            values = [c.value for c in row]
            if len(values) < 2 or values[1] is None:
                continue  # a note
            counts = [values[1], *values[2::2]]
            assert all(v == HIDDEN or (isinstance(v, int) and v not in SMALL) for v in counts), (sheet.title, values)
