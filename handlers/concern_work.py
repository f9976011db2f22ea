"""The safeguarding lead's work on a concern: the list, opening one, acknowledging, a note, closing.

Shared by the chat (`/concerns`, handlers/concerns.py) and the command line (`waymark safeguarding`),
so both show the same words and audit the same way. Callers check that the person acting is a DSL
of the concern's school (`handlers.access.may_open_concern`); every function here that reads the
pupil's words or changes a concern writes its audit event in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from core import platforms
from handlers.safeguarding.alert_text import category_label
from storage import audit, concerns, crypto
from storage.models import Concern, ConcernOutcome, ConcernStatus, Person, Role

OUTCOMES: dict[ConcernOutcome, str] = {
    ConcernOutcome.no_further_action: "No further action",
    ConcernOutcome.monitoring: "Monitoring",
    ConcernOutcome.early_help: "Early help",
    ConcernOutcome.social_care: "Referred to children's social care",
    ConcernOutcome.police: "Police",
}
NO_KEY = "(kept, but it can't be read: WAYMARK_ENCRYPTION_KEY is not set)"
WRONG_KEY = "(kept, but it can't be read with the current encryption key)"


ADD_DSL = "waymark staff add EMAIL NAME --role dsl"
NO_DSL_FOR_LEADER = (
    "Your school has no safeguarding lead (DSL) in Waymark yet. If a pupil writes something worrying, "
    "it is recorded, but nobody is alerted until a DSL is added. Ask whoever runs Waymark to add one: "
    f"`{ADD_DSL}` (a careers leader can be the DSL too: `--role leader --role dsl`)."
)


def no_dsl_warning(school_name: str) -> str:
    """What the command line says about a school with no DSL."""
    return (
        f"{school_name} has no safeguarding lead (DSL). If a pupil writes something worrying, the concern is "
        f"recorded, but nobody is alerted until a DSL is added: `{ADD_DSL}` "
        "(a careers leader can be the DSL too: --role leader --role dsl)."
    )


def unreached_dsl_warning(names: list[str]) -> str:
    """What the command line says about DSLs no alert can reach unless they are looking."""
    who = ", ".join(names)
    return (
        f"Alerts reach {who} only while their web chat page is open: no Telegram or Slack is linked and "
        "Waymark has no email it can send them (an address and WAYMARK_SMTP_URL). Their school's alerts "
        "therefore escalate at once. Give them a code to link a chat: `waymark codes --role staff`."
    )


@dataclass(frozen=True)
class Acting:
    """Who is acting, where, and when: the DSL, the channel ("cli" at a terminal), the time."""

    dsl: Person
    channel: str
    now: datetime


def outcome_label(outcome: str | None) -> str:
    try:
        return OUTCOMES[ConcernOutcome(outcome or "")]
    except ValueError:
        return outcome or ""


def when(moment: datetime | None, zone: ZoneInfo) -> str:
    """'2 Dec 2026 22:30' in the school's time zone."""
    if moment is None:
        return "never"
    local = moment.astimezone(zone)
    return f"{local.day} {local:%b %Y %H:%M}"


def _name(session: Session, person_id: int | None) -> str:
    person = session.get(Person, person_id) if person_id is not None else None
    return person.full_name if person is not None else "someone no longer on the list"


def subject_label(session: Session, concern: Concern) -> str:
    """'Amira Khan (11A)', or 'Amira Khan (alumnus)'."""
    pupil = session.get(Person, concern.subject_id)
    if pupil is None:
        return f"person #{concern.subject_id}"
    where = pupil.form or ("alumnus" if pupil.role == Role.alumnus else "")
    return f"{pupil.full_name} ({where})" if where else pupil.full_name


def _state(session: Session, concern: Concern, zone: ZoneInfo) -> str:
    if concern.status == ConcernStatus.closed.value:
        return f"closed {when(concern.closed_at, zone)}: {outcome_label(concern.outcome)}"
    if concern.status == ConcernStatus.acknowledged.value:
        return f"acknowledged by {_name(session, concern.acknowledged_by_id)} {when(concern.acknowledged_at, zone)}"
    return "NOT ACKNOWLEDGED"


def list_line(session: Session, concern: Concern, zone: ZoneInfo) -> str:
    """One line of the list: number, pupil and form, category, raised when, acknowledged or not."""
    return (
        f"#{concern.id} {subject_label(session, concern)}: {category_label(concern)}, "
        f"raised {when(concern.raised_at, zone)}, {_state(session, concern, zone)}"
    )


def open_list(session: Session, school_id: int, limit: int) -> list[Concern]:
    """Open concerns, oldest unacknowledged first (one more than `limit` tells the caller there are more)."""
    return concerns.open_concerns(session, school_id, limit=limit + 1)


def _readable(read: Callable[[], str]) -> str:
    try:
        return read()
    except crypto.NoKeyError:
        return NO_KEY
    except crypto.UnreadableNoteError:
        return WRONG_KEY


def _context(concern: Concern, key: crypto.KeyLike) -> list[str]:
    try:
        return concerns.context_of(concern, key)
    except crypto.NoKeyError:
        return [NO_KEY]
    except crypto.UnreadableNoteError:
        return [WRONG_KEY]


def show(session: Session, concern: Concern, key: crypto.KeyLike, acting: Acting, zone: ZoneInfo) -> str:
    """The whole concern for a DSL: the words in context, the tutor, earlier concerns, the notes. Audited."""
    assert acting.dsl.id is not None and concern.id is not None
    audit.record(
        session,
        school_id=concern.school_id,
        actor_id=acting.dsl.id,
        action=audit.OPEN_CONCERN,
        subject_id=concern.subject_id,
        now=acting.now,
        detail=f"concern {concern.id}, {acting.channel}",
    )
    pupil = session.get(Person, concern.subject_id)
    raised_by = (
        "" if concern.raised_by_id in (None, concern.subject_id) else f" by {_name(session, concern.raised_by_id)}"
    )
    joined = f"; {concern.hits} messages joined into it" if concern.hits > 1 else ""
    lines = [
        f"Concern #{concern.id} about {subject_label(session, concern)}: {category_label(concern)}",
        f"Raised {when(concern.raised_at, zone)}{raised_by} on {platforms.label(concern.channel)}{joined}.",
        f"Status: {_state(session, concern, zone)}.",
    ]
    if concern.escalations:
        lines.append(f"Escalated {concern.escalations} time(s), last {when(concern.escalated_at, zone)}.")
    tutor = pupil.tutor_id if pupil is not None else None
    lines.append(f"Tutor: {_name(session, tutor) if tutor is not None else 'none recorded'}")

    words = _readable(lambda: concerns.words_of(concern, key))
    lines += ["", "What they wrote:", words]
    before = _context(concern, key)
    if before and before[-1] == words:
        before = before[:-1]  # the context ends with the message that raised it
    if before:
        lines += ["", "Before it, in that conversation (oldest first):"]
        lines += [f"- {line}" for line in before]

    earlier = [c for c in concerns.chronology(session, concern.subject_id) if c.id != concern.id]
    lines += ["", "Earlier concerns about them:" if earlier else "Earlier concerns about them: none"]
    for other in earlier:
        state = f"{other.status}: {outcome_label(other.outcome)}" if other.outcome else other.status
        lines.append(f"- #{other.id} {when(other.raised_at, zone)}, {category_label(other)} ({state})")

    try:
        notes = concerns.notes_of(session, concern, key)
    except (crypto.NoKeyError, crypto.UnreadableNoteError) as exc:
        lines += ["", "Notes: " + (NO_KEY if isinstance(exc, crypto.NoKeyError) else WRONG_KEY)]
        return "\n".join(lines)
    lines += ["", "Notes:" if notes else "Notes: none yet"]
    lines += [f"- {when(n.created_at, zone)}, {_name(session, n.author_id)}: {text}" for n, text in notes]
    return "\n".join(lines)


def _audit(session: Session, concern: Concern, acting: Acting, action: str, detail: str = "") -> None:
    assert acting.dsl.id is not None
    audit.record(
        session,
        school_id=concern.school_id,
        actor_id=acting.dsl.id,
        action=action,
        subject_id=concern.subject_id,
        now=acting.now,
        detail=f"concern {concern.id}, {acting.channel}" + (f", {detail}" if detail else ""),
    )


def acknowledge(session: Session, concern: Concern, acting: Acting) -> bool:
    """True when this DSL took it on now; False when someone had already (nothing changes then)."""
    assert acting.dsl.id is not None
    done = concerns.acknowledge(session, concern, acting.dsl.id, acting.now)
    if done:
        _audit(session, concern, acting, audit.ACK_CONCERN)
    return done


def add_note(session: Session, concern: Concern, text: str, key: crypto.KeyLike, acting: Acting) -> None:
    """Encrypted like staff-only notes; crypto.NoKeyError without a key, and nothing is kept."""
    assert acting.dsl.id is not None
    concerns.add_note(session, concern, acting.dsl.id, text, key, acting.now)
    _audit(session, concern, acting, audit.NOTE_CONCERN)


def close(session: Session, concern: Concern, outcome: ConcernOutcome, acting: Acting) -> bool:
    """True when this closed it; False when it was closed already."""
    assert acting.dsl.id is not None
    done = concerns.close(session, concern, acting.dsl.id, outcome, acting.now)
    if done:
        _audit(session, concern, acting, audit.CLOSE_CONCERN, outcome.value)
    return done
