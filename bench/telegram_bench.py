"""Telegram throughput: simulated pupils send journal entries through the real adapter (not a test).

    .venv/bin/python bench/telegram_bench.py [--pupils 10000] [--messages 3000] [--concurrency 32]
                                             [--pg postgresql://postgres@127.0.0.1:5432/test]
                                             [--echo-http httpx|aiohttp]

Each simulated pupil sends `/reflect TEXT` and waits for the answer before sending the next
(a closed loop of `--concurrency` pupils). Latency is from the update reaching the fake Bot API
server to the bot's sendMessage reaching it; both ends are timed by the fake. In the same run a bare
python-telegram-bot echo bot on the same fake server gives the ceiling (on the library's default
HTTP layer, httpx; `--echo-http aiohttp` puts it on Waymark's, for a like-for-like ceiling). The fake runs in its own
thread so the bot under test owns the main event loop, as in `waymark run`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PTB_TIMEDELTA", "1")
os.environ["NO_PROXY"] = "127.0.0.1,localhost"

from sqlalchemy import Engine, text
from sqlmodel import select
from telegram import Update
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

from bot.channels.telegram.adapter import start_telegram
from bot.channels.telegram.request import AiohttpRequest
from bot.heap import freeze_startup_objects
from core.settings import load_settings
from handlers import Dispatcher
from storage import seed
from storage.db import make_engine, normalise_url, transaction
from storage.migrate import upgrade
from storage.models import JournalEntry
from tests.fakes.telegram_api import Call, FakeTelegram

FIRST_CHAT = 10_000_000
LIGHT = 4  # pupils typing at once in the latency run (a busy school lunchtime, not a flood)


@dataclass
class Result:
    name: str
    messages: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def line(self) -> str:
        return (
            f"{self.name:<28} {self.rate:8.1f} msg/s   p50 {self.pct(0.50):6.1f} ms   "
            f"p99 {self.pct(0.99):6.1f} ms   ({self.messages} messages in {self.seconds:.1f}s; "
            f"slowest {', '.join(f'{v:.0f}' for v in sorted(self.latencies_ms)[-3:])} ms)"
        )


def seed_school(engine: Engine, pupils: int) -> None:
    """A school of `pupils` sixth formers, each with a linked Telegram account."""
    with transaction(engine) as session:
        school = seed.school(session, "Benchmark Academy")
        assert school.id is not None
        people = seed.numbered_pupils(session, school.id, pupils, date_of_birth=date(2008, 1, 1), year_group=12)
        for i, person in enumerate(people):
            person.form = f"12{'ABCDEFGH'[i % 8]}"
        seed.chats_for(session, people, "telegram", FIRST_CHAT)


class Driver:
    """Closed-loop pupils: each waits for its reply before sending again."""

    def __init__(self, fake: FakeTelegram, loop: asyncio.AbstractEventLoop) -> None:
        self.fake = fake
        self.loop = loop
        self.waiting: dict[int, tuple[asyncio.Future[float], float]] = {}
        fake.on_call = self._on_call  # runs on the fake's thread

    def _on_call(self, call: Call) -> None:
        if call.method != "sendMessage" or not call.ok:
            return
        entry = self.waiting.pop(call.chat_id, None)  # type: ignore[arg-type]
        if entry is not None:
            future, sent_at = entry
            self.loop.call_soon_threadsafe(_resolve, future, (call.at - sent_at) * 1000)

    async def pupil(self, chat_id: int, count: int, latencies: list[float]) -> None:
        for n in range(count):
            future: asyncio.Future[float] = self.loop.create_future()
            self.waiting[chat_id] = (future, time.perf_counter())
            self.fake.message(chat_id, f"/reflect Helped at the open evening, part {n}")
            latencies.append(await asyncio.wait_for(future, 30))

    async def run(self, name: str, messages: int, concurrency: int, chats: list[int]) -> Result:
        per_pupil = max(1, messages // concurrency)
        latencies: list[float] = []
        started = time.perf_counter()
        await asyncio.gather(*(self.pupil(chat, per_pupil, latencies) for chat in chats[:concurrency]))
        return Result(name, len(latencies), time.perf_counter() - started, latencies)


def _resolve(future: asyncio.Future[float], value: float) -> None:
    if not future.done():
        future.set_result(value)


async def echo_ceiling(fake: FakeTelegram, messages: int, concurrency: int, http: str) -> tuple[Result, Result]:
    async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(update.message.text)

    builder = ApplicationBuilder().token(fake.token).base_url(fake.base_url).concurrent_updates(True)
    if http == "aiohttp":  # like for like with Waymark's HTTP layer; the default is the library's own (httpx)
        builder = builder.request(AiohttpRequest(256)).get_updates_request(AiohttpRequest(1))
    app = builder.build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(timeout=1)
    try:
        driver = Driver(fake, asyncio.get_running_loop())
        chats = [FIRST_CHAT + 500_000 + i for i in range(concurrency)]
        await driver.run("warm-up", concurrency * 3, concurrency, chats)
        full = await driver.run(f"echo bot on {http} (ceiling)", messages, concurrency, chats)
        light = await driver.run(f"echo bot on {http}, 4 typing", messages // 4, LIGHT, chats)
        return full, light
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


async def waymark(
    fake: FakeTelegram, engine: Engine, label: str, messages: int, concurrency: int, pupils: int
) -> tuple[Result, Result]:
    settings = load_settings(
        database_url="sqlite://", telegram_bot_token=fake.token, telegram_api_base_url=fake.base_url
    )
    stop = await start_telegram(settings, Dispatcher(engine, settings), poll_timeout=1)
    freeze_startup_objects()  # as `waymark run` does once started (bot/heap.py)
    try:
        driver = Driver(fake, asyncio.get_running_loop())
        # Spread the simulated pupils over the whole roster.
        step = 37
        chats = [FIRST_CHAT + (i * step) % pupils for i in range(concurrency)]
        await driver.run("warm-up", concurrency * 3, concurrency, chats)
        full = await driver.run(f"waymark on {label}", messages, concurrency, chats)
        light = await driver.run(f"waymark on {label}, 4 typing", messages // 4, LIGHT, chats)
        return full, light
    finally:
        await stop()


def count_entries(engine: Engine) -> int:
    with transaction(engine, write=False) as session:
        return len(session.exec(select(JournalEntry.id)).all())


async def main(args: argparse.Namespace) -> list[Result]:
    fake = FakeTelegram()
    fake.start_in_thread()
    results: list[Result] = []
    engines: list[tuple[str, Engine, Any]] = []
    workdir = tempfile.TemporaryDirectory(prefix="waymark-bench-")
    try:
        sqlite = make_engine(f"sqlite:///{workdir.name}/bench.db")
        upgrade(sqlite)
        engines.append(("SQLite", sqlite, None))
        if args.pg:
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            admin = make_engine(args.pg)
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            sep = "&" if "?" in args.pg else "?"
            pg = make_engine(f"{normalise_url(args.pg)}{sep}options=-csearch_path%3D{schema}")
            upgrade(pg)
            engines.append(("PostgreSQL", pg, (admin, schema)))
        for label, engine, _ in engines:
            started = time.perf_counter()
            seed_school(engine, args.pupils)
            print(f"seeded {args.pupils} pupils on {label} in {time.perf_counter() - started:.1f}s", flush=True)

        results.extend(await echo_ceiling(fake, args.messages, args.concurrency, args.echo_http))
        print("\n".join(r.line() for r in results[-2:]), flush=True)
        for label, engine, _ in engines:
            results.extend(await waymark(fake, engine, label, args.messages, args.concurrency, args.pupils))
            print("\n".join(r.line() for r in results[-2:]), flush=True)
            expected = results[-1].messages + results[-2].messages + args.concurrency * 3
            print(f"  journal entries written: {count_entries(engine)} (expected {expected})", flush=True)
    finally:
        fake.stop_thread()
        for _, engine, extra in engines:
            engine.dispose()
            if extra is not None:
                admin, schema = extra
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                admin.dispose()
        workdir.cleanup()
    print()
    for index, result in enumerate(results[2:]):
        ceiling = results[index % 2]
        print(
            f"{result.name}: {result.rate / ceiling.rate:.0%} of the echo bot's rate, "
            f"p99 {result.pct(0.99):.1f} ms (echo {ceiling.pct(0.99):.1f} ms)"
        )
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pupils", type=int, default=10_000, help="pupils in the database (default 10000)")
    parser.add_argument("--messages", type=int, default=3000, help="journal entries per run (default 3000)")
    parser.add_argument("--concurrency", type=int, default=32, help="pupils typing at once (default 32)")
    parser.add_argument(
        "--echo-http", choices=("httpx", "aiohttp"), default="httpx", help="the echo bot's HTTP layer (default httpx)"
    )
    parser.add_argument("--pg", default=os.environ.get("WAYMARK_TEST_PG_URL"), help="PostgreSQL URL (optional)")
    asyncio.run(main(parser.parse_args()))
