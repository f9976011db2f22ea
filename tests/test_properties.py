"""Random conversations from several people at once: dispatch never raises, never shows one person's
words to someone who may not read them, and never loses a saved record.

People per example: two pupils (Amira, whose tutor is Sam, and Ben, who is in nobody's caseload),
Sam the tutor, Lee the careers leader (who may see every pupil of the school), Dee the safeguarding
lead (who may open any pupil's record and the concerns, whose words nobody else may see), Ana an
alumna with a destination on record, and a stranger whose chat is not linked; in another school, a second Amira
Khan with a tutor called Sam Patel, whose words no one here may see. Every command registered in
`handlers.registry.COMMANDS` (after loading every conversation) is in the mix, so conversations
added later are covered too; buttons are pressed from what the last reply offered, and forged.

Each example plays on a fresh copy of one template SQLite file, so its cost stays flat however many
ran before. WAYMARK_TEST_EXAMPLES sets how many (1,500 by default: enough that every command and
every role's buttons come up, and the suite stays under ten minutes on the 2-core CI machine; run
more before a release); the end prints what was sent.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import select

from core.settings import load_settings
from handlers import Dispatcher, texts
from handlers.registry import COMMANDS, load_conversations
from storage import concerns, crypto, identities, seed
from storage.db import make_engine, transaction
from storage.models import (
    Destination,
    JournalEntry,
    Person,
    StaffRole,
)
from tests.chat import Chat

# Every conversation registers before the commands are read, so none is left out of the mix.
load_conversations()

# How many random conversations: 2,000 by default (CI); fewer for a quick local run.
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday in term, in this year's campaign window
EXAMPLES = int(os.environ.get("WAYMARK_TEST_EXAMPLES", "1500"))

ACTORS = ("amira", "ben", "tutor", "leader", "dsl", "alumna", "stranger")
ROLE_OF = {"amira": "pupil", "ben": "pupil", "tutor": "tutor", "leader": "leader", "dsl": "dsl", "alumna": "alumnus"}
ROLE_OF["stranger"] = "stranger"
OTHER = "other"  # the owner of every word written in another school: forbidden to everyone here
PUPILS = ("amira", "ben")
STAFF = ("tutor", "leader")
NOTE = "zqnote"  # in every staff-only note: no pupil may ever see it
CONCERN = "concern"  # the owner of a concern's words: only the safeguarding lead may read them
KEY = crypto.new_key()  # concerns are never kept unencrypted

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
# Button data a forged client might send; {action}/{app}/{advice}/{person}/{concern} are the OTHER pupil's ids.
FORGED = [
    "/concerns {concern}",
    "/concerns {concern} ack",
    "/concerns {concern} note",
    "/concerns {concern} close",
    "outcome:police",
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
    "/log #{person}",
    "/pupil #{person}",
    "/record 9",
    "/report destinations 2026",
    "/report benchmark3",
    "kind:guidance_interview",
    "act:done",
    "due:none",
    "note:none",
    "dest:university",
    "ch:telegram-new",
    "ch:slack",
    "yes",
    "no",
    "skip",
    "zz" * 40,
]

# Every registered command; the ones that show or change a record come up more often.
COMMAND_NAMES = [*sorted(COMMANDS), "record", "record", "actions", "actions", "nextstep", "pupil", "caseload"]

command_text = st.builds(lambda n, a: f"/{n} {a}".strip(), st.sampled_from(COMMAND_NAMES), st.sampled_from(ARGS))
# A command and then a run of presses on whatever each reply offers: "/log Amira|3,0,7".
walk_text = st.builds(
    lambda c, presses: f"{c}|{','.join(map(str, presses))}", command_text, st.lists(st.integers(0, 30), max_size=6)
)

step = st.one_of(
    st.tuples(st.just("text"), st.sampled_from(ACTORS), st.one_of(st.text(max_size=40), st.sampled_from(ODD_TEXTS))),
    st.tuples(st.just("mark"), st.sampled_from(ACTORS), st.just("")),
    st.tuples(st.just("reflect"), st.sampled_from(ACTORS), st.just("")),
    st.tuples(st.just("command"), st.sampled_from(ACTORS), command_text),
    st.tuples(st.just("walk"), st.sampled_from(ACTORS), walk_text),
    st.tuples(st.just("press"), st.sampled_from(ACTORS), st.integers(0, 30).map(str)),
    st.tuples(st.just("forge"), st.sampled_from(ACTORS), st.sampled_from(FORGED)),
    st.tuples(st.just("photo"), st.sampled_from(ACTORS), st.just("")),
    st.tuples(st.just("restart"), st.sampled_from(ACTORS), st.just("")),
)

_markers = itertools.count()


@dataclass
class World:
    engine: Engine
    dispatcher: Dispatcher
    chats: dict[str, Chat]
    people: dict[str, Person]
    owners: dict[str, str] = field(default_factory=dict)  # marker -> the actor who wrote it (or OTHER)
    ids: dict[str, dict[str, int]] = field(default_factory=dict)  # pupil -> seeded row ids


def build_world(engine: Engine) -> World:
    """Sam's school with its five people and their saved words, and another school whose pupil is
    also called Amira Khan (with words of her own, forbidden to everyone in Sam's school)."""
    school = seed.school(engine, "Hillside Academy")
    tutor = seed.staff(engine, school.id, "Sam", "Patel")
    amira = seed.pupil(engine, school.id, "Amira", "Khan", form="11A", tutor_id=tutor.id)
    ben = seed.pupil(engine, school.id, "Ben", "Ward", form="11B")
    leader = seed.staff(engine, school.id, "Lee", "Morgan", role=StaffRole.leader)
    dsl = seed.staff(engine, school.id, "Dee", "Lead", role=StaffRole.dsl)
    # Ana left in 2025: what she says now is her second year, so last year's answer stays on record.
    alumna = seed.alumnus(engine, school.id, "Ana", "Silva", leaving_date=date(2025, 7, 18))
    people = {"amira": amira, "ben": ben, "tutor": tutor, "leader": leader, "dsl": dsl, "alumna": alumna}
    settings = load_settings(database_url="sqlite://", encryption_key=KEY)
    world = World(engine, Dispatcher(engine, settings, clock=lambda: NOW), {}, people)
    for name, person in people.items():
        seed.link(engine, person, "console", name)
    for name in PUPILS:
        world.ids[name] = seed_records(world, name)
    with transaction(engine) as s:  # Ana's first-year destination, in her own words, a year ago
        provider = new_marker(world, "alumna")
        s.add(
            Destination(
                person_id=alumna.id,  # type: ignore[arg-type]
                year_after_leaving=1,
                category="apprenticeship",
                nccis_code=310,
                group="apprenticeship",
                provider=provider,
                source="alumnus",
                reported_at=NOW - timedelta(days=365),
            )
        )
    elsewhere = seed.school(engine, "Far Away High")
    far_tutor = seed.staff(engine, elsewhere.id, "Sam", "Patel", domain="far.example")
    far_amira = seed.pupil(engine, elsewhere.id, "Amira", "Khan", form="11A", tutor_id=far_tutor.id)
    far = World(engine, world.dispatcher, {}, {"amira": far_amira, "tutor": far_tutor}, world.owners)
    seed_records(far, "amira", owner=OTHER)
    return world


def seed_records(world: World, name: str, owner: str | None = None) -> dict[str, int]:
    """A saved journal entry, advice with a staff-only note and an open action, an application, and a
    safeguarding concern (its words and context readable by the school's DSL alone)."""
    owner = owner or name
    pupil, tutor = world.people[name], world.people["tutor"]
    entry, advice, action, provider = (new_marker(world, owner) for _ in range(4))
    words, before = (new_marker(world, OTHER if owner == OTHER else CONCERN) for _ in range(2))
    with transaction(world.engine) as s:
        seed.journal(s, pupil, entry)
        record = seed.advice(s, pupil, tutor, "guidance_interview", advice, staff_note=f"{NOTE}-{name}".encode())
        act = seed.action(s, pupil, record, action)
        app = seed.application(s, pupil, provider)
        assert act.id is not None and app.id is not None and record.id is not None and pupil.id is not None
        concern = concerns.raise_concern(
            s,
            key=KEY,
            school_id=pupil.school_id,
            subject_id=pupil.id,
            raised_by_id=pupil.id,
            source="screening",
            category="self_harm",
            phrase=words,
            words=words,
            context=[before, words],
            channel="console",
            now=NOW - timedelta(hours=2),
        ).concern
        assert concern.id is not None
        return {"action": act.id, "app": app.id, "advice": record.id, "person": pupil.id, "concern": concern.id}


def new_marker(world: World, owner: str) -> str:
    # Fixed length, so how the bot reads it never depends on how many examples ran before.
    marker = f"mk{owner[:2]}q{next(_markers) % 1_000_000:06d}"
    world.owners[marker] = owner
    return marker


@dataclass
class Template:
    """The world built once into a SQLite file; each example plays on a copy of it, so every
    example starts from the same small database and costs the same however many ran before."""

    path: Path
    world: World


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    from tests.conftest import sqlite_engine

    path = tmp_path_factory.mktemp("template") / "world.db"
    engine = sqlite_engine(path)
    world = build_world(engine)
    engine.dispose()  # closes the file, so the WAL is folded into it and one copy holds everything
    yield Template(path, world)


def fresh_world(template: Template, path: Path) -> World:
    shutil.copyfile(template.path, path)
    engine = make_engine(f"sqlite:///{path}")
    dispatcher = Dispatcher(engine, template.world.dispatcher.settings, clock=lambda: NOW)
    chats = {name: Chat(dispatcher, name) for name in ACTORS}
    return replace(
        template.world, engine=engine, dispatcher=dispatcher, chats=chats, owners=dict(template.world.owners)
    )


@dataclass(frozen=True)
class Snapshot:
    """The database after a step, read in one transaction: every saved row's id and the words it
    was saved with, and per pupil what only they (or staff) may change."""

    saved: dict[str, dict[int, str]]
    states: dict[str, dict[str, object]]


def snapshot(world: World) -> Snapshot:
    # Plain SQL on one connection: this runs after every step, and its cost is most of the test's.
    with world.engine.connect() as conn:

        def rows(sql: str) -> list[Any]:
            return list(conn.exec_driver_sql(sql).all())

        actions = rows("SELECT id, text, pupil_id, status FROM agreedaction")
        apps = rows("SELECT id, provider, person_id, status FROM application")
        people = {r[0]: r[1:] for r in rows("SELECT id, interests, next_step FROM person")}
        saved = {
            "journal": dict(rows("SELECT id, text FROM journalentry")),
            "advice": dict(rows("SELECT id, summary FROM advicerecord")),
            "action": {r[0]: r[1] for r in actions},
            "application": {r[0]: r[1] for r in apps},
            "destination": dict(rows("SELECT id, provider FROM destination")),
        }
    states: dict[str, dict[str, object]] = {}
    for pupil in PUPILS:
        person_id = world.people[pupil].id
        interests, next_step = people[person_id]
        states[pupil] = {
            "actions": {r[0]: r[3] for r in actions if r[2] == person_id},
            "applications": {r[0]: r[3] for r in apps if r[2] == person_id},
            "interests": interests,
            "next_step": next_step,
        }
    return Snapshot(saved, states)


def forbidden_for(world: World, actor: str) -> list[str]:
    """Words this actor must never be shown: every other person's markers, in this school or the
    other, except that Sam may read Amira's (his tutee; Ben is in nobody's caseload), Lee may read
    anything in this school but the DSL's (every pupil's record, where leavers went), Dee the DSL every
    pupil's record and the concerns, and a pupil may read what staff wrote (it may be advice about
    them). A concern's words and the DSL's notes are the DSL's alone. The other school's words are
    forbidden to everyone."""
    allowed = {actor}
    if actor == "tutor":
        allowed.add("amira")
    if actor == "leader":
        allowed |= set(ACTORS) - {"dsl"}
    if actor == "dsl":
        allowed |= {*PUPILS, *STAFF, CONCERN}
    if actor in PUPILS:
        allowed |= set(STAFF)
    return [marker for marker, owner in world.owners.items() if owner not in allowed]


@dataclass
class Tally:
    """What the examples sent, printed at the end so a CI log shows the mix was complete."""

    examples: int = 0
    steps: int = 0
    commands: Counter[str] = field(default_factory=Counter)  # command name -> times sent
    pressed: Counter[str] = field(default_factory=Counter)  # role -> offered buttons pressed
    pressed_kinds: dict[str, set[str]] = field(default_factory=dict)  # role -> kinds of button data
    forged: Counter[str] = field(default_factory=Counter)  # role -> forged button data sent
    offered: Counter[str] = field(default_factory=Counter)  # role -> replies that offered buttons

    def summary(self) -> str:
        lines = [f"property test: {self.examples} examples, {self.steps} steps"]
        lines.append("  commands sent: " + ", ".join(f"/{n} {c}" for n, c in sorted(self.commands.items())))
        for role in sorted(set(ROLE_OF.values())):
            kinds = sorted(self.pressed_kinds.get(role, set()))
            lines.append(
                f"  {role}: {self.pressed[role]} buttons pressed ({len(kinds)} kinds: {' '.join(kinds)}), "
                f"{self.forged[role]} forged"
            )
        return "\n".join(lines)


def button_kind(data: str) -> str:
    """What sort of button: a command's name or the data's prefix, without the ids in it."""
    head = data.split()[0] if data.startswith("/") else data.split(":")[0]
    return head if not head.isdigit() else "#"


def send_command(chat: Chat, text: str, tally: Tally) -> None:
    name = text[1:].split()[0]
    tally.commands[name] += 1
    event(f"command /{name}")
    chat.say(text)


def press_offered(chat: Chat, index: int, role: str, tally: Tally) -> bool:
    """Press one of the buttons the last replies offered; False when there were none."""
    offered = [b for r in chat.last for row in r.buttons for b in row]
    if not offered:
        return False
    tally.offered[role] += 1
    data = offered[index % len(offered)].data
    tally.pressed[role] += 1
    tally.pressed_kinds.setdefault(role, set()).add(button_kind(data))
    event(f"press as {role}")
    chat.press_data(data)
    return True


def play(world: World, kind: str, actor: str, value: str, tally: Tally) -> None:
    chat = world.chats[actor]
    role = ROLE_OF[actor]
    if kind == "restart":
        # A new process: the same database, a fresh dispatcher; every chat carries on.
        world.dispatcher = Dispatcher(world.engine, world.dispatcher.settings, clock=lambda: NOW)
        for c in world.chats.values():
            c.dispatcher = world.dispatcher
        return
    if kind == "text":
        chat.say(value)
    elif kind == "mark":
        chat.say(new_marker(world, actor))
    elif kind == "reflect":
        marker = new_marker(world, actor)
        with transaction(world.engine, write=False) as s:
            linked = identities.find(s, chat.platform, chat.user_id) is not None  # /unlink may have run
        chat.say(f"/reflect {marker}")
        tally.commands["reflect"] += 1
        if actor in PUPILS:
            with transaction(world.engine, write=False) as s:
                saved = s.exec(select(JournalEntry).where(JournalEntry.text == marker)).all()
            if linked:
                assert "Saved to your journal" in chat.text
                assert [e.person_id for e in saved] == [world.people[actor].id]
            else:
                assert chat.text == texts.NOT_LINKED and saved == []
    elif kind == "command":
        send_command(chat, value, tally)
    elif kind == "walk":
        command, presses = value.split("|")
        send_command(chat, command, tally)
        for index in filter(None, presses.split(",")):
            if not press_offered(chat, int(index), role, tally):
                break
    elif kind == "press":
        if not press_offered(chat, int(value), role, tally):
            chat.say("/help")
    elif kind == "forge":
        other = "ben" if actor == "amira" else "amira"
        tally.forged[role] += 1
        chat.press_data(value.format(**world.ids[other]))
    elif kind == "photo":
        chat.send_photo()


def answered_again(world: World, table: str, actor: str, now: str | None) -> bool:
    """An alumnus's second answer for a year replaces their first (storage.alumni.save_destination):
    a destination row may change, but only to what its owner has just typed."""
    return table == "destination" and now is not None and world.owners.get(now) == actor


def check_step(world: World, before: Snapshot, step: tuple[str, str, str], tally: Tally) -> Snapshot:
    """Play one step and check nothing leaked, changed hands or was lost; returns the state after."""
    kind, actor, value = step
    play(world, kind, actor, value, tally)
    after = snapshot(world)
    if actor not in STAFF:
        for pupil in PUPILS:
            if pupil != actor:
                assert after.states[pupil] == before.states[pupil], f"{actor} changed {pupil}'s record with {value!r}"
    shown = "\n".join(
        r.text + " " + " ".join(b.label for row in r.buttons for b in row) for r in world.chats[actor].last
    )
    for marker in forbidden_for(world, actor):
        assert marker not in shown, f"{actor} was shown {marker!r} after {kind} {value!r}"
    if actor not in (*STAFF, "dsl"):
        assert NOTE not in shown, f"{actor} was shown a staff-only note"
    for table, rows in before.saved.items():
        lost = {
            i: t
            for i, t in rows.items()
            if after.saved[table].get(i) != t and not answered_again(world, table, actor, after.saved[table].get(i))
        }
        assert not lost, f"{table} rows lost or changed after {kind} {value!r}: {lost}"
    return after


def test_random_conversations_never_raise_leak_or_lose(
    template: Template, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tally = Tally()
    # In memory where the machine has it: each example's file is thrown away, so no need to sync it.
    shm = Path("/dev/shm")
    where = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path
    paths = (where / f"example{n}.db" for n in itertools.count())

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(steps=st.lists(step, min_size=1, max_size=25))
    # Found by this test: after /unlink a pupil's reflection is refused, not saved.
    @example(steps=[("command", "amira", "/unlink"), ("reflect", "amira", "")])
    # Found by this test: an alumna's second answer the same year replaces her first, as documented.
    @example(steps=[("walk", "alumna", "/destination|0,1,1,1"), ("mark", "alumna", "")])
    def conversation(steps: list[tuple[str, str, str]]) -> None:
        path = next(paths)
        world = fresh_world(template, path)
        try:
            before = snapshot(world)
            for one in steps:
                before = check_step(world, before, one, tally)
            tally.examples += 1
            tally.steps += len(steps)
        finally:
            world.engine.dispose()
            seed_files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
            for leftover in seed_files:
                leftover.unlink(missing_ok=True)

    try:
        conversation()
    finally:
        if where != tmp_path:
            shutil.rmtree(where, ignore_errors=True)
    with capsys.disabled():
        print("\n" + tally.summary())
    if EXAMPLES >= 1000:  # enough that every command and every role's buttons must have come up
        assert set(tally.commands) >= set(COMMANDS), sorted(set(COMMANDS) - set(tally.commands))
        # A stranger is offered no buttons (only how to link), so for them it is forged data alone.
        assert all(tally.pressed[role] or not tally.offered[role] for role in ROLE_OF.values()), tally.pressed
        assert all(tally.pressed[role] for role in ROLE_OF.values() if role != "stranger"), tally.pressed
        assert all(tally.forged[role] for role in ROLE_OF.values()), tally.forged
