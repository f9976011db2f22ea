"""The demo school: the promised people and a realistic spread, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy import Engine
from sqlmodel import select

from storage import crypto, demo
from storage.db import transaction
from storage.models import AdviceRecord, AgreedAction, Destination, JournalEntry, Person, utcnow


def test_demo_school_has_everyone_and_a_spread(engine: Engine) -> None:
    key = crypto.new_key()
    with transaction(engine) as session:
        school_id, personas = demo.populate(session, today=date(2026, 11, 23), now=utcnow(), encryption_key=key)
    with transaction(engine, write=False) as session:
        people = session.exec(select(Person).where(Person.school_id == school_id)).all()
        pupils = [p for p in people if p.role == "pupil"]
        alumni = [p for p in people if p.role == "alumnus"]
        staff = Counter(p.staff_role for p in people if p.role == "staff")
        assert len(pupils) == 60 and {p.year_group for p in pupils} == set(range(7, 14))
        assert staff == {"tutor": 3, "leader": 1}
        leader = session.get(Person, personas["leader"])
        assert leader is not None and leader.staff_roles == {"leader", "dsl"}  # also the safeguarding lead
        assert len(alumni) == 40
        assert len({(p.given_name, p.family_name) for p in people}) == len(people)
        assert set(Counter(p.gender for p in pupils)) == {"M", "F"}
        assert len({p.ethnicity for p in pupils}) >= 5
        assert 3 <= sum(p.send != "N" for p in pupils) <= 20
        assert 5 <= sum(p.pupil_premium for p in pupils) <= 30
        years = Counter(d.year_after_leaving for d in session.exec(select(Destination)).all())
        assert years == {1: 40, 2: 40, 3: 40}
        codes = {d.nccis_code for d in session.exec(select(Destination)).all()}
        assert {240, 310} <= codes and codes & {619, 680}  # university, apprenticeships and some NEET

        amira = session.get(Person, personas["pupil"])
        assert amira is not None and amira.given_name == "Amira" and amira.year_group == 10
        assert session.exec(select(JournalEntry).where(JournalEntry.person_id == amira.id)).all()
        statuses = Counter(
            a.status for a in session.exec(select(AgreedAction).where(AgreedAction.pupil_id == amira.id))
        )
        assert statuses == {"open": 2, "done": 1}
        notes = [r.staff_note for r in session.exec(select(AdviceRecord).where(AdviceRecord.pupil_id == amira.id))]
        secret = next(n for n in notes if n)
        assert b"young carer" not in secret and "young carer" in crypto.decrypt(key, secret)
