"""Safeguarding concerns: raised in the transaction of the message that caused them, seen only by DSLs.

Everything a person wrote (the words, the few messages before them, every DSL note) is encrypted with
WAYMARK_ENCRYPTION_KEY through `storage.crypto`; the rows hold the category and times in clear, as
the alert does. The callers (handlers) decide who may call what: this module only stores.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from core.reach import first_escalation_at
from storage import crypto
from storage.models import (
    Concern,
    ConcernNote,
    ConcernOutcome,
    ConcernStatus,
    Person,
    PersonStatus,
    Role,
    School,
    StaffRole,
)
from storage.people import holds_role

JOIN_WITHIN = timedelta(hours=1)  # identical phrases from one pupil this close together are one concern
CONTEXT_LINES = 5  # messages kept with a concern, the last being the one that raised it


@dataclass(frozen=True)
class Raised:
    concern: Concern
    joined: bool  # True: the message joined an open concern raised within the hour


def phrase_key(category: str, phrase: str) -> str:
    """A digest that tells identical phrases apart without keeping the phrase in clear."""
    return hashlib.sha256(f"{category}\x00{phrase.casefold()}".encode()).hexdigest()[:32]


def raise_concern(
    session: Session,
    *,
    key: crypto.KeyLike,
    school_id: int,
    subject_id: int,
    raised_by_id: int | None,
    source: str,
    category: str,
    phrase: str,
    words: str,
    context: list[str],
    channel: str,
    now: datetime,
) -> Raised:
    """Record a concern, or join the subject's open one with the same phrase from the last hour.

    `key` is WAYMARK_ENCRYPTION_KEY: with none, crypto.NoKeyError is raised and the caller's whole
    step rolls back (a disclosure is never kept in clear).
    """
    digest = phrase_key(category, phrase) if phrase else ""
    if digest:
        recent = session.exec(
            select(Concern)
            .where(
                Concern.subject_id == subject_id,
                Concern.phrase_key == digest,
                Concern.status != ConcernStatus.closed.value,
                col(Concern.last_hit_at) >= now - JOIN_WITHIN,
            )
            .order_by(col(Concern.id).desc())
        ).first()
        if recent is not None:
            recent.hits += 1
            recent.last_hit_at = now
            recent.context = crypto.encrypt(key, json.dumps(context[-CONTEXT_LINES:], ensure_ascii=False))
            session.add(recent)
            return Raised(recent, joined=True)
    concern = Concern(
        school_id=school_id,
        subject_id=subject_id,
        raised_by_id=raised_by_id,
        source=source,
        category=category,
        phrase_key=digest,
        channel=channel,
        words=crypto.encrypt(key, words),
        context=crypto.encrypt(key, json.dumps(context[-CONTEXT_LINES:], ensure_ascii=False)),
        raised_at=now,
        last_hit_at=now,
    )
    session.add(concern)
    session.flush()  # the id names the alert's outbox key
    return Raised(concern, joined=False)


def words_of(concern: Concern, key: crypto.KeyLike) -> str:
    return crypto.decrypt(key, concern.words)


def context_of(concern: Concern, key: crypto.KeyLike) -> list[str]:
    lines = json.loads(crypto.decrypt(key, concern.context) or "[]")
    return [str(line) for line in lines] if isinstance(lines, list) else []


def dsl_filter() -> ColumnElement[bool]:
    """Staff who hold the DSL role, as their main role or one of their others."""
    return holds_role(StaffRole.dsl)


def dsls(session: Session, school_id: int) -> list[Person]:
    """The school's designated safeguarding leads who are still on the staff."""
    rows = session.exec(
        select(Person)
        .where(
            Person.school_id == school_id,
            Person.role == Role.staff.value,
            Person.status == PersonStatus.active.value,
            dsl_filter(),
        )
        .order_by(col(Person.id))
    ).all()
    return list(rows)


def get(session: Session, school_id: int, concern_id: int) -> Concern | None:
    """One concern of this school; None for another school's id or no such id."""
    concern = session.get(Concern, concern_id)
    return concern if concern is not None and concern.school_id == school_id else None


def open_concerns(session: Session, school_id: int, limit: int = 50) -> list[Concern]:
    """Open and acknowledged concerns, oldest unacknowledged first, then acknowledged by age."""
    rows = session.exec(
        select(Concern)
        .where(Concern.school_id == school_id, Concern.status != ConcernStatus.closed.value)
        .order_by(
            (col(Concern.status) == ConcernStatus.acknowledged.value),  # False (open) sorts first
            col(Concern.raised_at),
            col(Concern.id),
        )
        .limit(limit)
    ).all()
    return list(rows)


def chronology(session: Session, subject_id: int) -> list[Concern]:
    """Every concern about one person, oldest first: what the DSL reads beside a new one."""
    return list(
        session.exec(select(Concern).where(Concern.subject_id == subject_id).order_by(col(Concern.raised_at))).all()
    )


def not_alerted(session: Session, school_id: int) -> list[Concern]:
    """Concerns raised while the school had no DSL: their alerts go as soon as one is added."""
    return list(
        session.exec(
            select(Concern)
            .where(
                Concern.school_id == school_id,
                col(Concern.alerted_at).is_(None),
                Concern.status != ConcernStatus.closed.value,
            )
            .order_by(col(Concern.id))
        ).all()
    )


def acknowledge(session: Session, concern: Concern, dsl_id: int, now: datetime) -> bool:
    """True when this call acknowledged it; False when it was already acknowledged or closed."""
    if concern.status != ConcernStatus.open.value:
        return False
    concern.status = ConcernStatus.acknowledged.value
    concern.acknowledged_at = now
    concern.acknowledged_by_id = dsl_id
    session.add(concern)
    return True


def add_note(session: Session, concern: Concern, author_id: int, text: str, key: crypto.KeyLike, now: datetime) -> None:
    session.add(
        ConcernNote(concern_id=concern.id or 0, author_id=author_id, text=crypto.encrypt(key, text), created_at=now)
    )


def notes_of(session: Session, concern: Concern, key: crypto.KeyLike) -> list[tuple[ConcernNote, str]]:
    rows = session.exec(
        select(ConcernNote).where(ConcernNote.concern_id == concern.id).order_by(col(ConcernNote.id))
    ).all()
    return [(row, crypto.decrypt(key, row.text)) for row in rows]


def close(session: Session, concern: Concern, dsl_id: int, outcome: ConcernOutcome, now: datetime) -> bool:
    """True when this call closed it; closing also acknowledges one nobody had taken on yet."""
    if concern.status == ConcernStatus.closed.value:
        return False
    if concern.acknowledged_at is None:
        concern.acknowledged_at, concern.acknowledged_by_id = now, dsl_id
    concern.status = ConcernStatus.closed.value
    concern.closed_at, concern.closed_by_id, concern.outcome = now, dsl_id, outcome.value
    session.add(concern)
    return True


def escalation_due(concern: Concern, minutes: int, now: datetime, *, reached: bool = True) -> bool:
    """An open (unacknowledged) alert waits `minutes` after it went out (no wait when it reached no
    DSL: core.reach), then every hour after an escalation."""
    if concern.status != ConcernStatus.open.value or concern.alerted_at is None:
        return False
    if concern.escalated_at is None:
        return now >= first_escalation_at(concern.alerted_at, minutes, reached=reached)
    return now >= concern.escalated_at + timedelta(hours=1)


def waiting_for_escalation(
    session: Session, now: datetime, reached: Callable[[Concern], bool] = lambda concern: True
) -> list[tuple[Concern, School]]:
    """Open, alerted, unacknowledged concerns of every school whose escalation is due now; `reached`
    says whether a concern's alert reached a DSL (asked only while that decides it)."""
    rows = session.exec(
        select(Concern, School)
        .join(School, col(School.id) == col(Concern.school_id))
        .where(Concern.status == ConcernStatus.open.value, col(Concern.alerted_at).is_not(None))
        .order_by(col(Concern.id))
    ).all()
    due = []
    for concern, school in rows:
        minutes = school.safeguarding_escalate_minutes
        if escalation_due(concern, minutes, now) or (
            escalation_due(concern, minutes, now, reached=False) and not reached(concern)
        ):
            due.append((concern, school))
    return due


def mark_escalated(session: Session, concern: Concern, now: datetime) -> None:
    concern.escalated_at = now
    concern.escalations += 1
    session.add(concern)


def mark_alerted(session: Session, concern: Concern, now: datetime) -> None:
    if concern.alerted_at is None:
        concern.alerted_at = now
        session.add(concern)
