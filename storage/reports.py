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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from core.calendar import spring_term_start
from core.risk_weights import FINAL_YEARS, RiskWeights
from storage.caseload import aggregates
from storage.consents import ConsentKind, latest_ids_subquery
from storage.destinations import CANNOT_BE_CONTACTED, POSITIVE_GROUPS
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
        return case((col(getattr(table, by.value)).is_(True), "Y"), else_="N")
    column = {Breakdown.gender: col(table.gender), Breakdown.ethnicity: col(table.ethnicity)}.get(by, col(table.send))
    return func.coalesce(func.trim(column), "")


@dataclass(frozen=True)
class Leavers:
    """Whom a destination report counts: a school's alumni who left in [left_from, left_before), in
    one year after leaving, with the check-in reminders after which no answer is "cannot be contacted"."""

    school_id: int
    year_after_leaving: int
    left_before: date
    left_from: date | None
    reminders: int


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
    return destination_counts_by(
        session,
        school_id,
        year_after_leaving=year_after_leaving,
        by=(by,),
        left_before=left_before,
        left_from=left_from,
        reminders=reminders,
    )[by]


def destination_counts_by(
    session: Session,
    school_id: int,
    *,
    year_after_leaving: int,
    by: Sequence[Breakdown],
    left_before: date,
    left_from: date | None = None,
    reminders: int = 2,
) -> dict[Breakdown, list[DestinationCount]]:
    """`destination_counts` for several breakdowns from one query, so several cost one scan of the year:
    the alumni are grouped by every breakdown column at once (a few thousand groups however many
    alumni), and each breakdown's counts are sums over those groups.

    PostgreSQL cannot tell how few groups that makes, and with its default 4 MB of working memory
    sorts every alumnus's row on disk (3.1 s at 350,000 alumni); with 32 MB for this transaction it
    hashes them in memory (1.4 s). GROUPING SETS, one per breakdown, measured slower still (it
    sorts once per set)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    leavers = Leavers(school_id, year_after_leaving, left_before, left_from, reminders)
    query = breakdown_query(leavers, by, postgres=postgres)
    if postgres and len(by) > 1:
        session.execute(sa_select(func.set_config("work_mem", "32MB", True)))  # this transaction only
    sums: dict[Breakdown, dict[tuple[str, str], list[int]]] = {b: {} for b in by}
    for *values, group, alumni_count, held in _rows(session, query):
        for b, value in zip(by, values, strict=True):
            found = sums[b].setdefault((str(value or ""), str(group)), [0, 0])
            found[0] += int(alumni_count)
            found[1] += int(held or 0)
    return {
        b: [DestinationCount(v, g, n, h) for (v, g), (n, h) in sorted(per_value.items())]
        for b, per_value in sums.items()
    }


def breakdown_query(leavers: Leavers, by: Sequence[Breakdown], *, postgres: bool) -> Any:
    """The SQL of `destination_counts_by`: per value of every breakdown column and group, the alumni
    and how many were sustained, erased alumni included (tests read its plan)."""
    alumni = _alumni_of_year(leavers, [_breakdown_column(b) for b in by], probe=not postgres)
    erased = _erased_per_alumnus(leavers, [_breakdown_column(b, ErasedLeaver) for b in by])
    per_alumnus = alumni.union_all(erased).subquery("per_alumnus")
    keys = [per_alumnus.c[f"v{i}"] for i in range(len(by))]
    return sa_select(*keys, per_alumnus.c.grp_out, func.count(), func.sum(per_alumnus.c.held)).group_by(
        *keys, per_alumnus.c.grp_out
    )


def _alumni_of_year(leavers: Leavers, values: Sequence[Any], *, probe: bool) -> Any:
    """One row per alumnus: the breakdown values, the group they count in that year, and 1 when sustained.

    The destination that counts is the one marked `latest` when it was written
    (storage.destination_marks), read from the index of those rows alone (`ix_destination_latest`):
    one probe per alumnus on SQLite, one index-only range of the year on PostgreSQL; nothing ranked.

    "Cannot be contacted" needs the year's check-in only for alumni with no destination. With
    `probe` (SQLite) an EXISTS inside the CASE looks it up for those alone; otherwise (PostgreSQL)
    the alumni whose check-in ended unanswered are one grouped set, joined: a correlated subquery
    there keeps the planner from hashing the groups and from scanning in parallel."""
    checkin_year = [
        col(Checkin.year_after_leaving) == leavers.year_after_leaving,
        _gave_up(col(Checkin.status), col(Checkin.reminders), leavers.reminders),
    ]
    gave_up_set = (
        sa_select(col(Checkin.person_id).label("person_id"))
        .where(*checkin_year)
        .group_by(col(Checkin.person_id))
        .subquery("gave_up")
    )
    gave_up = (
        exists().where(col(Checkin.person_id) == col(Person.id), *checkin_year)
        if probe
        else gave_up_set.c.person_id.is_not(None)
    )
    conditions = [
        col(Person.school_id) == leavers.school_id,
        col(Person.role) == Role.alumnus.value,
        col(Person.leaving_date).is_not(None),
        col(Person.leaving_date) < leavers.left_before,
    ]
    if leavers.left_from is not None:
        conditions.append(col(Person.leaving_date) >= leavers.left_from)
    # One row per alumnus first, then GROUP BY over it: PostgreSQL will not group by an expression
    # whose EXISTS refers to the ungrouped person id.
    query = (
        sa_select(
            *(v.label(f"v{i}") for i, v in enumerate(values)),
            _group_out(col(Destination.nccis_code), col(Destination.group), gave_up),
            case((col(Destination.held), 1), else_=0).label("held"),
        )
        .select_from(Person)
        .outerjoin(
            Destination,
            and_(
                col(Destination.person_id) == col(Person.id),
                col(Destination.year_after_leaving) == leavers.year_after_leaving,
                col(Destination.latest),  # a bare column: the partial indexes' own term
            ),
        )
    )
    if not probe:
        query = query.outerjoin(gave_up_set, gave_up_set.c.person_id == col(Person.id))
    return query.where(*conditions)


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


def _erased_per_alumnus(leavers: Leavers, values: Sequence[Any]) -> Any:
    """Erased alumni, one row each, as `destination_counts` counts alumni: so a report is the same
    before and after `waymark erase` (storage.erasure keeps these anonymous rows)."""
    now = sa_select(ErasedDestination).where(col(ErasedDestination.year_after_leaving) == leavers.year_after_leaving)
    now_sq = now.subquery("erased_now")
    before_sq = (
        sa_select(ErasedDestination)
        .where(col(ErasedDestination.year_after_leaving) == leavers.year_after_leaving - 1)
        .subquery("erased_before")
    )
    gave_up = _gave_up(now_sq.c.checkin_status, now_sq.c.checkin_reminders, leavers.reminders)
    held = and_(before_sq.c.group == now_sq.c.group, now_sq.c.group.in_(POSITIVE_GROUPS))
    conditions = [
        col(ErasedLeaver.school_id) == leavers.school_id,
        col(ErasedLeaver.leaving_date) < leavers.left_before,
    ]
    if leavers.left_from is not None:
        conditions.append(col(ErasedLeaver.leaving_date) >= leavers.left_from)
    return (
        sa_select(
            *(v.label(f"v{i}") for i, v in enumerate(values)),
            _group_out(now_sq.c.nccis_code, now_sq.c.group, gave_up),
            case((held, 1), else_=0).label("held"),
        )
        .select_from(ErasedLeaver)
        .outerjoin(now_sq, now_sq.c.leaver_id == col(ErasedLeaver.id))
        .outerjoin(before_sq, before_sq.c.leaver_id == col(ErasedLeaver.id))
        .where(*conditions)
    )


# Targeted groups of Gatsby Benchmark 3 ("provision for targeted groups"): name -> the roster condition.
AT_RISK = "At risk of NEET"
TARGETED: tuple[str, ...] = ("SEN support", "EHC plan", "Pupil premium", "FSM", "Looked after", "EAL", AT_RISK)


def at_risk_of_neet(weights: RiskWeights, *, today: date, overdue: Any, guided: Any) -> Any:
    """`handlers.risk.assess` as a SQL condition on a pupil's row, so a page counts the pupils it flags
    in the database. The same factors, weights and threshold, term for term (a test holds the two
    in agreement over a school of pupils): `overdue` is true when the pupil has an overdue action,
    `guided` when they had a guidance conversation this school year."""

    def weight(condition: Any, points: int) -> Any:
        return case((condition, points), else_=0)

    has_next_step = func.coalesce(col(Person.next_step), "") != ""  # as Python's bool(next_step)
    in_spring = today >= spring_term_start(today)
    terms = [
        weight(col(Person.send) == "E", weights.ehc_plan),
        weight(col(Person.send) == "K", weights.send_support),
        weight(col(Person.pupil_premium), weights.pupil_premium),
        weight(col(Person.eal), weights.eal),
        weight(col(Person.looked_after), weights.looked_after),
        weight(col(Person.young_carer), weights.young_carer),
        weight(
            and_(col(Person.attendance).is_not(None), col(Person.attendance) < weights.attendance_below),
            weights.low_attendance,
        ),
        weight(col(Person.exclusions) > 0, weights.exclusions),
        weight(and_(col(Person.year_group).in_(FINAL_YEARS), ~has_next_step), weights.no_next_step if in_spring else 0),
        weight(overdue, weights.overdue_actions),
        weight(~guided, weights.no_guidance_this_year),
    ]
    score = terms[0]
    for term in terms[1:]:
        score = score + term
    return score >= weights.threshold


def at_risk_ids(
    session: Session, school_id: int, weights: RiskWeights, *, year_start_at: datetime, today: date
) -> set[int]:
    """Pupils on roll the SQL form of the rule flags (for holding it to the Python one)."""
    advice, actions = aggregates(today)
    flagged = at_risk_of_neet(
        weights,
        today=today,
        overdue=func.coalesce(actions.c.overdue_count, 0) > 0,
        guided=func.coalesce(advice.c.last_at >= year_start_at, False),
    )
    query = (
        sa_select(col(Person.id))
        .outerjoin(advice, advice.c.pupil_id == col(Person.id))
        .outerjoin(actions, actions.c.pupil_id == col(Person.id))
        .where(*_on_roll(school_id), flagged)
    )
    ids: list[int] = list(session.execute(query).scalars())
    return set(ids)


def _on_roll(school_id: int) -> list[Any]:
    return [
        col(Person.school_id) == school_id,
        col(Person.role) == Role.pupil.value,
        col(Person.status) == PersonStatus.active.value,  # missing and left pupils are not on roll
    ]


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
    session: Session,
    school_id: int,
    *,
    year_start_at: datetime,
    today: date,
    weights: RiskWeights = RiskWeights(),
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
    guided = func.coalesce(advice.c.last_at >= year_start_at, False)
    at_risk = at_risk_of_neet(weights, today=today, overdue=func.coalesce(actions.c.overdue, 0) > 0, guided=guided)
    flags = (
        col(Person.year_group),
        send,
        col(Person.pupil_premium),
        col(Person.fsm),
        col(Person.looked_after),
        col(Person.eal),
        case((at_risk, 1), else_=0),
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
        .where(*_on_roll(school_id))
        .subquery("b3_pupils")
    )
    keys = [per_pupil.c[f"f{i}"] for i in range(len(flags))]
    measures = ("guided", "acted", "done", "open", "overdue", "upper", "next_step", "linked", "wrote", "met")
    query = sa_select(*keys, func.count(), *(func.sum(per_pupil.c[m]) for m in measures)).group_by(*keys)
    found = []
    for year, send_code, premium, fsm, looked_after, eal, risk, n, *sums in _rows(session, query):
        groups = {
            "SEN support": send_code == "K",
            "EHC plan": send_code == "E",
            "Pupil premium": bool(premium),
            "FSM": bool(fsm),
            "Looked after": bool(looked_after),
            "EAL": bool(eal),
            AT_RISK: bool(risk),
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
