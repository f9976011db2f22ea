"""Whether a safeguarding alert has reached a safeguarding lead, which decides how long its
escalation waits.

The web chat and the terminal show an alert only while the lead has the page (or terminal) open:
nothing rings, so an alert that went only there may sit unread all day. Such an alert counts as
unreached, and so does one whose pushed messages the sender gave up on (blocked bot, bad address):
its first escalation goes at once, not after the school's minutes. Pure rules; the scheduler
(scheduler/safeguarding.py) reads the alert's outbox rows and asks them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.platforms import facts


@dataclass(frozen=True, slots=True)
class AlertCopy:
    """One outbox row of an alert: where it went, and whether the sender gave up on it."""

    platform: str
    given_up: bool


def pushes(platform: str) -> bool:
    """Does this channel put a message in front of someone who is not looking (Telegram, Slack,
    email), rather than wait for a page or terminal to be opened (the web chat, the terminal)?"""
    found = facts(platform)
    return found is not None and not found.pulled


def alert_reached(copies: Iterable[AlertCopy]) -> bool:
    """Reached when at least one copy went to a pushed channel and may still arrive."""
    return any(pushes(copy.platform) and not copy.given_up for copy in copies)


def first_escalation_at(alerted_at: datetime, minutes: int, *, reached: bool) -> datetime:
    """When an unacknowledged alert first escalates: the school's minutes after it went out, or
    straight away when it reached no one."""
    return alerted_at + timedelta(minutes=minutes) if reached else alerted_at


def can_be_reached(linked: Iterable[str], *, has_email: bool) -> bool:
    """Would an alert reach this DSL: a chat account on a pushed channel, or an email address Waymark
    can send to (an address, and WAYMARK_SMTP_URL)?"""
    return has_email or any(pushes(platform) for platform in linked)
