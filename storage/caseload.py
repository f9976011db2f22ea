"""Which pupils a member of staff works with, found by name or form, with their counts in one query.

The SQL filter here mirrors `handlers.access.in_caseload` (the rule), so a search never loads pupils
the person may not see; handlers still check each chosen pupil with the pure rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, case, false, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from storage.models import AdviceRecord, AgreedAction, CaseloadAssignment, Person, PersonStatus, Role


def assigned_pupil_ids(session: Session, staff_id: int) -> set[int]:
    rows = session.exec(select(CaseloadAssignment.pupil_id).where(CaseloadAssignment.staff_id == staff_id)).all()
    return set(rows)


def assign(session: Session, staff_id: int, pupil_id: int) -> None:
    exists = session.exec(
        select(CaseloadAssignment.id).where(
            CaseloadAssignment.staff_id == staff_id, CaseloadAssignment.pupil_id == pupil_id
        )
    ).first()
    if exists is None:
        session.add(CaseloadAssignment(staff_id=staff_id, pupil_id=pupil_id))


def visible_clause(staff: Person, everyone: bool) -> ColumnElement[bool]:
    on_roll = and_(
        col(Person.school_id) == staff.school_id,
        col(Person.role) == Role.pupil.value,
        col(Person.status) != PersonStatus.left.value,
    )
    if everyone:
        return on_roll
    if staff.id is None:
        return false()
    assigned = select(CaseloadAssignment.pupil_id).where(CaseloadAssignment.staff_id == staff.id)
    return and_(on_roll, or_(col(Person.tutor_id) == staff.id, col(Person.id).in_(assigned)))


def search(
    session: Session, staff: Person, query: str, *, everyone: bool, limit: int = 10, alumni: bool = False
) -> tuple[list[Person], int]:
    """Pupils this member of staff may see whose name or form matches every word typed; and how many in all.
    `alumni`: the school's former pupils too (for the careers leader, who follows their destinations).

    "ami" finds Amira, "khan 11" finds the Khans in form 11A. Wildcards typed by people are matched
    literally (autoescape), so "%" finds nothing rather than everyone.
    """
    words = [w for w in query.lower().split() if w][:5]
    visible = visible_clause(staff, everyone)
    if alumni:
        former = and_(col(Person.school_id) == staff.school_id, col(Person.role) == Role.alumnus.value)
        visible = or_(visible, former)
    conditions: list[ColumnElement[bool]] = [visible]
    for word in words:
        conditions.append(
            or_(
                func.lower(col(Person.given_name)).contains(word, autoescape=True),
                func.lower(col(Person.family_name)).contains(word, autoescape=True),
                func.lower(func.coalesce(col(Person.form), "")).startswith(word, autoescape=True),
            )
        )
    statement = (
        select(Person, func.count().over().label("total"))
        .where(*conditions)
        .order_by(col(Person.family_name), col(Person.given_name), col(Person.id))
        .limit(limit)
    )
    rows = session.exec(statement).all()
    return [row[0] for row in rows], (rows[0][1] if rows else 0)


def visible_pupil(session: Session, staff: Person, pupil_id: int, *, everyone: bool) -> Person | None:
    """The pupil with this id if this member of staff may see them; None for anyone else, existing or not."""
    return session.exec(select(Person).where(col(Person.id) == pupil_id, visible_clause(staff, everyone))).first()


@dataclass(frozen=True)
class CaseloadRow:
    pupil: Person
    last_advice_at: datetime | None
    open_actions: int
    overdue_actions: int


@dataclass(frozen=True)
class CaseloadPage:
    rows: Sequence[CaseloadRow]
    total: int


def aggregates(today: date):  # type: ignore[no-untyped-def]
    advice = (
        select(col(AdviceRecord.pupil_id).label("pupil_id"), func.max(AdviceRecord.created_at).label("last_at"))
        .group_by(col(AdviceRecord.pupil_id))
        .subquery("advice_agg")
    )
    is_open = col(AgreedAction.status) == "open"
    actions = (
        select(
            col(AgreedAction.pupil_id).label("pupil_id"),
            func.sum(case((is_open, 1), else_=0)).label("open_count"),
            func.sum(case((and_(is_open, col(AgreedAction.due_date) < today), 1), else_=0)).label("overdue_count"),
        )
        .group_by(col(AgreedAction.pupil_id))
        .subquery("action_agg")
    )
    return advice, actions


def page(
    session: Session,
    staff: Person,
    *,
    everyone: bool,
    year_start_at: datetime,
    today: date,
    offset: int = 0,
    limit: int = 8,
) -> CaseloadPage:
    """One page of the caseload: pupils with no advice since `year_start_at` first, then by name.

    One statement: the advice and action counts are GROUP BY subqueries joined to the pupils, and
    the total comes from a window function, so a caseload of 300 is still one round trip.
    """
    advice, actions = aggregates(today)
    seen_this_year = case((advice.c.last_at >= year_start_at, 1), else_=0)
    statement = (
        sa_select(  # five columns: more than sqlmodel's select() is typed for
            Person,
            advice.c.last_at,
            func.coalesce(actions.c.open_count, 0),
            func.coalesce(actions.c.overdue_count, 0),
            func.count().over(),
        )
        .outerjoin(advice, advice.c.pupil_id == Person.id)
        .outerjoin(actions, actions.c.pupil_id == Person.id)
        .where(visible_clause(staff, everyone))
        .order_by(seen_this_year, col(Person.family_name), col(Person.given_name), col(Person.id))
        .offset(offset)
        .limit(limit)
    )
    rows = session.exec(statement).all()  # type: ignore[call-overload]  # 5-column Select; mypy loses the TypeVarTuple
    return CaseloadPage(
        rows=[CaseloadRow(p, last_at, int(open_n), int(overdue_n)) for p, last_at, open_n, overdue_n, _ in rows],
        total=int(rows[0][4]) if rows else 0,
    )
