"""Where one web chat step's time goes, server-side: the guided reflection's five steps as the web
chat runs them (Dispatcher.dispatch on the "web" platform, then the new transcript lines read for the
page, as bot/channels/web/live.py does), in this process, with SQL statements counted per step and
cProfile's top functions (not a test).

    .venv/bin/python bench/step_profile.py [--pupils 100] [--postgres postgresql://postgres@127.0.0.1:5432/test]

Prints, per step and in total: SQL statements (round trips) and CPU per step, on SQLite and (with
--postgres, a schema of its own) PostgreSQL, then the 25 functions with the most time of their own
and our own functions by cumulative time, with the load average.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server import database, load_average  # noqa: E402
from bot.channels.web.live import _step_and_lines  # noqa: E402
from bot.heap import freeze_startup_objects  # noqa: E402
from core.messages import Incoming, Reply  # noqa: E402
from core.settings import load_settings  # noqa: E402
from handlers import Dispatcher  # noqa: E402
from storage import crypto, seed  # noqa: E402
from storage.db import make_engine  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
STEP_NAMES = ["Reflect", "what they did", "a skill", "Done", "what they learned"]


def run(url: str, kind: str, pupils: int, profile: cProfile.Profile) -> None:
    engine = make_engine(url)
    upgrade(engine)
    school = seed.school(engine)
    users = []
    for n in range(pupils):
        person = seed.pupil(engine, school.id, f"Pupil{n}", "Bench", year_group=9)
        seed.link(engine, person, "web", f"w{n}")
        users.append(f"w{n}")
    settings = load_settings(database_url=url, encryption_key=crypto.new_key())
    dispatcher = Dispatcher(engine, settings, clock=lambda: NOW)
    statements = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def count(*_: object) -> None:
        statements[0] += 1

    ids = itertools.count(1)
    warm = [False]  # the first pupil's lesson (caches, the phrase book) is neither profiled nor counted
    per_step_sql: dict[int, list[int]] = {i: [] for i in range(5)}
    per_step_cpu: dict[int, list[float]] = {i: [] for i in range(5)}
    cursors = dict.fromkeys(users, 0)

    def one(user: str, index: int, text: str | None = None, button: str | None = None) -> list[Reply]:
        statements[0] = 0
        incoming = Incoming(
            platform="web", chat_id=user, user_id=user, text=text, button=button, update_id=str(next(ids))
        )
        started = time.process_time()
        if warm[0]:
            profile.enable()
        replies, lines, _ = _step_and_lines(dispatcher, incoming, cursors[user])
        profile.disable()
        per_step_cpu[index].append((time.process_time() - started) * 1000)
        per_step_sql[index].append(statements[0])
        cursors[user] = max([cursors[user], *(line.id or 0 for line in lines)])
        return replies

    def lesson(user: str) -> None:
        one(user, 0, button="/reflect")
        replies = one(user, 1, text="Helped run the Year 9 careers stall at lunchtime")
        offered = [b for r in replies for row in r.buttons for b in row]
        skill = next(b for b in offered if b.label != "Done")
        replies = one(user, 2, button=skill.data)
        done = next(b for r in replies for row in r.buttons for b in row if b.label == "Done")
        one(user, 3, button=done.data)
        one(user, 4, text="I can talk to adults I don't know")

    lesson(users[0])  # warm: caches, the phrase book, the database's pages
    freeze_startup_objects()
    warm[0] = True
    for value in (*per_step_sql.values(), *per_step_cpu.values()):
        value.clear()
    for user in users[1:]:
        lesson(user)
    print(f"\n{kind}: {len(users) - 1} pupils, five steps each (dispatch + the page's new lines); {load_average()}")
    print(f"  {'step':<20} {'SQL statements':>15} {'CPU ms median':>14} {'p90':>8}")
    for i, name in enumerate(STEP_NAMES):
        cpu = sorted(per_step_cpu[i])
        sql = Counter(per_step_sql[i]).most_common(1)[0][0]
        print(f"  {name:<20} {sql:>15} {statistics.median(cpu):>14.2f} {cpu[int(0.9 * (len(cpu) - 1))]:>8.2f}")
    total_sql = sum(Counter(v).most_common(1)[0][0] for v in per_step_sql.values())
    total_cpu = sum(statistics.median(v) for v in per_step_cpu.values())
    print(f"  {'all five':<20} {total_sql:>15} {total_cpu:>14.2f}")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pupils", type=int, default=100)
    parser.add_argument("--postgres", default="")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="waymark-profile-") as tmp:
        for postgres in ["", *([args.postgres] if args.postgres else [])]:
            profile = cProfile.Profile()
            with database(postgres, Path(tmp), "profile") as (url, kind):
                run(url, kind, args.pupils + 1, profile)
            out = io.StringIO()
            stats = pstats.Stats(profile, stream=out)
            stats.sort_stats("tottime").print_stats(args.top)
            stats.sort_stats("cumulative").print_stats(f"{ROOT}/(handlers|storage|bot|core)/", args.top)
            print(out.getvalue())


if __name__ == "__main__":
    main()
