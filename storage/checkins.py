"""Queries for the yearly alumni check-in campaign.

Who is due, which reminders are due, and the counts the careers leader sees. The campaign reads
alumni in keyset-ordered batches (`id > last id`, `LIMIT n`) and writes each batch in its own
transaction, so memory stays flat at any size and a crash loses at most one uncommitted batch.
Check-in rows and outbox rows are inserted with ON CONFLICT DO NOTHING on their unique keys: a
second scheduler, a restart or a clock change finds the rows already there and adds nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, case, cast, exists, func, literal, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from core.messages import Button
from storage.consents import ConsentKind, latest_ids_subquery
from storage.models import ChatIdentity, Checkin, Consent, OutboxMessage, Person, Role, School


@dataclass(frozen=True)
class DueAlumnus:
    """One alumnus owed a check-in this campaign year, with what is needed to choose a channel."""

    person_id: int
    school_id: int
    school_name: str
    given_name: str
    email: str | None
    leaving_date: date
    channel: str | None  # the platform they chose when they consented


@dataclass(frozen=True)
class Reachable:
    platform: str
    chat_id: str


@dataclass(frozen=True)
class OutboxItem:
    key: str
    person_id: int
    platform: str
    chat_id: str
    text: str
    buttons: list[list[Button]]


@dataclass(frozen=True)
class CampaignCounts:
    """One line of `waymark campaign status`: a campaign year and a cohort (the year they left)."""

    campaign_year: int
    cohort: int
    sent: int  # the check-in itself was delivered
    answered: int
    reminded: int
    opted_out: int
    unreachable: int  # no way to reach them, or their account turned out unreachable
    failed: int  # the check-in or a reminder failed or could not be delivered
    waiting: int = 0  # the check-in is queued and not delivered yet
    due: int = 0  # consenting, and no check-in yet this campaign year


def _rows(session: Session, query: Any) -> list[Any]:
    """Result rows of a many-column query, untyped (SQLModel's `exec` types at most four columns)."""
    return list(session.execute(query).all())


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _consenting():  # type: ignore[no-untyped-def]
    latest = latest_ids_subquery(ConsentKind.yearly_checkin)
    return latest, and_(col(Consent.id) == latest.c.consent_id, col(Consent.granted).is_(True))


def of_school(school_id: int | None) -> tuple[Any, ...]:
    """Only one school's people (`waymark campaign --school`); every school's when None."""
    return () if school_id is None else (col(Person.school_id) == school_id,)


def _due(campaign_year: int, left_from: date, left_before: date, school_id: int | None = None) -> tuple[Any, ...]:
    """Who is due a check-in: alumni who left in [left_from, left_before) and have none this campaign year.

    One definition for the batches the campaign sends and the counts it reports, so the two agree.
    """
    return (
        col(Person.role) == Role.alumnus.value,
        col(Person.leaving_date) >= left_from,
        col(Person.leaving_date) < left_before,
        ~exists().where(col(Checkin.person_id) == col(Person.id), col(Checkin.campaign_year) == campaign_year),
        *of_school(school_id),
    )


def due_batch(
    session: Session,
    campaign_year: int,
    left_from: date,
    left_before: date,
    after_id: int,
    limit: int,
    school_id: int | None = None,
) -> list[DueAlumnus]:
    """Consenting alumni who left in [left_from, left_before) and have no check-in this year, by id."""
    latest, granted = _consenting()
    query = (
        sa_select(
            col(Person.id),
            col(Person.school_id),
            col(School.name),
            col(Person.given_name),
            col(Person.email),
            col(Person.leaving_date),
            col(Consent.channel),
        )
        .join(School, col(School.id) == col(Person.school_id))
        .join(latest, latest.c.person_id == col(Person.id))
        .join(Consent, granted)
        .where(*_due(campaign_year, left_from, left_before, school_id), col(Person.id) > after_id)
        .order_by(col(Person.id))
        .limit(limit)
    )
    return [
        DueAlumnus(pid, sid, sname, given, email, left, channel)
        for pid, sid, sname, given, email, left, channel in _rows(session, query)
    ]


def reachable_accounts(session: Session, person_ids: Sequence[int]) -> dict[int, list[Reachable]]:
    """Each person's chat accounts not marked unreachable, oldest link first (one query per batch)."""
    found: dict[int, list[Reachable]] = {}
    if not person_ids:
        return found
    rows = session.exec(
        select(col(ChatIdentity.person_id), col(ChatIdentity.platform), col(ChatIdentity.chat_id))
        .where(col(ChatIdentity.person_id).in_(list(person_ids)), col(ChatIdentity.unreachable_at).is_(None))
        .order_by(col(ChatIdentity.id))
    ).all()
    for person_id, platform, chat_id in rows:
        found.setdefault(person_id, []).append(Reachable(platform, chat_id))
    return found


def insert_checkins(session: Session, rows: Iterable[dict[str, Any]]) -> set[int]:
    """Insert check-in rows; returns the person ids whose row this call created (others existed)."""
    values = list(rows)
    if not values:
        return set()
    statement = (
        _insert(session, Checkin)
        .values(values)
        .on_conflict_do_nothing(index_elements=["person_id", "campaign_year"])
        .returning(col(Checkin.person_id))
    )
    return {row[0] for row in session.execute(statement)}


def insert_outbox(session: Session, items: Iterable[OutboxItem], now: datetime) -> int:
    """Queue messages; a key already queued is skipped. Returns how many were added."""
    values = [
        {
            "key": item.key,
            "person_id": item.person_id,
            "platform": item.platform,
            "chat_id": item.chat_id,
            "text": item.text,
            "buttons": json.dumps([[asdict(b) for b in r] for r in item.buttons], ensure_ascii=False),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for item in items
    ]
    if not values:
        return 0
    statement = (
        _insert(session, OutboxMessage)
        .values(values)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(col(OutboxMessage.id))
    )
    return len(list(session.execute(statement)))


def reminders_batch(
    session: Session,
    now: datetime,
    reminder_days: Sequence[int],
    after_id: int,
    limit: int,
    school_id: int | None = None,
) -> list[tuple[Checkin, DueAlumnus]]:
    """Unanswered check-ins whose next reminder is due now, with the alumnus, by check-in id."""
    if not reminder_days:
        return []
    due_when = [
        and_(col(Checkin.reminders) == attempt, col(Checkin.sent_at) <= now - timedelta(days=days))
        for attempt, days in enumerate(reminder_days)
    ]
    latest, granted = _consenting()
    query = (
        sa_select(
            Checkin,
            col(Person.school_id),
            col(School.name),
            col(Person.given_name),
            col(Person.email),
            col(Person.leaving_date),
        )
        .join(Person, col(Person.id) == col(Checkin.person_id))
        .join(School, col(School.id) == col(Person.school_id))
        .join(latest, latest.c.person_id == col(Person.id))
        .join(Consent, granted)
        .where(col(Checkin.status) == "sent", col(Checkin.id) > after_id, or_(*due_when), *of_school(school_id))
        .order_by(col(Checkin.id))
        .limit(limit)
    )
    out = []
    for checkin, sid, sname, given, email, left in _rows(session, query):
        out.append((checkin, DueAlumnus(checkin.person_id, sid, sname, given, email, left, checkin.channel)))
    return out


def claim_reminder(session: Session, checkin_id: int, attempt: int, now: datetime) -> bool:
    """Count reminder `attempt` (1 or 2) as sent, only if no one else did: True when this call did."""
    result = session.exec(  # type: ignore[call-overload]
        update(Checkin)
        .where(col(Checkin.id) == checkin_id, col(Checkin.reminders) == attempt - 1, col(Checkin.status) == "sent")
        .values(reminders=attempt, last_reminded_at=now)
    )
    return bool(result.rowcount)


def set_status(session: Session, checkin_id: int, status: str) -> None:
    session.exec(update(Checkin).where(col(Checkin.id) == checkin_id).values(status=status))  # type: ignore[call-overload]


def message_status(session: Session, key: str) -> str | None:
    return session.exec(select(col(OutboxMessage.status)).where(col(OutboxMessage.key) == key)).first()


def open_checkin(session: Session, person_id: int) -> Checkin | None:
    """The alumnus's latest check-in still waiting for an answer."""
    return session.exec(
        select(Checkin)
        .where(col(Checkin.person_id) == person_id, col(Checkin.status) == "sent")
        .order_by(col(Checkin.campaign_year).desc())
        .limit(1)
    ).first()


def mark_answered(session: Session, person_id: int, now: datetime) -> int:
    """An answer ends this year's reminders."""
    result = session.exec(  # type: ignore[call-overload]
        update(Checkin)
        .where(col(Checkin.person_id) == person_id, col(Checkin.status) == "sent")
        .values(status="answered", answered_at=now)
    )
    return int(result.rowcount or 0)


def stop(session: Session, person_id: int) -> None:
    """After /stop: open check-ins end, and check-in messages not yet sent are withdrawn.

    Rows a sender has already claimed ("sending") are withdrawn too: the sender checks again just
    before sending (storage.outbox.still_to_send) and drops them.
    """
    session.exec(  # type: ignore[call-overload]
        update(Checkin)
        .where(col(Checkin.person_id) == person_id, col(Checkin.status) == "sent")
        .values(status="stopped")
    )
    session.exec(  # type: ignore[call-overload]
        update(OutboxMessage)
        .where(
            col(OutboxMessage.person_id) == person_id,
            col(OutboxMessage.key).like(f"checkin:{person_id}:%"),
            col(OutboxMessage.status).in_(["pending", "sending"]),
        )
        .values(status="cancelled", error="the alumnus sent /stop")
    )


def _cohort(column: Any) -> Any:
    return cast(func.extract("year", column), String)


def _message_key(attempt: int) -> Any:
    """The outbox key of a check-in's message `attempt` (0 the check-in, 1 and 2 the reminders), in SQL."""
    return (
        literal("checkin:")
        + cast(col(Checkin.person_id), String)
        + literal(":")
        + cast(col(Checkin.campaign_year), String)
        + literal(f":{attempt}")
    )


def status_counts(session: Session, school_id: int | None = None) -> list[CampaignCounts]:
    """Per campaign year and cohort, in one GROUP BY: sent, answered, reminded, opted out,
    unreachable, failed, waiting. Each check-in's messages are found by their unique outbox key."""
    first = _message_key(0)
    all_keys = [first, _message_key(1), _message_key(2)]

    def first_message_is(*statuses: str) -> Any:
        return exists().where(col(OutboxMessage.key) == first, col(OutboxMessage.status).in_(statuses))

    failed = exists().where(
        col(OutboxMessage.key).in_(all_keys), col(OutboxMessage.status).in_(["failed", "undeliverable"])
    )
    cohort = _cohort(col(Person.leaving_date))

    def count_if(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    query = (
        sa_select(
            col(Checkin.campaign_year),
            cohort,
            count_if(first_message_is("sent")),
            count_if(col(Checkin.status) == "answered"),
            count_if(col(Checkin.reminders) > 0),
            count_if(col(Checkin.status) == "stopped"),
            count_if(col(Checkin.status) == "unreachable"),
            count_if(failed),
            count_if(first_message_is("pending", "sending")),
        )
        .join(Person, col(Person.id) == col(Checkin.person_id))
        .where(*of_school(school_id))
        .group_by(col(Checkin.campaign_year), cohort)
        .order_by(col(Checkin.campaign_year), cohort)
    )
    return [
        CampaignCounts(int(year), int(float(coh)), *(int(n or 0) for n in counts))
        for year, coh, *counts in _rows(session, query)
    ]


def due_counts(
    session: Session, campaign_year: int, left_from: date, left_before: date, school_id: int | None = None
) -> dict[int, int]:
    """Per cohort, consenting alumni with no check-in yet this campaign year."""
    latest, granted = _consenting()
    cohort = _cohort(col(Person.leaving_date))
    query = (
        select(cohort, func.count())
        .select_from(Person)
        .join(latest, latest.c.person_id == col(Person.id))
        .join(Consent, granted)
        .where(*_due(campaign_year, left_from, left_before, school_id))
        .group_by(cohort)
    )
    return {int(float(coh)): int(n) for coh, n in _rows(session, query)}
