"""Everything held about one person, for a subject access request or for their own copy.

`collect` reads each table once (a query per table, none per row) into a `SubjectRecord`: a list of
`Part`s, one per table, each holding the table's own rows. Renderers (reports/subject_access.py)
write every column of those rows, so a column added to a table later appears in exports unasked.
Encrypted columns are never written as bytes: `Entry.clear` holds their decrypted text, and only
in the school's full export; a person's own copy leaves out staff-only notes and safeguarding
records entirely (they are not even read).

`PARTS` names every table and how it relates to a person; `NOT_PERSONAL` names the few tables
that hold nothing about anyone, with the reason. tests/test_subject_access.py checks that the two
cover every table in the metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import false, or_, tuple_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, SQLModel, col, select

from storage import crypto
from storage.encrypted import COLUMNS
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
    Consent,
    ConversationState,
    Destination,
    EnrolmentCode,
    JournalEntry,
    LinkAttempt,
    OutboxMessage,
    Person,
    School,
    TranscriptLine,
    UnreadableUpdate,
    WebSession,
)

SCHEMA = "waymark-subject-access/1"

# Tables that hold nothing about any person (each with why), so the export need not read them.
NOT_PERSONAL: dict[str, str] = {
    "school": "the school's own settings; its name heads every export",
    "processedupdate": "platform update ids kept to drop redelivered updates; no person, no words",
    "schedulerlease": "which process runs the scheduler",
    "keycheck": "a check value of the encryption key (never the key); nothing about anyone",
    "signinaddress": "wrong sign-in codes per network address, as a keyed hash linked to no one; "
    "deleted within minutes of the last wrong code (housekeeping)",
    "slackrequestseen": "hashes of Slack requests already handled, to refuse replays; nothing about anyone",
    "erasedleaver": "anonymous: what destination reports need of an erased alumnus, with no name, id or words",
    "eraseddestination": "anonymous: the erased alumni's destination groups, for the reports",
}

# Columns never written out: credentials. They say nothing about the person and would weaken the
# protection of their account if a copy went astray. The schema (docs/record-schema.md) lists them.
WITHHELD: dict[str, frozenset[str]] = {
    "enrolmentcode": frozenset({"code_hash"}),
    "websession": frozenset({"token_hash", "csrf_token"}),
    "checkinlink": frozenset({"token_hash"}),
}

# Encrypted columns, from the one list of them (storage.encrypted): in the school's export as
# decrypted text (marked for review), never as bytes. JSON documents that hold tokens (conversation
# state, transcript payloads) are written as stored.
ENCRYPTED: dict[str, frozenset[str]] = {
    table: frozenset(c.name for c in COLUMNS if c.model.__tablename__ == table and not c.json)
    for table in sorted({str(c.model.__tablename__) for c in COLUMNS if not c.json})
}

UNREADABLE = "(cannot be read: it was encrypted with another key, or WAYMARK_ENCRYPTION_KEY is not set)"


@dataclass(frozen=True)
class PartInfo:
    title: str
    relation: str  # how these rows are about the person, for the reader of the export
    own_copy: bool  # in the person's own copy (the chat's /export)
    review: bool = False  # staff-only or safeguarding: the DPO reviews it before release


PARTS: dict[str, PartInfo] = {
    "person": PartInfo("Roster details", "the person's own row", True),
    "chatidentity": PartInfo("Chat accounts", "chat accounts linked to the person", True),
    "websession": PartInfo("Web chat sessions", "the person's web chat sign-ins", True),
    "enrolmentcode": PartInfo("Sign-in codes", "codes issued to the person (the codes themselves are not kept)", False),
    "linkattempt": PartInfo("Wrong sign-in codes", "wrong codes typed from the person's chat accounts", False),
    "caseloadassignment": PartInfo("Caseload", "assignments of the person to staff, or of pupils to them", False),
    "journalentry": PartInfo("Journal and encounters", "what the person wrote in their journal", True),
    "application": PartInfo("Applications", "where the person applied for their next step", True),
    "advicerecord": PartInfo(
        "Advice conversations", "conversations with the person, or recorded by them (staff)", True, review=True
    ),
    "agreedaction": PartInfo("Agreed actions", "actions agreed with the person, or owned by them (staff)", True),
    "destination": PartInfo("Destinations", "where the person went after leaving", True),
    "consent": PartInfo("Consents", "what the person agreed to, and when", True),
    "checkin": PartInfo("Yearly check-ins", "check-in messages sent to the person", True),
    "checkinlink": PartInfo("Check-in links", "one-time links emailed to the person", False),
    "outboxmessage": PartInfo("Messages sent", "messages queued for the person", False),
    "transcriptline": PartInfo(
        "Chat transcripts", "what was said on the web chat and terminal by or to the person", False
    ),
    "unreadableupdate": PartInfo(
        "Unreadable chat updates", "updates from the person's chat account the bot could not read", False
    ),
    "chatfile": PartInfo("Files offered in the web chat", "files the web chat offered the person", False),
    "conversationstate": PartInfo("Conversation in progress", "where the person's chats are in a conversation", False),
    "auditevent": PartInfo("Audit log", "entries about the person, and entries of what they did or read", False),
    "concern": PartInfo(
        "Safeguarding concerns", "concerns about the person, or raised by them (staff)", False, review=True
    ),
    "concernnote": PartInfo(
        "Safeguarding notes", "notes on those concerns, or written by the person (staff)", False, review=True
    ),
}


@dataclass(frozen=True)
class Entry:
    row: SQLModel
    clear: dict[str, str] = field(default_factory=dict)  # encrypted columns, decrypted (school export only)


@dataclass(frozen=True)
class Part:
    table: str
    info: PartInfo
    entries: list[Entry]


@dataclass(frozen=True)
class SubjectRecord:
    school: School
    person: Person
    own_copy: bool
    made_at: datetime
    parts: list[Part]
    names: dict[int, str]  # the people the rows name by id (tutors, staff, actors), for readers

    def part(self, table: str) -> Part | None:
        return next((p for p in self.parts if p.table == table), None)


def columns_of(table: str) -> list[str]:
    """The columns of a table in their defined order."""
    return [c.name for c in SQLModel.metadata.tables[table].columns]


def _rows(session: Session, model: type[SQLModel], where: ColumnElement[bool]) -> list[Any]:
    pk = model.__table__.primary_key.columns  # type: ignore[attr-defined]
    return list(session.exec(select(model).where(where).order_by(*pk)).all())


def _decrypted(key: str | None, token: bytes | None) -> str | None:
    if token is None:
        return None
    try:
        return crypto.decrypt(key, token)
    except (crypto.NoKeyError, crypto.UnreadableNoteError):
        return UNREADABLE


def _with_clear(key: str | None, table: str, rows: Sequence[SQLModel]) -> list[Entry]:
    encrypted = ENCRYPTED.get(table, frozenset())
    entries = []
    for row in rows:
        clear = {name: text for name in sorted(encrypted) if (text := _decrypted(key, getattr(row, name))) is not None}
        entries.append(Entry(row, clear))
    return entries


def collect(
    session: Session, person: Person, key: str | None, now: datetime, *, own_copy: bool = False
) -> SubjectRecord:
    """Everything held about `person`; with `own_copy`, only what goes in the person's own copy."""
    assert person.id is not None
    pid = person.id
    school = session.get(School, person.school_id)
    assert school is not None
    identities: list[ChatIdentity] = _rows(session, ChatIdentity, col(ChatIdentity.person_id) == pid)
    accounts = [(i.platform, i.external_id) for i in identities]
    identity_keys = [f"{p}:{e}" for p, e in accounts]
    sessions: list[WebSession] = _rows(session, WebSession, col(WebSession.person_id) == pid)
    # Web sessions name their chat account even after it was unlinked.
    identity_keys += [f"web:{s.external_id}" for s in sessions if f"web:{s.external_id}" not in identity_keys]
    accounts += [("web", s.external_id) for s in sessions if ("web", s.external_id) not in accounts]

    def of_accounts(model: Any) -> ColumnElement[bool]:
        if not accounts:
            return false()
        return tuple_(model.platform, model.external_id).in_(accounts)

    where: dict[str, tuple[type[SQLModel], ColumnElement[bool]]] = {
        "enrolmentcode": (EnrolmentCode, col(EnrolmentCode.person_id) == pid),
        "linkattempt": (LinkAttempt, of_accounts(LinkAttempt)),
        "caseloadassignment": (
            CaseloadAssignment,
            or_(col(CaseloadAssignment.pupil_id) == pid, col(CaseloadAssignment.staff_id) == pid),
        ),
        "journalentry": (JournalEntry, col(JournalEntry.person_id) == pid),
        "application": (Application, col(Application.person_id) == pid),
        "advicerecord": (
            AdviceRecord,
            col(AdviceRecord.pupil_id) == pid
            if own_copy
            else or_(col(AdviceRecord.pupil_id) == pid, col(AdviceRecord.staff_id) == pid),
        ),
        "agreedaction": (
            AgreedAction,
            col(AgreedAction.pupil_id) == pid
            if own_copy
            else or_(col(AgreedAction.pupil_id) == pid, col(AgreedAction.owner_id) == pid),
        ),
        "destination": (Destination, col(Destination.person_id) == pid),
        "consent": (Consent, col(Consent.person_id) == pid),
        "checkin": (Checkin, col(Checkin.person_id) == pid),
        "checkinlink": (CheckinLink, col(CheckinLink.person_id) == pid),
        "outboxmessage": (OutboxMessage, col(OutboxMessage.person_id) == pid),
        "transcriptline": (
            TranscriptLine,
            or_(col(TranscriptLine.person_id) == pid, col(TranscriptLine.identity_key).in_(identity_keys))
            if identity_keys
            else col(TranscriptLine.person_id) == pid,
        ),
        "chatfile": (ChatFile, col(ChatFile.person_id) == pid),
        "unreadableupdate": (
            UnreadableUpdate,
            col(UnreadableUpdate.identity_key).in_(identity_keys) if identity_keys else false(),
        ),
        "conversationstate": (ConversationState, of_accounts(ConversationState)),
        "auditevent": (AuditEvent, or_(col(AuditEvent.subject_id) == pid, col(AuditEvent.actor_id) == pid)),
        "concern": (Concern, or_(col(Concern.subject_id) == pid, col(Concern.raised_by_id) == pid)),
    }
    read_already: dict[str, list[Any]] = {"person": [person], "chatidentity": identities, "websession": sessions}
    parts: list[Part] = []
    for table, info in PARTS.items():
        if own_copy and not info.own_copy:
            continue
        if table == "concernnote":
            parts.append(Part(table, info, _with_clear(key, table, _notes(session, parts, pid))))
            continue
        if table in read_already:
            rows = read_already[table]
        else:
            model, condition = where[table]
            rows = _rows(session, model, condition)
        if own_copy:  # staff-only words are not even decrypted for the person's own copy
            parts.append(Part(table, info, [Entry(row) for row in rows]))
        else:
            parts.append(Part(table, info, _with_clear(key, table, rows)))
    return SubjectRecord(school, person, own_copy, now, parts, _names(session, parts))


def _notes(session: Session, parts: list[Part], pid: int) -> list[ConcernNote]:
    concern_ids = [e.row.id for p in parts if p.table == "concern" for e in p.entries]  # type: ignore[attr-defined]
    about = col(ConcernNote.concern_id).in_(concern_ids) if concern_ids else false()
    return _rows(session, ConcernNote, or_(about, col(ConcernNote.author_id) == pid))


# Columns holding a person's id: the record carries the names they stand for.
PERSON_COLUMNS = frozenset(
    {"tutor_id", "staff_id", "pupil_id", "owner_id", "actor_id", "subject_id", "person_id"}
    | {"raised_by_id", "acknowledged_by_id", "closed_by_id", "author_id"}
)


def _names(session: Session, parts: list[Part]) -> dict[int, str]:
    """Names of everyone the rows refer to by id, in one query."""
    ids = {
        value
        for part in parts
        for entry in part.entries
        for name in PERSON_COLUMNS
        if isinstance(value := getattr(entry.row, name, None), int)
    }
    if not ids:
        return {}
    rows = session.exec(
        select(Person.id, Person.given_name, Person.family_name).where(col(Person.id).in_(sorted(ids)))
    ).all()
    return {int(i): f"{g} {f}" for i, g, f in rows if i is not None}


def tables_covered() -> set[str]:
    """Every table the export reads or names as holding nothing personal."""
    return set(PARTS) | set(NOT_PERSONAL)
