"""The yearly check-in by email: the real sender and aiosmtplib against an aiosmtpd server on loopback."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from sqlmodel import select

from bot.channels.email import EmailTransport, attempt_of, parse_smtp_url
from core.settings import load_settings
from scheduler.sender import RetryPolicy, Sender
from storage import checkin_links, consents, outbox, seed
from storage.consents import ConsentKind
from storage.db import transaction
from storage.models import OutboxMessage, Person, Role, utcnow

PUBLIC = "https://waymark.school.example"


@dataclass
class Mailbox:
    """What the SMTP server accepted, and which recipients it refuses (address -> SMTP reply)."""

    received: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted"


class LoopbackController(Controller):
    """aiosmtpd's Controller on port 0: learn the port the system chose before it checks the server is up."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller = LoopbackController(box, hostname="127.0.0.1", port=0)
    controller.start()
    yield box, controller.port
    controller.stop()


def alumnus(engine: Engine, email_address: str | None, given: str = "Priya") -> int:
    school = seed.school(engine, "Riverside Academy")
    assert school.id is not None
    with transaction(engine) as session:
        person = Person(
            school_id=school.id,
            role=Role.alumnus,
            given_name=given,
            family_name="Shah",
            email=email_address,
            leaving_date=date(2024, 7, 19),
        )
        session.add(person)
        session.flush()
        assert person.id is not None
        # Check-ins go only to alumni who said yes (the sender checks again before sending).
        consents.record(session, person.id, ConsentKind.yearly_checkin, True, utcnow(), channel="email")
        return person.id


def queue_email(engine: Engine, person_id: int, address: str, attempt: int = 0) -> None:
    with transaction(engine) as session:
        outbox.enqueue(
            session,
            key=f"checkin:{person_id}:2025:{attempt}",
            person_id=person_id,
            platform="email",
            chat_id=address,
            text="Hi, where are you now? Tap below.",
            now=utcnow(),
        )


def transport(port: int) -> EmailTransport:
    settings = load_settings(
        smtp_url=f"smtp://127.0.0.1:{port}", mail_from="careers@riverside.example", public_url=PUBLIC
    )
    return EmailTransport(settings, timeout=5)


async def drain(engine: Engine, port: int, retry: RetryPolicy | None = None) -> Sender:
    sender = Sender(engine, {"email": transport(port)}, retry=retry or RetryPolicy(base=0.05), poll_interval=0.05)
    assert await sender.run_until_settled(timeout=20)
    return sender


def rows(engine: Engine) -> list[OutboxMessage]:
    with transaction(engine, write=False) as session:
        return list(session.exec(select(OutboxMessage)).all())


async def test_the_checkin_email_has_a_working_one_time_link_and_a_way_to_stop(
    engine: Engine, smtp: tuple[Mailbox, int]
) -> None:
    box, port = smtp
    person_id = alumnus(engine, "priya@example.org")
    queue_email(engine, person_id, "priya@example.org")
    await drain(engine, port)

    ((mail_from, rcpt, message),) = box.received
    assert mail_from == "careers@riverside.example" and rcpt == ["priya@example.org"]
    assert message["Subject"] == "Riverside Academy: where are you now?"
    assert message.get_content_type() == "text/plain"
    body = message.get_content()
    assert body.startswith("Hi Priya,")
    assert "/stop" in body
    links = re.findall(rf"{re.escape(PUBLIC)}/c/([A-Za-z0-9_-]+)", body)
    assert len(links) == 1
    assert message["List-Unsubscribe"].strip() == f"<{PUBLIC}/c/{links[0]}>"
    with transaction(engine, write=False) as session:  # the token in the email opens this alumnus's check-in
        found = checkin_links.find_valid(session, links[0], utcnow())
        assert found is not None and found[1].id == person_id
    ((row),) = rows(engine)
    assert (row.status, row.attempts) == ("sent", 1)


async def test_reminders_say_so(engine: Engine, smtp: tuple[Mailbox, int]) -> None:
    box, port = smtp
    person_id = alumnus(engine, "sam@example.org", given="Sam")
    queue_email(engine, person_id, "sam@example.org", attempt=1)
    await drain(engine, port)
    ((_, _, message),) = box.received
    assert "A quick reminder" in message.get_content()


async def test_a_refused_address_is_undeliverable_and_not_retried(engine: Engine, smtp: tuple[Mailbox, int]) -> None:
    box, port = smtp
    box.refuse["gone@example.org"] = "550 5.1.1 No such user here"
    person_id = alumnus(engine, "gone@example.org")
    queue_email(engine, person_id, "gone@example.org")
    sender = await drain(engine, port)
    ((row),) = rows(engine)
    assert row.status == "undeliverable" and "No such user" in (row.error or "")
    assert row.attempts == 1 and box.received == [] and sender.stats.undeliverable == 1


async def test_a_temporary_refusal_is_retried_until_it_goes(engine: Engine, smtp: tuple[Mailbox, int]) -> None:
    box, port = smtp
    box.refuse["busy@example.org"] = "451 4.3.0 Mailbox busy, try later"
    person_id = alumnus(engine, "busy@example.org")
    queue_email(engine, person_id, "busy@example.org")
    sender = Sender(engine, {"email": transport(port)}, retry=RetryPolicy(base=0.2), poll_interval=0.05)
    await sender.start()
    try:
        for _ in range(100):
            if rows(engine)[0].attempts >= 1 and rows(engine)[0].status == "pending":
                break
            await asyncio.sleep(0.05)
        assert rows(engine)[0].error and "busy" in rows(engine)[0].error  # type: ignore[operator]
        del box.refuse["busy@example.org"]
    finally:
        await sender.stop()
    await drain(engine, port)
    ((row),) = rows(engine)
    assert row.status == "sent" and row.attempts >= 2 and len(box.received) == 1


async def test_no_mail_server_means_try_again_later_not_lost(engine: Engine) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    person_id = alumnus(engine, "priya@example.org")
    queue_email(engine, person_id, "priya@example.org")
    sender = Sender(engine, {"email": transport(dead_port)}, retry=RetryPolicy(base=60), poll_interval=0.05)
    await sender.start()
    for _ in range(600):  # up to 30 s: a loaded machine can be slow to make the first attempt
        if rows(engine)[0].status == "pending" and rows(engine)[0].attempts == 1:
            break
        await asyncio.sleep(0.05)
    await sender.stop()
    ((row),) = rows(engine)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "mail server" in (row.error or "")
    assert row.next_attempt_at > utcnow()


async def test_an_alumnus_without_an_address_is_undeliverable(engine: Engine, smtp: tuple[Mailbox, int]) -> None:
    box, port = smtp
    person_id = alumnus(engine, None)
    queue_email(engine, person_id, "")
    await drain(engine, port)
    ((row),) = rows(engine)
    assert row.status == "undeliverable" and row.error == "no address to send to"
    assert box.received == []


def test_smtp_urls() -> None:
    plain = parse_smtp_url("smtp://mail.example:2525")
    assert (plain.host, plain.port, plain.use_tls, plain.username) == ("mail.example", 2525, False, None)
    tls = parse_smtp_url("smtps://bot%40school.example:p%3Ass@mail.example")
    assert (tls.port, tls.use_tls, tls.username, tls.password) == (465, True, "bot@school.example", "p:ss")
    with pytest.raises(ValueError, match="smtp://host:port"):
        parse_smtp_url("http://mail.example")
    assert attempt_of("checkin:7:2025:2") == 2 and attempt_of("odd-key") == 0
