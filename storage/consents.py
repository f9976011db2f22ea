"""Consents with dates: may the school message an alumnus yearly, and would they help current pupils.

Consents are never overwritten: each answer is a new dated row, and the latest row of a kind is
what holds now. That keeps the history a school may be asked to show.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func
from sqlmodel import Session, col, select

from storage.models import Consent


class ConsentKind(StrEnum):
    yearly_checkin = "yearly_checkin"
    help_pupils = "help_pupils"


def record(
    session: Session, person_id: int, kind: ConsentKind, granted: bool, now: datetime, channel: str | None = None
) -> Consent:
    row = Consent(person_id=person_id, kind=kind.value, granted=granted, channel=channel, recorded_at=now)
    session.add(row)
    session.flush()
    return row


def latest(session: Session, person_id: int, kind: ConsentKind) -> Consent | None:
    """The answer that holds now, or None when the person was never asked (or never answered)."""
    return session.exec(
        select(Consent)
        .where(col(Consent.person_id) == person_id, col(Consent.kind) == kind.value)
        .order_by(col(Consent.id).desc())
        .limit(1)
    ).first()


def without_consent(session: Session, person_ids: Sequence[int], kind: ConsentKind) -> set[int]:
    """Of these people, those whose latest answer of this kind is not a yes (one query)."""
    if not person_ids:
        return set()
    wanted = set(person_ids)
    latest_answer: dict[int, bool] = {}
    rows = session.exec(
        select(col(Consent.person_id), col(Consent.granted))
        .where(col(Consent.person_id).in_(list(wanted)), col(Consent.kind) == kind.value)
        .order_by(col(Consent.id))
    )
    for person_id, granted in rows:
        latest_answer[person_id] = bool(granted)  # rows come oldest first: the last one holds
    return {p for p in wanted if not latest_answer.get(p, False)}


def latest_ids_subquery(kind: ConsentKind):  # type: ignore[no-untyped-def]
    """Per person, the id of their latest consent row of this kind (for joins in other queries)."""
    return (
        select(col(Consent.person_id).label("person_id"), func.max(col(Consent.id)).label("consent_id"))
        .where(col(Consent.kind) == kind.value)
        .group_by(col(Consent.person_id))
        .subquery()
    )
