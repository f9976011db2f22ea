"""The outbox sender against the fake Bot API, through the real python-telegram-bot Bot.

Every test queues rows with storage.outbox.enqueue (what the campaign does), runs a real `Sender`
and reads what arrived at the fake server and what the database says afterwards.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import Engine
from sqlmodel import select

from core.messages import Button
from core.platforms import SendLimits
from core.settings import load_settings
from scheduler.quiet import QuietHours, held_until
from scheduler.sender import RetryPolicy, Sender
from storage import consents, outbox, seed
from storage.consents import ConsentKind
from storage.db import make_engine, transaction
from storage.models import ChatIdentity, OutboxMessage, Person, Role, School, utcnow
from storage.outbox import count_by_status
from tests.fakes.telegram_api import Call, FakeTelegram
from tests.telegram_transport import telegram_transport

FAST_RETRY = RetryPolicy(base=0.05, cap=0.5, max_attempts=10)
UNLIMITED = {"telegram": SendLimits(per_second=None)}


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


def alumni(engine: Engine, n: int, *, first_chat: int = 5000) -> list[int]:
    """n alumni, each with a linked Telegram account whose chat id is first_chat + i."""
    school = seed.school(engine)
    assert school.id is not None
    with transaction(engine) as session:
        people = [
            Person(school_id=school.id, role=Role.alumnus, given_name=f"Alum{i}", family_name="Test", upn=f"A{i:012d}")
            for i in range(n)
        ]
        session.add_all(people)
        session.flush()
        now = utcnow()
        for i, person in enumerate(people):
            chat = str(first_chat + i)
            assert person.id is not None
            session.add(
                ChatIdentity(platform="telegram", external_id=chat, chat_id=chat, person_id=person.id, linked_at=now)
            )
        return [p.id for p in people if p.id is not None]


def queue(engine: Engine, people: list[int], *, first_chat: int = 5000, platform: str = "telegram") -> None:
    now = utcnow()
    with transaction(engine) as session:
        for i, person_id in enumerate(people):
            outbox.enqueue(
                session,
                key=f"test:{platform}:{person_id}",
                person_id=person_id,
                platform=platform,
                chat_id=str(first_chat + i),
                text=f"Where are you now? ({i})",
                now=now,
                buttons=[[Button("Apprenticeship", "dest:310"), Button("University", "dest:240")]],
            )


def rows(engine: Engine) -> list[OutboxMessage]:
    with transaction(engine, write=False) as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all())  # type: ignore[arg-type]


def delivered(fake: FakeTelegram) -> collections.Counter[int | str | None]:
    return collections.Counter(c.chat_id for c in fake.calls_of("sendMessage") if c.ok)


async def test_delivers_every_row_once_with_its_buttons(engine: Engine, fake: FakeTelegram) -> None:
    people = alumni(engine, 12)
    queue(engine, people)
    async with telegram_transport(fake) as transport:
        sender = Sender(engine, {"telegram": transport}, limits=UNLIMITED, poll_interval=0.05)
        assert await sender.run_until_settled(timeout=20)
    counts = delivered(fake)
    assert sorted(counts) == [5000 + i for i in range(12)]
    assert set(counts.values()) == {1}
    first = fake.calls_to(5000, ["sendMessage"])[0]
    assert first.text == "Where are you now? (0)"
    assert first.buttons() == [("Apprenticeship", "dest:310"), ("University", "dest:240")]
    assert {(r.status, r.attempts) for r in rows(engine)} == {("sent", 1)}
    assert sender.stats.sent == 12


async def test_a_429_storm_is_honoured_and_everything_arrives_afterwards(engine: Engine, fake: FakeTelegram) -> None:
    people = alumni(engine, 6)
    queue(engine, people)
    fake.fail_next(3, status=429, retry_after=1)
    async with telegram_transport(fake) as transport:
        sender = Sender(engine, {"telegram": transport}, limits=UNLIMITED, retry=FAST_RETRY, poll_interval=0.05)
        assert await sender.run_until_settled(timeout=30)
    sends = fake.calls_of("sendMessage")
    refused = [i for i, c in enumerate(sends) if c.status == 429]
    assert len(refused) == 3
    for i in refused:  # nothing at all was sent while Telegram's retry_after was running
        assert sends[i + 1].at - sends[i].at >= 0.95
    assert set(delivered(fake).values()) == {1} and len(delivered(fake)) == 6
    assert {r.status for r in rows(engine)} == {"sent"}
    assert sender.stats.retried == 3


async def test_a_rate_limited_server_storm_still_delivers_everything_once(engine: Engine) -> None:
    """A server that answers 429 whenever it is sent faster than 10 a second, to a sender told no limit."""
    server = FakeTelegram(enforce_limits=True, overall_per_second=10)
    await server.start()
    try:
        people = alumni(engine, 30)
        queue(engine, people)
        async with telegram_transport(server) as transport:
            sender = Sender(
                engine, {"telegram": transport}, limits=UNLIMITED, lanes=4, retry=FAST_RETRY, poll_interval=0.05
            )
            started = time.monotonic()
            assert await sender.run_until_settled(timeout=40)
            elapsed = time.monotonic() - started
        assert server.rate_limited >= 1
        # Honouring retry_after keeps refusals to a handful per second, not one per attempt in a loop.
        assert server.rate_limited <= 4 * (elapsed + 1)
        assert len(delivered(server)) == 30 and set(delivered(server).values()) == {1}
    finally:
        await server.stop()


async def test_blocked_and_missing_chats_are_undeliverable_and_marked_unreachable(
    engine: Engine, fake: FakeTelegram
) -> None:
    people = alumni(engine, 4)
    queue(engine, people)
    fake.fail_chat(5001, status=403)  # "bot was blocked by the user"
    fake.fail_chat(5002, status=400)  # "chat not found"
    async with telegram_transport(fake) as transport:
        sender = Sender(engine, {"telegram": transport}, limits=UNLIMITED, retry=FAST_RETRY, poll_interval=0.05)
        assert await sender.run_until_settled(timeout=20)
    by_chat = {r.chat_id: r for r in rows(engine)}
    assert by_chat["5000"].status == "sent" and by_chat["5003"].status == "sent"
    assert by_chat["5001"].status == "undeliverable" and "blocked" in (by_chat["5001"].error or "")
    assert by_chat["5002"].status == "undeliverable" and "not found" in (by_chat["5002"].error or "")
    assert len(fake.calls_of("sendMessage")) == 4  # never retried
    with transaction(engine, write=False) as session:
        unreachable = {i.chat_id for i in session.exec(select(ChatIdentity)).all() if i.unreachable_at is not None}
    assert unreachable == {"5001", "5002"}
    assert sender.stats.undeliverable == 2


async def test_server_errors_are_retried_with_growing_backoff(engine: Engine, fake: FakeTelegram) -> None:
    people = alumni(engine, 1)
    queue(engine, people)
    fake.fail_next(2, status=500)
    policy = RetryPolicy(base=0.3, cap=5, max_attempts=5)
    async with telegram_transport(fake) as transport:
        sender = Sender(engine, {"telegram": transport}, limits=UNLIMITED, retry=policy, poll_interval=0.02)
        assert await sender.run_until_settled(timeout=20)
    sends = fake.calls_of("sendMessage")
    assert [c.status for c in sends] == [500, 500, 200]
    # Full jitter between half and all of base * 2^(n-1): at least 0.15 s, then at least 0.3 s.
    assert sends[1].at - sends[0].at >= 0.15
    assert sends[2].at - sends[1].at >= 0.3
    (row,) = rows(engine)
    assert (row.status, row.attempts) == ("sent", 3)


async def test_a_row_that_keeps_failing_is_given_up_and_counted(engine: Engine, fake: FakeTelegram) -> None:
    people = alumni(engine, 2)
    queue(engine, people)
    fake.fail_chat(5000, status=502)
    async with telegram_transport(fake) as transport:
        sender = Sender(
            engine,
            {"telegram": transport},
            limits=UNLIMITED,
            retry=RetryPolicy(base=0.02, max_attempts=3),
            poll_interval=0.02,
        )
        assert await sender.run_until_settled(timeout=20)
    by_chat = {r.chat_id: r for r in rows(engine)}
    assert by_chat["5000"].status == "failed" and "gave up after 3 tries" in (by_chat["5000"].error or "")
    assert by_chat["5001"].status == "sent"
    assert len(fake.calls_to(5000, ["sendMessage"])) == 0 and len(fake.calls_of("sendMessage")) == 4
    with transaction(engine, write=False) as session:
        assert outbox.count_by_status(session) == {"failed": 1, "sent": 1}


async def test_rows_of_a_dead_sender_are_sent_once_when_its_lease_ends(engine: Engine, fake: FakeTelegram) -> None:
    people = alumni(engine, 5)
    queue(engine, people)
    with transaction(engine) as session:  # a sender claims three rows, then its process dies
        dead = outbox.claim_due(session, platforms=["telegram"], now=utcnow(), lease=timedelta(seconds=1), limit=3)
    assert len(dead) == 3
    async with telegram_transport(fake) as transport:
        sender = Sender(engine, {"telegram": transport}, limits=UNLIMITED, poll_interval=0.05, send_timeout=0.2)
        await sender.start()
        await fake.wait_for(lambda: len(delivered(fake)) == 2, timeout=5)
        assert len(delivered(fake)) == 2  # the leased rows wait for the lease to end...
        await fake.wait_for(lambda: len(delivered(fake)) == 5, timeout=10)  # ...then go, once each
        await sender.stop()
    assert set(delivered(fake).values()) == {1}
    assert {(r.status, r.attempts) for r in rows(engine) if r.id in {c.id for c in dead}} == {("sent", 2)}


async def test_stopping_gives_back_claimed_rows_untouched(engine: Engine, fake: FakeTelegram) -> None:
    people = alumni(engine, 20)
    queue(engine, people)
    async with telegram_transport(fake) as transport:
        sender = Sender(engine, {"telegram": transport}, limits={"telegram": SendLimits(per_second=10)}, batch=20)
        await sender.start()
        await fake.wait_for(lambda: len(delivered(fake)) >= 3, timeout=5)
        await sender.stop()
    sent = len(delivered(fake))
    states = collections.Counter((r.status, r.attempts) for r in rows(engine))
    assert states == {("sent", 1): sent, ("pending", 0): 20 - sent}
    assert sender.stats.released == 20 - sent


async def test_web_and_console_rows_are_left_for_their_own_channels(engine: Engine, fake: FakeTelegram) -> None:
    people = alumni(engine, 2)
    queue(engine, people[:1], platform="web", first_chat=9000)
    queue(engine, people[1:], platform="telegram", first_chat=5001)
    async with telegram_transport(fake) as transport:
        sender = Sender(engine, {"telegram": transport, "web": transport}, limits=UNLIMITED, poll_interval=0.05)
        assert set(sender.channels) == {"telegram"}
        assert await sender.run_until_settled(timeout=10)
    assert {r.platform: r.status for r in rows(engine)} == {"web": "pending", "telegram": "sent"}
    assert list(delivered(fake)) == [5001]


async def test_pace_keeps_to_one_message_a_second_per_chat(engine: Engine, fake: FakeTelegram) -> None:
    people = alumni(engine, 1)
    now = utcnow()
    with transaction(engine) as session:
        for n in range(3):
            outbox.enqueue(
                session,
                key=f"digest:{n}",
                person_id=people[0],
                platform="telegram",
                chat_id="5000",
                text=f"note {n}",
                now=now,
            )
    async with telegram_transport(fake) as transport:
        sender = Sender(engine, {"telegram": transport}, poll_interval=0.05)  # Telegram's own limits
        assert await sender.run_until_settled(timeout=10)
    sends = fake.calls_of("sendMessage")
    assert [c.text for c in sends] == ["note 0", "note 1", "note 2"]
    assert all(b.at - a.at >= 0.95 for a, b in itertools.pairwise(sends))


@pytest.mark.slow
async def test_two_senders_on_postgresql_drain_5000_rows_without_a_duplicate(
    engine: Engine, fake: FakeTelegram
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("several senders share the outbox only on PostgreSQL (FOR UPDATE SKIP LOCKED)")
    people = alumni(engine, 5000)
    queue(engine, people)
    second = make_engine(engine.url.render_as_string(hide_password=False))  # another process's connections
    try:
        async with telegram_transport(fake) as t1, telegram_transport(fake) as t2:
            one = Sender(engine, {"telegram": t1}, limits=UNLIMITED, lanes=8, batch=50, poll_interval=0.05)
            two = Sender(second, {"telegram": t2}, limits=UNLIMITED, lanes=8, batch=50, poll_interval=0.05)
            done = await asyncio.gather(one.run_until_settled(timeout=120), two.run_until_settled(timeout=120))
        assert done == [True, True]
    finally:
        second.dispose()
    counts = delivered(fake)
    assert len(counts) == 5000 and max(counts.values()) == 1
    with transaction(engine, write=False) as session:
        assert outbox.count_by_status(session) == {"sent": 5000}
    # Both really took part.
    assert one.stats.sent > 500 and two.stats.sent > 500 and one.stats.sent + two.stats.sent == 5000


# ---- quiet hours, /stop after the claim, long messages, a kill with sends in flight ---------------

LONDON = ZoneInfo("Europe/London")


def london(y: int, m: int, d: int, h: int, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=LONDON)


def one_each(engine: Engine, holidays: str = "") -> dict[str, int]:
    """A pupil, a member of staff and an alumnus at one school, each with a row queued now."""
    school = seed.school(engine)
    with transaction(engine) as session:
        row = session.get(School, school.id)
        assert row is not None
        row.holidays = holidays
        session.add(row)
    pupil = seed.pupil(engine, school.id, "Pia", "Pupil")
    tutor = seed.staff(engine, school.id, "Tom", "Tutor")
    alum = seed.pupil(engine, school.id, "Al", "Alum", leaving_date=date(2025, 7, 18))
    with transaction(engine) as session:
        grown = session.get(Person, alum.id)
        assert grown is not None
        grown.role = Role.alumnus
        session.add(grown)
    ids = {"pupil": pupil.id, "staff": tutor.id, "alumnus": alum.id}
    now = utcnow()
    with transaction(engine) as session:
        for n, (role, person_id) in enumerate(ids.items()):
            assert person_id is not None
            outbox.enqueue(
                session,
                key=f"note:{role}",
                person_id=person_id,
                platform="telegram",
                chat_id=str(6000 + n),
                text=role,
                now=now,
            )
    return {role: 6000 + n for n, role in enumerate(ids)}


async def run_briefly(sender: Sender, fake: FakeTelegram, expect: int, settle: float = 0.4) -> None:
    """Run the sender until `expect` messages arrived, and a little longer for any that should not."""
    await sender.start()
    try:
        await fake.wait_for(lambda: len(delivered(fake)) >= expect, timeout=10)
        await asyncio.sleep(settle)
    finally:
        await sender.stop()


async def test_quiet_hours_hold_pupils_and_staff_at_night_and_send_at_half_past_seven(
    engine: Engine, fake: FakeTelegram
) -> None:
    # Queued at 20:55 on a Friday before half term; the sender gets to it at 21:05.
    with time_machine.travel(london(2026, 10, 16, 20, 55), tick=True):
        chats = one_each(engine, holidays="2026-10-19..2026-10-23")
    quiet = QuietHours(LONDON)
    async with telegram_transport(fake) as transport:
        with time_machine.travel(london(2026, 10, 16, 21, 5), tick=True):
            sender = Sender(engine, {"telegram": transport}, limits=UNLIMITED, poll_interval=0.05, quiet=quiet)
            await run_briefly(sender, fake, expect=0)
        assert list(delivered(fake)) == []
        held = {r.key: r for r in rows(engine)}
        assert {(r.status, r.attempts) for r in held.values()} == {("pending", 0)}
        # Alumni wait for the morning; staff for Monday; pupils for the end of half term.
        assert held["note:alumnus"].next_attempt_at == london(2026, 10, 17, 7, 30)
        assert held["note:staff"].next_attempt_at == london(2026, 10, 19, 7, 30)
        assert held["note:pupil"].next_attempt_at == london(2026, 10, 26, 7, 30)
        with time_machine.travel(london(2026, 10, 17, 11, 0), tick=True):  # Saturday
            sender = Sender(engine, {"telegram": transport}, limits=UNLIMITED, poll_interval=0.05, quiet=quiet)
            await run_briefly(sender, fake, expect=1)
        assert list(delivered(fake)) == [chats["alumnus"]]  # adults who left: only the night is quiet
        with time_machine.travel(london(2026, 10, 19, 7, 31), tick=True):
            sender = Sender(engine, {"telegram": transport}, limits=UNLIMITED, poll_interval=0.05, quiet=quiet)
            await run_briefly(sender, fake, expect=2)
        assert sorted(delivered(fake)) == [chats["staff"], chats["alumnus"]]  # staff now; the pupil waits
        with time_machine.travel(london(2026, 10, 26, 7, 31), tick=True):
            sender = Sender(engine, {"telegram": transport}, limits=UNLIMITED, poll_interval=0.05, quiet=quiet)
            await run_briefly(sender, fake, expect=3)
    assert set(delivered(fake).values()) == {1}
    assert {r.status for r in rows(engine)} == {"sent"}


async def test_without_quiet_hours_everything_goes_at_night(engine: Engine, fake: FakeTelegram) -> None:
    with time_machine.travel(london(2026, 10, 17, 23, 30), tick=True):  # Saturday night
        one_each(engine)
        async with telegram_transport(fake) as transport:
            # WAYMARK_QUIET_HOURS=false: scheduler.service builds the sender with quiet=None.
            sender = Sender(engine, {"telegram": transport}, limits=UNLIMITED, poll_interval=0.05, quiet=None)
            assert await sender.run_until_settled(timeout=10)
    assert len(delivered(fake)) == 3


def test_held_until_is_the_next_moment_each_role_may_be_messaged() -> None:
    friday_night = london(2026, 10, 16, 22, 0)
    assert held_until("pupil", friday_night, LONDON) == london(2026, 10, 19, 7, 30)
    assert held_until("staff", friday_night, LONDON) == london(2026, 10, 19, 7, 30)
    assert held_until("alumnus", friday_night, LONDON) == london(2026, 10, 17, 7, 30)
    early = london(2026, 10, 14, 6, 0)  # a Wednesday, before 07:30
    assert held_until("pupil", early, LONDON) == london(2026, 10, 14, 7, 30)
    assert held_until("pupil", london(2026, 10, 14, 12, 0), LONDON) is None
    # The late summer bank holiday (Monday 31 Aug) is skipped too.
    assert held_until("staff", london(2026, 8, 28, 21, 30), LONDON) == london(2026, 9, 1, 7, 30)


async def test_a_stop_after_the_claim_still_stops_the_check_in(engine: Engine, fake: FakeTelegram) -> None:
    import handlers.alumni  # noqa: F401  (registers /stop)
    from handlers import Dispatcher
    from tests.chat import Chat

    people = alumni(engine, 3, first_chat=7000)
    now = utcnow()
    with transaction(engine) as session:
        for i, person_id in enumerate(people):
            consents.record(session, person_id, ConsentKind.yearly_checkin, True, now, channel="telegram")
            outbox.enqueue(
                session,
                key=f"checkin:{person_id}:2026:0",
                person_id=person_id,
                platform="telegram",
                chat_id=str(7000 + i),
                text="Where are you now?",
                now=now,
            )
    dispatcher = Dispatcher(engine, load_settings(database_url="sqlite://"))
    async with telegram_transport(fake) as transport:
        # Two a second: the sender claims all three at once and holds the last one for a second.
        sender = Sender(
            engine,
            {"telegram": transport},
            limits={"telegram": SendLimits(per_second=2)},
            batch=3,
            poll_interval=0.05,
            recheck_after=0.1,
        )
        await sender.start()
        await fake.wait_for(lambda: len(delivered(fake)) == 1, timeout=5)
        assert {r.chat_id: r.status for r in rows(engine)}["7002"] == "sending"  # claimed before the /stop
        chat = Chat(dispatcher, "7002", "telegram")
        await asyncio.to_thread(chat.say, "/stop")
        await asyncio.to_thread(chat.press, "Yes, stop them")
        assert "no more yearly messages" in chat.last[0].text
        await fake.wait_for(lambda: len(delivered(fake)) == 2, timeout=5)
        await asyncio.sleep(1.2)  # the third one's slot has come and gone
        await sender.stop()
    assert sorted(delivered(fake)) == [7000, 7001]
    by_chat = {r.chat_id: r for r in rows(engine)}
    assert by_chat["7002"].status == "cancelled"
    assert sender.stats.withdrawn == 1 and sender.stats.sent == 2


async def test_a_check_in_for_someone_who_took_back_consent_is_cancelled_not_sent(
    engine: Engine, fake: FakeTelegram
) -> None:
    people = alumni(engine, 2, first_chat=7100)
    now = utcnow()
    with transaction(engine) as session:
        consents.record(session, people[0], ConsentKind.yearly_checkin, True, now, channel="telegram")
        consents.record(session, people[1], ConsentKind.yearly_checkin, True, now, channel="telegram")
        consents.record(session, people[1], ConsentKind.yearly_checkin, False, now)  # "no" to /leaving later
        for i, person_id in enumerate(people):
            outbox.enqueue(
                session,
                key=f"checkin:{person_id}:2026:0",
                person_id=person_id,
                platform="telegram",
                chat_id=str(7100 + i),
                text="Where are you now?",
                now=now,
            )
    async with telegram_transport(fake) as transport:
        sender = Sender(engine, {"telegram": transport}, limits=UNLIMITED, poll_interval=0.05)
        assert await sender.run_until_settled(timeout=10)
    assert list(delivered(fake)) == [7100]
    assert {r.chat_id: r.status for r in rows(engine)} == {"7100": "sent", "7101": "cancelled"}


async def test_a_long_message_refused_after_its_first_part_is_not_repeated(engine: Engine, fake: FakeTelegram) -> None:
    people = alumni(engine, 1)
    first, second = "A" * 3000, "B" * 3000
    with transaction(engine) as session:
        outbox.enqueue(
            session,
            key="digest:long",
            person_id=people[0],
            platform="telegram",
            chat_id="5000",
            text=f"{first}\n\n{second}",
            now=utcnow(),
            buttons=[[Button("Caseload", "/caseload")]],
        )

    def refuse_the_next_part(call: Call) -> None:
        if call.method == "sendMessage" and call.ok and call.text.startswith("A"):
            fake.fail_next(1, status=429, retry_after=1)  # Telegram took part 1, then flood control

    fake.on_call = refuse_the_next_part
    async with telegram_transport(fake) as transport:
        sender = Sender(engine, {"telegram": transport}, limits=UNLIMITED, retry=FAST_RETRY, poll_interval=0.05)
        assert await sender.run_until_settled(timeout=20)
    sends = fake.calls_of("sendMessage")
    assert [(c.text[0], c.status) for c in sends] == [("A", 200), ("B", 429), ("B", 200)]
    assert sends[0].buttons() == [] and sends[2].buttons() == [("Caseload", "/caseload")]
    assert sends[0].text == first and sends[2].text == second
    (row,) = rows(engine)
    assert (row.status, row.attempts) == ("sent", 2)


class SlowTelegram(FakeTelegram):
    """Holds every sendMessage answer for `hold` seconds, so a kill finds sends in flight.

    The fake still accepts a message whose sender died while waiting: like Telegram, which
    delivers what it was given whether or not the answer reaches the sender.
    """

    def __init__(self, hold: float) -> None:
        super().__init__()
        self.hold = hold
        self.arrived = 0
        self.answered = 0

    async def _api_sendMessage(self, call: Call) -> Any:
        with self._lock:
            self.arrived += 1
        try:
            await asyncio.sleep(self.hold)
            return await super()._api_sendMessage(call)
        finally:
            with self._lock:
                self.answered += 1

    def in_flight(self) -> int:
        with self._lock:
            return self.arrived - self.answered


@pytest.mark.slow
def test_sigkill_with_sends_in_flight_repeats_at_most_one_per_lane_and_loses_nothing(tmp_path: Path) -> None:
    from tests.test_run_restart import (
        ALUMNI,
        FIRST_CHAT,
        WAYMARK,
        campaign_under_way,
        checkins_by_chat,
        restart_until_every_checkin,
        wait,
    )

    lanes = 4
    fake = SlowTelegram(hold=0.3)
    fake.start_in_thread()
    today = datetime.now(LONDON).date()
    env, engine = campaign_under_way(tmp_path, fake, today, WAYMARK_SENDER_LANES=str(lanes))
    try:
        log1 = (tmp_path / "run1.log").open("wb")
        first = subprocess.Popen([*WAYMARK, "run"], env=env, cwd=tmp_path, stdout=log1, stderr=subprocess.STDOUT)
        try:
            wait(lambda: len(checkins_by_chat(fake)) >= ALUMNI // 4, 60, "a quarter of the check-ins", first)
            wait(lambda: fake.in_flight() >= 2, 10, "sends in flight", first)
            first.send_signal(signal.SIGKILL)  # with Telegram holding at least two of its sends
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
            log1.close()
        time.sleep(fake.hold + 0.3)  # the fake finishes accepting what was in flight
        before = checkins_by_chat(fake)
        assert ALUMNI // 4 <= len(before) < ALUMNI, "the kill came mid-campaign"

        restart_until_every_checkin(tmp_path, env, fake)
        counts = checkins_by_chat(fake)
        assert sorted(counts) == [FIRST_CHAT + i for i in range(ALUMNI)]  # nothing lost
        repeats = sum(n - 1 for n in counts.values())
        # Exactly the sends Telegram took while the process died come again: one per lane at most.
        assert 1 <= repeats <= lanes and max(counts.values()) == 2, counts
        with transaction(engine, write=False) as session:
            assert count_by_status(session, "telegram") == {"sent": ALUMNI}
    finally:
        fake.stop_thread()
        engine.dispose()
