"""The local authority exchange: the NCCIS export on a fixed school, read back by the LA import."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import col, select

from reports import nccis
from storage import nccis as la
from storage import seed
from storage.db import transaction
from storage.models import Destination, School
from storage.refine import latest_for_year
from tests.test_equality import add_destination
from tests.test_refine import run_waymark

TODAY = date(2025, 11, 20)
LEFT = date(2025, 7, 18)


def _school(engine: Engine, today: date = TODAY) -> School:
    school = seed.school(engine, "Exchange Academy")
    assert school.id is not None
    born_16 = date(today.year - 16, 3, 1)
    # (upn, given, born, ethnicity, send, destination code or None)
    for upn, given, born, ethnicity, send, code in [
        ("A100000000001", "Asha", born_16, "AIND", "N", 230),
        ("A100000000002", "Bea", born_16, "WBRI", "K", 680),
        ("A100000000003", "Cal", born_16, "", "N", None),
        ("A100000000004", "Dom", date(today.year - 22, 1, 5), "BCRB", "E", 330),  # EHC plan: tracked to 25
        ("A100000000005", "Eli", date(today.year - 22, 1, 5), "CHNE", "N", 330),  # 22, no EHC plan: not tracked
    ]:
        person = seed.alumnus(
            engine,
            school.id,
            given,
            "Alum",
            upn=upn,
            date_of_birth=born,
            ethnicity=ethnicity,
            send=send,
            leaving_date=LEFT,
        )
        assert person.id is not None
        if code:
            add_destination(
                engine,
                person.id,
                code,
                "x",
                datetime(today.year, 10, 6, tzinfo=UTC),
                provider="Town College" if code == 230 else "=SUM(A1)",
            )
    seed.pupil(engine, school.id, "Sam", "Sixth", upn="P100000000001", year_group=12, date_of_birth=born_16)  # type: ignore[arg-type]
    seed.pupil(engine, school.id, "Yan", "Ten", upn="P100000000002", year_group=10, date_of_birth=born_16)  # type: ignore[arg-type]
    return school


def _export(engine: Engine, school: School, today: date = TODAY) -> nccis.Written:
    with transaction(engine, write=False) as session:
        rows = la.tracked(session, school, today)
        return nccis.write(nccis.young_person(t) for t in rows)


def test_export_has_one_row_per_tracked_young_person_exactly(engine: Engine) -> None:
    written = _export(engine, _school(engine))
    rows = list(csv.DictReader(io.StringIO(written.text)))
    assert tuple(rows[0]) == nccis.COLUMNS
    assert [(r["UPN"], r["Ethnicity"], r["SEN"], r["Activity code"], r["Provider"]) for r in rows] == [
        ("A100000000001", "IND", "N", "230", "Town College"),
        ("A100000000002", "", "K", "680", "'=SUM(A1)"),  # a formula is never live in the LA's spreadsheet
        ("A100000000003", "", "N", "810", ""),  # nothing reported: not known
        ("A100000000004", "BLC", "E", "330", "'=SUM(A1)"),
        ("P100000000001", "", "N", "210", "Exchange Academy"),  # sixth former on roll; Year 10 is not tracked
    ]
    assert rows[0]["Date ascertained"] == "2025-10-06" and rows[0]["Date of birth"] == "2009-03-01"
    # Start date: no start is stored, so the date the destination was reported; blank with none (810)
    # and for the sixth former.
    assert [r["Start date"] for r in rows] == ["2025-10-06", "2025-10-06", "", "2025-10-06", ""]
    assert dict(written.not_mapped) == {"WBRI": 1, "(none recorded)": 2}


def test_la_file_is_read_back_and_the_latest_report_wins(engine: Engine) -> None:
    school = _school(engine)
    assert school.id is not None
    text = _export(engine, school).text.replace("680,'=SUM(A1),2025-10-06,2025-10-06", "640,,2025-11-01,2025-11-03")
    text += "Z999,Who,Else,,,,,240,Uni,,2025-11-03\r\n"  # not ours
    found = nccis.read(text)
    assert found.problems == [] and found.unascertained == 2  # Cal (810) and the sixth former
    activities = found.activities
    with transaction(engine) as session:
        added, unknown = la.record_la(
            session,
            school.id,
            [la.LaActivity(a.upn, a.code, a.provider, a.ascertained) for a in activities],
            datetime(2025, 11, 20, tzinfo=UTC),
        )
    assert (added, unknown) == (3, ["Z999"])
    with transaction(engine, write=False) as session:
        bea = session.exec(
            select(Destination).where(col(Destination.source) == "la_import", col(Destination.nccis_code) == 640)
        ).one()
        current = latest_for_year(session, bea.person_id, 1)
        assert current is not None and (current.nccis_code, current.group) == (640, "NEET")
        asha = session.exec(
            select(Destination).where(
                col(Destination.provider) == "Town College", col(Destination.source) == "la_import"
            )
        ).one()
        assert asha.nccis_code == 230 and asha.year_after_leaving == 1


def test_unusable_lines_are_named_in_plain_words() -> None:
    header = ",".join(nccis.COLUMNS)
    bad = f"{header}\r\nA1,X,Y,,,,,999,,,2025-11-03\r\n,X,Y,,,,,230,,,2025-11-03\r\nA2,X,Y,,,,,230,,,3 Nov\r\n"
    found = nccis.read(bad)
    assert found.activities == []
    assert [(p.line, p.reason) for p in found.problems] == [
        (2, "999 is not an NCCIS activity code Waymark knows"),
        (3, "no UPN"),
        (4, "the date ascertained '3 Nov' is not a date like 2025-11-03"),
    ]
    assert nccis.read("name,code\r\nx,1\r\n").problems[0].reason.startswith("the file has no 'UPN', 'Activity code'")


def test_cli_export_then_import_round_trip(tmp_path: Path) -> None:
    from tests.conftest import sqlite_engine

    db = tmp_path / "cli.db"
    engine = sqlite_engine(db)
    _school(engine, date.today())
    engine.dispose()
    out = tmp_path / "la.csv"
    done = run_waymark(db, "export-nccis", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "Wrote 5 young people" in done.stdout
    written = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["Start date"] == r["Date ascertained"] for r in written] == [True] * 5
    assert "Ethnicity not mapped to an NCCIS code, left blank: (none recorded) (2), WBRI (1)." in done.stdout
    refused = run_waymark(db, "import-destinations", str(out), "--source", "la")
    assert refused.returncode == 0, refused.stderr
    assert "Imported 3 activities from the LA file." in refused.stdout
    assert "2 rows have no date ascertained yet" in refused.stdout
    broken = tmp_path / "broken.csv"
    broken.write_text("UPN,Activity code,Date ascertained\nA1,999,2025-01-01\n", encoding="utf-8")
    bad = run_waymark(db, "import-destinations", str(broken), "--source", "la")
    assert bad.returncode == 1 and "Line 2: 999 is not an NCCIS activity code" in bad.stderr
    assert "Nothing imported" in bad.stderr
    engine = sqlite_engine(db)
    with transaction(engine, write=False) as session:
        assert len(session.exec(select(Destination).where(col(Destination.source) == "la_import")).all()) == 3
    engine.dispose()
