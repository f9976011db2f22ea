"""Limits that every Waymark process shares through the database, tested with two app instances
(each with its own engine, as two `waymark run` processes have) on one SQLite file and on one
PostgreSQL schema: the web sign-in slow-down per network address, and the Slack replay check."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from sqlalchemy import Engine, func
from sqlmodel import select

from bot.http import build_app
from core.settings import load_settings
from handlers import Dispatcher, texts
from scheduler.housekeeping import run_prune_expired_limits
from storage import codes, seed, signin_limits, slack_requests
from storage.db import make_engine, transaction
from storage.models import LinkAttempt, Person, SignInAddress, SlackRequestSeen, StaffRole, utcnow
from tests.fakes.slack_api import TEAM, FakeSlack
from tests.test_slack import running as slack_running
from tests.test_web import sign_in_page_text
from tests.web_client import Browser

SECRET = codes.new_secret()
STEP = 0.3  # WAYMARK_SIGNIN_SLOW_DOWN_SECONDS, short for the test
SCHOOL = "203.0.113.7"  # the school's one address, as the HTTPS proxy on this machine reports it
FROM_SCHOOL = {"X-Forwarded-For": SCHOOL}


def twin(engine: Engine) -> Engine:
    """Another engine on the same database: what a second process has (its own connections)."""
    return make_engine(engine.url.render_as_string(hide_password=False))


@dataclass
class Site:
    server: TestServer

    @property
    def base(self) -> str:
        return str(self.server.make_url("")).rstrip("/")


@asynccontextmanager
async def web_site(engine: Engine, max_wait: float) -> AsyncIterator[Site]:
    """One process's web chat on loopback: the real app, the real clock."""
    settings = load_settings(
        database_url="sqlite://",
        public_url="http://localhost:8080",
        code_secret=SECRET,
        signin_slow_down_seconds=STEP,
        signin_max_wait_seconds=max_wait,
    )
    server = TestServer(build_app(settings, Dispatcher(engine, settings)), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield Site(server)
    finally:
        await server.close()


async def wrong_code_from_school(site: Site) -> tuple[str, float]:
    """A fresh browser (a fresh cookie, as a guesser would use) types a wrong code: (page, seconds)."""
    b = Browser(site)
    try:
        started = time.monotonic()
        html = await sign_in_page_text(b, "22222-33333", FROM_SCHOOL)
        return html, time.monotonic() - started
    finally:
        await b.close()


def pupil(engine: Engine, given: str) -> tuple[Person, str]:
    school = seed.school(engine)
    person = seed.pupil(engine, school.id, given, "Khan")
    return person, seed.code_for(engine, person)


def test_an_address_is_counted_by_a_keyed_hash_of_it_and_ipv6_by_its_64_network() -> None:
    group = signin_limits.address_group
    assert group("2001:db8:1:2:aaaa::1") == group("2001:db8:1:2:bbbb:cccc:dddd:9") == "2001:db8:1:2::/64"
    assert group("2001:db8:1:3::1") != group("2001:db8:1:2::1")
    assert group("::ffff:203.0.113.7") == group("203.0.113.7") == "203.0.113.7"
    assert group("unknown") == "unknown"
    hashed = signin_limits.address_hash(SCHOOL, SECRET)
    assert hashed == signin_limits.address_hash(SCHOOL, SECRET) and len(hashed) == 64 and SCHOOL not in hashed
    assert hashed != signin_limits.address_hash(SCHOOL, codes.new_secret())  # keyed: a copy alone reverses nothing
    assert hashed != signin_limits.address_hash("203.0.113.8", SECRET)


async def test_two_processes_share_one_addresss_wrong_codes_and_its_turns(engine: Engine) -> None:
    """The count reaches 30 across both processes; then the turns are one per STEP for the address
    in all (two processes do not make twice the guesses), a turn too far off tries no code, a
    classmate's right code works on its turn, and a process started afterwards knows all of it."""
    _, right_code = pupil(engine, "Amira")
    _, later_code = pupil(engine, "Ben")
    other = twin(engine)
    key = signin_limits.address_hash(SCHOOL, SECRET)
    with transaction(engine) as s:  # 28 wrong codes already (quicker than 28 requests)
        for _ in range(signin_limits.SLOW_AFTER_WRONG_CODES - 2):
            assert not signin_limits.record_wrong_code(s, key, utcnow())
    try:
        async with web_site(engine, max_wait=6 * STEP) as one, web_site(other, max_wait=6 * STEP) as two:
            html, took = await wrong_code_from_school(one)  # the 29th: not slowed yet
            assert texts.WRONG_CODE in html.replace("&#x27;", "'") and took < STEP
            html, took = await wrong_code_from_school(two)  # the 30th, in the other process
            assert texts.WRONG_CODE in html.replace("&#x27;", "'") and took < STEP
            with transaction(other, write=False) as s:
                assert signin_limits.is_slowed(s, key, utcnow())

            # Four guesses at once, two through each process: one turn per STEP for the address.
            started = time.monotonic()
            answers = await asyncio.gather(*(wrong_code_from_school(site) for site in (one, two, one, two)))
            assert time.monotonic() - started >= 4 * STEP * 0.95
            assert all(texts.WRONG_CODE in html.replace("&#x27;", "'") for html, _ in answers)
            # Each waited for a turn of its own: the n-th answered no sooner than n turns in.
            assert all(took >= n * STEP * 0.95 for n, took in enumerate(sorted(t for _, t in answers), 1))

            # More at once than max_wait holds: the ones beyond it try no code and are asked to come back.
            with transaction(engine, write=False) as s:
                counted = signin_limits.wrong_codes(s, key, utcnow())
            answers = await asyncio.gather(*(wrong_code_from_school(site) for site in (one, two) * 5))
            busy = [html for html, _ in answers if "Lots of people are signing in" in html]
            assert len(busy) >= 2
            with transaction(engine, write=False) as s:
                assert signin_limits.wrong_codes(s, key, utcnow()) == counted + len(answers) - len(busy)

            # A classmate's right code from the same address: slowed, never refused.
            await asyncio.sleep(STEP)  # the flood is over
            classmate = Browser(two)
            try:
                started = time.monotonic()
                assert (await classmate.sign_in(right_code, FROM_SCHOOL)).status == 303
                assert time.monotonic() - started >= STEP * 0.95
            finally:
                await classmate.close()
            # Another address (another school on the same server) is not slowed.
            elsewhere = Browser(one)
            try:
                started = time.monotonic()
                assert (await elsewhere.sign_in(later_code, {"X-Forwarded-For": "192.0.2.1"})).status == 303
                assert time.monotonic() - started < STEP
            finally:
                await elsewhere.close()

        # A process started now (a restart) still slows the address.
        async with web_site(twin(engine), max_wait=6 * STEP) as restarted:
            html, took = await wrong_code_from_school(restarted)
            assert texts.WRONG_CODE in html.replace("&#x27;", "'") and took >= STEP * 0.95
        # Nowhere in clear: not in the new table, and no longer in the wrong-code counts of chat accounts.
        with transaction(engine, write=False) as s:
            rows = [*s.exec(select(SignInAddress)).all(), *s.exec(select(LinkAttempt)).all()]
            assert rows and SCHOOL not in repr(rows)
            assert [r.address_hash for r in s.exec(select(SignInAddress)).all()] == [key]
    finally:
        other.dispose()


def test_wrong_codes_counted_at_once_by_two_processes_are_all_counted(engine: Engine) -> None:
    """On PostgreSQL two transactions reading 29 and both writing 30 would let a guesser with many
    connections stay under the limit: the row is locked while it is counted."""
    other = twin(engine)
    key = signin_limits.address_hash("198.51.100.4", SECRET)
    each = 20

    def guesses(on: Engine) -> None:
        for _ in range(each):
            with transaction(on) as s:
                signin_limits.record_wrong_code(s, key, utcnow())

    try:
        threads = [threading.Thread(target=guesses, args=(on,)) for on in (engine, other, engine, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with transaction(engine, write=False) as s:
            assert signin_limits.wrong_codes(s, key, utcnow()) == 4 * each
            assert signin_limits.is_slowed(s, key, utcnow())
    finally:
        other.dispose()


def test_slowed_lasts_until_15_minutes_without_a_wrong_code_and_housekeeping_deletes_the_row(engine: Engine) -> None:
    key = signin_limits.address_hash(SCHOOL, SECRET)
    now = utcnow()
    step, far = timedelta(seconds=2), timedelta(seconds=30)
    with transaction(engine) as s:
        for _ in range(signin_limits.SLOW_AFTER_WRONG_CODES):
            slowed = signin_limits.record_wrong_code(s, key, now)
        assert slowed
        # The turns: one per step, in order of asking, none further off than `far`.
        waits = [signin_limits.take_turn(s, key, now, step, far).wait for _ in range(16)]
        assert waits == [step * n for n in range(1, 16)] + [None]
    # A wrong code 14 minutes later keeps it slowed past the first 15 minutes, for 15 more.
    later = now + timedelta(minutes=14)
    with transaction(engine) as s:
        assert signin_limits.is_slowed(s, key, later)
        assert signin_limits.record_wrong_code(s, key, later)
    quiet = later + signin_limits.WINDOW
    with transaction(engine, write=False) as s:
        assert signin_limits.is_slowed(s, key, now + timedelta(minutes=16))
        assert signin_limits.wrong_codes(s, key, now + timedelta(minutes=16)) == 0  # the count's run is over
        assert signin_limits.is_slowed(s, key, quiet - timedelta(seconds=1))
        assert not signin_limits.is_slowed(s, key, quiet)
    # Housekeeping deletes a row once nothing in it matters (and leaves a live one).
    with transaction(engine) as s:
        signin_limits.record_wrong_code(s, signin_limits.address_hash("192.0.2.1", SECRET), quiet)
        long_ago = quiet - timedelta(minutes=10)
        assert slack_requests.first_time(s, int(long_ago.timestamp()), "v0=old", long_ago)
        assert slack_requests.first_time(s, int(quiet.timestamp()), "v0=new", quiet)
    assert run_prune_expired_limits(engine, load_settings(database_url="sqlite://"), quiet + timedelta(seconds=1)) == 2
    with transaction(engine, write=False) as s:
        assert s.exec(select(func.count()).select_from(SignInAddress)).one() == 1
        assert s.exec(select(func.count()).select_from(SlackRequestSeen)).one() == 1


async def test_a_replayed_slack_command_runs_once_whichever_process_it_reaches(engine: Engine) -> None:
    """A signed `/waymark link CODE` without a trigger_id, sent to one process and then, as it was,
    to another: the second is answered 200 and not handled."""
    school = seed.school(engine)
    tutor = seed.staff(engine, school.id, "Sam", "Patel", role=StaffRole.tutor)
    other = twin(engine)
    try:
        async with FakeSlack() as fake, slack_running(fake, engine) as one, slack_running(fake, other) as two:
            code = seed.code_for(engine, tutor)
            body = (
                f"command=%2Fwaymark&text=link+{code}&user_id=USAM&team_id={TEAM}"
                "&channel_id=DSAM&channel_name=directmessage"
            )
            timestamp = str(int(time.time()))
            headers: dict[str, Any] = {
                "X-Slack-Request-Timestamp": timestamp,
                "X-Slack-Signature": one.slack.verifier.generate_signature(timestamp=timestamp, body=body),
                "Content-Type": "application/x-www-form-urlencoded",
            }
            async with ClientSession() as http:
                for url in (one.slack.url, two.slack.url, one.slack.url):
                    async with http.post(url, data=body, headers=headers) as r:
                        assert r.status == 200
            await one.settle()
            await two.settle()
            welcomes = [c for c in fake.calls if c.method == "chat.postMessage" and "Welcome" in c.text]
            assert len(welcomes) == 1
            # A fresh request (Slack signs each delivery afresh) is handled as usual.
            assert await two.command("USAM", "help")
        with transaction(engine, write=False) as s:
            seen = s.exec(select(SlackRequestSeen)).all()
            assert len(seen) == 2 and all(timestamp not in r.request_hash for r in seen)
            assert all(r.expires_at > utcnow() + timedelta(minutes=5) for r in seen)
    finally:
        other.dispose()
