"""Safeguarding concerns in storage: encrypted at rest, joined within the hour, DSLs by any of their roles,
alerts that ignore quiet hours. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from storage import concerns, crypto, outbox, seed
from storage.db import transaction
from storage.models import ConcernOutcome, ConcernStatus, Person, StaffRole

KEY = crypto.new_key()
NOW = datetime(2026, 12, 2, 22, 30, tzinfo=UTC)  # a school night: quiet hours for everyone
WORDS = "zqsecret my step-dad hit me and I'm scared to go home"


def _raise(engine: Engine, pupil: Person, *, at: datetime = NOW, phrase: str = "hit me") -> concerns.Raised:
    context = ["earlier zqcontext", WORDS]
    return seed.concern(engine, pupil, key=KEY, at=at, words=WORDS, phrase=phrase, context=context, channel="web")


def test_words_context_and_notes_are_never_in_clear(engine: Engine) -> None:
    school = seed.school(engine)
    pupil = seed.pupil(engine, school.id or 0)
    dsl = seed.staff(engine, school.id or 0, "Dee", "Lead", role=StaffRole.dsl)
    raised = _raise(engine, pupil)
    with transaction(engine) as session:
        concern = concerns.get(session, school.id or 0, raised.concern.id or 0)
        assert concern is not None
        concerns.add_note(session, concern, dsl.id or 0, "zqnote spoke to mum", KEY, NOW)
    with engine.connect() as conn:
        dumped = " ".join(
            repr(row) for table in ("concern", "concernnote") for row in conn.execute(text(f"SELECT * FROM {table}"))
        )
    assert "zqsecret" not in dumped and "zqcontext" not in dumped and "zqnote" not in dumped
    assert "hit me" not in dumped  # not even the phrase: only its digest
    with transaction(engine) as session:
        concern = concerns.get(session, school.id or 0, raised.concern.id or 0)
        assert concern is not None
        assert concerns.words_of(concern, KEY) == WORDS
        assert concerns.context_of(concern, KEY) == ["earlier zqcontext", WORDS]
        assert [t for _, t in concerns.notes_of(session, concern, KEY)] == ["zqnote spoke to mum"]
        assert concerns.get(session, (school.id or 0) + 1, concern.id or 0) is None  # another school's id


def test_without_a_key_nothing_is_kept(engine: Engine) -> None:
    school = seed.school(engine)
    pupil = seed.pupil(engine, school.id or 0)
    with pytest.raises(crypto.NoKeyError), transaction(engine) as session:
        concerns.raise_concern(
            session,
            key=None,
            school_id=school.id or 0,
            subject_id=pupil.id or 0,
            raised_by_id=pupil.id,
            source="screening",
            category="self_harm",
            phrase="hurt myself",
            words="I want to hurt myself",
            context=[],
            channel="web",
            now=NOW,
        )


def test_the_same_phrase_within_the_hour_joins_one_concern(engine: Engine) -> None:
    school = seed.school(engine)
    pupil = seed.pupil(engine, school.id or 0)
    first = _raise(engine, pupil)
    again = _raise(engine, pupil, at=NOW + timedelta(minutes=50))
    other_phrase = _raise(engine, pupil, at=NOW + timedelta(minutes=51), phrase="scared to go home")
    later = _raise(engine, pupil, at=NOW + timedelta(minutes=50 + 61))
    assert not first.joined and again.joined and not other_phrase.joined and not later.joined
    assert again.concern.id == first.concern.id and again.concern.hits == 2
    assert later.concern.id != first.concern.id


def test_dsls_are_found_by_main_or_other_role(engine: Engine) -> None:
    school = seed.school(engine)
    sid = school.id or 0
    main = seed.staff(engine, sid, "Dee", "Lead", role=StaffRole.dsl)
    leader = seed.staff(engine, sid, "Priya", "Shah", role=StaffRole.leader)
    seed.staff(engine, sid, "Sam", "Patel", role=StaffRole.tutor)
    with transaction(engine) as session:
        assert [p.id for p in concerns.dsls(session, sid)] == [main.id]
        row = session.get(Person, leader.id)
        assert row is not None
        row.other_staff_roles = "dsl"
        session.add(row)
    with transaction(engine) as session:
        assert [p.id for p in concerns.dsls(session, sid)] == [main.id, leader.id]
        assert concerns.dsls(session, sid + 1) == []


def test_open_list_acknowledge_close_and_escalation_timing(engine: Engine) -> None:
    school = seed.school(engine)
    sid = school.id or 0
    dsl = seed.staff(engine, sid, "Dee", "Lead", role=StaffRole.dsl)
    older = _raise(engine, seed.pupil(engine, sid, "Ben", "Ali"), at=NOW - timedelta(hours=2)).concern
    newer = _raise(engine, seed.pupil(engine, sid), at=NOW).concern
    with transaction(engine) as session:
        a = concerns.get(session, sid, older.id or 0)
        b = concerns.get(session, sid, newer.id or 0)
        assert a is not None and b is not None
        concerns.mark_alerted(session, a, NOW - timedelta(hours=2))
        concerns.mark_alerted(session, b, NOW)
        assert not concerns.escalation_due(b, 60, NOW + timedelta(minutes=59))
        assert concerns.escalation_due(b, 60, NOW + timedelta(minutes=60))
        assert concerns.acknowledge(session, a, dsl.id or 0, NOW)
        assert not concerns.acknowledge(session, a, dsl.id or 0, NOW)
    with transaction(engine) as session:
        # Unacknowledged first, then acknowledged, each oldest first.
        assert [c.id for c in concerns.open_concerns(session, sid)] == [newer.id, older.id]
        due = concerns.waiting_for_escalation(session, NOW + timedelta(minutes=61))
        assert [c.id for c, _ in due] == [newer.id]
        b = concerns.get(session, sid, newer.id or 0)
        assert b is not None
        concerns.mark_escalated(session, b, NOW + timedelta(minutes=61))
        assert not concerns.escalation_due(b, 60, NOW + timedelta(minutes=61 + 59))
        assert concerns.escalation_due(b, 60, NOW + timedelta(minutes=61 + 60))
        assert concerns.close(session, b, dsl.id or 0, ConcernOutcome.early_help, NOW)
        assert b.status == ConcernStatus.closed and b.acknowledged_by_id == dsl.id
    with transaction(engine) as session:
        assert [c.id for c in concerns.chronology(session, newer.subject_id)] == [newer.id]
        assert [c.id for c in concerns.open_concerns(session, sid)] == [older.id]


def test_an_urgent_row_goes_in_quiet_hours_and_an_ordinary_one_waits(engine: Engine) -> None:
    school = seed.school(engine)
    dsl = seed.staff(engine, school.id or 0, "Dee", "Lead", role=StaffRole.dsl)
    with transaction(engine) as session:
        for key, urgent in (("alert", True), ("digest", False)):
            outbox.enqueue(
                session,
                key=key,
                person_id=dsl.id or 0,
                platform="telegram",
                chat_id="1",
                text=key,
                now=NOW,
                urgent=urgent,
            )
    morning = NOW + timedelta(hours=9)
    with transaction(engine) as session:
        taken = outbox.claim_due(
            session, platforms=["telegram"], now=NOW, lease=timedelta(minutes=1), limit=10, hold=lambda r, s: morning
        )
    assert [c.key for c in taken] == ["alert"]
