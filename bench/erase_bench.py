"""Erasure and retention benchmark: one person erased, and a retention run, in a school of 10,000.

    .venv/bin/python bench/erase_bench.py                 # 10,000 pupils, a year of journal and advice each
    .venv/bin/python bench/erase_bench.py --pupils 2000   # smaller, quicker

Builds a SQLite school (in a temporary directory) where every pupil has a weekly journal entry and
a monthly advice record with an agreed action for a year, a few delivered messages and web chat
lines past the default schedule, and 1% are alumni past their 25th birthday; and a school a tenth
the size. Then prints, each with the load average beside it (the machine is shared):

- erasure of one pupil, five times over (`storage.erasure.erase_and_scrub`: plan, the anonymous row, the audit
  markers, every table's rows, the WAL checkpoint) — wall time and peak Python memory (tracemalloc);
- the floor, measured in the same run on another pupil: a hand-written DELETE of that pupil's rows
  in the six tables that hold them, and of the person;
- `waymark erase UPN --yes` as a person runs it, a new process, start-up included: wall, CPU and
  peak RSS, beside the start-up floor measured the same way (bench/newprocess.py);
- `waymark retention run --dry-run` and `waymark retention run` over the whole school, each a new
  process — time, rows, peak RSS, whether the dry run listed exactly what the real run removed —
  and the real run over the school a tenth the size: peak RSS should not grow with the school.

Goal: under 1 s per person; retention memory flat. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, insert, text  # noqa: E402
from sqlmodel import col, select  # noqa: E402

from bench import newprocess  # noqa: E402
from bench.newprocess import Run, describe, median, run_once, startup_floor  # noqa: E402
from storage import crypto, erasure  # noqa: E402
from storage.db import make_engine, transaction  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import (  # noqa: E402
    AdviceRecord,
    AgreedAction,
    JournalEntry,
    OutboxMessage,
    Person,
    Role,
    School,
    TranscriptLine,
)

NOW = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)
WEEKS, MONTHS = 52, 12
ERASED = 5  # pupils erased one after another: the first pays for compiling statements
OLD_ROWS = 4  # per pupil, past the default schedule: delivered messages and transcript lines
RUNS = 3  # runs of a command in a new process (median)
KEY = crypto.new_key()


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def build(engine: Engine, pupils: int) -> int:
    with transaction(engine) as session:
        school = School(name="Bench Academy")
        session.add(school)
        session.flush()
        staff = Person(
            school_id=school.id or 0, role=Role.staff.value, staff_role="tutor", given_name="T", family_name="T"
        )
        session.add(staff)
        session.flush()
        school_id, staff_id = school.id or 0, staff.id or 0
    first = NOW - timedelta(days=365)
    for start in range(0, pupils, 500):
        with transaction(engine) as session:
            people = []
            for i in range(start, min(start + 500, pupils)):
                old = i % 100 == 0  # 1%: alumni past their 25th birthday, for retention
                people.append(
                    {
                        "school_id": school_id,
                        "role": Role.alumnus.value if old else Role.pupil.value,
                        "status": "left" if old else "active",
                        "upn": f"B{i:012d}",
                        "given_name": f"Given{i}",
                        "family_name": f"Family{i}",
                        "date_of_birth": date(1999, 1, 1) if old else date(2011, 1, 1),
                        "leaving_date": date(2015, 7, 20) if old else None,
                        "send": "N",
                        "other_staff_roles": "",
                        "interests": "",
                        "exclusions": 0,
                        "pupil_premium": False,
                        "fsm": False,
                        "eal": False,
                        "looked_after": False,
                        "young_carer": False,
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                )
            session.execute(insert(Person), people)
            ids = session.exec(
                select(col(Person.id)).where(col(Person.upn).in_([p["upn"] for p in people])).order_by(col(Person.id))
            ).all()
            session.execute(
                insert(JournalEntry),
                [
                    {"person_id": pid, "kind": "reflection", "text": f"week {w}: what I did and learned, pupil {pid}",
                     "skills": "", "learned": "", "created_at": first + timedelta(weeks=w)}
                    for pid in ids for w in range(WEEKS)
                ],
            )  # fmt: skip
            session.execute(
                insert(AdviceRecord),
                [
                    {"pupil_id": pid, "staff_id": staff_id, "kind": "tutor_checkin",
                     "summary": f"month {m}: talked about options with pupil {pid}", "created_at": first + timedelta(days=30 * m)}
                    for pid in ids for m in range(MONTHS)
                ],
            )  # fmt: skip
            # Past the default schedule, for the retention run: delivered messages (90 days) and
            # web chat transcripts (a year after the last line).
            session.execute(
                insert(OutboxMessage),
                [
                    {"key": f"bench:{pid}:{n}", "person_id": pid, "platform": "web", "text": f"reminder {n}",
                     "status": "sent", "next_attempt_at": NOW, "created_at": NOW - timedelta(days=200),
                     "sent_at": NOW - timedelta(days=200)}
                    for pid in ids for n in range(OLD_ROWS)
                ],
            )  # fmt: skip
            session.execute(
                insert(TranscriptLine),
                [
                    {"identity_key": f"web:bench{pid}", "person_id": pid, "direction": "in", "text": f"line {n}",
                     "created_at": NOW - timedelta(days=400)}
                    for pid in ids for n in range(OLD_ROWS)
                ],
            )  # fmt: skip
            advice = session.exec(
                select(col(AdviceRecord.id), col(AdviceRecord.pupil_id)).where(col(AdviceRecord.pupil_id).in_(ids))
            ).all()
            session.execute(
                insert(AgreedAction),
                [{"pupil_id": pid, "advice_id": aid, "text": f"action from advice {aid}", "status": "open", "created_at": NOW} for aid, pid in advice],
            )  # fmt: skip
    return school_id


def measured(work: Callable[[], object]) -> tuple[float, float, object]:
    tracemalloc.start()
    started = time.perf_counter()
    result = work()
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak / 1e6, result


def floor_delete(engine: Engine, person_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM agreedaction WHERE pupil_id = :p"), {"p": person_id})
        conn.execute(text("DELETE FROM advicerecord WHERE pupil_id = :p"), {"p": person_id})
        conn.execute(text("DELETE FROM journalentry WHERE person_id = :p"), {"p": person_id})
        conn.execute(text("DELETE FROM outboxmessage WHERE person_id = :p"), {"p": person_id})
        conn.execute(text("DELETE FROM transcriptline WHERE person_id = :p"), {"p": person_id})
        conn.execute(text("DELETE FROM person WHERE id = :p"), {"p": person_id})


def person_id(engine: Engine, upn: str) -> int:
    with transaction(engine, write=False) as session:
        return session.exec(select(col(Person.id)).where(col(Person.upn) == upn)).one() or 0


def cli_env(engine: Engine) -> dict[str, str]:
    """What `waymark` needs to open this database; nothing from the developer's .env (the commands
    run in the temporary directory)."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "WAYMARK_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "WAYMARK_ENCRYPTION_KEY": KEY,
        "WAYMARK_SCHOOL_NAME": "Bench Academy",
    }


def retention_cli(engine: Engine, tmp: Path, dry_run: bool) -> tuple[Run, list[str]]:
    """`waymark retention run` in a new process: its figures, and the rows it listed."""
    args = [str(newprocess.WAYMARK), "retention", "run", *(["--dry-run"] if dry_run else [])]
    run, out = run_once(args, cli_env(engine), cwd=tmp)
    return run, [line for line in out.splitlines() if not line.startswith("Retention ")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pupils", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="erase-bench-") as tmp_name:
        tmp = Path(tmp_name)
        small = make_engine(f"sqlite:///{tmp / 'small.db'}")
        upgrade(small)
        small_pupils = max(args.pupils // 10, 100)
        build(small, small_pupils)
        engine = make_engine(f"sqlite:///{tmp / 'bench.db'}")
        upgrade(engine)
        started = time.perf_counter()
        build(engine, args.pupils)
        for built in (engine, small):  # the build's WAL is not the erasure's to empty
            with built.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = args.pupils * (1 + WEEKS + 2 * MONTHS + 2 * OLD_ROWS)
        print(
            f"school of {args.pupils:,} pupils, {rows:,} rows, built in {time.perf_counter() - started:.1f} s; {load()}"
        )

        floor_s, floor_mb, _ = measured(lambda: floor_delete(engine, person_id(engine, "B000000000002")))
        print(
            f"floor: hand-written DELETE of one pupil's rows  {floor_s * 1000:8.1f} ms  peak {floor_mb:6.1f} MB; {load()}"
        )
        for n in range(3, 3 + ERASED):
            pid = person_id(engine, f"B{n:012d}")
            erase_s, erase_mb, result = measured(lambda: erasure.erase_and_scrub(engine, pid, now=NOW))  # noqa: B023
            plan, files = result  # type: ignore[misc]
            first = " (the first: statement caches cold)" if n == 3 else ""
            print(
                f"erase one pupil ({sum(plan.rows.values())} rows)        {erase_s * 1000:8.1f} ms  peak {erase_mb:6.1f} MB"
                f"  ({erase_s / max(floor_s, 1e-9):.1f}x the floor; {files}){first}; {load()}"
            )

        print(f"a new process each (wall, CPU and peak RSS of that process), median of {RUNS} runs:")
        print(f"  start-up floor: python importing SQLModel and our tables  {describe(startup_floor(RUNS))}; {load()}")
        erased = [
            run_once([str(newprocess.WAYMARK), "erase", f"B{n:012d}", "--yes"], cli_env(engine), cwd=tmp)[0]
            for n in range(3 + ERASED, 3 + ERASED + RUNS)
        ]
        print(f"  `waymark erase UPN --yes`, start-up included             {describe(median(erased))}; {load()}")

        dry, listed = retention_cli(engine, tmp, dry_run=True)
        print(f"  `waymark retention run --dry-run`: {len(listed):,} rows listed     {describe(dry)}; {load()}")
        real, removed = retention_cli(engine, tmp, dry_run=False)
        print(f"  `waymark retention run`: {len(removed):,} rows removed            {describe(real)}; {load()}")
        print(f"  the dry run listed exactly what the real run removed: {sorted(listed) == sorted(removed)}")
        tenth, tenth_removed = retention_cli(small, tmp, dry_run=False)
        print(
            f"  `waymark retention run`, a school of {small_pupils:,}: {len(tenth_removed):,} rows removed"
            f"  {describe(tenth)}; {load()}"
        )
        print(
            f"  peak RSS, {args.pupils:,} pupils / {small_pupils:,} pupils: {real.peak_mb / tenth.peak_mb:.2f}x"
            " (flat memory: about 1x, not tenfold)"
        )
        engine.dispose()
        small.dispose()


if __name__ == "__main__":
    main()
