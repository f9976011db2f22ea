"""The outbox: messages that are not answers, written in the transaction that decides them.

A row's `key` is unique, so deciding the same message twice (a restart, a second scheduler, a
retried step) can never create a second row. Senders drain pending rows (see scheduler/sender.py);
channels a person has open (web chat, terminal) pull their own rows with `take_for_identity`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.messages import Button
from core.reach import AlertCopy
from storage.consents import ConsentKind, without_consent
from storage.identities import identities_of, mark_unreachable
from storage.models import OutboxMessage, Person, School


def enqueue(
    session: Session,
    *,
    key: str,
    person_id: int,
    platform: str,
    chat_id: str,
    text: str,
    now: datetime,
    buttons: list[list[Button]] | None = None,
    urgent: bool = False,
) -> bool:
    """Add a message unless one with this key exists; True when added. Safe inside any transaction.

    `urgent` (safeguarding alerts) is sent whatever the quiet hours."""
    exists = session.exec(select(OutboxMessage.id).where(OutboxMessage.key == key)).first()
    if exists is not None:
        return False
    row = OutboxMessage(
        key=key,
        person_id=person_id,
        platform=platform,
        chat_id=chat_id,
        text=text,
        buttons=json.dumps([[asdict(b) for b in r] for r in (buttons or [])], ensure_ascii=False),
        created_at=now,
        next_attempt_at=now,
        urgent=urgent,
    )
    try:
        with session.begin_nested():  # a racing writer with the same key loses only this row
            session.add(row)
    except IntegrityError:
        return False
    return True


def decode_buttons(row: OutboxMessage) -> list[list[Button]]:
    return [[Button(**b) for b in r] for r in json.loads(row.buttons or "[]")]


def take_for_identity(
    session: Session, platform: str, chat_id: str, now: datetime, limit: int = 50
) -> list[OutboxMessage]:
    """Pending messages for a chat the person has open on the school's own channels; marks them sent."""
    rows = list(
        session.exec(
            select(OutboxMessage)
            .where(
                OutboxMessage.platform == platform,
                OutboxMessage.chat_id == chat_id,
                OutboxMessage.status == "pending",
            )
            .order_by(col(OutboxMessage.id))
            .limit(limit)
        ).all()
    )
    for row in rows:
        row.status = "sent"
        row.sent_at = now
        row.attempts += 1
        session.add(row)
    return rows


def notify_person(
    session: Session,
    *,
    key: str,
    person_id: int,
    text: str,
    now: datetime,
    buttons: list[list[Button]] | None = None,
    urgent: bool = False,
) -> int:
    """Tell a person something on every chat account they have linked and can be reached on.

    One row per account (the key gains platform and account), so each channel delivers its own.
    A person with no account gets nothing here: what they are told about is in their record anyway.
    """
    added = 0
    for identity in identities_of(session, person_id):
        if identity.unreachable_at is not None:
            continue
        added += enqueue(
            session,
            key=f"{key}:{identity.platform}:{identity.external_id}",
            person_id=person_id,
            platform=identity.platform,
            chat_id=identity.chat_id,
            text=text,
            now=now,
            buttons=buttons,
            urgent=urgent,
        )
    return added


# --- The sender's side (scheduler/sender.py) ------------------------------------------------
#
# A sender claims a small batch of due rows in one short transaction: status "sending" and
# next_attempt_at pushed to the end of a lease. The lease end doubles as the claim's token: a
# sender only sends a row while its own lease runs, so a row whose sender died becomes due again
# when the lease ends and another sender picks it up. On PostgreSQL concurrent claims skip each
# other's locked rows (FOR UPDATE SKIP LOCKED); on SQLite the claim runs under BEGIN IMMEDIATE,
# which already makes claims one at a time.

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
UNDELIVERABLE = "undeliverable"
CANCELLED = "cancelled"  # withdrawn before it went: the alumnus sent /stop or took back their consent

# (role, school id) of the recipient -> hold the row until then (quiet hours), or None to send now.
HoldRule = Callable[[str, int], datetime | None]


@dataclass(frozen=True)
class Claimed:
    """One row a sender holds until `lease_until`; plain data, safe outside the session."""

    id: int
    key: str
    person_id: int
    platform: str
    chat_id: str
    text: str
    buttons: list[list[Button]]
    attempts: int  # including this one
    lease_until: datetime


def claim_due(
    session: Session,
    *,
    platforms: Sequence[str],
    now: datetime,
    lease: timedelta,
    limit: int,
    hold: HoldRule | None = None,
) -> list[Claimed]:
    """Take up to `limit` due rows (pending, or sending with an ended lease) for these platforms.

    Two checks on the way, so a row taken is a row that may go now:
    - `hold` (quiet hours): a row whose recipient must not be messaged now goes back to pending,
      due when they may be (its attempts unchanged);
    - a check-in whose alumnus no longer consents (/stop, or "no" to /leaving) is cancelled.
    """
    if not platforms or limit <= 0:
        return []
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    people = Person.__table__  # type: ignore[attr-defined]
    claimed: list[Claimed] = []
    lease_until = now + lease
    columns = [
        table.c.id,
        table.c.key,
        table.c.person_id,
        table.c.platform,
        table.c.chat_id,
        table.c.text,
        table.c.buttons,
        table.c.attempts,
        table.c.urgent,
    ]
    # Two index-ordered scans rather than one IN (...): each walks ix_outbox_status_next in order.
    for status in (PENDING, SENDING):
        while len(claimed) < limit:
            want = limit - len(claimed)
            if hold is None:
                query = sa_select(*columns)
            else:  # the recipient's role and school decide quiet hours
                query = sa_select(*columns, people.c.role, people.c.school_id).select_from(
                    table.join(people, people.c.id == table.c.person_id)
                )
            query = (
                query.where(
                    table.c.status == status,
                    table.c.next_attempt_at <= now,
                    table.c.platform.in_(list(platforms)),
                )
                .order_by(table.c.next_attempt_at, table.c.id)
                .limit(want)
                .with_for_update(skip_locked=True, of=table)
            )
            rows = session.connection().execute(query).all()
            if not rows:
                break
            held: dict[datetime, list[int]] = {}
            take = []
            for r in rows:
                until = hold(r.role, r.school_id) if hold is not None and not r.urgent else None
                if until is None:
                    take.append(r)
                else:
                    held.setdefault(until, []).append(r.id)
            cancelled = _cancel_withdrawn_checkins(session, take)
            take = [r for r in take if r.id not in cancelled]
            for until, ids in held.items():
                session.connection().execute(
                    sa_update(table).where(table.c.id.in_(ids)).values(status=PENDING, next_attempt_at=until)
                )
            if take:
                session.connection().execute(
                    sa_update(table)
                    .where(table.c.id.in_([r.id for r in take]))
                    .values(status=SENDING, next_attempt_at=lease_until, attempts=table.c.attempts + 1)
                )
            for r in take:
                claimed.append(
                    Claimed(
                        id=r.id,
                        key=r.key,
                        person_id=r.person_id,
                        platform=r.platform,
                        chat_id=r.chat_id,
                        text=r.text,
                        buttons=_buttons(r.buttons),
                        attempts=r.attempts + 1,
                        lease_until=lease_until,
                    )
                )
            if len(take) == len(rows) or len(rows) < want:
                break  # nothing was set aside, or nothing more is due: no need to look again
    return claimed


_BUTTONS_CACHE: dict[str, list[list[Button]]] = {}


def _buttons(raw: str | None) -> list[list[Button]]:
    """Decoded button rows; a campaign's rows all carry the same few, so decode each once."""
    text = raw or "[]"
    found = _BUTTONS_CACHE.get(text)
    if found is None:
        if len(_BUTTONS_CACHE) > 256:
            _BUTTONS_CACHE.clear()
        found = _BUTTONS_CACHE[text] = [[Button(**b) for b in row] for row in json.loads(text)]
    return found


class _Row(Protocol):
    """An outbox row as claimed: a query row or a `Claimed`."""

    @property
    def id(self) -> int: ...
    @property
    def key(self) -> str: ...
    @property
    def person_id(self) -> int: ...


def _cancel_withdrawn_checkins(session: Session, rows: Sequence[_Row]) -> set[int]:
    """Cancel the check-ins among `rows` whose alumnus no longer consents (/stop, or "no" to
    /leaving); returns their ids. One query for all of them."""
    checkins = [r for r in rows if r.key.startswith("checkin:")]
    refused = without_consent(session, [r.person_id for r in checkins], ConsentKind.yearly_checkin)
    gone = [r.id for r in checkins if r.person_id in refused]
    if gone:
        table = OutboxMessage.__table__  # type: ignore[attr-defined]
        session.connection().execute(
            sa_update(table)
            .where(table.c.id.in_(gone))
            .values(status=CANCELLED, error="the alumnus no longer consents to yearly messages")
        )
    return set(gone)


def still_to_send(session: Session, claims: Sequence[Claimed]) -> set[int]:
    """Of rows a sender holds, those it may still send: still "sending" under its own lease, and
    (check-ins) the alumnus still consents. Check-ins whose consent went are cancelled here.

    A sender asks this before sending rows it has held for more than a moment, so a /stop that
    lands after the claim still stops the message (one query for the whole buffer).
    """
    if not claims:
        return set()
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    ours: set[int] = set()
    by_lease: dict[datetime, list[int]] = {}
    for claim in claims:
        by_lease.setdefault(claim.lease_until, []).append(claim.id)
    for lease_until, ids in by_lease.items():
        found = session.connection().execute(
            sa_select(table.c.id).where(
                table.c.id.in_(ids), table.c.status == SENDING, table.c.next_attempt_at == lease_until
            )
        )
        ours.update(row[0] for row in found)
    return ours - _cancel_withdrawn_checkins(session, [c for c in claims if c.id in ours])


def school_holidays(session: Session) -> dict[int, str]:
    """Each school's holiday lines (School.holidays), for the sender's quiet hours."""
    table = School.__table__  # type: ignore[attr-defined]
    rows: list[Any] = list(session.connection().execute(sa_select(table.c.id, table.c.holidays)).all())
    return {int(row[0]): str(row[1] or "") for row in rows}


def mark_sent(session: Session, ids: Sequence[int], now: datetime) -> None:
    if not ids:
        return
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    session.connection().execute(
        sa_update(table).where(table.c.id.in_(list(ids))).values(status=SENT, sent_at=now, error=None)
    )


def reschedule(session: Session, row_id: int, *, at: datetime, error: str, text: str | None = None) -> None:
    """Back to pending, to be tried again at `at` (a 429, a 5xx, a network error).

    `text`: when the platform took the first parts of a long message, the part still to send, so
    the retry carries on instead of repeating them.
    """
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    values: dict[str, object] = {"status": PENDING, "next_attempt_at": at, "error": error[:500]}
    if text is not None:
        values["text"] = text
    session.connection().execute(sa_update(table).where(table.c.id == row_id, table.c.status == SENDING).values(values))


def release(session: Session, claims: Sequence[Claimed], now: datetime) -> int:
    """Give back rows this sender claimed but never tried; only while its own lease still holds them."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    released = 0
    for claim in claims:
        result = session.connection().execute(
            sa_update(table)
            .where(
                table.c.id == claim.id,
                table.c.status == SENDING,
                table.c.next_attempt_at == claim.lease_until,
            )
            .values(status=PENDING, next_attempt_at=now, attempts=table.c.attempts - 1)
        )
        released += result.rowcount or 0
    return released


def mark_failed(session: Session, row_id: int, *, error: str) -> None:
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    session.connection().execute(sa_update(table).where(table.c.id == row_id).values(status=FAILED, error=error[:500]))


def mark_undeliverable(session: Session, claim: Claimed, *, error: str, now: datetime) -> None:
    """Blocked, deactivated, chat not found: this row is never retried and the account is marked
    unreachable, so nothing else is queued for it and the campaign can stop its reminders."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    session.connection().execute(
        sa_update(table).where(table.c.id == claim.id).values(status=UNDELIVERABLE, error=error[:500])
    )
    if claim.chat_id:
        mark_unreachable(session, claim.platform, claim.chat_id, error[:200], now)


def count_by_status(session: Session, platform: str | None = None) -> dict[str, int]:
    """How many outbox rows are in each status (one GROUP BY)."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    query = sa_select(table.c.status, func.count()).group_by(table.c.status)
    if platform is not None:
        query = query.where(table.c.platform == platform)
    counts: dict[str, int] = {}
    for row in session.connection().execute(query).all():
        counts[str(row[0])] = int(row[1])
    return counts


def copies_of(session: Session, key_prefix: str) -> list[AlertCopy]:
    """Where the rows whose key starts with `key_prefix` went, and which the sender gave up on."""
    rows = session.exec(
        select(OutboxMessage.platform, OutboxMessage.status).where(col(OutboxMessage.key).startswith(key_prefix))
    ).all()
    return [AlertCopy(platform, status in (FAILED, UNDELIVERABLE)) for platform, status in rows]
