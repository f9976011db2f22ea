"""What safeguarding screening adds to a step's CPU, against the same step without it (not a test).

    .venv/bin/python bench/screening_step_bench.py [--messages 2000] [--block 50]

One school and one pupil linked on the console platform, in a fresh SQLite database in a temporary
directory. The pupil sends `/reflect TEXT` through `handlers.Dispatcher`, TEXT drawn in turn from the
ordinary sentences of bench/safeguarding_corpus/ (both halves; those the default phrase book flags
and the classifier flag are left out, so no concern is ever raised and every step is the common case). Two dispatchers on
one database and one fixed clock: (a) the step as it runs, and (b) the floor, the same step with
`screening=False`. They take alternating blocks of the same sentences, each pair of blocks in
turned-about order, so the load of a shared machine falls on both alike. Each dispatch is timed
with time.process_time_ns (CPU time of this process: what other processes run is not counted).

Printed: median, p90 and mean CPU per step for (a) and (b), their difference against the goal (at
most 0.2 ms); the difference pair by pair of blocks (the same sentences each way, so a slow spell of
the machine falls on both halves of a pair), its median and middle half; `screen()` alone per message
for comparison, and the load average.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.heap import freeze_startup_objects  # noqa: E402
from core.messages import Incoming  # noqa: E402
from core.settings import load_settings  # noqa: E402
from handlers import Dispatcher  # noqa: E402
from handlers.disclosures.books import book_for  # noqa: E402
from handlers.safeguarding import default_classifier, screen  # noqa: E402
from storage import seed  # noqa: E402
from storage.db import make_engine  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

CORPUS = ROOT / "bench" / "safeguarding_corpus"
GOAL_MS = 0.2
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday morning in term
USER = "p1"


def ordinary_messages() -> tuple[list[str], int]:
    """`/reflect TEXT` for every ordinary sentence the default book passes, and how many it flags."""
    sentences = [
        line
        for half in ("tuning", "heldout")
        for line in (CORPUS / f"ordinary_{half}.txt").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    messages = [f"/reflect {text}" for text in sentences]
    passed = [message for message in messages if not screen(message, book_for(None), default_classifier())]
    return passed, len(messages) - len(passed)


def ms(ns: float) -> float:
    return ns / 1_000_000


def p90(samples: list[int]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000, help="steps timed with screening, and as many without")
    parser.add_argument("--block", type=int, default=50, help="steps in a row on one dispatcher before switching")
    parser.add_argument("--repeat", type=int, default=20, help="passes over the messages when timing screen() alone")
    args = parser.parse_args()

    messages, flagged = ordinary_messages()
    print(f"corpus: {len(messages)} ordinary sentences ({flagged} that screening flags are left out)")
    print(f"load average before: {os.getloadavg()}")

    workdir = tempfile.TemporaryDirectory(prefix="waymark-bench-")
    url = f"sqlite:///{workdir.name}/bench.db"
    engine = make_engine(url)
    upgrade(engine)
    school = seed.school(engine)
    pupil = seed.pupil(engine, school.id)
    seed.link(engine, pupil, "console", USER)
    settings = load_settings(database_url=url)
    screened = Dispatcher(engine, settings, clock=lambda: NOW)
    floor = Dispatcher(engine, settings, clock=lambda: NOW, screening=False)
    update_ids = itertools.count(1)

    def step(dispatcher: Dispatcher, text: str) -> int:
        incoming = Incoming(platform="console", chat_id=USER, user_id=USER, text=text, update_id=str(next(update_ids)))
        started = time.process_time_ns()
        replies = dispatcher.dispatch(incoming)
        spent = time.process_time_ns() - started
        assert len(replies) == 1 and replies[0].text.startswith("Saved to your journal"), replies
        return spent

    texts = itertools.cycle(messages)
    for _ in range(args.block):  # warm up both: caches, the book, SQLite's pages
        step(screened, next(texts))
        step(floor, next(texts))
    freeze_startup_objects()  # as `waymark run` does once started (bot/heap.py)

    on: list[int] = []
    off: list[int] = []
    paired: list[float] = []  # per pair of blocks (the same sentences each way): mean (a) minus mean (b)
    blocks = -(-args.messages // args.block)
    for number in range(blocks):
        block = [next(texts) for _ in range(min(args.block, args.messages - number * args.block))]
        pair = ((screened, on), (floor, off))
        for dispatcher, samples in pair if number % 2 == 0 else reversed(pair):
            samples += [step(dispatcher, text) for text in block]
        paired.append(statistics.fmean(on[-len(block) :]) - statistics.fmean(off[-len(block) :]))
    load = os.getloadavg()

    # Each message once in turn, `repeat` times over: warm caches, so a lower bound for screening in a step.
    book, model = book_for(school), default_classifier()
    alone: list[int] = []
    for message in messages * args.repeat:
        started = time.process_time_ns()
        screen(message, book, model)
        alone.append(time.process_time_ns() - started)

    print(f"\nCPU per step over {len(on)} messages each, in blocks of {args.block} (ms)")
    print(f"  {'':<34} {'median':>8} {'p90':>8} {'mean':>8}")
    for name, samples in (("(a) the step, screened", on), ("(b) the floor, screening=False", off)):
        print(
            f"  {name:<34} {ms(statistics.median(samples)):8.3f} {ms(p90(samples)):8.3f} {ms(statistics.fmean(samples)):8.3f}"
        )
    median_diff = ms(statistics.median(on) - statistics.median(off))
    p90_diff = ms(p90(on) - p90(off))
    mean_diff = ms(statistics.fmean(on) - statistics.fmean(off))
    print(f"  {'(a) - (b), screening adds':<34} {median_diff:8.3f} {p90_diff:8.3f} {mean_diff:8.3f}")
    quarters = statistics.quantiles(paired, n=4)
    print(
        f"  {'per pair of blocks, (a) - (b)':<34} median {ms(statistics.median(paired)):.3f}, middle half "
        f"{ms(quarters[0]):.3f} to {ms(quarters[2]):.3f} ({len(paired)} pairs of the same sentences)"
    )
    verdict = "met" if max(median_diff, mean_diff) <= GOAL_MS else "NOT met"
    print(f"  goal: screening adds at most {GOAL_MS} ms: {verdict}")
    print(
        f"\nscreen() alone, {len(messages)} messages in turn, {args.repeat} times over: median "
        f"{ms(statistics.median(alone)):.4f} ms, p90 {ms(p90(alone)):.4f} ms"
    )
    print(f"load average during the steps: {load}; after: {os.getloadavg()}")
    engine.dispose()
    workdir.cleanup()


if __name__ == "__main__":
    main()
