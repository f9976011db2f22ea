"""Waymark's tables (SQLModel).

Every person belongs to one school, and every query filters by it. Times are aware UTC datetimes
(`utcnow()`; SQLModel's UTCDateTime refuses naive ones); dates are plain dates. Enumerations are stored as short strings so that SQLite and
PostgreSQL hold the same values and migrations stay simple.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint, text
from sqlalchemy import false as sa_false
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Aware UTC now: what every timestamp column holds."""
    return datetime.now(UTC)


class Role(StrEnum):
    pupil = "pupil"
    staff = "staff"
    alumnus = "alumnus"


class StaffRole(StrEnum):
    tutor = "tutor"
    leader = "leader"
    dsl = "dsl"


class PersonStatus(StrEnum):
    active = "active"  # on roll / employed
    missing = "missing"  # absent from the latest roster import; never deleted
    left = "left"  # an alumnus


class School(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str
    # Comma-separated skills framework; empty means the default Skills Builder eight.
    skills: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    # Term dates and holidays the school sets, as "YYYY-MM-DD..YYYY-MM-DD" lines (holidays only).
    holidays: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    # The school's own at-risk-of-NEET weights, as a JSON object of the ones changed from the
    # defaults (handlers.risk.RiskWeights), e.g. {"looked_after": 3}; empty means all defaults.
    risk_weights: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    # The school's own keyword rules for sorting free text into sectors (JSON keyword -> sector key).
    sector_keywords: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    # Safeguarding: minutes before an unacknowledged alert escalates; who else hears of it then
    # (emails, one a line, e.g. the head); the school's changes to the screening phrase lists (JSON
    # {"add": {category: [phrase...]}, "remove": {...}}; empty means the defaults).
    safeguarding_escalate_minutes: int = Field(default=60, sa_column_kwargs={"server_default": "60"})
    safeguarding_contacts: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    safeguarding_phrases: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    # The school's changes to the retention schedule (storage.retention), as a JSON object of the
    # kinds changed from the defaults, e.g. {"transcripts": "2y"}; empty means all defaults.
    retention: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_at: datetime = Field(default_factory=utcnow)


class Person(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("school_id", "upn", name="uq_person_school_upn"),
        UniqueConstraint("school_id", "email", name="uq_person_school_email"),
        Index("ix_person_school_role", "school_id", "role"),
    )

    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    role: str = Field(default=Role.pupil)  # Role
    staff_role: str | None = None  # StaffRole, for staff only: their main role
    # Further staff roles the same person holds, comma-separated (a careers leader who is also the DSL).
    other_staff_roles: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    status: str = Field(default=PersonStatus.active)  # PersonStatus
    upn: str | None = None  # pupils and alumni
    email: str | None = None  # staff; alumni who gave one for the yearly email
    given_name: str
    family_name: str
    preferred_name: str | None = None  # the name the MIS says they go by ("Preferred Forename"); we greet by it
    date_of_birth: date | None = None
    year_group: int | None = None
    form: str | None = Field(default=None, index=True)
    gender: str | None = None
    ethnicity: str | None = None
    send: str = "N"  # N none, K SEN support, E EHC plan
    pupil_premium: bool = False
    fsm: bool = False
    eal: bool = False
    looked_after: bool = False
    young_carer: bool = False
    attendance: float | None = None  # percent
    exclusions: int = 0
    leaving_date: date | None = None
    tutor_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    interests: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    interest_sectors: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))  # picked keys
    next_step: str | None = None  # intended destination after Year 11 or 13
    next_step_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def known_as(self) -> str:
        """The name to greet them by: their preferred name where the school gave one."""
        return self.preferred_name or self.given_name

    @property
    def staff_roles(self) -> frozenset[str]:
        """Every staff role this person holds (StaffRole values); empty for pupils and alumni."""
        found = {r.strip() for r in (self.other_staff_roles or "").split(",") if r.strip()}
        if self.staff_role:
            found.add(self.staff_role)
        return frozenset(found)


class CaseloadAssignment(SQLModel, table=True):
    """A pupil assigned to a member of staff beyond their tutor group (e.g. a careers adviser)."""

    __table_args__ = (UniqueConstraint("staff_id", "pupil_id", name="uq_caseload"),)

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="person.id", index=True)
    pupil_id: int = Field(foreign_key="person.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)


class ChatIdentity(SQLModel, table=True):
    """A chat account (platform + the platform's user id) linked to one person."""

    __table_args__ = (UniqueConstraint("platform", "external_id", name="uq_identity_platform_external"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str  # Platform
    external_id: str
    chat_id: str  # where to send; equals external_id for private chats
    person_id: int = Field(foreign_key="person.id", index=True)
    linked_at: datetime = Field(default_factory=utcnow)
    unreachable_at: datetime | None = None  # blocked the bot, chat not found
    unreachable_reason: str | None = None


class EnrolmentCode(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    code_hash: str = Field(unique=True)  # storage.codes.code_hash: HMAC under WAYMARK_CODE_SECRET
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None


class LinkAttempt(SQLModel, table=True):
    """Wrong enrolment codes per chat account (or web client), for the lockout."""

    __table_args__ = (UniqueConstraint("platform", "external_id", name="uq_link_attempt"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str
    external_id: str
    failures: int = 0
    first_failure_at: datetime | None = None
    locked_until: datetime | None = None


class JournalEntry(SQLModel, table=True):
    __table_args__ = (Index("ix_journal_person_created", "person_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    kind: str = "reflection"  # reflection | encounter
    text: str = Field(sa_column=Column(Text, nullable=False))
    skills: str = ""  # comma-separated skill names
    learned: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    encounter_type: str | None = None
    encounter_with: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Application(SQLModel, table=True):
    """Where a pupil has applied for their next step, and how it stands."""

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    provider: str
    course: str = ""
    status: str = "applied"  # planning | applied | offer | accepted | rejected | withdrawn
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class AdviceRecord(SQLModel, table=True):
    __table_args__ = (Index("ix_advice_pupil_created", "pupil_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    pupil_id: int = Field(foreign_key="person.id")
    staff_id: int = Field(foreign_key="person.id", index=True)
    kind: str  # guidance_interview | tutor_checkin | parents_evening | group_session | other
    summary: str = Field(sa_column=Column(Text, nullable=False))
    # Staff-only note, Fernet-encrypted with WAYMARK_ENCRYPTION_KEY; never shown to pupils.
    staff_note: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)


class AgreedAction(SQLModel, table=True):
    __table_args__ = (Index("ix_action_pupil_status", "pupil_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    pupil_id: int = Field(foreign_key="person.id")
    advice_id: int | None = Field(default=None, foreign_key="advicerecord.id", index=True)
    # A staff member's own action. Indexed: erasing a person sets it to nothing, and SQLite checks it
    # on every person deleted.
    owner_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    due_date: date | None = None
    status: str = "open"  # open | done
    done_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


# Partial indexes over the rows that count. Written as SQLAlchemy renders a bare boolean column in
# each dialect ("latest = 1" on SQLite), since SQLite uses a partial index only for the same term.
LATEST_ONLY: dict[str, Any] = {"sqlite_where": text("latest = 1"), "postgresql_where": text("latest")}


class Destination(SQLModel, table=True):
    __table_args__ = (
        Index("ix_destination_person_year", "person_id", "year_after_leaving"),
        # What a report reads of the row that counts, from the index alone (no table lookups). Year
        # first, so PostgreSQL reads one year's rows as an index-only range instead of scanning the
        # table. `latest` is a column too, though every row has it: a LEFT JOIN's `ON ... latest`
        # is not dropped by SQLite as the partial index's own term, and without the column SQLite
        # read the table row of every alumnus to test it (issue 15). Not unique on (year, person):
        # SQLite then picks the unique index and reads the table for each alumnus;
        # storage.destination_marks keeps one row per year, under a lock on the person.
        Index(
            "ix_destination_latest",
            *("year_after_leaving", "person_id", "group", "nccis_code", "held", "latest"),
            **LATEST_ONLY,
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    year_after_leaving: int  # 1, 2, 3, ...
    category: str  # the alumnus's plain-words choice, see storage.destinations
    nccis_code: int
    group: str  # education | apprenticeship | employment | training | other | NEET | not known
    provider: str = ""
    course: str = ""
    level: str = ""
    reported_at: datetime = Field(default_factory=utcnow)
    source: str = "alumnus"  # alumnus | staff | la_import
    sector: str = ""  # reports.sectors key a willing alumnus picked at the check-in; "" when not asked
    # Kept by storage.destination_marks in the transaction that writes any destination of the alumnus,
    # so a report reads the row that counts instead of ranking a million rows (issue 15).
    latest: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})  # the one that counts
    held: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})  # sustained: see there


class Consent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    kind: str  # yearly_checkin | help_pupils
    granted: bool
    channel: str | None = None  # the platform chosen for the yearly message
    recorded_at: datetime = Field(default_factory=utcnow)


class AuditEvent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    actor_id: int | None = Field(default=None, foreign_key="person.id", index=True)  # "what they read"
    action: str  # e.g. view_pupil, export_record
    subject_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    detail: str = ""
    at: datetime = Field(default_factory=utcnow)
    # After `waymark erase`, the person's id is gone and an anonymous marker ("erased-3f9a1c") stands
    # for them, the same in every event about them, so the trail still reads as one person's.
    actor_marker: str | None = None
    subject_marker: str | None = None


class ErasedLeaver(SQLModel, table=True):
    """What an erased alumnus leaves behind for the destination reports: no name, no id, no dates of
    their own, only the school, the cohort's leaving date and the characteristics reports break down by."""

    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    leaving_date: date
    gender: str | None = None
    ethnicity: str | None = None
    send: str = "N"
    pupil_premium: bool = False
    fsm: bool = False
    eal: bool = False
    looked_after: bool = False


class ErasedDestination(SQLModel, table=True):
    """An erased alumnus's outcome for one year after leaving, as the report reads it: the latest
    destination's group and code, and how that year's check-in ended (for "cannot be contacted")."""

    __table_args__ = (UniqueConstraint("leaver_id", "year_after_leaving", name="uq_erased_destination_year"),)

    id: int | None = Field(default=None, primary_key=True)
    leaver_id: int = Field(foreign_key="erasedleaver.id", index=True)
    year_after_leaving: int
    group: str | None = None
    nccis_code: int | None = None
    checkin_status: str | None = None
    checkin_reminders: int = 0


class ConversationState(SQLModel, table=True):
    """Where a chat account is in a conversation; lives here so any process can continue it."""

    __table_args__ = (UniqueConstraint("platform", "external_id", name="uq_conversation"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str
    external_id: str
    state: str = ""
    data: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))
    updated_at: datetime = Field(default_factory=utcnow)


class ProcessedUpdate(SQLModel, table=True):
    """Update ids already handled, so a redelivered update is dropped (Telegram ids are not monotonic)."""

    __table_args__ = (UniqueConstraint("platform", "update_id", name="uq_processed_update"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str
    update_id: str
    at: datetime = Field(default_factory=utcnow, index=True)


class UnreadableUpdate(SQLModel, table=True):
    """An update the platform library could not read (e.g. a field it requires was missing), kept
    as it came for someone to review; it was skipped so the updates after it still flow. Bounded:
    only the latest `storage.unreadable.KEEP` are kept."""

    id: int | None = Field(default=None, primary_key=True)
    platform: str
    update_id: str
    kind: str  # the update's type, e.g. "poll", "message"
    identity_key: str | None = Field(default=None, index=True)  # who sent it, where the update says
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # encrypted: it may hold a pupil's words
    at: datetime = Field(default_factory=utcnow, index=True)


class OutboxMessage(SQLModel, table=True):
    """A message that is not an answer, written in the transaction that decided it; a sender drains it."""

    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)  # e.g. checkin:P:Y:A; a second insert with the same key is refused
    person_id: int = Field(foreign_key="person.id", index=True)
    platform: str  # Platform
    chat_id: str = ""  # empty for email; resolved when sent
    text: str = Field(sa_column=Column(Text, nullable=False))
    buttons: str = Field(default="[]", sa_column=Column(Text, nullable=False, server_default="[]"))
    status: str = "pending"  # pending | sent | failed | undeliverable
    # A safeguarding alert: sent whatever the quiet hours.
    urgent: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    error: str | None = None


class TranscriptLine(SQLModel, table=True):
    """Everything said through the bot on the school's own channels (web, console), kept for the school."""

    __table_args__ = (Index("ix_transcript_identity", "identity_key", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    identity_key: str  # "platform:external_id"
    # Indexed for erasure: a person's lines are found by it, and SQLite checks it on every person deleted.
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    direction: str  # in | out
    text: str = Field(sa_column=Column(Text, nullable=False))
    payload: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))
    created_at: datetime = Field(default_factory=utcnow)


class WebSession(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    external_id: str  # the "web" chat identity this session speaks as
    csrf_token: str
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class CheckinLink(SQLModel, table=True):
    """A one-time link (/c/<token>) to an alumnus's web check-in, sent by email."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class Checkin(SQLModel, table=True):
    """One alumnus's yearly check-in for one campaign year: what was sent and whether it was answered."""

    __table_args__ = (UniqueConstraint("person_id", "campaign_year", name="uq_checkin_person_year"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    campaign_year: int  # the calendar year the campaign opened in
    year_after_leaving: int
    channel: str  # Platform the check-in went to
    status: str = "sent"  # sent | answered | stopped | unreachable
    reminders: int = 0
    sent_at: datetime = Field(default_factory=utcnow)
    last_reminded_at: datetime | None = None
    answered_at: datetime | None = None


class SchedulerLease(SQLModel, table=True):
    """Which process schedules, for SQLite where there are no advisory locks (PostgreSQL uses one)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    holder: str
    expires_at: datetime


class ConcernStatus(StrEnum):
    open = "open"  # raised; the DSLs have been alerted
    acknowledged = "acknowledged"  # a DSL has taken it on
    closed = "closed"  # with an outcome


class ConcernSource(StrEnum):
    screening = "screening"  # words a pupil or alumnus wrote matched a phrase list
    asked = "asked"  # the pupil asked for help: /worried or "Talk to someone"
    staff = "staff"  # a member of staff raised it: /concern NAME


class ConcernOutcome(StrEnum):
    no_further_action = "no_further_action"
    monitoring = "monitoring"
    early_help = "early_help"
    social_care = "social_care"  # referred to children's social care
    police = "police"


class Concern(SQLModel, table=True):
    """A safeguarding concern about one pupil or alumnus. Only DSLs see it.

    The words, the context (the last few messages in that conversation, since Telegram and Slack keep
    no transcript) and every note are encrypted with WAYMARK_ENCRYPTION_KEY; nothing here is in clear
    but the category, which the alert names.
    """

    __table_args__ = (
        Index("ix_concern_school_status", "school_id", "status"),
        Index("ix_concern_subject", "subject_id", "raised_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id")
    subject_id: int = Field(foreign_key="person.id")  # the pupil or alumnus it is about
    raised_by_id: int | None = Field(default=None, foreign_key="person.id", index=True)  # the subject, or staff
    source: str  # ConcernSource
    category: str  # handlers.safeguarding category value, e.g. "self_harm"; "asked" for /worried
    # A digest of the matched phrase (not the phrase): identical phrases within an hour join one concern.
    phrase_key: str = ""
    channel: str = ""  # Platform the words came from
    words: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # encrypted
    context: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # encrypted JSON list of lines
    hits: int = 1  # messages joined into this concern
    status: str = Field(default=ConcernStatus.open)
    raised_at: datetime = Field(default_factory=utcnow)
    last_hit_at: datetime = Field(default_factory=utcnow)
    alerted_at: datetime | None = None  # first alert queued (None while the school has no DSL)
    acknowledged_at: datetime | None = None
    acknowledged_by_id: int | None = Field(default=None, foreign_key="person.id")
    escalated_at: datetime | None = None  # last escalation
    escalations: int = 0
    closed_at: datetime | None = None
    closed_by_id: int | None = Field(default=None, foreign_key="person.id")
    outcome: str | None = None  # ConcernOutcome value


class ConcernNote(SQLModel, table=True):
    """A DSL's note on a concern, encrypted like staff-only notes."""

    id: int | None = Field(default=None, primary_key=True)
    concern_id: int = Field(foreign_key="concern.id", index=True)
    author_id: int = Field(foreign_key="person.id")
    text: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # encrypted
    created_at: datetime = Field(default_factory=utcnow)


class ChatFile(SQLModel, table=True):
    """A file or image the web chat (or terminal) offered: kept apart from the transcript, whose line
    names it by id, and served only to the chat account it was offered to. Retention prunes it by age."""

    __table_args__ = (Index("ix_chatfile_identity", "identity_key", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    identity_key: str  # "platform:external_id" of the chat it was offered in
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    name: str  # the file name it downloads under
    content_type: str
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, index=True)


class KeyCheck(SQLModel, table=True):
    """Which WAYMARK_ENCRYPTION_KEY this database is written with: a check value (an HMAC of a
    constant under the key), never the key. One row; a different key stops start-up."""

    id: int | None = Field(default=None, primary_key=True)
    check_value: str
    set_at: datetime = Field(default_factory=utcnow)


class SignInAddress(SQLModel, table=True):
    """Wrong web sign-in codes from one network address, and its turns while it is slowed: shared by
    every process on the database (storage.signin_limits). The address is kept only as a keyed hash.
    Housekeeping deletes a row once `expires_at` has passed."""

    id: int | None = Field(default=None, primary_key=True)
    address_hash: str = Field(unique=True)  # storage.signin_limits.address_hash: HMAC, never the address
    wrong_codes: int = 0  # in the run that began at first_wrong_at
    first_wrong_at: datetime
    slowed_until: datetime | None = None
    next_turn_at: datetime | None = None  # the last turn handed out while slowed
    expires_at: datetime = Field(index=True)  # nothing above matters after this


class SlackRequestSeen(SQLModel, table=True):
    """A signed Slack request already handled (a hash of its timestamp and signature), so the same
    request sent again is recognised by every process; kept while Slack would still accept it."""

    id: int | None = Field(default=None, primary_key=True)
    request_hash: str = Field(unique=True)
    expires_at: datetime = Field(index=True)
