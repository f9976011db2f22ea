"""`waymark run` killed mid-campaign and started again: every alumnus gets exactly one check-in.

The real command runs as a subprocess against a temporary SQLite database and the fake Bot API.
Its scheduler opens the campaign and queues the check-ins; its sender is sending them (at
Telegram's 30 a second) when the test makes the fake answer one 429 and, while the sender is
honouring it (nothing in flight), kills the process with SIGKILL. The rows that process had
claimed stay leased until their lease runs out; the restarted process then sends what is left.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from core.calendar import leaving_range, nominal_start, scheduled_campaign_year
from core.settings import Settings, load_settings
from storage import crypto, seed
from storage.db import make_engine, transaction
from storage.migrate import upgrade
from storage.models import JournalEntry
from storage.outbox import count_by_status
from tests.fakes.telegram_api import FakeTelegram

ALUMNI = 90
FIRST_CHAT = 70_000
WAYMARK = [sys.executable, "-c", "from bot.cli import app; app()"]

# `waymark run` needs both (bot/keys_cli.py); one pair for every run against a database.
RUN_SECRETS = {
    "WAYMARK_ENCRYPTION_KEY": crypto.new_key(),
    "WAYMARK_CODE_SECRET": "run-restart-code-secret-0123456789abcdef",
}


def open_campaign_env(today: date) -> dict[str, str]:
    """A campaign start date that makes the window open today, whatever today is."""
    for back in range(0, 40):
        start = today - timedelta(days=back)
        if start.day > 28:
            continue
        env = {"WAYMARK_CAMPAIGN_START_MONTH": str(start.month), "WAYMARK_CAMPAIGN_START_DAY": str(start.day)}
        settings = load_settings(campaign_start_month=start.month, campaign_start_day=start.day)
        if scheduled_campaign_year(today, settings.campaign) is not None:
            return env
    raise AssertionError("no campaign start date opens a window today")


def seed_alumni(engine: Engine, settings: Settings, today: date) -> None:
    year = scheduled_campaign_year(today, settings.campaign)
    assert year is not None
    left_from, _ = leaving_range(year, settings.campaign)
    leaving = max(left_from, nominal_start(year, settings.campaign) - timedelta(days=100))
    with transaction(engine) as session:
        school = seed.school(session, "Riverside Academy")
        assert school.id is not None
        seed.consenting_alumni(
            session, school.id, ALUMNI, leaving=leaving, first_chat=FIRST_CHAT, upn_prefix="R", family="Test"
        )


def campaign_under_way(tmp_path: Path, fake: FakeTelegram, today: date, **extra: str) -> tuple[dict[str, str], Engine]:
    """A database of consenting alumni with today's campaign open, and the environment for a
    `waymark run` subprocess that sends their check-ins to the fake Bot API."""
    campaign = open_campaign_env(today)
    db = tmp_path / "waymark.db"
    env = {
        **os.environ,
        **campaign,
        "WAYMARK_DATABASE_URL": f"sqlite:///{db}",
        "WAYMARK_HTTP_HOST": "127.0.0.1",
        "WAYMARK_HTTP_PORT": "0",
        "WAYMARK_QUIET_HOURS": "false",
        "WAYMARK_SENDER_LEASE_SECONDS": "5",
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "PTB_TIMEDELTA": "1",
        **RUN_SECRETS,
        **extra,
    }
    for name in ("WAYMARK_SMTP_URL", "TELEGRAM_WEBHOOK_URL"):
        env.pop(name, None)
    settings = load_settings(
        database_url=f"sqlite:///{db}",
        campaign_start_month=int(campaign["WAYMARK_CAMPAIGN_START_MONTH"]),
        campaign_start_day=int(campaign["WAYMARK_CAMPAIGN_START_DAY"]),
    )
    engine = make_engine(settings.database_url)
    upgrade(engine)
    seed_alumni(engine, settings, today)
    return env, engine


def restart_until_every_checkin(tmp_path: Path, env: dict[str, str], fake: FakeTelegram) -> None:
    """Start `waymark run` again, wait until every alumnus has had a check-in, then stop it cleanly."""
    log2 = (tmp_path / "run2.log").open("wb")
    second = subprocess.Popen([*WAYMARK, "run"], env=env, cwd=tmp_path, stdout=log2, stderr=subprocess.STDOUT)
    try:
        wait(lambda: len(checkins_by_chat(fake)) == ALUMNI, 60, "every check-in after the restart", second)
        time.sleep(1.0)  # time for a stray second message to show up, if there were one
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    finally:
        if second.poll() is None:
            second.kill()
        log2.close()


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    server = FakeTelegram()
    server.start_in_thread()  # the test itself blocks while it watches the subprocess
    yield server
    server.stop_thread()


def checkins_by_chat(fake: FakeTelegram) -> collections.Counter[int | str | None]:
    return collections.Counter(
        c.chat_id for c in fake.calls_of("sendMessage") if c.ok and "where are you now" in c.text.lower()
    )


def wait(predicate: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"waymark run exited ({proc.returncode}) while waiting for {what}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_sigkill_mid_campaign_then_restart_sends_each_checkin_once(tmp_path: Path, fake: FakeTelegram) -> None:
    today = datetime.now(load_settings().zone).date()
    env, engine = campaign_under_way(tmp_path, fake, today)

    def outbox() -> dict[str, int]:
        with transaction(engine, write=False) as session:
            return count_by_status(session, "telegram")

    log1 = (tmp_path / "run1.log").open("wb")
    first = subprocess.Popen([*WAYMARK, "run"], env=env, cwd=tmp_path, stdout=log1, stderr=subprocess.STDOUT)
    try:
        wait(lambda: sum(outbox().values()) == ALUMNI, 60, "the campaign to queue every check-in", first)
        wait(lambda: len(checkins_by_chat(fake)) >= ALUMNI // 3, 60, "a third of the check-ins", first)
        mark = fake.mark()
        fake.fail_next(1, status=429, retry_after=3)
        wait(lambda: any(c.status == 429 for c in fake.calls_of("sendMessage", mark)), 10, "the 429", first)
        time.sleep(0.5)  # the 429 is recorded and the sender is waiting: nothing is in flight
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
        log1.close()
    before = checkins_by_chat(fake)
    assert ALUMNI // 3 <= len(before) < ALUMNI, "the kill came mid-campaign"
    assert outbox().get("sending", 0) > 0  # rows the dead process held, waiting for their lease to end

    restart_until_every_checkin(tmp_path, env, fake)

    counts = checkins_by_chat(fake)
    assert sorted(counts) == [FIRST_CHAT + i for i in range(ALUMNI)]
    assert set(counts.values()) == {1}, (tmp_path / "run2.log").read_text()[-3000:]
    assert outbox() == {"sent": ALUMNI}
    engine.dispose()


def test_sigterm_finishes_the_update_in_hand_then_exits_cleanly(tmp_path: Path, fake: FakeTelegram) -> None:
    """SIGTERM while a reply is on its way: the reply is sent, the step is kept, the exit code is 0."""
    db = tmp_path / "waymark.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    school = seed.school(engine)
    pupil = seed.pupil(engine, school.id, year_group=12, dob=date(2007, 9, 1))
    seed.link(engine, pupil, "telegram", str(FIRST_CHAT))
    env = {
        **os.environ,
        "WAYMARK_DATABASE_URL": f"sqlite:///{db}",
        "WAYMARK_HTTP_HOST": "127.0.0.1",
        "WAYMARK_HTTP_PORT": "0",
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "PTB_TIMEDELTA": "1",
        **RUN_SECRETS,
    }
    for name in ("WAYMARK_SMTP_URL", "TELEGRAM_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"):
        env.pop(name, None)
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([*WAYMARK, "run"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
        try:
            started = f"telegram: long polling as @waymark_test_bot, database sqlite:///{db}"
            wait(lambda: started in log_path.read_text(), 30, "the start log line", proc)
            fake.hold_chat(FIRST_CHAT)  # the reply will be in hand when the signal comes
            fake.message(FIRST_CHAT, "/reflect Spoke to a nurse at the careers fair")
            wait(lambda: len(fake.holding) == 1, 10, "the reply to be on its way", proc)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            assert proc.poll() is None, "it must not exit with the update in hand"
            fake.release_chat(FIRST_CHAT)
            assert proc.wait(20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    replies = fake.calls_to(FIRST_CHAT)
    assert len(replies) == 1 and "Spoke to a nurse" in replies[0].text, log_path.read_text()[-2000:]
    assert "telegram: stopped" in log_path.read_text()
    with transaction(engine, write=False) as session:
        assert session.exec(select(JournalEntry)).one().text == "Spoke to a nurse at the careers fair"
    engine.dispose()
