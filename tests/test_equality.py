"""The equality lens on a fixed school: exact counts per sector and gender, unclassified shown, suppression."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine

from handlers import Dispatcher
from reports.charts import PNG_SIGNATURE
from reports.equality import destinations_table, interests_table, sectors_named
from reports.tables import render_text
from storage import seed
from storage.db import transaction
from storage.equality import alumni_courses, pupil_interests
from storage.models import Destination, PersonStatus
from storage.reports import Breakdown
from tests.chat import Chat
from tests.test_refine import run_waymark

LEFT = date(2024, 7, 19)
# (gender, interests) of pupils on roll; the last is not on roll and must not count.
PUPILS = [
    ("F", "nursing, childcare"),
    ("F", "vet nurse"),
    ("F", "becoming a YouTuber"),
    ("M", "electrician and football"),
    ("M", "software developer"),
    ("M", "plumber"),
    ("", "police"),
    ("M", ""),  # no interests typed: not counted
]
# (gender, group, course, provider) of alumni's year-1 destinations; NEET has no sector.
ALUMNI = [
    ("F", "education", "BSc Nursing", "University of Leeds"),
    ("F", "apprenticeship", "Level 3 Electrical", "Sparks Ltd"),
    ("M", "apprenticeship", "Bricklaying", "Town College"),
    ("M", "employment", "", "Greggs"),
    ("M", "NEET", "", ""),
]


def add_destination(engine: Engine, person_id: int, code: int, group: str, at: datetime, **fields: str) -> None:
    """A year-1 destination with its text (course, provider, category) as the alumnus gave it."""
    with transaction(engine) as session:
        session.add(
            Destination(
                person_id=person_id,
                year_after_leaving=1,
                category=fields.pop("category", "x"),
                nccis_code=code,
                group=group,
                reported_at=at,
                **fields,
            )
        )


def _school(engine: Engine) -> int:
    school = seed.school(engine, "Equal Academy")
    assert school.id is not None
    for i, (gender, interests) in enumerate(PUPILS):
        seed.pupil(engine, school.id, f"P{i}", "Pupil", gender=gender or None, interests=interests)  # type: ignore[arg-type]
    seed.pupil(engine, school.id, "Gone", "Pupil", gender="F", interests="army", status=PersonStatus.missing)  # type: ignore[arg-type]
    for i, (gender, group, course, provider) in enumerate(ALUMNI):
        person = seed.alumnus(engine, school.id, f"A{i}", "Alum", gender=gender, leaving_date=LEFT)
        assert person.id is not None
        add_destination(
            engine, person.id, 0, group, datetime(2024, 10, 7, tzinfo=UTC), course=course, provider=provider
        )
    return school.id


def test_interests_and_destinations_by_sector_and_gender_exactly(engine: Engine) -> None:
    school_id = _school(engine)
    with transaction(engine, write=False) as session:
        interests = interests_table(pupil_interests(session, school_id, Breakdown.gender), by=Breakdown.gender)
        destinations = destinations_table(
            alumni_courses(session, school_id, Breakdown.gender, 1), by=Breakdown.gender, year_after_leaving=1
        )
    assert interests.columns == ("Female", "Male", "Not recorded")
    rows = {r.label: r.cells for r in interests.rows}
    assert rows["Health and care"] == (2, 0, 0)  # nursing; vet nurse
    assert rows["Education and childcare"] == (1, 0, 0)
    assert rows["Construction and trades"] == (0, 2, 0)  # electrician; plumber
    assert rows["Hospitality, travel and sport"] == (0, 1, 0)
    assert rows["Science, technology, engineering and maths"] == (0, 1, 0)
    assert rows["Public and uniformed services"] == (0, 0, 1)  # the missing pupil's "army" is not counted
    assert rows["Unclassified"] == (1, 0, 0)  # YouTuber: no rule, never guessed
    assert destinations.columns == ("Female", "Male")
    rows = {r.label: r.cells for r in destinations.rows}
    assert rows["Health and care"] == (1, 0)
    assert rows["Construction and trades"] == (1, 1)
    assert rows["Unclassified"] == (0, 1)  # Greggs
    assert destinations.total().base == 4  # the NEET alumnus has no sector


def test_interest_pieces_and_suppressed_text() -> None:
    assert sectors_named("Nursing; football / coding") == {"health", "hospitality", "stem"}
    assert sectors_named("  ") == frozenset()
    table = interests_table(
        [("F", "nurse", "")] * 6 + [("M", "", "health")] * 2 + [("M", "plumber", "")] * 7, by=Breakdown.gender
    )
    plain = render_text(table).splitlines()
    assert "  Female: 6 (75%)" in plain and "  Male: 2 (25%)" in plain
    hidden = render_text(table, suppress_small=True).splitlines()
    health = hidden.index("Health and care: 8 interests")
    assert hidden[health + 1 : health + 3] == ["  Female: x", "  Male: x"]  # 2 hidden, so 6 is too
    assert not any(line.startswith("Unclassified") for line in hidden)  # empty sectors are left out of the chat text


def test_cli_report_equality_suppressed_in_every_output(tmp_path: Path) -> None:
    """Rich tables in 80 columns, and CSV, workbook, PNG and HTML from the same published figures."""
    from openpyxl import load_workbook

    from tests.conftest import sqlite_engine

    db = tmp_path / "cli.db"
    engine = sqlite_engine(db)
    _school(engine)
    engine.dispose()
    out = {kind: tmp_path / f"eq.{kind}" for kind in ("csv", "xlsx", "png", "html")}
    files = [arg for kind, path in out.items() for arg in (f"--{kind}", str(path))]
    result = run_waymark(db, "report", "equality", "--suppress-small", *files, columns=80)
    assert result.returncode == 0, result.stderr
    assert "Career interests of pupils by sector and gender" in result.stdout
    assert "Unclassified" in result.stdout and "Female" in result.stdout
    assert "x: hidden. Counts from 1 to 4 are hidden" in result.stdout and "*" not in result.stdout
    assert "Gend…" not in result.stdout and "Fema…" not in result.stdout
    tables = [line for line in result.stdout.splitlines() if not line.startswith("Wrote the ")]
    assert max(len(line) for line in tables) <= 80 and "Wrote the workbook to" in result.stdout

    interests = list(csv.reader(io.StringIO((tmp_path / "eq-interests.csv").read_text(encoding="utf-8-sig"))))
    assert interests[0] == [
        "Sector",
        "Interests",
        "Female",
        "Female %",
        "Male",
        "Male %",
        "Not recorded",
        "Not recorded %",
    ]
    assert interests[2] == ["Health and care", "x", "x", "", "0", "", "0", ""]
    assert interests[11][:2] == ["All", "9"]  # nine interests: 2 + 1 + 1 + 2 + 1 + 1 + 1 (nursing, childcare, ...)
    destinations = list(csv.reader(io.StringIO((tmp_path / "eq-destinations.csv").read_text(encoding="utf-8-sig"))))
    assert destinations[0][:4] == ["Sector", "Alumni", "Female", "Female %"]
    counted = {cell for line in interests[1:-1] + destinations[1:-1] for cell in line[1:]}
    assert counted <= {"0", "x", "9", ""}  # no count from 1 to 4, no share of one

    book = load_workbook(out["xlsx"])
    assert book.sheetnames == ["Career interests of pupils by s", "Destinations of leavers, year 1"]
    sheet = book.worksheets[1]
    assert sheet["A1"].value == "Equal Academy: Destinations of leavers, year 1 after leaving, by sector and gender"
    assert [c.value for c in sheet[2]] == ["Sector", "Alumni", "Female", "Female %", "Male", "Male %"]
    assert sheet.freeze_panes == "B3" and [c.value for c in sheet[3]][:3] == [
        "Science, technology, engineering and maths",
        0,
        0,
    ]
    numbers = [c.value for row in sheet.iter_rows(min_row=3, max_row=13) for c in row[1:]]
    assert not {1, 2, 3, 4} & set(numbers) and "x" in numbers

    for part in ("interests", "destinations"):
        png = (tmp_path / f"eq-{part}.png").read_bytes()
        assert png.startswith(PNG_SIGNATURE) and int.from_bytes(png[16:20], "big") == 800  # 4 in at 200 dpi
    page = out["html"].read_text(encoding="utf-8")
    assert "<title>Equal Academy: equality lens</title>" in page and page.count("<img src='data:image/png") == 2
    assert "<caption>Equal Academy: Career interests of pupils by sector and gender</caption>" in page
    assert "<th scope='col'>Not recorded</th>" in page and "x: hidden." in page


def test_school_keywords_sort_what_ours_leave_unclassified(tmp_path: Path) -> None:
    from tests.conftest import sqlite_engine

    db = tmp_path / "cli.db"
    engine = sqlite_engine(db)
    _school(engine)
    engine.dispose()

    def row(stdout: str, sector: str) -> list[str]:
        """The first table's row: the pupils in the sector, then female, male, not recorded."""
        line = next(x for x in stdout.splitlines() if x.startswith(f"  {sector} "))
        return line.split()[-4:]

    before = run_waymark(db, "report", "equality", columns=80)
    assert row(before.stdout, "Unclassified") == ["1", "1", "0", "0"]  # the YouTuber (first table)
    at = ("--school", "Equal Academy")
    bad = run_waymark(db, "school", "sectors", "add", "YouTuber", "influencing", *at)
    assert bad.returncode == 1 and "is not a sector. Choose one of stem, health" in bad.stderr
    added = run_waymark(db, "school", "sectors", "add", "  YouTuber ", "creative", *at)
    assert added.returncode == 0 and "'youtuber' now counts as Creative and media." in added.stdout
    assert run_waymark(db, "school", "sectors", "list", *at).stdout.strip() == "youtuber: Creative and media"
    after = run_waymark(db, "report", "equality", columns=80)
    assert row(after.stdout, "Creative and media") == ["1", "1", "0", "0"]
    assert row(after.stdout, "Unclassified") == ["0", "0", "0", "0"]
    assert run_waymark(db, "school", "sectors", "remove", "youtuber", *at).returncode == 0
    assert "No keywords of the school's own yet" in run_waymark(db, "school", "sectors", "list", *at).stdout


def test_sectors_picked_as_buttons_count_beside_typed_ones(engine: Engine, dispatcher: Dispatcher) -> None:
    school_id = _school(engine)
    pupil = seed.pupil(engine, school_id, "Zoe", "Picker", gender="F")
    seed.link(engine, pupil, "console", "zoe")
    chat = Chat(dispatcher, "zoe")
    chat.say("/interests")
    assert "Construction & trades" in chat.buttons() and "Not sure yet" in chat.buttons()
    chat.press("Construction & trades")
    chat.press("Science & tech (STEM)")
    assert "✓ Construction & trades" in chat.buttons()
    assert "Sectors you picked: Science & tech (STEM), Construction & trades." in chat.text
    chat.press("✓ Science & tech (STEM)")  # tapped again: unpicked
    chat.press_data("int:sec:astrology")  # a forged button: asked again, nothing lost
    assert "That button isn't an answer" in chat.text
    chat.press("Done")
    with transaction(engine, write=False) as session:
        rows = pupil_interests(session, school_id, Breakdown.gender)
        table = interests_table(rows, by=Breakdown.gender)
    assert ("F", "", "trades") in rows
    assert {r.label: r.cells for r in table.rows}["Construction and trades"] == (1, 2, 0)


def test_leader_gets_the_lens_in_the_chat_as_text_charts_and_a_workbook(engine: Engine, dispatcher: Dispatcher) -> None:
    from openpyxl import load_workbook

    from tests.test_refine import leader_and_tutor

    leader_and_tutor(engine, _school(engine))
    chat = Chat(dispatcher, "lee")
    chat.say("/report")
    replies = chat.press("Equality lens (sectors by gender)")
    interests, interests_chart, destinations, destinations_chart, book = replies
    assert interests.text.startswith("Equal Academy: Career interests of pupils by sector and gender")
    assert "Health and care: 2 interests\n  Female: 2 (100%)" in interests.text
    assert "Construction and trades: 2 alumni\n  Female: 1 (50%)\n  Male: 1 (50%)" in destinations.text
    for chart in (interests_chart, destinations_chart):
        assert (
            chart.image is not None and chart.image.startswith(PNG_SIGNATURE) and chart.image_alt.startswith("Chart: ")
        )
    assert interests_chart.image_name == "equality-gender-interests.png"
    assert "SEND" in chat.buttons()  # the lens by another breakdown
    assert book.file is not None and book.file_name == "equality-gender.xlsx"
    assert load_workbook(io.BytesIO(book.file)).sheetnames == [
        "Career interests of pupils by s",
        "Destinations of leavers, year 1",
    ]
    shared = chat.say("/report equality gender share")
    assert "Health and care: x interests\n  Female: x\n" in shared[0].text and "x: hidden." in shared[0].text
    assert "Female 2" not in shared[1].image_alt and shared[-1].file_name == "equality-gender-to-share.xlsx"
    assert "can't break the equality lens down by" in chat.say("/report equality shoe size")[0].text
    tutor = Chat(dispatcher, "sam")
    assert "Equal Academy" not in "".join(r.text for r in tutor.say("/report equality"))
