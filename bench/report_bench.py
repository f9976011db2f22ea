"""Report benchmark: every destination breakdown of years 1-3 and the Benchmark 3 evidence at ~1,000,000 destination rows.

    .venv/bin/python bench/report_bench.py                                   # SQLite, cached in /tmp
    .venv/bin/python bench/report_bench.py --pg postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/report_bench.py --alumni 20000                    # smaller, quicker

Builds (once; the SQLite file is kept and reused, as is a PostgreSQL database holding the school)
a school with 350,000 alumni who left 2016-2025, each with a destination for every year after
leaving they have reached up to 3 (one in ten re-reported later, as a staff refinement is), about
1,000,000 rows, and 1,500 pupils on roll. Rows go in by executemany in chunks.

Then prints, with the load average beside each figure (the machine is shared):
- each report as `waymark report destinations` builds it (`reports.build.destinations`: the SQL,
  then the table) for years 1-3 and every breakdown, best of two;
- the floor, measured in the same run over the same database: a plain hand-written GROUP BY of
  alumni's destinations of that year by the breakdown column;
- the Benchmark 3 evidence (`reports.build.benchmark3_evidence`), against the floor of its parts:
  the three cohorts' plain GROUP BYs and a plain GROUP BY of pupils by year group.
Goal: every report within 1.5x its floor; all year-1 breakdowns together under 2 s.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, func, insert, text  # noqa: E402
from sqlmodel import select  # noqa: E402

from core.settings import load_settings  # noqa: E402
from reports import build  # noqa: E402
from storage.db import make_engine, transaction  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Destination, Person, Role, School  # noqa: E402
from storage.reports import Breakdown  # noqa: E402

TODAY = date(2026, 11, 16)
NAME = "Report Bench Academy"
CHUNK = 20_000
GROUPS = [(230, "education"), (310, "apprenticeship"), (330, "employment"), (430, "training"), (619, "NEET")]
COLUMNS = {
    Breakdown.gender: "gender",
    Breakdown.ethnicity: "ethnicity",
    Breakdown.send: "send",
    Breakdown.pupil_premium: "pupil_premium",
    Breakdown.fsm: "fsm",
    Breakdown.eal: "eal",
    Breakdown.looked_after: "looked_after",
}


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _chunks(rows: list[dict[str, object]]) -> list[list[dict[str, object]]]:
    return [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]


def build_school(engine: Engine, alumni: int, pupils: int) -> int:
    rng = random.Random(15)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with transaction(engine) as session:
        school = School(name=NAME)
        session.add(school)
        session.flush()
        assert school.id is not None
        school_id = school.id
    people: list[dict[str, object]] = []
    for n in range(alumni + pupils):
        alumnus = n < alumni
        people.append(
            {
                "school_id": school_id,
                "role": Role.alumnus.value if alumnus else Role.pupil.value,
                "status": "left" if alumnus else "active",
                "other_staff_roles": "",
                "upn": f"B{n:012d}",
                "given_name": "A",
                "family_name": f"P{n}",
                "gender": rng.choice("FMFMX"),
                "ethnicity": rng.choice(["WBRI", "ABAN", "BAFR", "MWBC", "CHNE", "WOTH", ""]),
                "send": rng.choice("NNNNNNKKE"),
                "pupil_premium": rng.random() < 0.25,
                "fsm": rng.random() < 0.2,
                "eal": rng.random() < 0.15,
                "looked_after": rng.random() < 0.01,
                "young_carer": False,
                "exclusions": 0,
                "interests": "",
                "year_group": None if alumnus else rng.randint(7, 11),
                "leaving_date": date(2016 + n % 10, 7, 20) if alumnus else None,
                "created_at": now,
                "updated_at": now,
            }
        )
    with engine.begin() as connection:
        for chunk in _chunks(people):
            connection.execute(insert(Person), chunk)
        ids = connection.execute(
            text("SELECT id, leaving_date FROM person WHERE school_id = :s AND role = 'alumnus'"), {"s": school_id}
        ).all()
    rows: list[dict[str, object]] = []
    for person_id, left in ids:
        left_year = left.year if isinstance(left, date) else int(str(left)[:4])
        for year in range(1, min(3, 2026 - left_year) + 1):
            if rng.random() < 0.06:
                continue  # never answered: not known
            code, group = rng.choice(GROUPS)
            reported = datetime(left_year + year, 10, 5, tzinfo=UTC)
            rows.append(_destination(person_id, year, code, group, reported))
            if rng.random() < 0.1:
                refined = datetime(left_year + year, 11, 5, tzinfo=UTC)
                rows.append(_destination(person_id, year, 330, "employment", refined))
    with engine.begin() as connection:
        for chunk in _chunks(rows):
            connection.execute(insert(Destination), chunk)
    return school_id


def _destination(person_id: int, year: int, code: int, group: str, reported: datetime) -> dict[str, object]:
    return {
        "person_id": person_id,
        "year_after_leaving": year,
        "category": "x",
        "nccis_code": code,
        "group": group,
        "provider": "",
        "course": "",
        "level": "",
        "reported_at": reported,
        "source": "alumnus",
    }


def best(work: Callable[[], object], times: int = 2) -> float:
    fastest = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        work()
        fastest = min(fastest, time.perf_counter() - started)
    return fastest


def floor_sql(column: str) -> str:
    """The plain GROUP BY a person would write: every destination row of the year, no ranking."""
    return (
        f'SELECT p.{column}, d."group", count(*) FROM person p JOIN destination d ON d.person_id = p.id '
        "WHERE p.school_id = :s AND p.role = 'alumnus' AND d.year_after_leaving = :y "
        f'GROUP BY p.{column}, d."group"'
    )


def run(url: str, alumni: int, pupils: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    settings = load_settings(database_url=url, timezone="Europe/London")
    with transaction(engine, write=False) as session:
        found = session.exec(select(School).where(School.name == NAME)).first()
    if found is None:
        started = time.perf_counter()
        build_school(engine, alumni, pupils)
        print(f"built in {time.perf_counter() - started:.1f} s ({load()})")
        if url.startswith("postgresql"):
            with engine.begin() as connection:
                connection.execute(text("ANALYZE"))
    with transaction(engine, write=False) as session:
        school = session.exec(select(School).where(School.name == NAME)).one()
        rows = session.exec(select(func.count()).select_from(Destination)).one()
        people = session.exec(select(func.count()).select_from(Person).where(Person.role == "alumnus")).one()
    print(f"{url.split(':')[0]}: {rows:,} destination rows, {people:,} alumni")
    year_one_total = 0.0
    for year in (1, 2, 3):
        for by, column in COLUMNS.items():
            with transaction(engine, write=False) as session:
                report = best(
                    lambda year=year, by=by: build.destinations(  # type: ignore[misc]
                        session, school, settings, today=TODAY, year_after_leaving=year, by=by
                    )
                )
                query, params = text(floor_sql(column)), {"s": school.id, "y": year}
                floor = best(lambda query=query, params=params: session.execute(query, params).all())  # type: ignore[misc]
            if year == 1:
                year_one_total += report
            print(
                f"year {year} by {by.value:13} report {report:6.3f} s  floor {floor:6.3f} s  "
                f"ratio {report / floor:4.2f}  ({load()})"
            )
    print(f"year 1, all {len(COLUMNS)} breakdowns together: {year_one_total:.2f} s ({load()})")
    with transaction(engine, write=False) as session:
        evidence = best(lambda: build.benchmark3_evidence(session, school, settings, today=TODAY))
        parts = [(floor_sql("gender"), {"s": school.id, "y": y}) for y in (1, 2, 3)]
        parts.append(
            (
                "SELECT year_group, count(*) FROM person WHERE school_id = :s AND role = 'pupil' GROUP BY year_group",
                {"s": school.id},
            )
        )
        floor = best(lambda: [session.execute(text(q), p).all() for q, p in parts])
    print(
        f"benchmark3 evidence report {evidence:6.3f} s  floor {floor:6.3f} s  ratio {evidence / floor:4.2f}  ({load()})"
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alumni", type=int, default=350_000)
    parser.add_argument("--pupils", type=int, default=1_500)
    parser.add_argument("--sqlite", default="/tmp/waymark_report_bench.db", help="SQLite file (kept and reused)")
    parser.add_argument("--pg", default="", help="PostgreSQL URL instead of SQLite (a test database: it is written)")
    args = parser.parse_args()
    run(args.pg or f"sqlite:///{args.sqlite}", args.alumni, args.pupils)


if __name__ == "__main__":
    main()
