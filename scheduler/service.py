"""The background of `waymark run`: the outbox sender in every process, the scheduler in one.

Jobs are defined here in code (no job store), and each one recomputes what is due from the
database and writes its decisions as outbox rows with unique keys. So a missed tick, a restart, a
clock change or a second scheduler can never make a second message; it can only make one late.
Still, only one process schedules: on PostgreSQL the one holding an advisory lock on a connection
of its own; on SQLite the one holding the `SchedulerLease` row. The others try again every few
seconds and take over when the leader goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from core.delivery import Transport
from core.settings import Settings
from scheduler.quiet import QuietHours
from scheduler.sender import Sender
from storage import leadership
from storage.db import is_postgres, transaction
from storage.models import utcnow

log = logging.getLogger("waymark.scheduler")

Stop = Callable[[], Awaitable[None]]
LEASE_NAME = "scheduler"


@dataclass(frozen=True)
class JobSpec:
    name: str
    every: timedelta
    run: Callable[[Engine, Settings], object]  # a synchronous decision run: (engine, settings) -> anything
    # Yearly and weekly work must not be skipped because the process was down when it was due.
    misfire_grace: timedelta = timedelta(hours=12)


def _checkins(engine: Engine, settings: Settings) -> object:
    from scheduler.campaign import run_checkins

    return run_checkins(engine, settings, utcnow())


def _reminders(engine: Engine, settings: Settings) -> object:
    from scheduler.campaign import run_reminders

    return run_reminders(engine, settings, utcnow())


def _leaver_invitations(engine: Engine, settings: Settings) -> object:
    from scheduler.campaign import run_leaver_invitations

    return run_leaver_invitations(engine, settings, utcnow())


def _action_nudges(engine: Engine, settings: Settings) -> object:
    from scheduler.reminders import run_action_nudges

    return run_action_nudges(engine, settings, utcnow())


def _digests(engine: Engine, settings: Settings) -> object:
    from scheduler.reminders import run_digests

    return run_digests(engine, settings, utcnow())


def _safeguarding(engine: Engine, settings: Settings) -> object:
    from scheduler.safeguarding import run_safeguarding

    return run_safeguarding(engine, settings, utcnow())


def _prune_processed_updates(engine: Engine, settings: Settings) -> object:
    from scheduler.housekeeping import run_prune_processed_updates

    return run_prune_processed_updates(engine, settings, utcnow())


def _prune_expired_limits(engine: Engine, settings: Settings) -> object:
    from scheduler.housekeeping import run_prune_expired_limits

    return run_prune_expired_limits(engine, settings, utcnow())


def _retention(engine: Engine, settings: Settings) -> object:
    from scheduler.retention import run_retention

    return run_retention(engine, settings, utcnow())


# Every job is cheap when nothing is due, so they run often and each decides for itself.
JOBS: tuple[JobSpec, ...] = (
    JobSpec("checkins", timedelta(minutes=15), _checkins),
    JobSpec("checkin_reminders", timedelta(minutes=30), _reminders),
    JobSpec("leaver_invitations", timedelta(hours=6), _leaver_invitations),
    JobSpec("action_nudges", timedelta(minutes=30), _action_nudges),
    JobSpec("digests", timedelta(hours=1), _digests),
    JobSpec("prune_processed_updates", timedelta(hours=6), _prune_processed_updates),
    JobSpec("prune_expired_limits", timedelta(minutes=10), _prune_expired_limits),
    JobSpec("retention", timedelta(days=1), _retention, misfire_grace=timedelta(days=1)),
    # Alerts held for a DSL and escalations: a disclosure must not wait for a long tick.
    JobSpec("safeguarding", timedelta(minutes=1), _safeguarding, misfire_grace=timedelta(minutes=5)),
)


class Leadership:
    """Take, keep and give up the right to schedule."""

    def __init__(self, engine: Engine, ttl: timedelta = timedelta(seconds=30)) -> None:
        self.engine = engine
        self.ttl = ttl
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lock = leadership.AdvisoryLock(engine) if is_postgres(engine) else None

    def try_lead(self, leading: bool) -> bool:
        """Called every few seconds: True while this process may schedule."""
        if self.lock is not None:
            if leading:
                return self.lock.still_held()
            return self.lock.try_acquire()
        with transaction(self.engine) as session:
            return leadership.take_lease(session, LEASE_NAME, self.holder, utcnow(), self.ttl)

    def resign(self) -> None:
        if self.lock is not None:
            self.lock.release()
            return
        with contextlib.suppress(Exception), transaction(self.engine) as session:
            leadership.drop_lease(session, LEASE_NAME, self.holder)


class Background:
    """The sender plus, while this process leads, an APScheduler running JOBS."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        sender: Sender,
        *,
        jobs: tuple[JobSpec, ...] = JOBS,
        check_every: float = 10.0,
        lease_ttl: timedelta = timedelta(seconds=30),
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sender = sender
        self.jobs = jobs
        self.check_every = check_every
        self.leadership = Leadership(engine, lease_ttl)
        self.scheduler: AsyncIOScheduler | None = None
        self.leading = False
        self.runs: dict[str, int] = {}
        self._running: set[asyncio.Task[Any]] = set()
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.sender.start()
        self._watch = asyncio.create_task(self._keep_leadership(), name="scheduler-leadership")

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self._stop_scheduling()
        if self.leading:
            await asyncio.to_thread(self.leadership.resign)
            self.leading = False
        await self.sender.stop()

    async def _keep_leadership(self) -> None:
        while True:
            try:
                leads = await asyncio.to_thread(self.leadership.try_lead, self.leading)
            except Exception:
                log.exception("could not check the scheduler leadership")
                leads = False
            if leads and not self.leading:
                log.info("this process now schedules (%s)", self.leadership.holder)
                self.leading = True
                self._start_scheduling()
            elif not leads and self.leading:
                log.warning("lost the scheduler leadership; another process takes over")
                self.leading = False
                await self._stop_scheduling()
            await asyncio.sleep(self.check_every)

    def _start_scheduling(self) -> None:
        scheduler = AsyncIOScheduler(timezone=self.settings.zone)
        now = utcnow()
        for spec in self.jobs:
            scheduler.add_job(
                self._run_job,
                IntervalTrigger(seconds=spec.every.total_seconds(), timezone=self.settings.zone),
                args=[spec],
                id=spec.name,
                name=spec.name,
                next_run_time=now,  # at once: a new leader catches up on whatever is due
                coalesce=True,  # several missed ticks make one run
                misfire_grace_time=int(spec.misfire_grace.total_seconds()),
                max_instances=1,
            )
        scheduler.start()
        self.scheduler = scheduler

    async def _stop_scheduling(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        if self._running:  # a decision run in a thread cannot be interrupted: let it commit
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _run_job(self, spec: JobSpec) -> None:
        task = asyncio.create_task(asyncio.to_thread(spec.run, self.engine, self.settings))
        self._running.add(task)
        try:
            # Shielded: shutting the scheduler down cancels this coroutine, but the decision run in
            # its thread goes on to commit, and _stop_scheduling waits for it.
            result = await asyncio.shield(task)
            self.runs[spec.name] = self.runs.get(spec.name, 0) + 1
            log.debug("job %s: %s", spec.name, result)
        except asyncio.CancelledError:
            log.info("stopping: job %s finishes in the background", spec.name)
            return
        except Exception:
            log.exception("scheduled job %s failed; it runs again at its next tick", spec.name)
        finally:
            if task.done():
                self._running.discard(task)
            else:
                task.add_done_callback(self._running.discard)
        self.sender.wake()  # whatever it queued goes now, not at the next poll


async def start_background(
    settings: Settings,
    engine: Engine,
    transports: Mapping[str, Transport] | None = None,
    *,
    jobs: tuple[JobSpec, ...] = JOBS,
    check_every: float = 10.0,
) -> Stop:
    """Start the sender and the scheduler election; returns the async `stop` (contract of bot/runner.py).

    `transports` are the platforms this process can deliver to, as bot/runner.py opened them
    (Telegram and Slack when their adapters run, email when WAYMARK_SMTP_URL is set).
    """
    available = dict(transports or {})
    lease = timedelta(seconds=settings.sender_lease_seconds)
    sender = Sender(
        engine,
        available,
        lanes=settings.sender_lanes,
        lease=lease,
        send_timeout=min(20.0, lease.total_seconds() / 3),
        quiet=QuietHours(settings.zone) if settings.quiet_hours else None,
    )
    background = Background(settings, engine, sender, jobs=jobs, check_every=check_every)
    await background.start()
    log.info("outbox sender for %s", ", ".join(sorted(sender.channels)) or "no platform (web chat pulls its own)")
    return background.stop
