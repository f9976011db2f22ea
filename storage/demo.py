"""The demo school: made-up people in a SQLite file of its own, so the record views are not empty.

Deterministic (a fixed seed), so every demo shows the same school. Never written into a real
database: `waymark demo` always builds a fresh file for it (default demo/waymark-demo.db).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from core.calendar import school_year_start
from storage import codes, crypto, destinations, seed
from storage.consents import ConsentKind
from storage.consents import record as record_consent
from storage.db import make_engine, transaction
from storage.migrate import upgrade
from storage.models import (
    AdviceRecord,
    Application,
    Destination,
    JournalEntry,
    Person,
    StaffRole,
)

SCHOOL_NAME = "Waymark Demo Academy"
SEED = 2025
PERSONAS = ("pupil", "tutor", "leader", "alumnus")
PERSONA_TITLES = {"pupil": "pupil", "tutor": "tutor", "leader": "careers leader", "alumnus": "alumnus"}

_REFLECTIONS = [
    ("Helped run the Year 7 science club", "Leadership,Speaking", "I can explain things more simply than I thought"),
    ("Presented our history project to the class", "Speaking", "Practise with notes, not a script"),
    ("Fixed the bug in our team's coding project", "Problem Solving,Teamwork", "Ask for help sooner"),
    ("Volunteered at the food bank on Saturday", "Teamwork,Listening", "I like work where I help people directly"),
    ("Designed the poster for the school play", "Creativity", "Graphic design might be for me"),
    ("Kept going with maths revision after a bad mock", "Staying Positive,Aiming High", "Little and often works"),
]
_ENCOUNTERS = [
    ("employer_talk", "Nurse from the Royal Infirmary", "Nursing degree apprenticeships exist - look them up"),
    ("workplace_visit", "Arup engineering office", "Engineers spend a lot of time talking, not just drawing"),
    ("university_visit", "University of Leeds open day", "I liked the campus; need 3 As for medicine"),
    ("college_visit", "Northfield College taster day", "The motor vehicle course has a workshop with real cars"),
    ("careers_fair", "City careers fair", "Spoke to the Army and to BT about apprenticeships"),
]
_ADVICE = [
    (
        "guidance_interview",
        "Talked through options after Year 11: A levels at our sixth form or a BTEC at college. "
        "Advised visiting both open evenings before deciding.",
    ),
    ("tutor_checkin", "Checked in about revision and the work experience placement. On track."),
    (
        "guidance_interview",
        "Explored apprenticeships in engineering; showed the government apprenticeship search. "
        "Advised a CV before applying.",
    ),
    ("parents_evening", "Discussed with parent: interest in nursing, worried about grades in science."),
]
_ACTIONS = [
    "Visit the sixth form open evening",
    "Write a first CV and bring it to the careers office",
    "Register on the apprenticeship search site and save three vacancies",
    "Book a work experience placement for the summer term",
    "Ask the science teacher about extra revision sessions",
]
_PROVIDERS = {
    210: ["Waymark Demo Academy sixth form"],
    220: ["Northfield Sixth Form College", "St Anne's Sixth Form College"],
    230: ["Northfield College", "City College"],
    240: ["University of Leeds", "University of Manchester", "Sheffield Hallam University", "Open University"],
    250: ["Open University"],
    310: ["Arup (engineering apprentice)", "NHS Trust (healthcare apprentice)", "BT (IT apprentice)"],
    320: ["Barclays (trainee)", "Local council (trainee)"],
    330: ["Tesco", "Costa Coffee", "Amazon warehouse"],
    380: ["Own business (hair and beauty)"],
    430: ["Prince's Trust programme"],
    260: [""],
    619: [""],
    680: [""],
    830: [""],
    820: [""],
}


@dataclass(frozen=True)
class DemoSchool:
    path: Path
    school_id: int
    person_ids: dict[str, int]  # persona -> person id
    pupils: int
    alumni: int
    staff: int


def _at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def _advice(
    session: Session,
    pupil: Person,
    staff: Person,
    kind: str,
    summary: str,
    when: datetime,
    key: str | None,
    note: str | None = None,
) -> AdviceRecord:
    staff_note = crypto.encrypt(key, note) if note and crypto.has_key(key) else None
    return seed.advice(session, pupil, staff, kind, summary, staff_note=staff_note, created_at=when)


def _action(
    session: Session,
    pupil: Person,
    advice: AdviceRecord,
    text: str,
    due: date | None,
    done: datetime | None,
    when: datetime,
) -> None:
    seed.action(session, pupil, advice, text, done=done, due_date=due, created_at=when)


# Where people go next, by the group they are in now: (NCCIS code, weight).
_AFTER_16 = [(210, 30), (220, 14), (230, 22), (310, 9), (430, 5), (330, 4), (619, 5), (680, 3), (820, 3), (830, 2)]
_AFTER_18 = [(240, 38), (310, 14), (320, 10), (330, 12), (260, 6), (380, 2), (619, 6), (680, 4), (820, 5), (830, 3)]


def _next_code(rng: random.Random, previous: int, year: int, left_year_group: int) -> int:
    """A plausible path: most stay where they are; two years of sixth form lead on to 18+ choices."""
    if previous in (820, 830) or rng.random() < 0.1:
        return int(
            seed.weighted(
                rng, [(str(c), w) for c, w in (_AFTER_18 if left_year_group == 13 or year == 3 else _AFTER_16)]
            )
        )
    if left_year_group == 11 and year == 3 and previous in (210, 220, 230):
        return int(seed.weighted(rng, [(str(c), w) for c, w in _AFTER_18]))
    if previous in (619, 680) and rng.random() < 0.5:
        return int(seed.weighted(rng, [("310", 3), ("330", 4), ("430", 3), ("230", 2)]))
    return previous


def _destination_rows(
    session: Session, rng: random.Random, alumnus: Person, left: date, left_year_group: int, now: datetime
) -> None:
    code = int(seed.weighted(rng, [(str(c), w) for c, w in (_AFTER_18 if left_year_group == 13 else _AFTER_16)]))
    for year in (1, 2, 3):
        if year > 1:
            code = _next_code(rng, code, year, left_year_group)
        category = destinations.by_code(code)
        reported = _at(date(left.year + year - 1, 10, 15) + timedelta(days=rng.randrange(40)))
        if reported > now:
            break
        assert alumnus.id is not None
        session.add(
            Destination(
                person_id=alumnus.id,
                year_after_leaving=year,
                category=category.label if category else ("No answer" if code == 820 else "Not known"),
                nccis_code=code,
                group=destinations.group_of(code),
                provider=rng.choice(_PROVIDERS.get(code, [""])),
                reported_at=reported,
                source="alumnus" if code != 820 else "staff",
            )
        )


def populate(session: Session, *, today: date, now: datetime, encryption_key: str | None) -> tuple[int, dict[str, int]]:
    """Write the demo school into an empty database; returns (school id, persona -> person id)."""
    rng = random.Random(SEED)
    used = {("Amira", "Khan"), ("Jordan", "Evans")}
    year_start = school_year_start(today)
    school = seed.school(session, SCHOOL_NAME, created_at=now)
    assert school.id is not None
    sid = school.id
    stamps = {"created_at": now, "updated_at": now}

    def new_staff(given: str, family: str, role: StaffRole, **more: object) -> Person:
        return seed.staff(session, sid, given, family, role=role, domain="demo.waymark.school", **stamps, **more)

    tutor_lower = new_staff("Tom", "Hughes", StaffRole.tutor)  # Years 7-9
    tutor = new_staff("Sam", "Patel", StaffRole.tutor)  # Years 10-11: the tutor persona
    tutor_sixth = new_staff("Grace", "Okafor", StaffRole.tutor)  # sixth form
    # As in many small schools, the careers leader is also the designated safeguarding lead, so the
    # demo shows /concerns and no "this school has no DSL" warning.
    leader = new_staff("Priya", "Shah", StaffRole.leader, other_staff_roles=StaffRole.dsl.value)
    tutors = {7: tutor_lower, 8: tutor_lower, 9: tutor_lower, 10: tutor, 11: tutor, 12: tutor_sixth, 13: tutor_sixth}

    def new_pupil(serial: int, year_group: int, **columns: object) -> Person:
        upn = f"D823400{year_start.year % 100:02d}{serial:04d}"
        return seed.random_pupil(
            session,
            rng,
            sid,
            year_group=year_group,
            year_start=year_start,
            upn=upn,
            used=used,
            tutor_id=tutors[year_group].id,
            **{**stamps, **columns},  # type: ignore[arg-type]
        )

    # The pupil persona: Year 10, in the tutor persona's group, with something in every part of her record.
    amira = new_pupil(1, 10, given="Amira", family="Khan", gender="F", send="N", pupil_premium=True)
    pupils = [amira]
    sizes = {7: 9, 8: 9, 9: 8, 10: 9, 11: 9, 12: 8, 13: 8}  # 60, Amira among Year 10
    serial = 2
    for year_group, size in sizes.items():
        for _ in range(size - (1 if year_group == 10 else 0)):
            pupils.append(new_pupil(serial, year_group))
            serial += 1

    # Everything happened in the last 70 days, inside this school year when it is old enough.
    term = _at(max(year_start, today - timedelta(days=70)))
    # Amira's record: a reflection, an encounter, two advice conversations with actions (done, open, overdue).
    assert amira.id is not None
    session.add(
        JournalEntry(
            person_id=amira.id,
            text=_REFLECTIONS[0][0],
            skills=_REFLECTIONS[0][1],
            learned=_REFLECTIONS[0][2],
            created_at=term + timedelta(days=3),
        )
    )
    session.add(
        JournalEntry(
            person_id=amira.id,
            kind="encounter",
            text=_ENCOUNTERS[0][2],
            encounter_type=_ENCOUNTERS[0][0],
            encounter_with=_ENCOUNTERS[0][1],
            created_at=term + timedelta(days=20),
        )
    )
    amira.interests = "Nursing, Healthcare, Science"
    amira.next_step = "School sixth form"
    amira.next_step_at = term + timedelta(days=21)
    session.add(
        Application(
            person_id=amira.id,
            provider="Waymark Demo Academy sixth form",
            course="A levels: Biology, Chemistry, Psychology",
            status="applied",
            created_at=term + timedelta(days=25),
            updated_at=term + timedelta(days=25),
        )
    )
    first = _advice(session, amira, tutor, "tutor_checkin", _ADVICE[1][1], term + timedelta(days=5), encryption_key)
    _action(
        session,
        amira,
        first,
        _ACTIONS[3],
        term.date() + timedelta(days=30),
        term + timedelta(days=28),
        term + timedelta(days=5),
    )
    second = _advice(
        session,
        amira,
        leader,
        "guidance_interview",
        _ADVICE[3][1],
        term + timedelta(days=35),
        encryption_key,
        note="Parent mentioned young carer responsibilities at home; check in with pastoral team.",
    )
    _action(session, amira, second, _ACTIONS[0], today + timedelta(days=21), None, term + timedelta(days=35))
    _action(session, amira, second, _ACTIONS[4], today - timedelta(days=3), None, term + timedelta(days=35))

    # Everyone else: some journals; about half of Years 10-13 have had a guidance conversation this year.
    for pupil in pupils[1:]:
        assert pupil.id is not None
        for _ in range(rng.choice([0, 0, 1, 2])):
            text, skills, learned = rng.choice(_REFLECTIONS)
            session.add(
                JournalEntry(
                    person_id=pupil.id,
                    text=text,
                    skills=skills,
                    learned=learned,
                    created_at=term + timedelta(days=rng.randrange(60)),
                )
            )
        if rng.random() < 0.2:
            kind, who, thought = rng.choice(_ENCOUNTERS)
            session.add(
                JournalEntry(
                    person_id=pupil.id,
                    kind="encounter",
                    text=thought,
                    encounter_type=kind,
                    encounter_with=who,
                    created_at=term + timedelta(days=rng.randrange(60)),
                )
            )
        if (pupil.year_group or 0) >= 10 and rng.random() < 0.5:
            kind, summary = rng.choice(_ADVICE)
            staff = rng.choice([tutors[pupil.year_group or 10], leader])
            when = term + timedelta(days=rng.randrange(50))
            record = _advice(session, pupil, staff, kind, summary, when, encryption_key)
            due = when.date() + timedelta(days=rng.choice([14, 30, 60]))
            done = when + timedelta(days=10) if rng.random() < 0.4 else None
            _action(session, pupil, record, rng.choice(_ACTIONS), due, done, when)
        if pupil.year_group in (11, 13) and rng.random() < 0.6:
            pupil.next_step = rng.choice(
                ["School sixth form", "FE college", "Apprenticeship"]
                if pupil.year_group == 11
                else ["University", "Apprenticeship", "Job with training"]
            )
            pupil.next_step_at = term + timedelta(days=rng.randrange(40))
            session.add(pupil)

    # 40 alumni: Year 11 and Year 13 leavers from three and four summers ago, with three years of destinations.
    alumni: list[Person] = []
    for index in range(40):
        left_year_group = 11 if index % 3 else 13
        left = date(year_start.year - (3 if index < 22 else 4), 7, 20)
        mix = seed.background(rng, left_year_group, date(left.year - 1, 9, 1))
        given, family = ("Jordan", "Evans") if index == 0 else seed.random_name(rng, mix.gender, used)
        person = seed.alumnus(
            session,
            sid,
            given,
            family,
            upn=f"D823400{(left.year - left_year_group + 7) % 100:02d}{9000 + index:04d}",
            **mix.columns(),
            year_group=left_year_group,
            form=f"{left_year_group}{'A' if left_year_group == 11 else 'S'}",
            leaving_date=left,
            email=f"alumnus{index + 1}@example.com",
            **stamps,
        )
        assert person.id is not None
        _destination_rows(session, rng, person, left, left_year_group, now)
        record_consent(session, person.id, ConsentKind.yearly_checkin, True, _at(left - timedelta(days=30)))
        alumni.append(person)

    personas = {"pupil": amira, "tutor": tutor, "leader": leader, "alumnus": alumni[0]}
    return sid, {name: int(p.id or 0) for name, p in personas.items()}


def remove_database(path: Path) -> None:
    """The demo file and SQLite's companions (WAL, shared memory)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def build(path: Path, *, today: date, now: datetime, encryption_key: str | None) -> DemoSchool:
    """A fresh demo database at `path` (any old one there is replaced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_database(path)
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
        with transaction(engine) as session:
            school_id, ids = populate(session, today=today, now=now, encryption_key=encryption_key)
    finally:
        engine.dispose()
    return DemoSchool(path=path, school_id=school_id, person_ids=ids, pupils=60, alumni=40, staff=4)


def persona_codes(engine: Engine, person_ids: dict[str, int], *, days: int = 1) -> dict[str, str]:
    """A fresh one-time sign-in code per persona (persona -> code)."""
    issued: dict[str, str] = {}
    with transaction(engine) as session:
        for persona, person_id in person_ids.items():
            person = session.get(Person, person_id)
            assert person is not None
            issued[persona] = codes.issue(session, person, days=days).code
    return issued
