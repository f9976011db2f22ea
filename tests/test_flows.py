"""Conversations declared as flows: the diagrams beside them tell the truth, names are never registered
twice, an unknown state is reported and reset kindly, and the engine checks each flow's roles."""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from core.messages import Incoming
from core.settings import load_settings
from handlers import Dispatcher, answers, texts
from handlers.context import Context, UndeclaredMove
from handlers.flow import FLOWS, Flow, NoDraft, check_moves, steps_of
from handlers.log_advice import LOST_ACCESS
from handlers.registry import COMMANDS, STEPS, Command, DuplicateName, add_command, load_conversations
from storage import conversations, seed
from storage.db import transaction
from storage.models import Person, Role
from tests.chat import Chat

load_conversations()

HANDLERS = Path(__file__).resolve().parent.parent / "handlers"
EDGE = re.compile(r"^(\[\*\]|\w+)\s*-->\s*(\[\*\]|\w+)\s*(?::.*)?$")
START = "[*]"


# --- the diagrams ----------------------------------------------------------------------------------


def drawn(text: str) -> tuple[set[str], set[tuple[str, str]]]:
    """The states of a Mermaid state diagram and its moves between two different states (or from the
    start); moves to the end ([*]: saved, /cancel) and a state back to itself (asked again) are not compared."""
    states: set[str] = set()
    moves: set[tuple[str, str]] = set()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("%%") or line == "stateDiagram-v2":
            continue
        edge = EDGE.match(line)
        assert edge is not None, f"not a line this test can read: {line!r}"
        source, target = edge.groups()
        states |= {source, target} - {START}
        if target != START and source != target:
            moves.add((source, target))
    return states, moves


def declared(flow: Flow[Any]) -> tuple[set[str], set[tuple[str, str]]]:
    def short(name: str) -> str:
        return name.removeprefix(f"{flow.name}.")

    steps = steps_of(flow)
    moves = {(short(s.name), short(t)) for s in steps for t in s.moves_to if t != s.name}
    moves |= {(START, short(t)) for entry in flow.entries for t in entry.moves_to}
    return {short(s.name) for s in steps}, moves


def disagreements(flow: Flow[Any], diagram: str) -> list[str]:
    states, moves = drawn(diagram)
    want_states, want_moves = declared(flow)
    found = [f"step {s!r} is not drawn" for s in sorted(want_states - states)]
    found += [f"{s!r} is drawn but is no step of {flow.name}" for s in sorted(states - want_states)]
    found += [f"move {a} --> {b} is not drawn" for a, b in sorted(want_moves - moves)]
    found += [f"move {a} --> {b} is drawn but not declared" for a, b in sorted(moves - want_moves)]
    return found


def diagram_path(flow: Flow[Any]) -> Path:
    """The `.mmd` beside the module that declares the flow's steps."""
    module = sys.modules[steps_of(flow)[0].handler.__module__]
    assert module.__file__ is not None
    return Path(module.__file__).with_suffix(".mmd")


def test_every_move_names_a_step_of_its_own_flow() -> None:
    assert check_moves() == []
    assert FLOWS, "no flows registered"


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_each_flow_diagram_draws_exactly_its_steps_and_moves(name: str) -> None:
    flow = FLOWS[name]
    assert steps_of(flow), f"flow {name} has no steps"
    path = diagram_path(flow)
    assert path.exists(), f"{name} has more than one message but no diagram at {path.name}"
    assert disagreements(flow, path.read_text(encoding="utf-8")) == []


def test_a_wrong_diagram_is_caught() -> None:
    flow = FLOWS["reflect"]
    good = diagram_path(flow).read_text(encoding="utf-8")
    assert disagreements(flow, good) == []
    wrong = good.replace(
        "    offer --> skills: Save it (JournalEntry saved, skills offered)\n", ""
    )  # a real move left out
    wrong += "    learned --> what: a move the code never makes\n    what --> saved: a state that is no step\n"
    assert disagreements(flow, wrong) == [
        "'saved' is drawn but is no step of reflect",
        "move offer --> skills is not drawn",
        "move learned --> what is drawn but not declared",
        "move what --> saved is drawn but not declared",
    ]
    renamed = good.replace("learned", "learnt")
    assert "step 'learned' is not drawn" in disagreements(flow, renamed)


def test_command_diagrams_name_only_registered_commands() -> None:
    """Diagrams of commands without stored state (/attention, /caseload, /record, /report) name real commands."""
    flow_files = {diagram_path(flow) for flow in FLOWS.values()}
    others = sorted(p for p in HANDLERS.glob("*.mmd") if p not in flow_files)
    assert {p.stem for p in others} >= {"attention", "caseload", "record", "report"}
    for path in others:
        drawing = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.strip().startswith("%%")]
        named = set(re.findall(r"(?<![\w/])/([a-z]+)\b", "\n".join(drawing)))
        assert named, f"{path.name} names no command"
        assert named <= set(COMMANDS), f"{path.name} names unknown commands: {sorted(named - set(COMMANDS))}"


def test_goto_refuses_a_move_its_step_does_not_declare() -> None:
    ctx = Context(None, None, Incoming("console", "c", "u", text="x"), None, None, datetime.now(UTC))  # type: ignore[arg-type]
    ctx.running = STEPS["reflect.learned"]
    with pytest.raises(UndeclaredMove, match=re.escape("reflect.learned moved to 'reflect.what'")):
        ctx.goto("reflect.what")
    ctx.running = STEPS["reflect.what"]
    ctx.goto("reflect.skills")  # declared: the draft starts empty
    assert ctx.state == "reflect.skills" and ctx.draft is not None and ctx.draft.skills == []


# --- the registry ----------------------------------------------------------------------------------


def test_registry_refuses_a_second_command_alias_flow_or_step_of_one_name() -> None:
    def noop(ctx: Context) -> list[Any]:
        return []

    before = (dict(COMMANDS), dict(STEPS), dict(FLOWS))
    with pytest.raises(DuplicateName, match="/reflect"):
        add_command(Command("reflect", frozenset({"pupil"}), "again", noop))
    with pytest.raises(DuplicateName, match="/link"):
        add_command(Command("zz-new", frozenset({"pupil"}), "new", noop), aliases=("link",))
    with pytest.raises(DuplicateName, match="flow 'reflect'"):
        Flow("reflect", roles={"pupil"}, draft=NoDraft)
    with pytest.raises(DuplicateName, match=re.escape("'reflect.what'")):
        FLOWS["reflect"].state("what")
    with pytest.raises(DuplicateName, match=re.escape("'reflect.what'")):
        FLOWS["reflect"].step("reflect.what")(noop)
    assert before == (COMMANDS, STEPS, FLOWS)  # a refusal registers nothing


# --- running ---------------------------------------------------------------------------------------


@pytest.fixture
def amira(engine: Engine) -> tuple[Person, Chat]:
    dispatcher = Dispatcher(engine, load_settings(database_url="sqlite://"))
    school = seed.school(engine)
    person = seed.pupil(engine, school.id)
    seed.link(engine, person, "console", "amira")
    return person, Chat(dispatcher, "amira")


def put_state(engine: Engine, state: str, data: dict[str, Any]) -> None:
    with transaction(engine) as s:
        conversations.save(s, conversations.load(s, "console", "amira"), state, data, datetime.now(UTC))


def state_of(engine: Engine) -> str:
    with transaction(engine) as s:
        return conversations.load(s, "console", "amira").state


@pytest.mark.parametrize(
    ("state", "data"),
    [
        ("reflect.gone", {}),  # a step from an older version, or a typo
        ("nosuchflow.step", {"what": "x"}),
        ("reflect.skills", {"skills": "Teamwork"}),  # a draft of another shape
        ("reflect.skills", {"what": "x", "colour": "red"}),
    ],
)
def test_an_unknown_state_is_logged_and_reset_kindly(
    engine: Engine, amira: tuple[Person, Chat], caplog: pytest.LogCaptureFixture, state: str, data: dict[str, Any]
) -> None:
    _, chat = amira
    put_state(engine, state, data)
    with caplog.at_level(logging.ERROR, logger="handlers.engine"):
        chat.say("Teamwork")
    assert chat.text == texts.LOST_PLACE and "Reflect" in chat.buttons()  # with the main menu
    assert [r.levelno for r in caplog.records] == [logging.ERROR] and state in caplog.text
    assert state_of(engine) == ""
    chat.say("/reflect")  # and everything works again
    assert "What did you do" in chat.text


def test_a_command_sent_from_an_unknown_state_runs_and_the_state_is_reported(
    engine: Engine, amira: tuple[Person, Chat], caplog: pytest.LogCaptureFixture
) -> None:
    _, chat = amira
    put_state(engine, "reflect.gone", {})
    with caplog.at_level(logging.ERROR, logger="handlers.engine"):
        chat.say("/interests")
    assert "You haven't told me your interests yet" in chat.text
    assert "reflect.gone" in caplog.text and state_of(engine) == "interests.edit"


def test_a_pupil_who_left_mid_flow_is_stopped_by_the_engine(engine: Engine, amira: tuple[Person, Chat]) -> None:
    person, chat = amira
    chat.say("/reflect")
    with transaction(engine) as s:
        row = s.get(Person, person.id)
        assert row is not None
        row.role = Role.alumnus
        s.add(row)
    chat.say("Ran the bake sale")
    assert chat.text == answers.NOT_A_PUPIL and state_of(engine) == ""


def test_staff_who_lost_their_role_mid_log_are_stopped(engine: Engine) -> None:
    dispatcher = Dispatcher(engine, load_settings(database_url="sqlite://"))
    school = seed.school(engine)
    tutor = seed.staff(engine, school.id, "Sam", "Patel")
    seed.pupil(engine, school.id, "Amira", "Khan", form="11A", tutor_id=tutor.id)
    seed.link(engine, tutor, "slack", "sam")
    sam = Chat(dispatcher, "sam", "slack")
    sam.say("/log Amira")
    sam.press("Amira Khan (11A)")
    with Session(engine) as s:
        row = s.get(Person, tutor.id)
        assert row is not None
        row.staff_role = None
        s.add(row)
        s.commit()
    sam.press("Tutor check-in")
    assert sam.text == LOST_ACCESS
