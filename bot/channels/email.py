"""The yearly check-in by email, for alumni with an address and no chat account we can reach.

Outbound only. Each email carries a fresh one-time link to the web check-in
(`<WAYMARK_PUBLIC_URL>/c/<token>`, storage.checkin_links) and says how to stop them. The link is
issued when the email is sent, not when the campaign decided it, so a retried email still holds a
link that works. Sent with aiosmtplib through `WAYMARK_SMTP_URL`:

- `smtp://host:port` - plain SMTP, upgraded with STARTTLS when the server offers it;
- `smtps://host:port` - TLS from the first byte (port 465);
- `smtp://user:password@host:587` - with a login.

Safeguarding alerts and escalations (outbox keys `sg:...`) also go by email, to DSLs and the
school's escalation contacts: plain, as they were written, with no check-in link.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlparse

import aiosmtplib
from sqlmodel import Session

from bot.channels.registry import Served, Stop
from core.delivery import Delivery, SendOutcome, Transport
from core.messages import Button
from core.numbers import whole_number
from core.platforms import Platform
from core.settings import Settings
from storage.checkin_links import LINK_DAYS, issue_link
from storage.models import Person, Role, School
from storage.outbox import Claimed

SUBJECT_SEPARATOR = "\n\n"  # prepare() puts the subject on the first line of the text
SAFEGUARDING_KEYS = "sg:"  # alerts and escalations (scheduler/safeguarding.py): a plain email, no link


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    use_tls: bool
    username: str | None = None
    password: str | None = None


def parse_smtp_url(url: str) -> SmtpServer:
    parsed = urlparse(url)
    if parsed.scheme not in {"smtp", "smtps"} or not parsed.hostname:
        raise ValueError(f"WAYMARK_SMTP_URL must look like smtp://host:port or smtps://host:port, not {url!r}")
    tls = parsed.scheme == "smtps"
    return SmtpServer(
        host=parsed.hostname,
        port=parsed.port or (465 if tls else 25),
        use_tls=tls,
        username=unquote(parsed.username) if parsed.username else None,
        password=unquote(parsed.password) if parsed.password else None,
    )


def attempt_of(key: str) -> int:
    """0 for a check-in, 1 and 2 for its reminders (keys look like checkin:<person>:<year>:<attempt>)."""
    last = key.rsplit(":", 1)[-1]
    return whole_number(last) or 0


def checkin_email(given_name: str, school: str, link: str, reminder: bool) -> tuple[str, str]:
    """(subject, body) of the yearly email: short, plain text, one link, how to stop."""
    subject = f"{school}: where are you now?"
    opening = (
        "A quick reminder: we'd still love to know where you are now."
        if reminder
        else "We'd love to know where you are now: studying, an apprenticeship, a job, or looking for something."
    )
    body = (
        f"Hi {given_name},\n\n"
        f"it's {school}. {opening} It takes one minute, and it helps us help the pupils who come after you.\n\n"
        f"Tell us here (the link is just for you and lasts {LINK_DAYS} days):\n{link}\n\n"
        "Rather we didn't ask? Open the same link and send /stop, and we won't email you again.\n"
    )
    return subject, body


class EmailTransport:
    """core.delivery.Transport for email, plus `prepare` (scheduler.sender.Preparing)."""

    platform = Platform.email.value

    def __init__(self, settings: Settings, *, timeout: float = 20.0) -> None:
        if not settings.smtp_url:
            raise ValueError("WAYMARK_SMTP_URL is not set")
        self.server = parse_smtp_url(settings.smtp_url)
        self.sender_address = settings.mail_from or f"waymark@{self.server.host}"
        self.public_url = settings.public_url.rstrip("/")
        self.timeout = timeout

    def prepare(self, session: Session, claim: Claimed, now: datetime) -> Claimed | None:
        """Resolve the address and write the email with a new link; None when there is nobody to send to."""
        if claim.key.startswith(SAFEGUARDING_KEYS):
            return self.safeguarding_email(session, claim)
        person = session.get(Person, claim.person_id)
        if person is None or person.role != Role.alumnus:
            return None
        address = (claim.chat_id or person.email or "").strip()
        if "@" not in address:
            return None
        school = session.get(School, person.school_id)
        token = issue_link(session, person, now)
        subject, body = checkin_email(
            person.given_name,
            school.name if school else "your old school",
            f"{self.public_url}/c/{token}",
            reminder=attempt_of(claim.key) > 0,
        )
        return replace(claim, chat_id=address, text=f"{subject}{SUBJECT_SEPARATOR}{body}", buttons=[])

    def safeguarding_email(self, session: Session, claim: Claimed) -> Claimed | None:
        """A safeguarding alert or escalation as it was written, plain: the subject names no one (mail
        lists show it), and the Open button becomes the command that opens the concern in Waymark."""
        person = session.get(Person, claim.person_id)
        address = (claim.chat_id or (person.email if person else None) or "").strip()
        if "@" not in address:
            return None
        school = session.get(School, person.school_id) if person else None
        kind = (
            "a safeguarding concern is still waiting" if claim.key.startswith("sg:escalate:") else "safeguarding alert"
        )
        subject = f"{school.name}: {kind}" if school else f"Waymark: {kind}"
        commands = [b.data for row in claim.buttons for b in row if b.data.startswith("/")]
        body = claim.text.rstrip() + "\n"
        for command in commands:
            body += f"\nTo open it, send {command} to Waymark (Telegram, Slack or {self.public_url}).\n"
        return replace(claim, chat_id=address, text=f"{subject}{SUBJECT_SEPARATOR}{body}", buttons=[])

    def message(self, to: str, text: str) -> EmailMessage:
        subject, _, body = text.partition(SUBJECT_SEPARATOR)
        msg = EmailMessage()
        msg["From"] = self.sender_address
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=self.sender_address.rpartition("@")[2] or None)
        # Mail clients show their own "unsubscribe" for this; the page it opens offers /stop.
        link = next((line for line in body.splitlines() if line.startswith(self.public_url)), None)
        if link:
            msg["List-Unsubscribe"] = f"<{link}>"
        msg.set_content(body)
        return msg

    async def send(self, chat_id: str, text: str, buttons: list[list[Button]]) -> SendOutcome:
        server = self.server
        try:
            await aiosmtplib.send(
                self.message(chat_id, text),
                hostname=server.host,
                port=server.port,
                username=server.username,
                password=server.password,
                use_tls=server.use_tls,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if codes and all(code >= 500 for code in codes):
                return SendOutcome(Delivery.unreachable, error=f"address refused: {exc.recipients[0].message}")
            return SendOutcome(Delivery.retry, error=f"address refused for now: {exc}")
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500:
                return SendOutcome(Delivery.failed, error=f"mail server said {exc.code} {exc.message}")
            return SendOutcome(Delivery.retry, error=f"mail server said {exc.code} {exc.message}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return SendOutcome(Delivery.retry, error=f"could not reach the mail server: {exc}")
        return SendOutcome(Delivery.sent)


async def _transport(settings: Settings) -> tuple[Transport, Stop | None] | None:
    return (EmailTransport(settings), None) if settings.smtp_url else None


SERVED = Served(open_transport=_transport)
