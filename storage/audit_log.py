"""Reading the audit log (`waymark audit`): who did what to whose record, when, through which channel.

Names are looked up when the log is read; an erased person appears as their anonymous marker.
The CSV streams (flat memory, however long the log); the table shows the latest SHOWN events.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import and_, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.models import AuditEvent, Person

SHOWN = 500
CSV_BATCH = 1000
CSV_FIELDS = ("at", "actor", "action", "subject", "detail")


@dataclass(frozen=True)
class AuditRow:
    at: str  # ISO 8601, UTC, to the second
    actor: str  # a name and email, an anonymous marker, or "the system / command line"
    action: str
    subject: str
    detail: str  # the channel first, where the event names one


def _query(subject_id: int | None, actor_id: int | None, since: datetime | None, marker: str | None = None) -> Any:
    actor, subject = aliased(Person), aliased(Person)
    conditions = []
    if marker is not None:  # an erased person: every event that names them by their marker
        conditions.append(or_(col(AuditEvent.subject_marker) == marker, col(AuditEvent.actor_marker) == marker))
    if subject_id is not None:
        conditions.append(col(AuditEvent.subject_id) == subject_id)
    if actor_id is not None:
        conditions.append(col(AuditEvent.actor_id) == actor_id)
    if since is not None:
        conditions.append(col(AuditEvent.at) >= since)
    return (
        select(AuditEvent, actor, subject)
        .outerjoin(actor, actor.id == AuditEvent.actor_id)  # type: ignore[arg-type]
        .outerjoin(subject, subject.id == AuditEvent.subject_id)  # type: ignore[arg-type]
        .where(and_(*conditions) if conditions else True)
    )


def _who(person: Person | None, marker: str | None, nobody: str) -> str:
    if person is not None:
        return f"{person.full_name} ({person.email or person.upn or person.role})"
    return marker or nobody


def _row(event: AuditEvent, actor: Person | None, subject: Person | None) -> AuditRow:
    return AuditRow(
        at=event.at.strftime("%Y-%m-%d %H:%M:%S"),
        actor=_who(actor, event.actor_marker, "command line / system"),
        action=event.action,
        subject=_who(subject, event.subject_marker, "-"),
        detail=event.detail,
    )


def events(
    session: Session,
    *,
    subject_id: int | None = None,
    actor_id: int | None = None,
    since: datetime | None = None,
    marker: str | None = None,
) -> list[AuditRow]:
    """The latest SHOWN matching events, oldest first."""
    query = _query(subject_id, actor_id, since, marker).order_by(col(AuditEvent.id).desc()).limit(SHOWN)
    return [_row(e, a, s) for e, a, s in reversed(session.exec(query).all())]


def _all(
    session: Session, subject_id: int | None, actor_id: int | None, since: datetime | None, marker: str | None
) -> Iterator[AuditRow]:
    after = 0
    while True:
        query = _query(subject_id, actor_id, since, marker).where(col(AuditEvent.id) > after)
        batch = session.exec(query.order_by(col(AuditEvent.id)).limit(CSV_BATCH)).all()
        for event, actor, subject in batch:
            yield _row(event, actor, subject)
        if len(batch) < CSV_BATCH:
            return
        after = batch[-1][0].id or after


def write_csv(
    session: Session,
    handle: TextIO,
    *,
    subject_id: int | None = None,
    actor_id: int | None = None,
    since: datetime | None = None,
    marker: str | None = None,
) -> int:
    writer = csv.writer(handle)
    writer.writerow(CSV_FIELDS)
    count = 0
    for row in _all(session, subject_id, actor_id, since, marker):
        writer.writerow([row.at, row.actor, row.action, row.subject, row.detail])
        count += 1
    return count
