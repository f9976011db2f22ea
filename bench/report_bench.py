"""Report benchmark: every destination breakdown of years 1-3 and the Benchmark 3 evidence at ~1,000,000 destination rows.

    .venv/bin/python bench/report_bench.py                                   # SQLite, cached in /tmp
    .venv/bin/python bench/report_bench.py --pg postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/report_bench.py --alumni 20000                    # smaller, quicker

Builds (once; the SQLite file is kept and reused, as is a PostgreSQL database holding the school)
a school with 350,000 alumni who left 2016-2025, each with a destination for every year after
leaving they have reached up to 3 (one in ten re-reported later, as a staff refinement is), about
1,000,000 rows, and 1,500 pupils on roll. Rows go in by executemany in chunks. On PostgreSQL every
run starts with VACUUM ANALYZE of the two tables, as autovacuum leaves them after such a load (a
server may run with autovacuum off).

Then prints, with the load average beside each figure (the machine is shared):
- each report as `waymark report destinations` builds it (`reports.build.destinations`: the SQL,
  then the table) for years 1-3 and every breakdown;
- the floor, measured in the same run over the same database: a plain hand-written GROUP BY of
  alumni's destinations of that year by the breakdown column (no "latest report wins", no "cannot be
  contacted", no erased alumni);
- all seven breakdowns of a year from one query (`reports.build.destinations_by`) against the seven
  plain GROUP BYs;
- the Benchmark 3 evidence (`reports.build.benchmark3_evidence`), against the floor of its parts:
  the three years' plain GROUP BYs and a plain GROUP BY of pupils by year group.
Each report and its floor run in turn (`--times`, default 3), so a burst of other people's work
falls on both, and each figure is the fastest run: wall clock, and the CPU seconds spent (this
process, plus the PostgreSQL backend's when the server is on this host; PostgreSQL's parallel
workers are not counted, so there the wall clock is the figure to read).
Goal: every report within 1.5x its floor; all year-1 breakdowns together under 2 s.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, func, insert, text  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from core.settings import load_settings  # noqa: E402
from reports import build  # noqa: E402
from storage.db import make_engine, transaction  # noqa: E402
from storage.destination_marks import mark_all  # noqa: E402
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
        # A bulk insert bypasses the session hook that marks the row that counts: mark them all,
        # as the migration that added the marks does.
        mark_all(connection)
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


@dataclass(frozen=True)
class Figure:
    """The fastest of several runs: wall-clock seconds, and CPU seconds spent on it (ours, and the
    PostgreSQL backend's), which other people's work on a shared machine disturbs much less."""

    wall: float
    cpu: float


class Clock:
    """Times work on one connection: wall clock, and CPU of this process plus its PostgreSQL backend."""

    def __init__(self, session: Session) -> None:
        self.backend: Path | None = None
        if session.get_bind().dialect.name == "postgresql":
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            self.backend = Path(f"/proc/{pid}/stat")
            if not self.backend.exists():
                self.backend = None  # a server on another host: our own CPU only

    def cpu(self) -> float:
        used = time.process_time()
        if self.backend is not None:
            fields = self.backend.read_text().rsplit(")", 1)[1].split()
            used += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        return used

    def pair(self, first: Callable[[], object], second: Callable[[], object], times: int) -> tuple[Figure, Figure]:
        """Both pieces of work, run in turn `times` times (so a burst of load falls on both), each at its fastest."""
        figures: list[list[tuple[float, float]]] = [[], []]
        for _ in range(times):
            for index, work in enumerate((first, second)):
                wall, cpu = time.perf_counter(), self.cpu()
                work()
                figures[index].append((time.perf_counter() - wall, self.cpu() - cpu))
        one, two = [Figure(min(w for w, _ in f), min(c for _, c in f)) for f in figures]
        return one, two


def line(name: str, report: Figure, floor: Figure) -> str:
    return (
        f"{name:44} report {report.wall:6.3f} s  floor {floor.wall:6.3f} s  ratio {report.wall / floor.wall:4.2f}"
        f"  | CPU {report.cpu:6.3f} s / {floor.cpu:6.3f} s = {report.cpu / max(floor.cpu, 0.001):4.2f}  ({load()})"
    )


def floor_sql(column: str) -> str:
    """The plain GROUP BY a person would write: every destination row of the year, no ranking."""
    return (
        f'SELECT p.{column}, d."group", count(*) FROM person p JOIN destination d ON d.person_id = p.id '
        "WHERE p.school_id = :s AND p.role = 'alumnus' AND d.year_after_leaving = :y "
        f'GROUP BY p.{column}, d."group"'
    )


def run(url: str, alumni: int, pupils: int, times: int) -> None:
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
        # What autovacuum does to a table after this many inserts (some servers here run with it
        # off): statistics, and the visibility map, without which PostgreSQL will not read the
        # rows that count from their index alone. Quick when it has been done before.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE person, destination"))
    with transaction(engine, write=False) as session:
        school = session.exec(select(School).where(School.name == NAME)).one()
        rows = session.exec(select(func.count()).select_from(Destination)).one()
        people = session.exec(select(func.count()).select_from(Person).where(Person.role == "alumnus")).one()
    print(f"{url.split(':')[0]}: {rows:,} destination rows, {people:,} alumni")
    year_one_total = 0.0
    for year in (1, 2, 3):
        for by, column in COLUMNS.items():
            with transaction(engine, write=False) as session:
                clock = Clock(session)
                query, params = text(floor_sql(column)), {"s": school.id, "y": year}
                report, floor = clock.pair(
                    lambda year=year, by=by: build.destinations(  # type: ignore[misc]
                        session, school, settings, today=TODAY, year_after_leaving=year, by=by
                    ),
                    lambda query=query, params=params: session.execute(query, params).all(),  # type: ignore[misc]
                    times,
                )
            if year == 1:
                year_one_total += report.wall
            print(line(f"year {year} by {by.value}", report, floor), flush=True)
    print(f"year 1, the {len(COLUMNS)} reports one by one: {year_one_total:.2f} s ({load()})")
    for year in (1, 2, 3):
        with transaction(engine, write=False) as session:
            clock = Clock(session)
            floors = [(text(floor_sql(column)), {"s": school.id, "y": year}) for column in COLUMNS.values()]
            together, floor = clock.pair(
                lambda year=year: build.destinations_by(  # type: ignore[misc]
                    session, school, settings, today=TODAY, year_after_leaving=year
                ),
                lambda floors=floors: [session.execute(q, p).all() for q, p in floors],  # type: ignore[misc]
                times,
            )
        print(line(f"year {year}, all {len(COLUMNS)} breakdowns (one query)", together, floor), flush=True)
    with transaction(engine, write=False) as session:
        clock = Clock(session)
        parts = [(floor_sql("gender"), {"s": school.id, "y": y}) for y in (1, 2, 3)]
        parts.append(
            (
                "SELECT year_group, count(*) FROM person WHERE school_id = :s AND role = 'pupil' GROUP BY year_group",
                {"s": school.id},
            )
        )
        evidence, floor = clock.pair(
            lambda: build.benchmark3_evidence(session, school, settings, today=TODAY),
            lambda: [session.execute(text(q), p).all() for q, p in parts],
            times,
        )
    print(line("benchmark3 evidence", evidence, floor), flush=True)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alumni", type=int, default=350_000)
    parser.add_argument("--pupils", type=int, default=1_500)
    parser.add_argument("--sqlite", default="/tmp/waymark_report_bench.db", help="SQLite file (kept and reused)")
    parser.add_argument("--times", type=int, default=3, help="runs of each report and its floor, taken in turn")
    parser.add_argument("--pg", default="", help="PostgreSQL URL instead of SQLite (a test database: it is written)")
    args = parser.parse_args()
    run(args.pg or f"sqlite:///{args.sqlite}", args.alumni, args.pupils, args.times)


if __name__ == "__main__":
    main()
