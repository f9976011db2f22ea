"""The outbox sender: delivers pending `OutboxMessage` rows through the platform transports.

How a row travels
-----------------
1. A lane (one in-flight message at a time) asks its platform's buffer for a row. When the buffer
   is empty, one short transaction claims a batch of due rows (storage.outbox.claim_due):
   status "sending", `next_attempt_at` moved to the end of a lease. On PostgreSQL several
   processes claim side by side with FOR UPDATE SKIP LOCKED and never get the same row; on SQLite
   the claim runs under BEGIN IMMEDIATE. The claim also sets aside what must not go now: a row
   whose recipient is in quiet hours goes back to pending, due when they may be messaged
   (scheduler.quiet), and a check-in whose alumnus no longer consents is cancelled.
2. The lane waits for the platform's pace (e.g. Telegram: 30 a second overall, one a second per
   chat), checks that its lease still has time left and, if the row has waited more than
   `recheck_after` (1 s) since it was claimed, that it is still ours and not withdrawn by a /stop
   (one query for the whole buffer). Then it sends.
3. The outcome is written before the lane takes its next row. Outcomes of all lanes that finish
   at about the same time are written in one transaction (a group commit), which keeps the
   database work per message small without widening the uncertain window below.

Outcomes: sent; retry (429, 5xx, network) with exponential backoff and jitter, or exactly the
platform's `retry_after` - a 429 also pauses the whole platform; unreachable (blocked, chat not
found) marks the row "undeliverable" and the chat account unreachable; failed (a request the
platform will never accept, or too many retries). A long message goes out in parts; when the
platform refuses a part after taking earlier ones, the retry carries on from the refused part
(the row's text becomes what is left), so no part is sent twice.

The one uncertain case
----------------------
Telegram and Slack sends carry no idempotency key. If a process dies after the platform accepted
a message but before the "sent" mark was committed, the row's lease runs out and the row is sent
again: that person gets the message twice. A lane has at most one message in that state, because
it commits each outcome before it starts the next send, and rows that were claimed but never
tried are not sent twice (they were never sent once). So a crash repeats at most one message per
lane; with the default of one lane per platform, at most one message per sender process. A send
that times out is the same case (the platform may or may not have accepted it) and is retried.
(A long message split in parts counts as one: a crash between its parts repeats the parts sent.)

More lanes send faster when a platform allows it, and widen this window to one message per lane:
the campaign benchmark's 64 lanes (limit lifted, ~2,700 msg/s) risk at most 64 repeats on a crash.
The outcomes are still marked in batches - one UPDATE for all rows sent since the last commit - but
a batch only ever holds sends that have finished, so batching itself adds nothing to the window.
tests/test_sender.py kills `waymark run` (SIGKILL) with sends in flight and checks this.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from sqlalchemy import Engine
from sqlmodel import Session

from core.delivery import Delivery, SendOutcome, Transport
from core.platforms import PLATFORMS, SendLimits, is_pulled
from scheduler.quiet import QuietHours
from storage import outbox
from storage.db import transaction
from storage.models import utcnow

log = logging.getLogger("waymark.sender")

DEFAULT_LIMITS: dict[str, SendLimits] = {name: f.limits for name, f in PLATFORMS.items()}


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 2.0  # seconds before the second try
    cap: float = 3600.0
    max_attempts: int = 10

    def delay(self, attempts: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None and retry_after > 0:
            # The platform named the wait: keep to it, spread a little so rows do not return together.
            return retry_after * rng.uniform(1.0, 1.1)
        backoff = min(self.cap, self.base * 2 ** max(0, attempts - 1))
        return backoff * rng.uniform(0.5, 1.0)


@runtime_checkable
class Preparing(Protocol):
    """A transport whose rows need resolving at send time (email: the address, a fresh link)."""

    def prepare(self, session: Session, claim: outbox.Claimed, now: datetime) -> outbox.Claimed | None: ...


@dataclass
class SenderStats:
    sent: int = 0
    retried: int = 0
    undeliverable: int = 0
    failed: int = 0
    released: int = 0
    withdrawn: int = 0  # claimed, then cancelled (/stop) or taken over before it was sent


class Pacer:
    """Evenly spaced send slots (one every 1/rate seconds), with a pause a 429 can impose.

    Each slot follows the previous *planned* slot, not the moment a lane woke up, so a late
    wake-up does not lower the sustained rate; an idle spell earns no burst.
    """

    def __init__(self, per_second: float | None) -> None:
        self.interval = 1.0 / per_second if per_second else 0.0
        self.next_slot = 0.0
        self.paused_until = 0.0

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    async def wait(self) -> None:
        while True:
            now = time.monotonic()
            if self.paused_until > now:
                await asyncio.sleep(self.paused_until - now)
                continue
            if not self.interval:
                return
            slot = max(now, self.next_slot)
            self.next_slot = slot + self.interval
            if slot > now:
                await asyncio.sleep(slot - now)
            if self.paused_until <= time.monotonic():
                return


class ChatPacer:
    """At most one message per `interval` seconds to one chat; forgets chats that have gone quiet."""

    def __init__(self, interval: float | None) -> None:
        self.interval = interval or 0.0
        self.next_at: dict[str, float] = {}

    async def wait(self, chat_id: str) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if len(self.next_at) > 10_000:  # keep memory flat over a campaign to many chats
            self.next_at = {c: t for c, t in self.next_at.items() if t > now}
        slot = max(now, self.next_at.get(chat_id, 0.0))
        self.next_at[chat_id] = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


@dataclass
class _Result:
    claim: outbox.Claimed
    outcome: SendOutcome
    done: asyncio.Future[None]


@dataclass
class _Channel:
    platform: str
    transport: Transport
    pacer: Pacer
    chats: ChatPacer
    batch: int
    buffer: deque[outbox.Claimed] = field(default_factory=deque)
    claim_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    checked: dict[int, float] = field(default_factory=dict)  # row id -> when we last knew it may go
    preparing: bool = False  # the transport resolves rows at send time (a Protocol check costs ~10 µs)


class Sender:
    """Drains the outbox for the platforms it has transports for. Start it once per process."""

    def __init__(
        self,
        engine: Engine,
        transports: Mapping[str, Transport],
        *,
        limits: Mapping[str, SendLimits] | None = None,
        lanes: int = 1,
        batch: int | None = None,
        lease: timedelta = timedelta(minutes=2),
        send_timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        poll_interval: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        quiet: QuietHours | None = None,
        recheck_after: float = 1.0,
    ) -> None:
        """`quiet`: hold messages in quiet hours (scheduler.quiet); None sends at any time.
        `recheck_after`: a row held longer than this since it was claimed is checked again just
        before it is sent (still ours, not withdrawn by /stop)."""
        self.engine = engine
        self.quiet = quiet
        self.recheck_after = recheck_after
        self.lanes = max(1, lanes)
        self.lease = lease
        self.send_timeout = send_timeout
        self.retry = retry or RetryPolicy()
        self.poll_interval = poll_interval
        self.clock = clock
        self.rng = rng or random.Random()
        self.stats = SenderStats()
        all_limits = {**DEFAULT_LIMITS, **(limits or {})}
        self.channels: dict[str, _Channel] = {}
        for platform, transport in transports.items():
            if is_pulled(platform):  # the page or terminal takes these rows itself (outbox.take_for_identity)
                continue
            lim = all_limits.get(platform, SendLimits(per_second=None))
            # Enough rows for a couple of seconds of sending, but never so many that the lease
            # could run out while they wait their turn.
            size = batch or max(self.lanes, min(500, int(2 * lim.per_second) if lim.per_second else 500))
            self.channels[platform] = _Channel(
                platform,
                transport,
                Pacer(lim.per_second),
                ChatPacer(lim.per_chat_interval),
                size,
                preparing=isinstance(transport, Preparing),
            )
        self._results: list[_Result] = []
        self._results_ready = asyncio.Event()
        self._stopping = False
        self._lane_tasks: list[asyncio.Task[None]] = []
        self._committer: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._committer is not None:
            return
        self._stopping = False
        self._committer = asyncio.create_task(self._commit_loop(), name="outbox-commit")
        for channel in self.channels.values():
            for n in range(self.lanes):
                self._lane_tasks.append(asyncio.create_task(self._lane(channel), name=f"outbox-{channel.platform}-{n}"))

    def wake(self) -> None:
        """New rows were queued in this process: look now rather than at the next poll."""
        for channel in self.channels.values():
            channel.wake.set()

    async def stop(self) -> None:
        """Finish the messages in flight, give back claimed rows not yet tried, write every outcome."""
        self._stopping = True
        self.wake()
        if self._lane_tasks:
            await asyncio.gather(*self._lane_tasks, return_exceptions=True)
        self._lane_tasks = []
        leftover = [c for ch in self.channels.values() for c in ch.buffer]
        for ch in self.channels.values():
            ch.buffer.clear()
            ch.checked.clear()
        if leftover:
            self.stats.released += await asyncio.to_thread(self._release, leftover)
        if self._committer is not None:
            self._results_ready.set()
            await self._committer
            self._committer = None

    async def run_until_settled(self, timeout: float, check_every: float = 0.05) -> bool:
        """Start, wait until no row for our platforms is pending or sending, stop. For tests and the bench."""
        await self.start()
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if await asyncio.to_thread(self.unsettled) == 0:
                    return True
                await asyncio.sleep(check_every)
            return False
        finally:
            await self.stop()

    def unsettled(self) -> int:
        """Rows pending or sending for our platforms (pending includes rows held for quiet hours)."""
        with transaction(self.engine, write=False) as session:
            total = 0
            for platform in self.channels:
                counts = outbox.count_by_status(session, platform)
                total += counts.get(outbox.PENDING, 0) + counts.get(outbox.SENDING, 0)
            return total

    # --- one lane ----------------------------------------------------------------------------

    async def _lane(self, channel: _Channel) -> None:
        while not self._stopping:
            try:
                claim = await self._next(channel)
                if claim is None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(channel.wake.wait(), self.poll_interval)
                    channel.wake.clear()
                    continue
                await self._deliver(channel, claim)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database went away for a moment: the rows' leases protect them
                log.exception("outbox lane for %s failed; trying again shortly", channel.platform)
                await asyncio.sleep(self.poll_interval)

    async def _next(self, channel: _Channel) -> outbox.Claimed | None:
        if not channel.buffer:
            async with channel.claim_lock:
                if not channel.buffer and not self._stopping:
                    claims = await asyncio.to_thread(self._claim, channel.platform, channel.batch)
                    now = time.monotonic()
                    channel.checked.update((c.id, now) for c in claims)
                    channel.buffer.extend(claims)
        return channel.buffer.popleft() if channel.buffer else None

    async def _still_wanted(self, channel: _Channel, claim: outbox.Claimed) -> bool:
        """Just before sending: a row held for more than a moment is checked again (with the rest of
        the buffer, in one query), so a /stop that came after the claim still stops it."""
        if time.monotonic() - channel.checked.get(claim.id, 0.0) <= self.recheck_after:
            return True
        group = [claim, *channel.buffer]
        ours = await asyncio.to_thread(self._recheck, group)
        now = time.monotonic()
        gone = {c.id for c in group} - ours
        for c in group:
            if c.id in gone:
                channel.checked.pop(c.id, None)
            else:
                channel.checked[c.id] = now
        if gone:
            self.stats.withdrawn += len(gone)
            # Only rows of this check leave the buffer: others may have been claimed meanwhile.
            channel.buffer = deque(c for c in channel.buffer if c.id not in gone)
        return claim.id not in gone

    async def _deliver(self, channel: _Channel, claim: outbox.Claimed) -> None:
        if channel.preparing:
            assert isinstance(channel.transport, Preparing)
            prepared = await asyncio.to_thread(self._prepare, channel.transport, claim)
            if prepared is None:
                await self._record(claim, SendOutcome(Delivery.unreachable, error="no address to send to"))
                return
            claim = prepared
        await channel.chats.wait(claim.chat_id)
        await channel.pacer.wait()
        # Never send on a lease that may end mid-request: another sender could have the row by then.
        if self._stopping or self.clock() + timedelta(seconds=self.send_timeout) >= claim.lease_until:
            channel.checked.pop(claim.id, None)
            self.stats.released += await asyncio.to_thread(self._release, [claim])
            return
        if not await self._still_wanted(channel, claim):
            return  # cancelled (/stop) or no longer ours: nothing to send, nothing to record
        channel.checked.pop(claim.id, None)
        try:
            # asyncio.timeout rather than wait_for: no extra task per message (measurable at 1,000/s).
            async with asyncio.timeout(self.send_timeout):
                outcome = await channel.transport.send(claim.chat_id, claim.text, claim.buttons)
        except TimeoutError:
            outcome = SendOutcome(Delivery.retry, error=f"no answer within {self.send_timeout:g}s")
        except Exception as exc:  # a transport bug must not lose the row: retry it later
            log.exception("transport %s raised", channel.platform)
            outcome = SendOutcome(Delivery.retry, error=f"{type(exc).__name__}: {exc}")
        if outcome.result is Delivery.retry and outcome.retry_after:
            channel.pacer.pause(outcome.retry_after)  # a 429 limits the whole bot, not one chat
        await self._record(claim, outcome)

    async def _record(self, claim: outbox.Claimed, outcome: SendOutcome) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._results.append(_Result(claim, outcome, done))
        self._results_ready.set()
        await done  # the next send waits for this outcome to be on disk: one uncertain row per lane

    # --- writing outcomes ----------------------------------------------------------------------

    async def _commit_loop(self) -> None:
        while True:
            await self._results_ready.wait()
            self._results_ready.clear()
            batch, self._results = self._results, []
            if batch:
                try:
                    await asyncio.to_thread(self._apply, batch)
                except Exception as exc:
                    log.exception("could not record %d outbox outcomes", len(batch))
                    for r in batch:
                        if not r.done.done():
                            r.done.set_exception(exc)
                else:
                    for r in batch:
                        if not r.done.done():
                            r.done.set_result(None)
            if self._stopping and not self._results and all(t.done() for t in self._lane_tasks):
                return

    def _apply(self, batch: list[_Result]) -> None:
        now = self.clock()
        with transaction(self.engine) as session:
            sent: list[int] = []
            for r in batch:
                claim, outcome = r.claim, r.outcome
                if outcome.result is Delivery.sent:
                    sent.append(claim.id)
                elif outcome.result is Delivery.unreachable:
                    outbox.mark_undeliverable(session, claim, error=outcome.error or "unreachable", now=now)
                    self.stats.undeliverable += 1
                elif outcome.result is Delivery.failed or claim.attempts >= self.retry.max_attempts:
                    why = outcome.error or "failed"
                    if outcome.result is Delivery.retry:
                        why = f"gave up after {claim.attempts} tries: {why}"
                    outbox.mark_failed(session, claim.id, error=why)
                    self.stats.failed += 1
                else:
                    wait = self.retry.delay(claim.attempts, outcome.retry_after, self.rng)
                    outbox.reschedule(
                        session,
                        claim.id,
                        at=now + timedelta(seconds=wait),
                        error=outcome.error,
                        text=outcome.remaining_text,  # parts already delivered are not sent again
                    )
                    self.stats.retried += 1
            outbox.mark_sent(session, sent, now)
            self.stats.sent += len(sent)

    def _claim(self, platform: str, limit: int) -> list[outbox.Claimed]:
        now = self.clock()
        with transaction(self.engine) as session:
            hold = self.quiet.rule(session, now) if self.quiet is not None else None
            return outbox.claim_due(session, platforms=[platform], now=now, lease=self.lease, limit=limit, hold=hold)

    def _recheck(self, claims: list[outbox.Claimed]) -> set[int]:
        with transaction(self.engine) as session:
            return outbox.still_to_send(session, claims)

    def _release(self, claims: list[outbox.Claimed]) -> int:
        with transaction(self.engine) as session:
            return outbox.release(session, claims, self.clock())

    def _prepare(self, transport: Preparing, claim: outbox.Claimed) -> outbox.Claimed | None:
        with transaction(self.engine) as session:
            prepared = transport.prepare(session, claim, self.clock())
        return replace(prepared, lease_until=claim.lease_until) if prepared is not None else None
