"""One scheduler among several processes: the advisory lock (PostgreSQL) or the lease row (SQLite)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import Engine
from sqlmodel import select

from core.settings import load_settings
from scheduler import housekeeping
from scheduler.sender import Sender
from scheduler.service import JOBS, Background, JobSpec
from storage import conversations
from storage.db import make_engine, transaction
from storage.leadership import take_lease
from storage.models import ProcessedUpdate, utcnow


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


async def test_a_leader_that_dies_is_replaced_on_postgresql(engine: Engine) -> None:
    """SIGKILL, not a clean stop: the advisory lock goes with the dead process's connection."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the advisory lock is PostgreSQL's")
    leader = subprocess.Popen(
        [sys.executable, "-c", LEADER_PROCESS, engine.url.render_as_string(hide_password=False)],
        stdout=subprocess.PIPE,
    )
    ran: list[str] = []
    survivor = background(engine, ran, "survivor")
    try:
        assert leader.stdout is not None and leader.stdout.readline() == b"leading\n"
        await survivor.start()
        await asyncio.sleep(0.6)  # several election rounds: the lock is taken
        assert not survivor.leading and ran == []
        leader.send_signal(signal.SIGKILL)
        leader.wait(10)
        await wait_until(lambda: survivor.leading, timeout=10)
        await wait_until(lambda: bool(ran))
        assert set(ran) == {"survivor"}
    finally:
        if leader.poll() is None:
            leader.kill()
        await survivor.stop()


LEADER_PROCESS = """
import sys, time
from storage.db import make_engine
from scheduler.service import Leadership
leadership = Leadership(make_engine(sys.argv[1]))
assert leadership.try_lead(False)
print("leading", flush=True)
time.sleep(120)
"""


def test_processed_update_ids_are_pruned_after_thirty_days(engine: Engine) -> None:
    now = utcnow()
    with transaction(engine) as session:
        for n, days in enumerate((0, 1, 29, 31, 400)):
            conversations.mark_processed(session, "telegram", str(n), now - timedelta(days=days, minutes=1))
    [job] = [spec for spec in JOBS if spec.name == "prune_processed_updates"]
    settings = load_settings(database_url=engine.url.render_as_string(hide_password=False))
    with time_machine.travel(now, tick=False):
        assert job.run(engine, settings) == 2
        assert job.run(engine, settings) == 0
    with transaction(engine, write=False) as session:
        kept = session.exec(select(ProcessedUpdate.update_id)).all()
    assert sorted(kept) == ["0", "1", "2"]


def test_pruning_goes_in_batches_until_nothing_old_is_left(engine: Engine) -> None:
    now = utcnow()
    with transaction(engine) as session:
        for n in range(25):
            conversations.mark_processed(session, "slack", f"E{n}", now - timedelta(days=40))
    with transaction(engine) as session:
        assert conversations.prune_processed(session, now - timedelta(days=30), batch=10) == 10
    settings = load_settings(database_url=engine.url.render_as_string(hide_password=False))
    assert housekeeping.run_prune_processed_updates(engine, settings, now) == 15
