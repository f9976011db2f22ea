"""Applying a school's retention schedule (core.retention): find what is past it, and remove it.

Each Rule names a kind of the schedule, a table, and the condition that picks that table's rows
past the school's duration. `run` walks the rules in batches by id (flat memory, however large the
school), and either lists the rows (a dry run) or removes them and lists the same rows: a dry run
lists exactly what a real run removes. A careers record past its time is erased whole
(storage.erasure), keeping the anonymous row the destination reports count.

Wrong-code counts and transcripts of web visitors who never signed in belong to no school: a last
pass applies the default schedule to them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, func, or_
from sqlalchemy import delete as sa_delete
from sqlalchemy import update as sa_update
from sqlmodel import Session, SQLModel, col, select

from core.retention import DEFAULTS, Duration, add_years, born_before, cutoff, left_before, schedule_from_json
from storage import erasure
from storage.consents import ConsentKind, latest_ids_subquery
from storage.db import transaction
from storage.models import (
    AuditEvent,
    ChatFile,
    ChatIdentity,
    CheckinLink,
    Concern,
    ConcernNote,
    ConcernStatus,
    Consent,
    EnrolmentCode,
    LinkAttempt,
    OutboxMessage,
    Person,
    Role,
    School,
    SignInAddress,
    TranscriptLine,
    UnreadableUpdate,
    WebSession,
)

BATCH = 500


@dataclass(frozen=True)
class Scope:
    """Whose rows a pass looks at, under which schedule, as of when."""

    school_id: int | None  # None: the last pass, rows that belong to no school (defaults)
    schedule: dict[str, Duration]
    now: datetime
    campaign_years: int

    def cut(self, kind: str) -> datetime:
        return cutoff(self.schedule[kind], self.now)


@dataclass(frozen=True)
class Removal:
    kind: str
    table: str
    row_id: int
    why: str


@dataclass(frozen=True)
class Rule:
    kind: str
    model: type[SQLModel]
    condition: Callable[[Scope], ColumnElement[bool]]
    why: str
    action: str = "delete"  # delete | erase (a whole person) | forget_email
    passes: str = "school"  # school | last (rows of no school) | both


def _people(scope: Scope) -> Any:
    return select(col(Person.id)).where(col(Person.school_id) == scope.school_id)


def _past_birth_rule(kind: str, scope: Scope) -> ColumnElement[bool]:
    """People past `age:N` (their Nth birthday; leaving date + N - 16 years with no date of birth),
    or past a day or year duration counted from their leaving date."""
    duration = scope.schedule[kind]
    today = scope.now.date()
    if duration.age is None:
        return and_(col(Person.leaving_date).is_not(None), col(Person.leaving_date) < scope.cut(kind).date())
    return or_(
        col(Person.date_of_birth) < born_before(duration, today),
        and_(col(Person.date_of_birth).is_(None), col(Person.leaving_date) < left_before(duration, today)),
    )


def _records_due(scope: Scope) -> ColumnElement[bool]:
    return and_(
        col(Person.school_id) == scope.school_id,
        col(Person.role).in_([Role.pupil.value, Role.alumnus.value]),
        _past_birth_rule("careers_record", scope),
    )


def _concerns_due(scope: Scope) -> ColumnElement[bool]:
    subjects = select(col(Person.id)).where(
        col(Person.school_id) == scope.school_id, _past_birth_rule("safeguarding", scope)
    )
    return and_(col(Concern.status) == ConcernStatus.closed.value, col(Concern.subject_id).in_(subjects))


def _contacts_ended(scope: Scope) -> Any:
    """Alumni whose check-ins have ended (the last campaign year is over) or who said /stop, at
    least the school's `alumni_contacts` duration ago."""
    cut = scope.cut("alumni_contacts")
    ended_by = add_years(cut.date(), -(scope.campaign_years + 1))
    latest = latest_ids_subquery(ConsentKind.yearly_checkin)
    stopped = (
        select(col(Consent.person_id))
        .join(latest, latest.c.consent_id == col(Consent.id))
        .where(col(Consent.granted).is_(False), col(Consent.recorded_at) < cut)
    )
    return select(col(Person.id)).where(
        col(Person.school_id) == scope.school_id,
        col(Person.role) == Role.alumnus.value,
        or_(col(Person.leaving_date) < ended_by, col(Person.id).in_(stopped)),
    )


def _stale_files(scope: Scope) -> ColumnElement[bool]:
    """Files the web chat offered go with the words around them: after the transcripts' time."""
    old = col(ChatFile.created_at) < scope.cut("transcripts")
    if scope.school_id is None:
        return and_(old, col(ChatFile.person_id).is_(None))
    return and_(old, col(ChatFile.person_id).in_(_people(scope)))


def _stale_transcripts(scope: Scope) -> ColumnElement[bool]:
    stale = (
        select(col(TranscriptLine.identity_key))
        .group_by(col(TranscriptLine.identity_key))
        .having(func.max(col(TranscriptLine.created_at)) < scope.cut("transcripts"))
    )
    signed_in = select(col(TranscriptLine.identity_key)).where(col(TranscriptLine.person_id).is_not(None))
    if scope.school_id is None:
        owned = col(TranscriptLine.identity_key).not_in(signed_in)
    else:
        owned = col(TranscriptLine.identity_key).in_(
            select(col(TranscriptLine.identity_key)).where(col(TranscriptLine.person_id).in_(_people(scope)))
        )
    return and_(col(TranscriptLine.identity_key).in_(stale), owned)


RULES: tuple[Rule, ...] = (
    Rule(
        "codes",
        EnrolmentCode,
        lambda s: and_(
            col(EnrolmentCode.used_at).is_(None),
            col(EnrolmentCode.expires_at) < s.cut("codes"),
            col(EnrolmentCode.person_id).in_(_people(s)),
        ),
        "unused enrolment code past its expiry",
    ),
    Rule(
        "codes",
        LinkAttempt,
        lambda s: func.coalesce(col(LinkAttempt.locked_until), col(LinkAttempt.first_failure_at)) < s.cut("codes"),
        "wrong-code count",
        passes="last",
    ),
    Rule(
        "codes",
        SignInAddress,
        # Housekeeping deletes these within minutes of expires_at; this is the schedule's word on them.
        lambda s: col(SignInAddress.expires_at) < s.cut("codes"),
        "wrong-code count of a network address (hashed)",
        passes="last",
    ),
    Rule(
        "outbox",
        OutboxMessage,
        lambda s: and_(
            col(OutboxMessage.status) == "sent",
            col(OutboxMessage.sent_at) < s.cut("outbox"),
            col(OutboxMessage.person_id).in_(_people(s)),
        ),
        "delivered message",
    ),
    Rule("transcripts", TranscriptLine, _stale_transcripts, "transcript line", passes="both"),
    Rule("transcripts", ChatFile, _stale_files, "file offered in the web chat", passes="both"),
    Rule(
        "transcripts",
        UnreadableUpdate,
        lambda s: col(UnreadableUpdate.at) < s.cut("transcripts"),
        "unreadable chat update",
        passes="last",
    ),
    Rule(
        "audit",
        AuditEvent,
        lambda s: and_(col(AuditEvent.school_id) == s.school_id, col(AuditEvent.at) < s.cut("audit")),
        "audit entry",
    ),
    Rule(
        "alumni_contacts",
        ChatIdentity,
        lambda s: col(ChatIdentity.person_id).in_(_contacts_ended(s)),
        "alumnus's chat account",
    ),
    Rule("alumni_contacts", WebSession, lambda s: col(WebSession.person_id).in_(_contacts_ended(s)), "web session"),
    Rule("alumni_contacts", CheckinLink, lambda s: col(CheckinLink.person_id).in_(_contacts_ended(s)), "check-in link"),
    Rule(
        "alumni_contacts",
        Person,
        lambda s: and_(col(Person.email).is_not(None), col(Person.id).in_(_contacts_ended(s))),
        "alumnus's email address",
        action="forget_email",
    ),
    Rule(
        "safeguarding",
        ConcernNote,
        lambda s: col(ConcernNote.concern_id).in_(select(col(Concern.id)).where(_concerns_due(s))),
        "note on a closed concern",
    ),
    Rule("safeguarding", Concern, _concerns_due, "closed safeguarding concern"),
    Rule("careers_record", Person, _records_due, "careers record (the whole record, erased)", action="erase"),
)
# Tables retention does not touch, and why (tests/test_retention.py checks every table is named).
NOT_RETAINED: dict[str, str] = {
    "school": "the school's own settings",
    "person": "staff rows: a school removes staff with the roster; pupils and alumni go with careers_record",
    "caseloadassignment": "goes with the pupil's careers record (erasure)",
    "journalentry": "part of the careers record (erasure)",
    "application": "part of the careers record (erasure)",
    "advicerecord": "part of the careers record (erasure)",
    "agreedaction": "part of the careers record (erasure)",
    "destination": "part of the careers record (erasure)",
    "checkin": "part of the careers record (erasure)",
    "consent": "part of the careers record (erasure)",
    "conversationstate": "one row per chat account, overwritten as it talks; goes with the chat account",
    "processedupdate": "pruned after 30 days by the housekeeping job; holds no personal data",
    "schedulerlease": "which process runs the scheduler",
    "keycheck": "a check value of the encryption key (never the key); nothing about anyone",
    "slackrequestseen": "hashes of Slack requests, deleted by housekeeping once Slack would refuse a replay (minutes)",
    "erasedleaver": "anonymous: kept for destination reports",
    "eraseddestination": "anonymous: kept for destination reports",
}


def _table(rule: Rule) -> str:
    return str(rule.model.__tablename__)


def coverage() -> dict[str, str]:
    found = {_table(rule): rule.kind for rule in RULES}
    return {**NOT_RETAINED, **found}


def _ids(session: Session, rule: Rule, scope: Scope, after: int) -> list[int]:
    model: Any = rule.model
    query = select(col(model.id)).where(rule.condition(scope), col(model.id) > after).order_by(col(model.id))
    return [int(i) for i in session.exec(query.limit(BATCH)).all()]


def _remove(engine: Engine, rule: Rule, ids: list[int], now: datetime) -> list[int]:
    """Remove these rows; returns the ids actually removed (a person who may not be erased stays)."""
    model: Any = rule.model
    if rule.action == "erase":
        done: list[int] = []
        for person_id in ids:
            try:
                erasure.erase_and_scrub(
                    engine, person_id, now=now, why="retention: careers record past its time", scrub=False
                )
            except erasure.ErasureRefused:
                continue
            done.append(person_id)
        return done
    with transaction(engine) as session:
        if rule.model is AuditEvent:
            erasure.allow_audit_change(session, "retention")
        if rule.action == "forget_email":
            session.execute(sa_update(Person).where(col(Person.id).in_(ids)).values(email=None))
        else:
            session.execute(sa_delete(model).where(col(model.id).in_(ids)).execution_options(synchronize_session=False))
    return ids


def _erasable(engine: Engine, ids: list[int], today: date) -> list[int]:
    """Of these people, those erasure would not refuse (a concern still kept), as a real run does."""
    with transaction(engine, write=False) as session:
        people = session.exec(select(Person).where(col(Person.id).in_(ids))).all()
        return [p.id for p in people if p.id is not None and erasure.refusal(session, p, today) is None]


def _pass(engine: Engine, scope: Scope, *, dry_run: bool) -> Iterator[Removal]:
    for rule in RULES:
        if rule.passes != "both" and (rule.passes == "last") != (scope.school_id is None):
            continue
        table = _table(rule)
        after = 0
        while True:
            with transaction(engine, write=False) as session:
                ids = _ids(session, rule, scope, after)
            if not ids:
                break
            after = ids[-1]
            if dry_run:
                chosen = _erasable(engine, ids, scope.now.date()) if rule.action == "erase" else ids
            else:
                chosen = _remove(engine, rule, ids, scope.now)
            for row_id in chosen:
                yield Removal(rule.kind, table, row_id, rule.why)


def run(
    engine: Engine, school_ids: Sequence[int], *, now: datetime, campaign_years: int, dry_run: bool = False
) -> Iterator[Removal]:
    """Every school's schedule, then the defaults for rows of no school; one Removal per row."""
    for school_id in school_ids:
        with transaction(engine, write=False) as session:
            school = session.get(School, school_id)
            assert school is not None
            schedule = schedule_from_json(school.retention)
        yield from _pass(engine, Scope(school_id, schedule, now, campaign_years), dry_run=dry_run)
    yield from _pass(engine, Scope(None, dict(DEFAULTS), now, campaign_years), dry_run=dry_run)
    if not dry_run:
        # Once for the whole run: erasures above left it to here.
        erasure.scrub_files(engine, [*erasure.DELETES, "auditevent"])
