"""Subject access benchmark: `waymark export-person` for one pupil in a school of 10,000.

    .venv/bin/python bench/export_bench.py                       # SQLite scratch file, built once
    .venv/bin/python bench/export_bench.py --db postgresql://postgres@127.0.0.1:5432/test

The school: 10,000 pupils, each with a year of journal (one entry a week: 52) and advice (one
conversation a month with a staff-only note and an agreed action: 12 + 12), i.e. 760,000 rows.
For one pupil in the middle it times, median of several runs:

- floor: a hand-written SELECT of that pupil's rows from every table that holds them (the least
  any export must do), in the same run;
- collect: storage.subject_access.collect (every table, notes decrypted);
- the whole export as the command does it: collect, JSON, HTML, PDF, files written;
- the pupil's own copy (/export): collect without staff-only parts, and the PDF;
- the real command in a new process (`waymark export-person`), start-up included: wall, CPU and
  peak RSS, beside the start-up floor (bench/newprocess.py).

Peak memory: tracemalloc's peak over one export (Python allocations), in a run of its own. The
load average is printed beside each figure: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, text  # noqa: E402
from sqlmodel import func, select  # noqa: E402

from bench import newprocess  # noqa: E402
from bench.newprocess import describe, median_run, startup_floor  # noqa: E402
from reports import subject_access as render  # noqa: E402
from storage import crypto, seed, subject_access  # noqa: E402
from storage.db import make_engine, transaction  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import AdviceRecord, AgreedAction, JournalEntry, Person, Role, StaffRole  # noqa: E402

PUPILS = 10_000
WEEKS = 52
MONTHS = 12
KEY_FILE = "export_bench.key"


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def build(engine: Engine, key: str) -> None:
    """The school, inserted in bulk (about a minute on SQLite)."""
    start = datetime(2025, 9, 1, 9, tzinfo=UTC)
    note = crypto.encrypt(key, "Staff only: mentioned worries at home about money; follow up after half term.")
    with transaction(engine) as s:
        school = seed.school(s, "Bench Academy")
        tutors = [seed.staff(s, school.id, f"Tutor{i}", "Bench", role=StaffRole.tutor) for i in range(20)]
        pupils = seed.numbered_pupils(s, school.id or 0, PUPILS, year_group=11, form="11A")
        conn = s.connection()
        journal = JournalEntry.__table__  # type: ignore[attr-defined]
        advice = AdviceRecord.__table__  # type: ignore[attr-defined]
        action = AgreedAction.__table__  # type: ignore[attr-defined]
        for n, pupil in enumerate(pupils):
            conn.execute(
                journal.insert(),
                [
                    {
                        "person_id": pupil.id,
                        "kind": "reflection",
                        "text": f"Week {w}: helped at the science club and practised explaining experiments to Year 7.",
                        "skills": "Teamwork,Speaking",
                        "learned": "Explaining simply is harder than it looks.",
                        "created_at": start + timedelta(weeks=w),
                    }
                    for w in range(WEEKS)
                ],
            )
            ids = conn.execute(
                advice.insert().returning(advice.c.id, sort_by_parameter_order=True),
                [
                    {
                        "pupil_id": pupil.id,
                        "staff_id": tutors[n % len(tutors)].id,
                        "kind": "tutor_checkin",
                        "summary": f"Month {m}: talked about apprenticeships and college courses in engineering.",
                        "staff_note": note,
                        "created_at": start + timedelta(days=30 * m),
                    }
                    for m in range(MONTHS)
                ],
            ).all()
            conn.execute(
                action.insert(),
                [
                    {
                        "pupil_id": pupil.id,
                        "advice_id": row[0],
                        "text": "Visit the college open evening",
                        "status": "open",
                    }
                    for row in ids
                ],
            )


def median_of(runs: int, work: Callable[[], object]) -> tuple[float, float]:
    """Median wall and CPU seconds (CPU time: on a shared machine the wall clock counts others' work)."""
    walls, cpus = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def floor(engine: Engine, pid: int) -> None:
    """A hand-written SELECT of the pupil's rows from every table that holds them."""
    queries = [
        "SELECT * FROM person WHERE id = :p",
        "SELECT * FROM journalentry WHERE person_id = :p",
        "SELECT * FROM advicerecord WHERE pupil_id = :p OR staff_id = :p",
        "SELECT * FROM agreedaction WHERE pupil_id = :p OR owner_id = :p",
        "SELECT * FROM application WHERE person_id = :p",
        "SELECT * FROM destination WHERE person_id = :p",
        "SELECT * FROM consent WHERE person_id = :p",
        "SELECT * FROM chatidentity WHERE person_id = :p",
        "SELECT * FROM websession WHERE person_id = :p",
        "SELECT * FROM enrolmentcode WHERE person_id = :p",
        "SELECT * FROM caseloadassignment WHERE pupil_id = :p OR staff_id = :p",
        "SELECT * FROM checkin WHERE person_id = :p",
        "SELECT * FROM checkinlink WHERE person_id = :p",
        "SELECT * FROM outboxmessage WHERE person_id = :p",
        "SELECT * FROM transcriptline WHERE person_id = :p",
        "SELECT * FROM chatfile WHERE person_id = :p",
        "SELECT * FROM auditevent WHERE subject_id = :p OR actor_id = :p",
        "SELECT * FROM concern WHERE subject_id = :p OR raised_by_id = :p",
    ]
    with engine.connect() as conn:
        for q in queries:
            conn.execute(text(q), {"p": pid}).all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="database URL (default: a SQLite file in the temp directory, kept between runs)")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    scratch = Path(tempfile.gettempdir()) / "waymark-export-bench"
    scratch.mkdir(exist_ok=True)
    url = args.db or f"sqlite:///{scratch / 'school.db'}"
    key_path = scratch / KEY_FILE
    key = key_path.read_text().strip() if key_path.exists() else crypto.new_key()
    key_path.write_text(key)
    engine = make_engine(url)
    upgrade(engine)
    with transaction(engine, write=False) as s:
        have = s.exec(select(func.count()).select_from(Person).where(Person.role == Role.pupil.value)).one()
    if have < PUPILS:
        print(f"building the school: {PUPILS:,} pupils, {PUPILS * (WEEKS + 2 * MONTHS):,} rows ... ({load()})")
        t0 = time.perf_counter()
        build(engine, key)
        print(f"  built in {time.perf_counter() - t0:.0f} s")
    with transaction(engine, write=False) as s:
        pupil = s.exec(select(Person).where(Person.upn == f"B{PUPILS // 2:012d}")).one()
        rows = s.exec(select(func.count()).select_from(JournalEntry)).one()
    assert pupil.id is not None
    print(f"database {engine.url.render_as_string()}: {rows:,} journal entries; exporting {pupil.full_name}")
    out = scratch / "out"

    def collect(own: bool = False) -> subject_access.SubjectRecord:
        with transaction(engine, write=False) as s:
            person = s.get(Person, pupil.id)
            assert person is not None
            return subject_access.collect(s, person, key, datetime.now(UTC), own_copy=own)

    record = collect()
    shown = sum(len(p.entries) for p in record.parts)
    floor(engine, pupil.id)  # warm the cache as the others will be
    figures = [
        ("floor: hand-written SELECT of the rows", lambda: floor(engine, pupil.id or 0)),
        ("collect (every table, notes decrypted)", collect),
        ("export-person: collect + JSON + HTML + PDF, written", lambda: render.write_all(collect(), out)),
        ("own copy (/export): collect + PDF", lambda: render.to_pdf(collect(own=True))),
    ]
    print(f"{shown} rows about the pupil; median of {args.runs} runs each")
    base = None
    print(f"  {'':<55} {'wall':>8}     {'CPU':>8}")
    for name, work in figures:
        seconds, cpu = median_of(args.runs, work)
        base = base or seconds
        print(f"  {name:<55} {seconds * 1000:8.1f} ms  {cpu * 1000:8.1f} ms  ({seconds / base:5.1f}x floor)  {load()}")
    for name, part in (
        ("  of which JSON", lambda: render.to_json(record)),
        ("  of which HTML", lambda: render.to_html(record)),
        ("  of which PDF", lambda: render.to_pdf(record)),
    ):
        seconds, cpu = median_of(args.runs, part)
        print(f"  {name:<55} {seconds * 1000:8.1f} ms  {cpu * 1000:8.1f} ms  {load()}")

    tracemalloc.start()
    render.write_all(collect(), out)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  peak Python memory of one export (tracemalloc)          {peak / 1e6:8.1f} MB  {load()}")
    print("  files: " + ", ".join(f"{p.name} {p.stat().st_size / 1024:.0f} KB" for p in sorted(out.iterdir())))

    env = {
        **os.environ,
        "WAYMARK_DATABASE_URL": url,
        "WAYMARK_ENCRYPTION_KEY": key,
        "WAYMARK_SCHOOL_NAME": "Bench Academy",
    }
    command = [str(newprocess.WAYMARK), "export-person", pupil.upn or "", "--out", str(out)]
    print(f"  a new process each, median of {args.runs} runs (wall, CPU and peak RSS of that process):")
    print(
        f"  {'start-up floor: python importing SQLModel and our tables':<62} {describe(startup_floor(args.runs))}  {load()}"
    )
    print(
        f"  {'`waymark export-person`, start-up included':<62} {describe(median_run(args.runs, command, env))}  {load()}"
    )
    engine.dispose()


if __name__ == "__main__":
    main()
