"""One scheduler among several processes: the advisory lock (PostgreSQL) or the lease row (SQLite)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import Engine

from bot.settings import load_settings
from scheduler.sender import Sender
from scheduler.service import Background, JobSpec
from storage.db import make_engine, transaction
from storage.leadership import take_lease
from storage.models import utcnow


def background(engine: Engine, ran: list[str], name: str) -> Background:
    def job(_engine: Engine, _settings: object) -> None:
        ran.append(name)

    spec = JobSpec("probe", timedelta(seconds=0.2), job)
    settings = load_settings(database_url=engine.url.render_as_string(hide_password=False))
    return Background(
        settings, engine, Sender(engine, {}), jobs=(spec,), check_every=0.1, lease_ttl=timedelta(seconds=1)
    )


async def wait_until(predicate: object, timeout: float = 10.0) -> None:
    assert callable(predicate)
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_only_one_process_schedules_and_another_takes_over(engine: Engine) -> None:
    other_engine = make_engine(engine.url.render_as_string(hide_password=False))  # a second process's pool
    ran: list[str] = []
    first, second = background(engine, ran, "first"), background(other_engine, ran, "second")
    try:
        await first.start()
        await wait_until(lambda: first.leading)
        await second.start()
        await asyncio.sleep(0.8)  # several election rounds and job ticks
        assert first.leading and not second.leading
        assert ran and set(ran) == {"first"}
        await first.stop()  # the leader goes: the other takes over
        await wait_until(lambda: second.leading, timeout=5)
        mark = len(ran)
        await wait_until(lambda: len(ran) > mark)
        assert set(ran[mark:]) == {"second"}
    finally:
        await first.stop()
        await second.stop()
        other_engine.dispose()


def test_a_lease_is_only_taken_once_it_has_run_out(sqlite_only: Engine) -> None:
    now = utcnow()
    ttl = timedelta(seconds=30)
    with transaction(sqlite_only) as session:
        assert take_lease(session, "scheduler", "a", now, ttl)
    with transaction(sqlite_only) as session:
        assert not take_lease(session, "scheduler", "b", now + timedelta(seconds=29), ttl)
        assert take_lease(session, "scheduler", "a", now + timedelta(seconds=29), ttl)  # renewal
    with transaction(sqlite_only) as session:
        assert not take_lease(session, "scheduler", "b", now + timedelta(seconds=58), ttl)
        assert take_lease(session, "scheduler", "b", now + timedelta(seconds=60), ttl)
