"""A disclosure on every channel (web chat, Telegram, Slack, terminal), typed as `/reflect TEXT`, as an
answer inside a guided step and as a plain message at rest, on a Saturday night: the pupil's reply
points to Childline and the entry is in their record; the real sender then delivers the alert to every
channel the DSL has linked (Telegram and Slack against their fakes, email against an SMTP server on
loopback) whatever the quiet hours, and the web chat holds it for the DSL's page. The words are in no
outbox row, no email, no message to the DSL and no log line."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import Engine
from sqlmodel import col, select

from bot.channels.email import EmailTransport
from bot.channels.slack.transport import SlackTransport, make_client
from core.settings import load_settings
from scheduler.quiet import QuietHours
from scheduler.sender import RetryPolicy, Sender
from storage import concerns, crypto, seed
from storage.db import transaction
from storage.models import Concern, OutboxMessage, Person, StaffRole
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram_transport import telegram_transport
from tests.test_channel_contract import CHANNELS, Driver, a_school, enrolled, journal, said
from tests.test_email import Mailbox, smtp  # noqa: F401  (the SMTP server fixture)

LONDON = ZoneInfo("Europe/London")
SATURDAY_NIGHT = datetime(2026, 11, 28, 23, 40, tzinfo=LONDON)  # quiet hours for every role
KEY = crypto.new_key()
WORDS = "quokkaberry my step dad hit me again and im scared to go home"
DSL_TELEGRAM = 55501
DSL_SLACK = "DDEE"
DSL_WEB = "web-dee"
DSL_EMAIL = "dee.lead@school.example"
WAYS = {
    "command": [f"/reflect {WORDS}"],
    "guided": ["/reflect", WORDS],
    "at rest": [WORDS],
}


@pytest.fixture(params=sorted(CHANNELS))
async def keyed_channel(
    request: pytest.FixtureRequest,
    sqlite_only: Engine,
    monkeypatch: pytest.MonkeyPatch,
    smtp: tuple[Mailbox, int],  # noqa: F811
) -> AsyncIterator[Driver]:
    """A channel whose process has WAYMARK_ENCRYPTION_KEY and email, as `waymark run` would."""
    monkeypatch.setenv("WAYMARK_ENCRYPTION_KEY", KEY)
    monkeypatch.setenv("WAYMARK_SMTP_URL", f"smtp://127.0.0.1:{smtp[1]}")
    async with CHANNELS[request.param](sqlite_only) as driver:
        yield driver


def a_dsl(engine: Engine, school_id: int | None) -> Person:
    lead = seed.staff(engine, school_id, "Dee", "Lead", role=StaffRole.dsl)
    seed.link(engine, lead, "telegram", str(DSL_TELEGRAM))
    seed.link(engine, lead, "slack", DSL_SLACK)
    seed.link(engine, lead, "web", DSL_WEB)
    return lead


async def finish_entry(channel: Driver, way: str) -> None:
    """Save the journal entry the way began, as the pupil would."""
    if way == "guided":
        await channel.press("pupil", "Done")
        await channel.press("pupil", "Skip")
    elif way == "at rest":
        await channel.press("pupil", "Save it")


async def deliver(engine: Engine, telegram: FakeTelegram, slack: FakeSlack, smtp_port: int) -> None:
    """The real sender, quiet hours on, over every pushed channel the DSL has."""
    mail = EmailTransport(load_settings(smtp_url=f"smtp://127.0.0.1:{smtp_port}", mail_from="waymark@school.example"))
    slack_transport = SlackTransport(
        make_client(load_settings(slack_bot_token=slack.token, slack_api_base_url=slack.base_url))
    )
    async with telegram_transport(telegram) as tg:
        sender = Sender(
            engine,
            {"telegram": tg, "slack": slack_transport, "email": mail},
            retry=RetryPolicy(base=0.05),
            poll_interval=0.05,
            quiet=QuietHours(LONDON),
        )
        assert await sender.run_until_settled(timeout=20)


def outbox_rows(engine: Engine) -> list[OutboxMessage]:
    with transaction(engine, write=False) as session:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())


def the_concerns(engine: Engine) -> list[Concern]:
    with transaction(engine, write=False) as session:
        return list(session.exec(select(Concern)).all())


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Waymark's own log lines at every level, and everyone's at INFO and above (the libraries'
    DEBUG lines echo whole requests, the pupil's own conversation included: never on in production)."""
    ours = ("handlers", "storage", "scheduler", "bot", "core")
    return "\n".join(
        r.getMessage() for r in caplog.records if r.name.split(".")[0] in ours or r.levelno >= logging.INFO
    )


@pytest.mark.parametrize("way", sorted(WAYS))
async def test_a_disclosure_reaches_every_channel_of_the_dsl_at_night(
    keyed_channel: Driver,
    sqlite_only: Engine,
    smtp: tuple[Mailbox, int],  # noqa: F811
    way: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    box, port = smtp
    channel, engine = keyed_channel, sqlite_only
    with time_machine.travel(SATURDAY_NIGHT, tick=True):
        school = a_school(engine)
        lead = a_dsl(engine, school.pupil.school_id)
        await enrolled(channel, school)
        replies: list[str] = []
        for text in WAYS[way]:
            replies = await channel.say("pupil", text)
        told = said(replies)
        assert "Childline" in told and "0800 1111" in told and "not in trouble" in told
        assert "Monday 30 November" in told  # a Saturday night: the next school day, said plainly
        await finish_entry(channel, way)
        assert journal(engine, school.pupil) == [WORDS]
        (concern,) = the_concerns(engine)
        assert concern.channel == channel.platform and concerns.words_of(concern, KEY).endswith(WORDS)

        async with FakeTelegram() as telegram, FakeSlack() as slack:
            await deliver(engine, telegram, slack, port)
            (on_telegram,) = telegram.calls_to(DSL_TELEGRAM)
            (on_slack,) = slack.sent(DSL_SLACK)
        shown = {"telegram": on_telegram.text, "slack": on_slack.text}
        (_, rcpt, message), *more = box.received
        assert more == [] and rcpt == [DSL_EMAIL]
        shown["email"] = f"{message['Subject']}\n{message.get_content()}"
        for text in shown.values():
            assert "Amira Khan" in text and "12B" in text and "Harm by an adult" in text
            assert "23:40" in text
        assert "Amira" not in message["Subject"]  # mail previews show the subject
        assert on_telegram.button_labels() == ["Open"]
        assert f"/concerns {concern.id}" in message.get_content()

        rows = {r.platform: r for r in outbox_rows(engine)}
        assert {p: r.status for p, r in rows.items()} == {
            "telegram": "sent",
            "slack": "sent",
            "email": "sent",
            "web": "pending",  # the DSL's page takes it when it is open
        }
        assert rows["web"].chat_id == DSL_WEB and rows["web"].person_id == lead.id
        for text in [*shown.values(), *(r.text for r in rows.values()), logged(caplog)]:
            assert "step dad" not in text and "scared" not in text and "quokkaberry" not in text

        if way == "command":  # the same words again within the hour: one concern, no second alert
            again = said(await channel.say("pupil", f"/reflect {WORDS}"))
            assert "0800 1111" in again
            (joined,) = the_concerns(engine)
            assert joined.hits == 2 and len(outbox_rows(engine)) == len(rows)
