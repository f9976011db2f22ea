"""Staff refining an alumnus's NCCIS code: "Not working or studying" (680) made precise (610 to 670).

A refinement is a new destination row (source "staff"), so the alumnus's own answer stays as they
gave it and the reports, which count the most recently reported row, count the refined code. Only
codes of the same category are allowed: staff make the answer precise, they do not change it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from storage import audit
from storage.destinations import by_code
from storage.models import Destination, Person

REFINE_DESTINATION = "refine_destination"  # the audit action


@dataclass(frozen=True)
class Refused:
    reason: str


def latest_for_year(session: Session, person_id: int, year_after_leaving: int) -> Destination | None:
    """The destination that counts for that year: the most recently reported one, whoever reported it."""
    return session.exec(
        select(Destination)
        .where(col(Destination.person_id) == person_id, col(Destination.year_after_leaving) == year_after_leaving)
        .order_by(col(Destination.reported_at).desc(), col(Destination.id).desc())
        .limit(1)
    ).first()


def refusal(current: Destination | None, code: int) -> str | None:
    """Why `code` cannot replace the current destination's code, in words a member of staff reads; None when it can."""
    if current is None:
        return "No destination is recorded for that year after leaving, so there is nothing to refine."
    category = by_code(current.nccis_code)
    if category is None:
        return f"The recorded code {current.nccis_code} has no finer codes."
    if code not in category.refinable:
        allowed = ", ".join(str(c) for c in category.refinable)
        return f"{code} is not a code for {category.label.lower()!r}; choose one of {allowed}."
    if code == current.nccis_code:
        return f"The destination already has the code {code}."
    return None


def refine(
    session: Session, person: Person, year_after_leaving: int, code: int, *, now: datetime, actor_id: int | None
) -> Destination | Refused:
    """Record the finer code as staff's report for that year, audited; or the reason it was refused."""
    assert person.id is not None
    current = latest_for_year(session, person.id, year_after_leaving)
    reason = refusal(current, code)
    if reason is not None:
        return Refused(reason)
    assert current is not None
    category = by_code(code)
    assert category is not None
    row = Destination(
        person_id=person.id,
        year_after_leaving=year_after_leaving,
        category=current.category,
        nccis_code=code,
        group=category.group,
        provider=current.provider,
        course=current.course,
        level=current.level,
        reported_at=now,
        source="staff",
    )
    session.add(row)
    audit.record(
        session,
        school_id=person.school_id,
        actor_id=actor_id,
        action=REFINE_DESTINATION,
        subject_id=person.id,
        now=now,
        detail=f"year {year_after_leaving}: {current.nccis_code} to {code}",
    )
    session.flush()
    return row
