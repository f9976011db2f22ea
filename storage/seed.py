"""Made-up schools and people: the one builder that `waymark demo`, the benchmarks (bench/) and the
tests use, so the name lists, the date-of-birth rule and the columns of a pupil live in one place.

Each builder takes either an open Session (it adds to the caller's transaction) or an Engine (it
opens and commits a transaction of its own), and returns the row with its id set. Nothing here is
ever written into a real school's database by Waymark itself: only the demo's own file, a
benchmark's scratch database and the tests' databases.
"""

from __future__ import annotations

import csv
import itertools
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine
from sqlmodel import Session, SQLModel

from storage import codes, concerns, identities
from storage.consents import ConsentKind
from storage.db import transaction
from storage.mis.upn import with_check_letter
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
    Consent,
    ConversationState,
    Destination,
    EnrolmentCode,
    JournalEntry,
    LinkAttempt,
    OutboxMessage,
    Person,
    PersonStatus,
    Role,
    School,
    StaffRole,
    TranscriptLine,
    UnreadableUpdate,
    WebSession,
    utcnow,
)
from storage.roster import COLUMNS as ROSTER_COLUMNS

GIVEN_F = (
    "Olivia",
    "Isla",
    "Ava",
    "Zara",
    "Mia",
    "Freya",
    "Chloe",
    "Aisha",
    "Lily",
    "Grace",
    "Ella",
    "Maryam",
    "Sophie",
    "Hannah",
    "Nia",
    "Priya",
    "Ruby",
    "Evie",
    "Fatima",
    "Jessica",
    "Amelia",
    "Ewa",
)
GIVEN_M = (
    "Oliver",
    "Noah",
    "Leo",
    "Mohammed",
    "Jack",
    "Kwame",
    "Arjun",
    "Dylan",
    "Harry",
    "Tomasz",
    "Ravi",
    "Femi",
    "George",
    "Ibrahim",
    "Callum",
    "Ethan",
    "Yusuf",
    "Reece",
    "Luca",
    "Daniel",
    "Kai",
    "Ben",
)
FAMILY = (
    "Smith",
    "Jones",
    "Patel",
    "Williams",
    "Brown",
    "Taylor",
    "Ali",
    "Wilson",
    "Evans",
    "Okafor",
    "Nowak",
    "Hughes",
    "Begum",
    "Wright",
    "Chen",
    "Murphy",
    "Roberts",
    "Mensah",
    "Walker",
    "Hussain",
    "Kowalski",
    "Thompson",
    "O'Neill",
    "Adeyemi",
    "Clarke",
    "Singh",
)
# DfE ethnicity codes, weighted roughly like an English urban comprehensive.
ETHNICITY = (
    ("WBRI", 52),
    ("WOTH", 6),
    ("WIRI", 2),
    ("APKN", 8),
    ("AIND", 6),
    ("ABAN", 4),
    ("BAFR", 7),
    ("BCRB", 3),
    ("MWBC", 4),
    ("MWAS", 2),
    ("CHNE", 2),
    ("AOTH", 2),
    ("NOBT", 2),
)
SEND = (("N", 84), ("K", 13), ("E", 3))  # no need, SEN support, EHC plan

Target = Session | Engine
Row = TypeVar("Row", bound=SQLModel)
_serials = itertools.count(1)


@contextmanager
def _session(target: Target) -> Iterator[Session]:
    if isinstance(target, Session):
        yield target
    else:
        with transaction(target) as session:
            yield session


def _add(target: Target, row: Row) -> Row:
    with _session(target) as session:
        session.add(row)
        session.flush()
        return row


# ---- one of each ----------------------------------------------------------------------------------


def school(target: Target, name: str = "Test Academy", **columns: object) -> School:
    return _add(target, School(name=name, **columns))  # type: ignore[arg-type]


def person(target: Target, school_id: int | None, role: Role, given: str, family: str, **columns: object) -> Person:
    row = Person(school_id=school_id, role=role, given_name=given, family_name=family, **columns)  # type: ignore[arg-type]
    return _add(target, row)


def pupil(
    target: Target,
    school_id: int | None,
    given: str = "Amira",
    family: str = "Khan",
    *,
    year_group: int = 11,
    form: str = "11A",
    dob: date | None = date(2010, 3, 14),
    tutor_id: int | None = None,
    upn: str | None = None,
    **columns: object,
) -> Person:
    """A pupil on roll; without a UPN, a made-up one no other pupil in this process has."""
    upn = upn or f"T{next(_serials):012d}"
    facts = {"year_group": year_group, "form": form, "date_of_birth": dob, "tutor_id": tutor_id}
    return person(target, school_id, Role.pupil, given, family, upn=upn, **{**facts, **columns})


def staff(
    target: Target,
    school_id: int | None,
    given: str = "Sam",
    family: str = "Patel",
    *,
    role: StaffRole = StaffRole.tutor,
    domain: str = "school.example",
    **columns: object,
) -> Person:
    email = f"{given.lower()}.{family.lower()}@{domain}"
    return person(target, school_id, Role.staff, given, family, staff_role=role, email=email, **columns)


def alumnus(
    target: Target,
    school_id: int | None,
    given: str = "Ana",
    family: str = "Silva",
    *,
    upn: str | None = None,
    **columns: object,
) -> Person:
    """Someone who has left the school (role alumnus, status left)."""
    upn = upn or f"L{next(_serials):012d}"
    return person(target, school_id, Role.alumnus, given, family, status=PersonStatus.left, upn=upn, **columns)


def code_for(target: Target, person: Person, days: int = 30) -> str:
    """A fresh one-time sign-in code for the person."""
    with _session(target) as session:
        return codes.issue(session, person, days=days).code


def link(target: Target, person: Person, platform: str, user_id: str) -> None:
    """The person's chat account on a platform (chat id and account id the same)."""
    with _session(target) as session:
        identities.link(session, person, platform, user_id, user_id, utcnow())


# ---- what is on a record ------------------------------------------------------------------------


def journal(target: Target, person: Person, text: str, **columns: object) -> JournalEntry:
    return _add(target, JournalEntry(person_id=person.id, text=text, **columns))  # type: ignore[arg-type]


def advice(target: Target, pupil: Person, staff: Person, kind: str, summary: str, **columns: object) -> AdviceRecord:
    """A conversation a member of staff recorded (`staff_note` is stored as given: encrypt it first)."""
    row = AdviceRecord(pupil_id=pupil.id, staff_id=staff.id, kind=kind, summary=summary, **columns)  # type: ignore[arg-type]
    return _add(target, row)


def action(
    target: Target, pupil: Person, advice: AdviceRecord, text: str, *, done: datetime | None = None, **columns: object
) -> AgreedAction:
    """An action agreed in that conversation; open unless `done` says when it was done."""
    row = AgreedAction(
        pupil_id=pupil.id,  # type: ignore[arg-type]
        advice_id=advice.id,
        text=text,
        status="done" if done else "open",
        done_at=done,
        **columns,  # type: ignore[arg-type]
    )
    return _add(target, row)


def application(target: Target, person: Person, provider: str, **columns: object) -> Application:
    return _add(target, Application(person_id=person.id, provider=provider, **columns))  # type: ignore[arg-type]


# ---- the realistic random mix ---------------------------------------------------------------------


def concern(
    target: Target,
    pupil: Person,
    *,
    key: str,
    at: datetime,
    words: str,
    phrase: str = "hit me",
    category: str = "harm_by_adult",
    context: list[str] | None = None,
    channel: str = "telegram",
) -> concerns.Raised:
    """A concern a pupil's own words raised (what screening records), encrypted with `key`."""
    with _session(target) as session:
        return concerns.raise_concern(
            session,
            key=key,
            school_id=pupil.school_id,
            subject_id=pupil.id or 0,
            raised_by_id=pupil.id,
            source="screening",
            category=category,
            phrase=phrase,
            words=words,
            context=context if context is not None else [words],
            channel=channel,
            now=at,
        )


def weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...] | list[tuple[str, int]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def born_for(rng: random.Random, year_group: int, year_start: date) -> date:
    """A date of birth for a pupil in this year group in the school year starting `year_start`:
    Year 7 pupils turn 12 during the school year that starts in September."""
    born_from = date(year_start.year - year_group - 5, 9, 1)
    return born_from + timedelta(days=rng.randrange(365))


def random_name(rng: random.Random, gender: str, used: set[tuple[str, str]] | None = None) -> tuple[str, str]:
    """A given and family name; with `used`, one no one in it has (it is added), so lists read easily."""
    while True:
        pair = (rng.choice(GIVEN_F if gender == "F" else GIVEN_M), rng.choice(FAMILY))
        if used is None:
            return pair
        if pair not in used:
            used.add(pair)
            return pair


@dataclass(frozen=True)
class Background:
    """What a school's MIS holds about a pupil besides name, year and form, in a realistic mix."""

    gender: str
    date_of_birth: date
    ethnicity: str
    send: str
    pupil_premium: bool
    fsm: bool
    eal: bool
    looked_after: bool
    young_carer: bool
    attendance: float
    exclusions: int

    def columns(self) -> dict[str, object]:
        return asdict(self)


def background(rng: random.Random, year_group: int, year_start: date, gender: str | None = None) -> Background:
    return Background(
        gender=gender or rng.choice("MF"),
        date_of_birth=born_for(rng, year_group, year_start),
        ethnicity=weighted(rng, ETHNICITY),
        send=weighted(rng, SEND),
        pupil_premium=rng.random() < 0.26,
        fsm=rng.random() < 0.22,
        eal=rng.random() < 0.17,
        looked_after=rng.random() < 0.02,
        young_carer=rng.random() < 0.04,
        attendance=round(min(100.0, max(60.0, rng.gauss(93.5, 5.5))), 1),
        exclusions=rng.choices([0, 1, 2], weights=[92, 6, 2])[0],
    )


def random_pupil(
    target: Target,
    rng: random.Random,
    school_id: int | None,
    *,
    year_group: int,
    year_start: date,
    upn: str,
    used: set[tuple[str, str]] | None = None,
    given: str | None = None,
    family: str | None = None,
    gender: str | None = None,
    **columns: object,
) -> Person:
    """A pupil with a made-up name (unless given) and background; `columns` win over the mix."""
    mix = background(rng, year_group, year_start, gender)
    if given is None or family is None:
        given, family = random_name(rng, mix.gender, used)
    facts = {k: v for k, v in mix.columns().items() if k != "date_of_birth"}
    return pupil(
        target,
        school_id,
        given,
        family,
        year_group=year_group,
        form=f"{year_group}{'A' if year_group <= 11 else 'S'}",
        dob=mix.date_of_birth,
        upn=upn,
        **{**facts, **columns},  # type: ignore[arg-type]
    )


def write_roster(count: int, path: Path, seed: int = 7, tutor_email: str = "", today: date = date(2025, 9, 1)) -> None:
    """A roster CSV of `count` pupils as a school's MIS exports it: shuffled header, BOM and CRLF line
    endings (as Excel writes), valid UPNs, the realistic mix. The same seed writes the same file."""
    rng = random.Random(seed)
    header = list(ROSTER_COLUMNS)
    rng.shuffle(header)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\r\n")
        writer.writeheader()
        for n in range(count):
            year = 7 + n % 7
            mix = background(rng, year, today)
            given, family = random_name(rng, mix.gender)
            flag = {True: "Y", False: "N"}
            writer.writerow(
                {
                    "upn": with_check_letter(f"823400{n:06d}"),
                    "given_name": given,
                    "preferred_name": "",
                    "family_name": family,
                    "date_of_birth": mix.date_of_birth.strftime("%d/%m/%Y"),
                    "year_group": year,
                    "form": f"{year}{'ABCD'[n % 4]}",
                    "gender": mix.gender,
                    "ethnicity": mix.ethnicity,
                    "send": mix.send,
                    "pupil_premium": flag[mix.pupil_premium],
                    "fsm": flag[mix.fsm],
                    "tutor_email": tutor_email,
                    "leaving_date": "",
                    "eal": flag[mix.eal],
                    "looked_after": flag[mix.looked_after],
                    "young_carer": flag[mix.young_carer],
                    "attendance": f"{mix.attendance:.1f}",
                    "exclusions": mix.exclusions,
                }
            )


# ---- many at once, for load ----------------------------------------------------------------------


def numbered_pupils(
    session: Session, school_id: int, count: int, *, upn_prefix: str = "B", **columns: object
) -> list[Person]:
    """`count` pupils named Pupil0, Pupil1, ... Bench, added in one flush."""
    people = [
        Person(
            school_id=school_id,
            role=Role.pupil,
            upn=f"{upn_prefix}{i:012d}",
            given_name=f"Pupil{i}",
            family_name="Bench",
            **columns,  # type: ignore[arg-type]
        )
        for i in range(count)
    ]
    session.add_all(people)
    session.flush()
    return people


def chats_for(session: Session, people: list[Person], platform: str, first_chat: int) -> None:
    """A linked chat account each, numbered from `first_chat` (chat id and account id the same)."""
    now = utcnow()
    session.add_all(
        ChatIdentity(
            platform=platform,
            external_id=str(first_chat + i),
            chat_id=str(first_chat + i),
            person_id=p.id,
            linked_at=now,
        )
        for i, p in enumerate(people)
        if p.id is not None
    )


def consenting_alumni(
    session: Session,
    school_id: int,
    count: int,
    *,
    leaving: date,
    first_chat: int,
    platform: str = "telegram",
    upn_prefix: str = "B",
    family: str = "Bench",
    now: datetime | None = None,
) -> list[int]:
    """`count` alumni who left on `leaving`, each with a linked chat account (numbered from
    `first_chat`) and consent to the yearly check-in, inserted in bulk; returns their ids."""
    now = now or utcnow()
    people = [
        {
            "school_id": school_id,
            "role": Role.alumnus.value,
            "status": PersonStatus.left.value,
            "given_name": f"Alum{i}",
            "family_name": family,
            "upn": f"{upn_prefix}{first_chat + i:012d}",
            "leaving_date": leaving,
            "send": "N",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(count)
    ]
    if not people:
        return []
    conn = session.connection()
    person_table = Person.__table__  # type: ignore[attr-defined]
    inserted = conn.execute(person_table.insert().returning(person_table.c.id, sort_by_parameter_order=True), people)
    ids = [int(row[0]) for row in inserted.all()]
    conn.execute(
        ChatIdentity.__table__.insert(),  # type: ignore[attr-defined]
        [
            {
                "platform": platform,
                "external_id": str(first_chat + k),
                "chat_id": str(first_chat + k),
                "person_id": pid,
                "linked_at": now,
            }
            for k, pid in enumerate(ids)
        ],
    )
    conn.execute(
        Consent.__table__.insert(),  # type: ignore[attr-defined]
        [
            {
                "person_id": pid,
                "kind": ConsentKind.yearly_checkin.value,
                "granted": True,
                "channel": platform,
                "recorded_at": now,
            }
            for pid in ids
        ],
    )
    return ids


# ---- one pupil with a row in every table that can hold something about them ------------------------


@dataclass(frozen=True)
class Everything:
    """A pupil with every kind of record, the staff around them, and per table a value that is
    in that table's row about them and nowhere else (what an export must show)."""

    pupil: Person
    tutor: Person
    dsl: Person
    markers: dict[str, str]  # table -> a value only that table's row holds
    staff_only: tuple[str, ...]  # words of staff-only notes and safeguarding records


def _at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 8, 7, 6, tzinfo=UTC)


def every_kind_of_record(engine: Engine, key: str) -> Everything:
    """The pupil subject access tests export (tests/test_subject_access.py); staff-only words
    encrypted with `key`."""
    from storage import crypto  # here: only this builder encrypts

    words = {
        "advicerecord": "Marker staff-only: Mum mentioned money worries",
        "concern": "Marker concern: he hits me at home",
        "concernnote": "Marker DSL note: spoke to social care",
    }
    with transaction(engine) as s:
        where = school(s, "Everything Academy")
        tutor = staff(s, where.id, "Tara", "Tutor")
        dsl = staff(s, where.id, "Dev", "Lead", role=StaffRole.dsl)
        kid = pupil(
            s, where.id, "Zuzanna", "Wiśniewska-Ó'Brien", tutor_id=tutor.id, interests="Marker interests: robotics"
        )
        assert kid.id is not None and tutor.id is not None and dsl.id is not None
        tg = "tg-ident-4411"
        s.add(ChatIdentity(platform="telegram", external_id=tg, chat_id=tg, person_id=kid.id))
        s.add(WebSession(token_hash="h" * 64, person_id=kid.id, external_id="websess-5522", csrf_token="c" * 20))
        s.add(EnrolmentCode(person_id=kid.id, code_hash="e" * 64, expires_at=_at(2031, 7, 9)))
        s.add(LinkAttempt(platform="telegram", external_id=tg, failures=2, locked_until=_at(2031, 1, 2)))
        s.add(CaseloadAssignment(staff_id=dsl.id, pupil_id=kid.id, created_at=_at(2031, 2, 3)))
        s.add(JournalEntry(person_id=kid.id, text="Marker journal: built a robot arm", skills="Teamwork"))
        s.add(Application(person_id=kid.id, provider="Marker College of Arts", course="Design"))
        note = crypto.encrypt(key, words["advicerecord"])
        talk = advice(s, kid, tutor, "guidance_interview", "Marker advice: apprenticeships", staff_note=note)
        action(s, kid, talk, "Marker action: visit the open day")
        s.add(
            Destination(
                person_id=kid.id,
                year_after_leaving=1,
                category="College",
                nccis_code=230,
                group="education",
                provider="Marker Destination Ltd",
            )
        )
        s.add(Consent(person_id=kid.id, kind=ConsentKind.yearly_checkin, granted=True, recorded_at=_at(2031, 3, 4)))
        s.add(
            Checkin(
                person_id=kid.id, campaign_year=2031, year_after_leaving=1, channel="telegram", sent_at=_at(2031, 4, 5)
            )
        )
        s.add(CheckinLink(token_hash="l" * 64, person_id=kid.id, expires_at=_at(2031, 5, 6)))
        s.add(
            OutboxMessage(
                key="marker:1", person_id=kid.id, platform="telegram", chat_id=tg, text="Marker outbox: your check-in"
            )
        )
        s.add(
            TranscriptLine(
                identity_key="web:websess-5522", person_id=kid.id, direction="in", text="Marker transcript: hello"
            )
        )
        s.add(
            UnreadableUpdate(
                platform="telegram",
                update_id="880011",
                kind="message",
                identity_key=f"telegram:{tg}",
                raw=crypto.encrypt(key, '{"message": {"text": "Marker unreadable update"}}'),
            )
        )
        s.add(
            ChatFile(
                identity_key="web:websess-5522",
                person_id=kid.id,
                name="marker-file.csv",
                content_type="text/csv",
                body=b"a,b",
            )
        )
        s.add(
            ConversationState(
                platform="telegram", external_id=tg, state="reflect.what", data='{"marker": "Marker state"}'
            )
        )
        s.add(
            AuditEvent(
                school_id=where.id or 0,
                actor_id=tutor.id,
                action="view_pupil",
                subject_id=kid.id,
                detail="Marker audit detail",
            )
        )
        raised = concern(s, kid, key=key, at=_at(2031, 6, 7), words=words["concern"], phrase="hits me")
        concerns.add_note(s, raised.concern, dsl.id, words["concernnote"], key, _at(2031, 6, 8))
        s.flush()
    markers = {
        "person": "Wiśniewska-Ó'Brien",
        "chatidentity": tg,
        "websession": "websess-5522",
        "enrolmentcode": _at(2031, 7, 9).isoformat(),
        "linkattempt": _at(2031, 1, 2).isoformat(),
        "caseloadassignment": _at(2031, 2, 3).isoformat(),
        "journalentry": "Marker journal: built a robot arm",
        "application": "Marker College of Arts",
        "advicerecord": "Marker advice: apprenticeships",
        "agreedaction": "Marker action: visit the open day",
        "destination": "Marker Destination Ltd",
        "consent": _at(2031, 3, 4).isoformat(),
        "checkin": _at(2031, 4, 5).isoformat(),
        "checkinlink": _at(2031, 5, 6).isoformat(),
        "outboxmessage": "Marker outbox: your check-in",
        "transcriptline": "Marker transcript: hello",
        "chatfile": "marker-file.csv",
        "unreadableupdate": "Marker unreadable update",
        "conversationstate": "Marker state",
        "auditevent": "Marker audit detail",
        "concern": words["concern"],
        "concernnote": words["concernnote"],
    }
    return Everything(kid, tutor, dsl, markers, tuple(words.values()))
