"""Erasure: every row about one person goes, the audit trail stays with an anonymous marker.

Table-driven: DELETES says, for each table, which of its rows are about the person; NULLED which
columns merely point at them (a tutor, an action's owner); AUDIT and NOT_PERSONAL the rest.
`tests/test_erasure.py` walks every table of the metadata and fails for one that none of these
covers, so a table added later cannot be forgotten (add its rule here).

The plan (`plan`) counts with exactly the conditions `erase` deletes with, so what
`waymark erase` shows is what goes. Old bytes: SQLite runs with `secure_delete` (storage.db) and
`erase_and_scrub` checkpoints the WAL away afterwards; PostgreSQL vacuums the tables touched.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, false, func, or_, text, true, tuple_
from sqlalchemy import delete as sa_delete
from sqlalchemy import update as sa_update
from sqlmodel import Session, SQLModel, col, select

from core.retention import birthday_limit, schedule_from_json
from storage import audit
from storage.db import is_postgres, transaction
from storage.models import (
    AdviceRecord,
    AgreedAction,
    Application,
    AuditEvent,
    CaseloadAssignment,
    ChatFile,
    ChatIdentity,
    Checkin,
    CheckinLink,
    Concern,
    ConcernNote,
    ConcernStatus,
    Consent,
    ConversationState,
    Destination,
    EnrolmentCode,
    ErasedDestination,
    ErasedLeaver,
    JournalEntry,
    LinkAttempt,
    OutboxMessage,
    Person,
    PersonStatus,
    Role,
    School,
    TranscriptLine,
    UnreadableUpdate,
    WebSession,
)

ERASE_PERSON = "erase_person"  # audit action
MARKER_PREFIX = "erased-"  # an erased person in the audit log: erased-3f9a1c2b
# Journal and advice words shorter than this are too common to find one person by ("yes", "ok").
MIN_WORDS_NEEDLE = 12
# The mode erasure and retention SET LOCAL on PostgreSQL; the audit trigger (migration 0006)
# refuses any other UPDATE or DELETE of the audit log.
AUDIT_CHANGE = "waymark.audit_change"


@dataclass(frozen=True)
class Target:
    """One person, and every way rows elsewhere can point at them or name them."""

    person_id: int
    school_id: int
    accounts: tuple[tuple[str, str], ...]  # (platform, external_id) of every chat account and web session
    needles: tuple[str, ...]  # names, UPN, email: found in others' transcripts, outbox, state, audit detail
    words: tuple[str, ...]  # what they wrote or had written about them, long enough to be theirs

    @property
    def identity_keys(self) -> list[str]:
        return [f"{platform}:{external}" for platform, external in self.accounts]


Rule = Callable[[Target], ColumnElement[bool]]


def _mentions(columns: Iterable[Any], needles: Iterable[str]) -> ColumnElement[bool]:
    """Any of `columns` contains any needle (any case; JSON-escaped too, for payloads and state)."""
    variants: set[str] = set()
    for needle in needles:
        variants.add(needle.lower())
        variants.add(json.dumps(needle)[1:-1].lower())
    clauses = [func.lower(c).contains(v, autoescape=True) for c in columns for v in sorted(variants) if v]
    return or_(false(), *clauses)


def _accounts_in(platform: Any, external_id: Any, target: Target) -> ColumnElement[bool]:
    if not target.accounts:
        return false()
    return tuple_(platform, external_id).in_(list(target.accounts))


def _staff_of(target: Target) -> Any:
    return select(col(Person.id)).where(col(Person.school_id) == target.school_id, col(Person.role) == Role.staff.value)


def _advice_ids(target: Target) -> Any:
    return select(col(AdviceRecord.id)).where(col(AdviceRecord.pupil_id) == target.person_id)


def _concern_ids(target: Target) -> Any:
    return select(col(Concern.id)).where(col(Concern.subject_id) == target.person_id)


# Order matters: rows that point at others go first (foreign keys).
DELETES: dict[str, tuple[type[SQLModel], Rule]] = {
    "agreedaction": (
        AgreedAction,
        lambda t: or_(col(AgreedAction.pupil_id) == t.person_id, col(AgreedAction.advice_id).in_(_advice_ids(t))),
    ),
    "advicerecord": (AdviceRecord, lambda t: col(AdviceRecord.pupil_id) == t.person_id),
    "journalentry": (JournalEntry, lambda t: col(JournalEntry.person_id) == t.person_id),
    "application": (Application, lambda t: col(Application.person_id) == t.person_id),
    "destination": (Destination, lambda t: col(Destination.person_id) == t.person_id),
    "checkin": (Checkin, lambda t: col(Checkin.person_id) == t.person_id),
    "checkinlink": (CheckinLink, lambda t: col(CheckinLink.person_id) == t.person_id),
    "consent": (Consent, lambda t: col(Consent.person_id) == t.person_id),
    "enrolmentcode": (EnrolmentCode, lambda t: col(EnrolmentCode.person_id) == t.person_id),
    "websession": (WebSession, lambda t: col(WebSession.person_id) == t.person_id),
    "caseloadassignment": (
        CaseloadAssignment,
        lambda t: or_(col(CaseloadAssignment.staff_id) == t.person_id, col(CaseloadAssignment.pupil_id) == t.person_id),
    ),
    # Their own conversation, and a tutor's half-finished one about them.
    "conversationstate": (
        ConversationState,
        lambda t: _accounts_in(col(ConversationState.platform), col(ConversationState.external_id), t),
    ),
    "linkattempt": (LinkAttempt, lambda t: _accounts_in(col(LinkAttempt.platform), col(LinkAttempt.external_id), t)),
    # Their transcript, and lines of staff transcripts that showed them (a tutor's /pupil view).
    "transcriptline": (
        TranscriptLine,
        lambda t: or_(
            col(TranscriptLine.person_id) == t.person_id, col(TranscriptLine.identity_key).in_(t.identity_keys)
        ),
    ),
    # Messages to them, and messages to staff that name them (alerts, "looking for work" notices).
    "outboxmessage": (
        OutboxMessage,
        lambda t: col(OutboxMessage.person_id) == t.person_id,
    ),
    "concernnote": (ConcernNote, lambda t: col(ConcernNote.concern_id).in_(_concern_ids(t))),
    "concern": (Concern, lambda t: col(Concern.subject_id) == t.person_id),
    "chatfile": (
        ChatFile,
        lambda t: or_(col(ChatFile.person_id) == t.person_id, col(ChatFile.identity_key).in_(t.identity_keys)),
    ),
    "unreadableupdate": (UnreadableUpdate, lambda t: col(UnreadableUpdate.identity_key).in_(t.identity_keys)),
    "chatidentity": (ChatIdentity, lambda t: col(ChatIdentity.person_id) == t.person_id),
    "person": (Person, lambda t: col(Person.id) == t.person_id),
}
# Rows of others that may name them or quote their words (a tutor's view of their record in the web
# transcript, an alert to the DSL, a tutor's half-finished conversation about them): the text
# columns to search, and which rows to search (staff of the school, and no one's).
MENTIONS: dict[str, tuple[type[SQLModel], tuple[str, ...], Callable[[Target], ColumnElement[bool]]]] = {
    "conversationstate": (ConversationState, ("data",), lambda t: true()),
    "transcriptline": (
        TranscriptLine,
        ("text", "payload"),
        lambda t: or_(col(TranscriptLine.person_id).is_(None), col(TranscriptLine.person_id).in_(_staff_of(t))),
    ),
    "outboxmessage": (
        OutboxMessage,
        ("text", "buttons"),
        lambda t: col(OutboxMessage.person_id).in_(_staff_of(t)),
    ),
}
SCAN_BATCH = 2000
# Columns of other people's rows that point at the person: set to NULL.
NULLED: dict[str, tuple[type[SQLModel], tuple[str, ...]]] = {
    "person": (Person, ("tutor_id",)),
    "agreedaction": (AgreedAction, ("owner_id",)),
    "concern": (Concern, ("raised_by_id", "acknowledged_by_id", "closed_by_id")),
}
# Staff only: what they wrote into pupils' records stays with the pupil (it is the pupil's record),
# so their person row stays as "Former member of staff" with nothing personal left in it.
AUTHORED: dict[str, Any] = {
    "advicerecord": col(AdviceRecord.staff_id),
    "concernnote": col(ConcernNote.author_id),
}
AUDIT = {"auditevent": "kept; actor or subject replaced by an anonymous marker, names in the detail too"}
NOT_PERSONAL: dict[str, str] = {
    "school": "the school's own settings; an erased email is taken out of its safeguarding contacts",
    "processedupdate": "platform update ids only, to drop redeliveries; nothing links them to a person",
    "schedulerlease": "which process runs the scheduler",
    "keycheck": "a check value of the encryption key (never the key); nothing about anyone",
    "signinaddress": "a keyed hash of a network address, linked to no one; gone minutes after its last wrong code",
    "slackrequestseen": "hashes of Slack requests already handled; nothing about anyone",
    "erasedleaver": "anonymous by construction: what an erased alumnus leaves for the reports",
    "eraseddestination": "anonymous by construction: an erased alumnus's outcome per year",
}


def coverage() -> dict[str, str]:
    """What erasure does to every table it knows; tests compare it with the metadata."""
    found = {name: "rows about the person deleted" for name in DELETES}
    for name in NULLED:
        found[name] = found.get(name, "") + "; pointers to them set to nothing"
    return {**found, **AUDIT, **NOT_PERSONAL}


class ErasureRefused(Exception):
    """The person may not be erased yet; the message says why in a sentence."""


@dataclass
class Plan:
    person: Person
    target: Target
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows deleted
    ids: dict[str, list[int]] = field(default_factory=dict)  # table -> the ids of those rows
    audit_events: int = 0  # anonymised, kept
    keeps_statistics: bool = False  # an alumnus: one anonymous row for the destination reports
    keeps_staff_placeholder: bool = False


def _target(session: Session, person: Person) -> Target:
    assert person.id is not None
    identities = session.exec(select(ChatIdentity).where(col(ChatIdentity.person_id) == person.id)).all()
    sessions = session.exec(select(WebSession).where(col(WebSession.person_id) == person.id)).all()
    accounts = {(i.platform, i.external_id) for i in identities} | {("web", s.external_id) for s in sessions}
    needles = [person.full_name, f"{person.family_name}, {person.given_name}"]
    needles += [v for v in (person.upn, person.email) if v]
    needles += [external for _, external in accounts if len(external) >= 6]
    texts: list[str] = []
    for query in (
        select(JournalEntry.text).where(col(JournalEntry.person_id) == person.id),
        select(JournalEntry.learned).where(col(JournalEntry.person_id) == person.id),
        select(AdviceRecord.summary).where(col(AdviceRecord.pupil_id) == person.id),
        select(AgreedAction.text).where(col(AgreedAction.pupil_id) == person.id),
    ):
        texts += [str(t) for t in session.exec(query).all()]
    words = sorted({t.strip() for t in texts if len(t.strip()) >= MIN_WORDS_NEEDLE})
    return Target(person.id, person.school_id, tuple(sorted(accounts)), tuple(dict.fromkeys(needles)), tuple(words))


def _authored(session: Session, person_id: int) -> bool:
    return any(session.exec(select(func.count()).where(column == person_id)).one() > 0 for column in AUTHORED.values())


def _pattern(target: Target) -> re.Pattern[str]:
    """One case-blind pattern for every needle and word, plain and JSON-escaped (payloads, state)."""
    forms = {f for w in target.needles + target.words for f in (w, json.dumps(w)[1:-1]) if f}
    return re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)), re.IGNORECASE)


def _mentioning(session: Session, table: str, target: Target) -> set[int]:
    """Ids of others' rows in `table` that name the person or quote their words, found by streaming
    the candidate rows (one regular expression in Python: thousands of LIKEs would cost more)."""
    if table not in MENTIONS:
        return set()
    model, columns, scope = MENTIONS[table]
    pattern = _pattern(target)
    found: set[int] = set()
    model_any: Any = model
    after = 0
    while True:
        rows = session.execute(
            select(col(model_any.id), *(getattr(model_any, c) for c in columns))
            .where(scope(target), col(model_any.id) > after)
            .order_by(col(model_any.id))
            .limit(SCAN_BATCH)
        ).all()
        found |= {int(row[0]) for row in rows if any(v and pattern.search(str(v)) for v in row[1:])}
        if len(rows) < SCAN_BATCH:
            return found
        after = int(rows[-1][0])


def refusal(session: Session, person: Person, today: date) -> str | None:
    """Why this person may not be erased yet, or None: a safeguarding concern about them that is
    open, or closed but inside the school's retention period for safeguarding records."""
    concerns = session.exec(select(Concern).where(col(Concern.subject_id) == person.id)).all()
    if not concerns:
        return None
    if any(c.status != ConcernStatus.closed.value for c in concerns):
        return (
            f"{person.full_name} has a safeguarding concern that is still open. "
            "The safeguarding lead must close it first (`waymark safeguarding close`)."
        )
    school = session.get(School, person.school_id)
    assert school is not None
    limit = birthday_limit(
        schedule_from_json(school.retention)["safeguarding"], person.date_of_birth, person.leaving_date
    )
    if limit is None or limit > today:
        until = limit.isoformat() if limit else "a date of birth or leaving date is known"
        return (
            f"{person.full_name} has safeguarding records the school must keep until {until} "
            "(retention schedule: `waymark school retention`). They can be erased after that."
        )
    return None


def plan(session: Session, person: Person) -> Plan:
    target = _target(session, person)
    found = Plan(person=person, target=target)
    staff_placeholder = person.role == Role.staff.value and _authored(session, target.person_id)
    for name, (model, rule) in DELETES.items():
        if name == "person" and staff_placeholder:
            continue
        ids = {int(i) for i in session.exec(select(col(model.id)).where(rule(target))).all()}  # type: ignore[attr-defined]
        ids |= _mentioning(session, name, target)
        if ids:
            found.ids[name] = sorted(ids)
            found.rows[name] = len(ids)
    found.audit_events = session.exec(
        select(func.count()).where(
            or_(col(AuditEvent.actor_id) == target.person_id, col(AuditEvent.subject_id) == target.person_id)
        )
    ).one()
    found.keeps_statistics = person.role == Role.alumnus.value and person.leaving_date is not None
    found.keeps_staff_placeholder = staff_placeholder
    return found


def allow_audit_change(session: Session, why: str) -> None:
    """On PostgreSQL, let this transaction update or delete audit rows (erasure or retention)."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.connection().execute(text("SELECT set_config(:name, :why, true)"), {"name": AUDIT_CHANGE, "why": why})


def _keep_statistics(session: Session, person: Person) -> None:
    """One anonymous row for the destination reports, with the outcome of every year they had."""
    assert person.leaving_date is not None
    leaver = ErasedLeaver(
        school_id=person.school_id,
        leaving_date=person.leaving_date,
        gender=person.gender,
        ethnicity=person.ethnicity,
        send=person.send,
        pupil_premium=person.pupil_premium,
        fsm=person.fsm,
        eal=person.eal,
        looked_after=person.looked_after,
    )
    session.add(leaver)
    session.flush()
    assert leaver.id is not None
    latest: dict[int, Destination] = {}
    for row in session.exec(
        select(Destination)
        .where(col(Destination.person_id) == person.id)
        .order_by(col(Destination.reported_at), col(Destination.id))
    ).all():
        latest[row.year_after_leaving] = row  # the last one reported wins, as in the report
    checkins = {
        c.year_after_leaving: c for c in session.exec(select(Checkin).where(col(Checkin.person_id) == person.id)).all()
    }
    for year in sorted(set(latest) | set(checkins)):
        destination, checkin = latest.get(year), checkins.get(year)
        session.add(
            ErasedDestination(
                leaver_id=leaver.id,
                year_after_leaving=year,
                group=destination.group if destination else None,
                nccis_code=destination.nccis_code if destination else None,
                checkin_status=checkin.status if checkin else None,
                checkin_reminders=checkin.reminders if checkin else 0,
            )
        )


def _scrub(detail: str, needles: Iterable[str], marker: str) -> str:
    for needle in sorted(needles, key=len, reverse=True):
        start = detail.lower().find(needle.lower())
        while start >= 0:
            detail = detail[:start] + marker + detail[start + len(needle) :]
            start = detail.lower().find(needle.lower(), start + len(marker))
    return detail


def _anonymise_audit(session: Session, target: Target, marker: str) -> None:
    pid = target.person_id
    session.execute(
        sa_update(AuditEvent).where(col(AuditEvent.actor_id) == pid).values(actor_id=None, actor_marker=marker)
    )
    session.execute(
        sa_update(AuditEvent).where(col(AuditEvent.subject_id) == pid).values(subject_id=None, subject_marker=marker)
    )
    named = session.exec(
        select(AuditEvent).where(
            or_(
                col(AuditEvent.actor_marker) == marker,
                col(AuditEvent.subject_marker) == marker,
                _mentions([col(AuditEvent.detail)], target.needles),
            )
        )
    ).all()
    for event in named:
        scrubbed = _scrub(event.detail, target.needles, marker)
        if scrubbed != event.detail:
            event.detail = scrubbed
            session.add(event)


def _make_placeholder(person: Person) -> None:
    person.given_name, person.family_name = "Former member", "of staff"
    person.email = person.upn = person.date_of_birth = person.form = person.gender = person.ethnicity = None
    person.status = PersonStatus.left.value
    person.staff_role, person.other_staff_roles = None, ""


def erase(session: Session, person: Person, *, now: datetime, keep_statistics: bool = True, why: str = "") -> Plan:
    """Remove everything about `person` in this transaction; the caller has checked `refusal`."""
    found = plan(session, person)
    target = found.target
    marker = f"{MARKER_PREFIX}{secrets.token_hex(4)}"
    allow_audit_change(session, "erasure")
    if found.keeps_statistics and keep_statistics:
        _keep_statistics(session, person)
    else:
        found.keeps_statistics = False
    for model, columns in NULLED.values():
        for column in columns:
            session.execute(sa_update(model).where(getattr(model, column) == target.person_id).values({column: None}))
    _anonymise_audit(session, target, marker)
    if person.email:
        school = session.get(School, person.school_id)
        if school is not None and person.email.lower() in school.safeguarding_contacts.lower():
            lines = [a for a in school.safeguarding_contacts.splitlines() if a.strip().lower() != person.email.lower()]
            school.safeguarding_contacts = "\n".join(lines)
            session.add(school)
    session.flush()
    for name, (model, _rule) in DELETES.items():
        if name == "person" and found.keeps_staff_placeholder:
            _make_placeholder(person)
            session.add(person)
            continue
        if name == "person":
            session.expunge(person)
        ids = found.ids.get(name, [])
        model_any: Any = model
        for start in range(0, len(ids), SCAN_BATCH):
            chunk = ids[start : start + SCAN_BATCH]
            session.execute(
                sa_delete(model).where(col(model_any.id).in_(chunk)).execution_options(synchronize_session=False)
            )
    audit.record(
        session,
        school_id=target.school_id,
        actor_id=None,
        action=ERASE_PERSON,
        subject_id=None,
        now=now,
        detail=why or f"erased: {sum(found.rows.values())} rows in {len(found.rows)} tables",
    ).subject_marker = marker
    return found


def scrub_files(engine: Engine, tables: Iterable[str]) -> str:
    """After the deleting transaction: get the old bytes out of the database files.

    SQLite: secure_delete (storage.db) zeroed the freed space; a TRUNCATE checkpoint copies the
    pages back into the file and empties the WAL, where older copies of the pages lay. PostgreSQL:
    VACUUM marks the dead rows' space free; it is overwritten only as it is reused (README)."""
    if is_postgres(engine):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in sorted(set(tables)):
                conn.exec_driver_sql(f'VACUUM "{table}"')
        return "vacuumed " + ", ".join(sorted(set(tables)))
    with engine.connect() as conn:
        busy, _log, _done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
        conn.commit()
    if busy:
        return "the WAL could not be emptied now (another process is reading): it will be at the next checkpoint"
    return "database file scrubbed and its WAL emptied"


def erase_and_scrub(
    engine: Engine,
    person_id: int,
    *,
    now: datetime,
    keep_statistics: bool = True,
    why: str = "",
    scrub: bool = True,
) -> tuple[Plan, str]:
    """Erase one person in one transaction, then clean the files (unless the caller will, once,
    after many: retention). Refuses as `refusal` says."""
    with transaction(engine) as session:
        person = session.get(Person, person_id)
        if person is None:
            raise ErasureRefused("That person is not in the database any more.")
        reason = refusal(session, person, now.date())
        if reason:
            raise ErasureRefused(reason)
        done = erase(session, person, now=now, keep_statistics=keep_statistics, why=why)
    return done, scrub_files(engine, set(done.rows) | {"auditevent", "person"}) if scrub else "files not scrubbed yet"
