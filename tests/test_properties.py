"""Random conversations from several people at once: dispatch never raises, never shows one person's
words to someone who may not read them, and never loses a saved record.

People per example: two pupils (Amira, whose tutor is Sam, and Ben, who is in nobody's caseload),
Sam the tutor, Lee the careers leader (who may see every pupil of the school), Ana an alumna with a
destination on record, and a stranger whose chat is not linked. Every command registered in
`handlers.registry.COMMANDS` is in the mix, so conversations added later are covered too.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import select

from core.settings import load_settings
from handlers import Dispatcher
from handlers.registry import COMMANDS
from storage import seed
from storage.db import transaction
from storage.models import (
    AdviceRecord,
    AgreedAction,
    Application,
    Destination,
    JournalEntry,
    Person,
    PersonStatus,
    Role,
    StaffRole,
)
from tests.chat import Chat

ACTORS = ("amira", "ben", "tutor", "leader", "alumna", "stranger")
PUPILS = ("amira", "ben")
STAFF = ("tutor", "leader")
NOTE = "zqnote"  # in every staff-only note: no pupil may ever see it

ODD_TEXTS = [
    "",
    "   ",
    "x" * 10_000,
    "y" * 4001,
    "🚀👩🏽‍🔬🇬🇧" * 50,
    "مرحبا بالعالم، هذا نص من اليمين إلى اليسار",
    "<b>bold</b> & *stars* _u_ `code` [l](http://x) <script>alert(1)</script>",
    "done",
    "Teamwork, Leadership",
    "skip",
    "careers fair",
    "applied",
    "Amira",
    "Ben",
    "11A",
    "by 12 Dec",
    "2026-12-12",
    "ABCDE-23456",
    "ABCDE23456",
    "/",
    "/ reflect",
]
ARGS = ["", "2", "99", "done 1", "done", "Amira", "Ben", "Khan", "11A", "hello there"]
# Button data a forged client might send; {action}/{app}/{advice}/{person} are the OTHER pupil's ids.
FORGED = [
    "/actions done {action}",
    "/record 2",
    "/pupil {person}",
    "ns:app:{app}",
    "ns:st:accepted",
    "sk:0",
    "sk:99",
    "sk:done",
    "enc:careers_fair",
    "int:clear",
    "learned:skip",
    "{action}",
    "{person}",
    "pupil:{person}",
    "view:{person}",
    "log:{person}",
    "done:{action}",
    "zz" * 40,
]

# Every registered command; the ones that show or change a record come up more often.
COMMAND_NAMES = [*sorted(COMMANDS), "record", "record", "actions", "actions", "nextstep", "pupil", "caseload"]

step = st.one_of(
    st.tuples(st.just("text"), st.sampled_from(ACTORS), st.one_of(st.text(max_size=40), st.sampled_from(ODD_TEXTS))),
    st.tuples(st.just("mark"), st.sampled_from(ACTORS), st.just("")),
    st.tuples(st.just("reflect"), st.sampled_from(ACTORS), st.just("")),
    st.tuples(
        st.just("command"),
        st.sampled_from(ACTORS),
        st.builds(lambda n, a: f"/{n} {a}".strip(), st.sampled_from(COMMAND_NAMES), st.sampled_from(ARGS)),
    ),
    st.tuples(st.just("press"), st.sampled_from(ACTORS), st.integers(0, 30).map(str)),
    st.tuples(st.just("forge"), st.sampled_from(ACTORS), st.sampled_from(FORGED)),
    st.tuples(st.just("photo"), st.sampled_from(ACTORS), st.just("")),
    st.tuples(st.just("restart"), st.sampled_from(ACTORS), st.just("")),
)

_run = itertools.count()
ALL_MARKERS: dict[str, str] = {}  # marker -> "world:actor", across every example (they share one database)


@dataclass
class World:
    run: int
    engine: Engine
    dispatcher: Dispatcher
    chats: dict[str, Chat]
    people: dict[str, Person]
    markers: dict[str, list[str]] = field(default_factory=dict)  # actor -> marker strings they typed
    ids: dict[str, dict[str, int]] = field(default_factory=dict)  # pupil -> seeded row ids


def build_world(engine: Engine) -> World:
    run = next(_run)
    school = seed.school(engine, f"School {run}")
    tutor = seed.staff(engine, school.id, "Sam", f"Patel{run}")
    amira = seed.pupil(engine, school.id, "Amira", "Khan", form="11A", tutor_id=tutor.id)
    ben = seed.pupil(engine, school.id, "Ben", "Ward", form="11B")
    leader = seed.staff(engine, school.id, "Lee", f"Morgan{run}", role=StaffRole.leader)
    with transaction(engine) as s:
        alumna = Person(
            school_id=school.id,  # type: ignore[arg-type]
            role=Role.alumnus,
            status=PersonStatus.left,
            upn=f"ALUM{run:09d}",
            given_name="Ana",
            family_name="Silva",
        )
        s.add(alumna)
        s.flush()
    people = {"amira": amira, "ben": ben, "tutor": tutor, "leader": leader, "alumna": alumna}
    dispatcher = Dispatcher(engine, load_settings(database_url="sqlite://"))
    chats = {name: Chat(dispatcher, f"r{run}-{name}") for name in ACTORS}
    for name, person in people.items():
        seed.link(engine, person, "console", chats[name].user_id)
    world = World(run, engine, dispatcher, chats, people, markers={name: [] for name in ACTORS})
    for name in PUPILS:
        world.ids[name] = seed_records(engine, world, name)
    with transaction(engine) as s:  # Ana's first-year destination, in her own words
        provider = new_marker(world, "alumna")
        s.add(
            Destination(
                person_id=alumna.id,  # type: ignore[arg-type]
                year_after_leaving=1,
                category="apprenticeship",
                nccis_code=310,
                group="apprenticeship",
                provider=provider,
            )
        )
    return world


def seed_records(engine: Engine, world: World, name: str) -> dict[str, int]:
    """A saved journal entry, advice with a staff-only note and an open action, and an application."""
    pupil, tutor = world.people[name], world.people["tutor"]
    entry, advice, action = (new_marker(world, name) for _ in range(3))
    with transaction(engine) as s:
        s.add(JournalEntry(person_id=pupil.id, text=entry))  # type: ignore[arg-type]
        record = AdviceRecord(
            pupil_id=pupil.id,  # type: ignore[arg-type]
            staff_id=tutor.id,  # type: ignore[arg-type]
            kind="guidance_interview",
            summary=advice,
            staff_note=f"{NOTE}-{name}".encode(),
        )
        s.add(record)
        s.flush()
        act = AgreedAction(pupil_id=pupil.id, advice_id=record.id, text=action)  # type: ignore[arg-type]
        app = Application(person_id=pupil.id, provider=new_marker(world, name))  # type: ignore[arg-type]
        s.add(act)
        s.add(app)
        s.flush()
        assert act.id is not None and app.id is not None and record.id is not None and pupil.id is not None
        return {"action": act.id, "app": app.id, "advice": record.id, "person": pupil.id}


def new_marker(world: World, actor: str) -> str:
    # Fixed length, so how the bot reads it never depends on how many examples ran before.
    marker = f"mk{actor[:2]}{len(world.markers[actor]):03d}q{next(_run) % 1_000_000:06d}"
    world.markers[actor].append(marker)
    ALL_MARKERS[marker] = f"{world.run}:{actor}"
    return marker


def saved_rows(engine: Engine) -> dict[str, dict[int, str]]:
    """Every saved row's id and the words it was saved with."""
    with transaction(engine, write=False) as s:
        return {
            "journal": {r.id: r.text for r in s.exec(select(JournalEntry)).all()},  # type: ignore[misc]
            "advice": {r.id: r.summary for r in s.exec(select(AdviceRecord)).all()},  # type: ignore[misc]
            "action": {r.id: r.text for r in s.exec(select(AgreedAction)).all()},  # type: ignore[misc]
            "application": {r.id: r.provider for r in s.exec(select(Application)).all()},  # type: ignore[misc]
            "destination": {r.id: r.provider for r in s.exec(select(Destination)).all()},  # type: ignore[misc]
        }


def states_of(engine: Engine, world: World, pupil: str) -> dict[str, object]:
    """What only the pupil (or staff) may change: their actions' and applications' status, interests, plan."""
    person_id = world.people[pupil].id
    with transaction(engine, write=False) as s:
        person = s.get(Person, person_id)
        assert person is not None
        return {
            "actions": {r.id: r.status for r in s.exec(select(AgreedAction).where(AgreedAction.pupil_id == person_id))},
            "applications": {
                r.id: r.status for r in s.exec(select(Application).where(Application.person_id == person_id))
            },
            "interests": person.interests,
            "next_step": person.next_step,
        }


def forbidden_for(world: World, actor: str) -> list[str]:
    """Words this actor must never be shown: every other person's markers, in this school or any other,
    except that Sam may read Amira's (his tutee; Ben is in nobody's caseload), Lee may read anything
    in this school (every pupil's record, where leavers went), and a pupil may read what staff wrote
    (it may be advice about them). Another school's words are forbidden to everyone."""
    allowed = {f"{world.run}:{actor}"}
    if actor == "tutor":
        allowed.add(f"{world.run}:amira")
    if actor == "leader":
        allowed |= {f"{world.run}:{name}" for name in ACTORS}
    if actor in PUPILS:
        allowed |= {f"{world.run}:{name}" for name in STAFF}
    return [marker for marker, owner in ALL_MARKERS.items() if owner not in allowed]


def play(world: World, kind: str, actor: str, value: str) -> None:
    chat = world.chats[actor]
    if kind == "restart":
        # A new process: the same database, a fresh dispatcher; every chat carries on.
        world.dispatcher = Dispatcher(world.engine, world.dispatcher.settings)
        for c in world.chats.values():
            c.dispatcher = world.dispatcher
        return
    if kind == "text":
        chat.say(value)
    elif kind == "mark":
        chat.say(new_marker(world, actor))
    elif kind == "reflect":
        marker = new_marker(world, actor)
        chat.say(f"/reflect {marker}")
        if actor in PUPILS:
            assert "Saved to your journal" in chat.text
            with transaction(world.engine, write=False) as s:
                saved = s.exec(select(JournalEntry).where(JournalEntry.text == marker)).all()
            assert [e.person_id for e in saved] == [world.people[actor].id]
    elif kind == "command":
        chat.say(value)
    elif kind == "press":
        offered = [b for r in chat.last for row in r.buttons for b in row]
        if offered:
            chat.press_data(offered[int(value) % len(offered)].data)
        else:
            chat.say("/help")
    elif kind == "forge":
        other = "ben" if actor == "amira" else "amira"
        chat.press_data(value.format(**world.ids[other]))
    elif kind == "photo":
        chat.send_photo()


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=25))
def test_random_conversations_never_raise_leak_or_lose(sqlite_only: Engine, steps: list[tuple[str, str, str]]) -> None:
    world = build_world(sqlite_only)
    before = saved_rows(sqlite_only)
    for kind, actor, value in steps:
        untouchable = {p: states_of(sqlite_only, world, p) for p in PUPILS if p != actor}
        play(world, kind, actor, value)
        if actor not in STAFF:
            for pupil, state in untouchable.items():
                assert states_of(sqlite_only, world, pupil) == state, f"{actor} changed {pupil}'s record with {value!r}"
        shown = "\n".join(
            r.text + " " + " ".join(b.label for row in r.buttons for b in row) for r in world.chats[actor].last
        )
        for marker in forbidden_for(world, actor):
            assert marker not in shown, f"{actor} was shown {marker!r} after {kind} {value!r}"
        if actor not in STAFF:
            assert NOTE not in shown, f"{actor} was shown a staff-only note"
        after = saved_rows(sqlite_only)
        for table, rows in before.items():
            lost = {i: t for i, t in rows.items() if after[table].get(i) != t}
            assert not lost, f"{table} rows lost or changed after {kind} {value!r}: {lost}"
        before = after
