"""Needs attention, for the careers leader: counts per year group in SQL, and who is flagged.

Counts are GROUP BY year group over the caseload aggregates. The at-risk flag is the pure scoring
function in `handlers.risk`; here SQL narrows the pupils to those without a conversation in the
last term and returns the facts the score needs, already aggregated per pupil.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import cast

from sqlalchemy import case, func, or_
from sqlalchemy import select as sa_select  # SQLModel's select() types at most four columns
from sqlmodel import Session, col, select

from storage.caseload import CaseloadRow, aggregates, visible_clause
from storage.models import Person


@dataclass(frozen=True)
class YearCounts:
    year_group: int | None
    pupils: int
    no_guidance_this_year: int
    with_overdue_actions: int
    no_next_step: int  # Year 10 and up without an intended destination recorded


NEXT_STEP_FROM_YEAR = 10


def counts_by_year(session: Session, leader: Person, *, year_start_at: datetime, today: date) -> list[YearCounts]:
    advice, actions = aggregates(today)
    no_guidance = case((advice.c.last_at.is_(None), 1), (advice.c.last_at < year_start_at, 1), else_=0)
    overdue = case((func.coalesce(actions.c.overdue_count, 0) > 0, 1), else_=0)
    no_next_step = case(((col(Person.year_group) >= NEXT_STEP_FROM_YEAR) & col(Person.next_step).is_(None), 1), else_=0)
    statement = (
        sa_select(
            col(Person.year_group), func.count(), func.sum(no_guidance), func.sum(overdue), func.sum(no_next_step)
        )
        .outerjoin(advice, advice.c.pupil_id == Person.id)
        .outerjoin(actions, actions.c.pupil_id == Person.id)
        .where(visible_clause(leader, True))
        .group_by(col(Person.year_group))
        .order_by(col(Person.year_group))
    )
    rows = cast(list[tuple[int | None, int, int | None, int | None, int | None]], session.execute(statement).all())
    return [
        YearCounts(year, int(total), int(no_guidance_n or 0), int(overdue_n or 0), int(no_plan_n or 0))
        for year, total, no_guidance_n, overdue_n, no_plan_n in rows
    ]


def without_conversation_since(session: Session, leader: Person, *, since: datetime, today: date) -> list[CaseloadRow]:
    """Pupils with no advice conversation since `since`, with their counts: candidates for the flag."""
    advice, actions = aggregates(today)
    statement = (
        select(
            Person,
            advice.c.last_at,
            func.coalesce(actions.c.open_count, 0),
            func.coalesce(actions.c.overdue_count, 0),
        )
        .outerjoin(advice, advice.c.pupil_id == Person.id)
        .outerjoin(actions, actions.c.pupil_id == Person.id)
        .where(visible_clause(leader, True), (advice.c.last_at.is_(None)) | (advice.c.last_at < since))
        .order_by(col(Person.year_group), col(Person.family_name), col(Person.given_name))
    )
    return [CaseloadRow(p, last_at, int(o), int(d)) for p, last_at, o, d in session.exec(statement).all()]


def needing_attention(
    session: Session,
    leader: Person,
    *,
    year_group: int | None,
    year_start_at: datetime,
    since: datetime,
    today: date,
) -> list[CaseloadRow]:
    """The pupils of one year group (None: those with no year group) who need attention for any reason.

    That is: no guidance conversation this school year, an overdue action, no intended next step from
    Year 10, or no conversation since `since` (the candidates for the at-risk flag, which the pure
    scoring function decides). One statement, the counts already aggregated per pupil; by name.
    """
    advice, actions = aggregates(today)
    overdue = func.coalesce(actions.c.overdue_count, 0)
    in_year = col(Person.year_group).is_(None) if year_group is None else col(Person.year_group) == year_group
    statement = (
        select(Person, advice.c.last_at, func.coalesce(actions.c.open_count, 0), overdue)
        .outerjoin(advice, advice.c.pupil_id == Person.id)
        .outerjoin(actions, actions.c.pupil_id == Person.id)
        .where(
            visible_clause(leader, True),
            in_year,
            or_(
                advice.c.last_at.is_(None),
                advice.c.last_at < year_start_at,
                advice.c.last_at < since,
                overdue > 0,
                (col(Person.year_group) >= NEXT_STEP_FROM_YEAR) & col(Person.next_step).is_(None),
            ),
        )
        .order_by(col(Person.family_name), col(Person.given_name), col(Person.id))
    )
    return [CaseloadRow(p, last_at, int(o), int(d)) for p, last_at, o, d in session.exec(statement).all()]
