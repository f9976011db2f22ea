"""The report queries: where leavers went, and Benchmark 3 coverage of pupils on roll.

Everything is counted by the database (GROUP BY); Python only receives one row per breakdown value
and destination group, however many alumni there are. The reports themselves (tables, CSV, charts)
live in `reports/` and never see a person.

Which destination counts for an alumnus and a year: the most recently reported one (staff may
refine an alumnus's answer, a local authority import may arrive later). With no destination for
that year the alumnus counts as "cannot be contacted" (NCCIS 820) when that year's check-in ended
unanswered after all its reminders, or went nowhere because they could not be reached; otherwise as
"not known" (810).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, or_
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.caseload import aggregates
from storage.consents import ConsentKind, latest_ids_subquery
from storage.destinations import CANNOT_BE_CONTACTED
from storage.models import (
    AgreedAction,
    ChatIdentity,
    Checkin,
    Consent,
    Destination,
    ErasedDestination,
    ErasedLeaver,
    JournalEntry,
    Person,
    PersonStatus,
    Role,
    School,
)

EXPORT_REPORT = "export_report"  # the audit action of every report shown or exported
CANNOT_BE_CONTACTED_GROUP = "cannot be contacted"
NOT_KNOWN_GROUP = "not known"
# Column order of every destination report: the DfE-style groups, then the two kinds of "unknown".
GROUPS: tuple[str, ...] = (
    "education",
    "apprenticeship",
    "employment",
    "training",
    "other",
    "NEET",
    NOT_KNOWN_GROUP,
    CANNOT_BE_CONTACTED_GROUP,
)
# Groups in which holding on for two years means something (DESIGN.md, "Destinations").
POSITIVE_GROUPS: tuple[str, ...] = ("education", "apprenticeship", "employment", "training", "other")


class Breakdown(StrEnum):
    gender = "gender"
    ethnicity = "ethnicity"
    send = "send"
    pupil_premium = "pupil_premium"
    fsm = "fsm"
    eal = "eal"
    looked_after = "looked_after"


@dataclass(frozen=True)
class DestinationCount:
    """Alumni with one breakdown value (e.g. gender "F") in one destination group."""

    value: str  # raw value: "F", "K", "Y"/"N" for the yes/no fields, "" when not recorded
    group: str  # one of GROUPS
    alumni: int
    sustained: int  # of those, how many were in the same group the year before


@dataclass(frozen=True)
class YearGroupCoverage:
    """Benchmark 3 for one year group of pupils on roll."""

    year_group: int | None
    pupils: int
    guidance_this_year: int
    with_next_step: int
    with_open_actions: int
    with_overdue_actions: int


def _rows(session: Session, query: Any) -> list[Any]:
    """Rows of a many-column query, untyped: SQLModel types at most four columns."""
    return list(session.execute(query).all())


def find_school(session: Session, name: str | None) -> School | None:
    """The school called `name` (any case); without a name, the only school there is."""
    schools = list(session.exec(select(School).order_by(col(School.id))).all())
    if name is None:
        return schools[0] if len(schools) == 1 else None
    wanted = name.strip().casefold()
    return next((s for s in schools if s.name.casefold() == wanted), None)


def _breakdown_column(by: Breakdown, table: type[Person] | type[ErasedLeaver] = Person) -> Any:
    """The breakdown value of an alumnus, or of an erased one (ErasedLeaver keeps the same columns)."""
    if by is Breakdown.pupil_premium:
        return case((col(table.pupil_premium).is_(True), "Y"), else_="N")
    if by is Breakdown.fsm:
        return case((col(table.fsm).is_(True), "Y"), else_="N")
    if by in (Breakdown.eal, Breakdown.looked_after):
        if table is ErasedLeaver:
            return literal("")  # not kept when an alumnus is erased: counted as "not recorded"
        return case((col(getattr(Person, by.value)).is_(True), "Y"), else_="N")
    column = {Breakdown.gender: col(table.gender), Breakdown.ethnicity: col(table.ethnicity)}.get(by, col(table.send))
    return func.coalesce(func.trim(column), "")


def _latest_destinations(year_after_leaving: int, name: str) -> Any:
    """Each alumnus's most recently reported destination for one year after leaving: the row with
    no later one (by report time, then id) for the same alumnus and year. An index probe per row
    (ix_destination_person_year) instead of ranking every row of the year: faster on both databases."""
    later = aliased(Destination)
    newer = exists().where(
        col(later.person_id) == col(Destination.person_id),
        col(later.year_after_leaving) == year_after_leaving,
        or_(
            col(later.reported_at) > col(Destination.reported_at),
            and_(col(later.reported_at) == col(Destination.reported_at), col(later.id) > col(Destination.id)),
        ),
    )
    return (
        sa_select(
            col(Destination.person_id).label("person_id"),
            col(Destination.group).label("grp"),
            col(Destination.nccis_code).label("code"),
        )
        .where(col(Destination.year_after_leaving) == year_after_leaving, ~newer)
        .subquery(name)
    )


def destination_counts(
    session: Session,
    school_id: int,
    *,
    year_after_leaving: int,
    by: Breakdown,
    left_before: date,
    left_from: date | None = None,
    reminders: int = 2,
) -> list[DestinationCount]:
    """Alumni who left in [left_from, left_before), per breakdown value and destination group.

    `left_before` keeps out alumni whose year `year_after_leaving` has not come yet (their check-in
    for it has not been sent, so "not known" would be unfair). `reminders` is how many reminders a
    check-in gets, so one still inside them is not yet "cannot be contacted".
    """
    current = _latest_destinations(year_after_leaving, "dest_now")
    previous = _latest_destinations(year_after_leaving - 1, "dest_before")
    gave_up = exists().where(
        col(Checkin.person_id) == col(Person.id),
        col(Checkin.year_after_leaving) == year_after_leaving,
        _gave_up(col(Checkin.status), col(Checkin.reminders), reminders),
    )
    group = _group_out(current.c.code, current.c.grp, gave_up)
    # Year 1 has no year before it: nothing is sustained, and ranking year 0's rows would cost a scan.
    held = and_(previous.c.grp == current.c.grp, current.c.grp.in_(POSITIVE_GROUPS)) if year_after_leaving > 1 else None
    value = _breakdown_column(by).label("value")
    conditions = [
        col(Person.school_id) == school_id,
        col(Person.role) == Role.alumnus.value,
        col(Person.leaving_date).is_not(None),
        col(Person.leaving_date) < left_before,
    ]
    if left_from is not None:
        conditions.append(col(Person.leaving_date) >= left_from)
    # One row per alumnus first, then GROUP BY over it: PostgreSQL will not group by an expression
    # whose EXISTS refers to the ungrouped person id.
    rows = (
        sa_select(
            value, group, case((held, 1), else_=0).label("held") if held is not None else literal(0).label("held")
        )
        .select_from(Person)
        .outerjoin(current, current.c.person_id == col(Person.id))
    )
    if held is not None:
        rows = rows.outerjoin(previous, previous.c.person_id == col(Person.id))
    per_alumnus = (
        rows.where(*conditions)
        .union_all(_erased_per_alumnus(school_id, year_after_leaving, by, left_before, left_from, reminders))
        .subquery("per_alumnus")
    )
    query = (
        sa_select(per_alumnus.c.value, per_alumnus.c.grp_out, func.count(), func.sum(per_alumnus.c.held))
        .group_by(per_alumnus.c.value, per_alumnus.c.grp_out)
        .order_by(per_alumnus.c.value, per_alumnus.c.grp_out)
    )
    return [DestinationCount(str(v or ""), str(g), int(n), int(s or 0)) for v, g, n, s in _rows(session, query)]


def _gave_up(status: Any, reminders_sent: Any, reminders: int) -> Any:
    """That year's check-in ended without an answer: unreachable, or every reminder sent."""
    return or_(status == "unreachable", and_(status == "sent", reminders_sent >= reminders))


def _group_out(code: Any, grp: Any, gave_up: Any) -> Any:
    return case(
        (code == CANNOT_BE_CONTACTED, literal(CANNOT_BE_CONTACTED_GROUP)),
        (grp.is_not(None), grp),
        (gave_up, literal(CANNOT_BE_CONTACTED_GROUP)),
        else_=literal(NOT_KNOWN_GROUP),
    ).label("grp_out")


def _erased_per_alumnus(
    school_id: int, year_after_leaving: int, by: Breakdown, left_before: date, left_from: date | None, reminders: int
) -> Any:
    """Erased alumni, one row each, as `destination_counts` counts alumni: so a report is the same
    before and after `waymark erase` (storage.erasure keeps these anonymous rows)."""
    now = sa_select(ErasedDestination).where(col(ErasedDestination.year_after_leaving) == year_after_leaving)
    now_sq = now.subquery("erased_now")
    before_sq = (
        sa_select(ErasedDestination)
        .where(col(ErasedDestination.year_after_leaving) == year_after_leaving - 1)
        .subquery("erased_before")
    )
    gave_up = _gave_up(now_sq.c.checkin_status, now_sq.c.checkin_reminders, reminders)
    held = and_(before_sq.c.group == now_sq.c.group, now_sq.c.group.in_(POSITIVE_GROUPS))
    conditions = [col(ErasedLeaver.school_id) == school_id, col(ErasedLeaver.leaving_date) < left_before]
    if left_from is not None:
        conditions.append(col(ErasedLeaver.leaving_date) >= left_from)
    return (
        sa_select(
            _breakdown_column(by, ErasedLeaver).label("value"),
            _group_out(now_sq.c.nccis_code, now_sq.c.group, gave_up),
            case((held, 1), else_=0).label("held"),
        )
        .select_from(ErasedLeaver)
        .outerjoin(now_sq, now_sq.c.leaver_id == col(ErasedLeaver.id))
        .outerjoin(before_sq, before_sq.c.leaver_id == col(ErasedLeaver.id))
        .where(*conditions)
    )


def benchmark3_by_year(
    session: Session, school_id: int, *, year_start_at: datetime, today: date
) -> list[YearGroupCoverage]:
    """Pupils on roll per year group: guidance conversation since `year_start_at`, next step, actions."""
    advice, actions = aggregates(today)

    def count_if(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    has_next_step = and_(col(Person.next_step).is_not(None), func.trim(col(Person.next_step)) != "")
    query = (
        sa_select(
            col(Person.year_group),
            func.count(),
            count_if(advice.c.last_at >= year_start_at),
            count_if(has_next_step),
            count_if(func.coalesce(actions.c.open_count, 0) > 0),
            count_if(func.coalesce(actions.c.overdue_count, 0) > 0),
        )
        .select_from(Person)
        .outerjoin(advice, advice.c.pupil_id == col(Person.id))
        .outerjoin(actions, actions.c.pupil_id == col(Person.id))
        .where(
            col(Person.school_id) == school_id,
            col(Person.role) == Role.pupil.value,
            col(Person.status) == PersonStatus.active.value,  # missing and left pupils are not on roll
        )
        .group_by(col(Person.year_group))
        .order_by(col(Person.year_group))
    )
    return [
        YearGroupCoverage(year, int(n), int(g or 0), int(s or 0), int(o or 0), int(d or 0))
        for year, n, g, s, o, d in _rows(session, query)
    ]


# Targeted groups of Gatsby Benchmark 3 ("provision for targeted groups"): name -> the roster condition.
TARGETED: tuple[str, ...] = ("SEN support", "EHC plan", "Pupil premium", "FSM", "Looked after", "EAL")


@dataclass(frozen=True)
class PupilEvidence:
    """Pupils on roll who share a year group and every targeted-group flag, and what they have had."""

    year_group: int | None
    groups: frozenset[str]  # the TARGETED names these pupils are in
    pupils: int
    guidance_this_year: int
    with_actions: int  # at least one agreed action (any time)
    with_done_actions: int
    with_open_actions: int
    with_overdue_actions: int
    year10_up: int
    with_next_step: int  # of year10_up
    linked: int  # a chat account linked: they can reach their own record
    with_journal: int  # a journal entry this school year
    with_encounter: int  # an employer encounter this school year


def benchmark3_evidence(
    session: Session, school_id: int, *, year_start_at: datetime, today: date
) -> list[PupilEvidence]:
    """Benchmark 3 measures for pupils on roll (not missing, not left), one row per year group and
    combination of targeted-group flags: at most a few hundred rows however many pupils, so the
    year-group and targeted-group views are sums over them."""
    advice, _ = aggregates(today)
    pupil = col(Person.id)
    is_open = col(AgreedAction.status) == "open"
    actions = (
        sa_select(
            col(AgreedAction.pupil_id).label("pupil_id"),
            func.max(case((col(AgreedAction.status) == "done", 1), else_=0)).label("done"),
            func.max(case((is_open, 1), else_=0)).label("open"),
            func.max(case((and_(is_open, col(AgreedAction.due_date) < today), 1), else_=0)).label("overdue"),
        )
        .group_by(col(AgreedAction.pupil_id))
        .subquery("b3_actions")
    )
    journal = (
        sa_select(
            col(JournalEntry.person_id).label("person_id"),
            func.max(case((col(JournalEntry.kind) == "encounter", 0), else_=1)).label("wrote"),
            func.max(case((col(JournalEntry.kind) == "encounter", 1), else_=0)).label("met"),
        )
        .where(col(JournalEntry.created_at) >= year_start_at)
        .group_by(col(JournalEntry.person_id))
        .subquery("b3_journal")
    )
    linked = exists().where(col(ChatIdentity.person_id) == pupil)

    def count_if(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    upper = func.coalesce(col(Person.year_group), 0) >= 10
    has_next_step = and_(upper, col(Person.next_step).is_not(None), func.trim(col(Person.next_step)) != "")
    send = func.upper(func.coalesce(col(Person.send), "N"))
    flags = (
        col(Person.year_group),
        send,
        col(Person.pupil_premium),
        col(Person.fsm),
        col(Person.looked_after),
        col(Person.eal),
    )
    per_pupil = (
        sa_select(
            *(f.label(f"f{i}") for i, f in enumerate(flags)),
            case((advice.c.last_at >= year_start_at, 1), else_=0).label("guided"),
            case((actions.c.pupil_id.is_not(None), 1), else_=0).label("acted"),
            func.coalesce(actions.c.done, 0).label("done"),
            func.coalesce(actions.c.open, 0).label("open"),
            func.coalesce(actions.c.overdue, 0).label("overdue"),
            case((upper, 1), else_=0).label("upper"),
            case((has_next_step, 1), else_=0).label("next_step"),
            case((linked, 1), else_=0).label("linked"),
            func.coalesce(journal.c.wrote, 0).label("wrote"),
            func.coalesce(journal.c.met, 0).label("met"),
        )
        .select_from(Person)
        .outerjoin(advice, advice.c.pupil_id == pupil)
        .outerjoin(actions, actions.c.pupil_id == pupil)
        .outerjoin(journal, journal.c.person_id == pupil)
        .where(
            col(Person.school_id) == school_id,
            col(Person.role) == Role.pupil.value,
            col(Person.status) == PersonStatus.active.value,  # missing and left pupils are not on roll
        )
        .subquery("b3_pupils")
    )
    keys = [per_pupil.c[f"f{i}"] for i in range(len(flags))]
    measures = ("guided", "acted", "done", "open", "overdue", "upper", "next_step", "linked", "wrote", "met")
    query = sa_select(*keys, func.count(), *(func.sum(per_pupil.c[m]) for m in measures)).group_by(*keys)
    found = []
    for year, send_code, premium, fsm, looked_after, eal, n, *sums in _rows(session, query):
        groups = {
            "SEN support": send_code == "K",
            "EHC plan": send_code == "E",
            "Pupil premium": bool(premium),
            "FSM": bool(fsm),
            "Looked after": bool(looked_after),
            "EAL": bool(eal),
        }
        found.append(
            PupilEvidence(year, frozenset(g for g, yes in groups.items() if yes), int(n), *(int(s or 0) for s in sums))
        )
    return found


@dataclass(frozen=True)
class CohortCoverage:
    """One leaving cohort's destinations in the latest year after leaving it has reached."""

    cohort: int
    year_after_leaving: int
    alumni: int
    known: int  # a destination recorded (NEET included)
    not_known: int
    cannot_be_contacted: int
    sustained: int
    neet: int
    consenting: int  # agreed to help pupils (talks, mentoring)


def helping_alumni(session: Session, school_id: int, left_from: date, left_before: date) -> int:
    """Alumni who left in [left_from, left_before) whose latest answer to "help pupils" is yes."""
    latest = latest_ids_subquery(ConsentKind.help_pupils)
    query = (
        sa_select(func.count())
        .select_from(Person)
        .join(latest, latest.c.person_id == col(Person.id))
        .join(Consent, col(Consent.id) == latest.c.consent_id)
        .where(
            col(Person.school_id) == school_id,
            col(Person.role) == Role.alumnus.value,
            col(Person.leaving_date) >= left_from,
            col(Person.leaving_date) < left_before,
            col(Consent.granted).is_(True),
        )
    )
    return int(session.execute(query).scalar_one())
