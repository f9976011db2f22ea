"""/concerns, the safeguarding lead's work in the chat: the list, opening a concern (words in context,
tutor, chronology, notes), acknowledging, a note, closing with an outcome; every step audited; nobody
but a DSL of the concern's own school reaches any of it. On SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlmodel import col, select

from core.messages import Incoming
from core.settings import load_settings
from handlers import Dispatcher, texts
from handlers.concern_work import category_label
from handlers.concerns import NOT_FOR_YOU, NOT_FOUND
from storage import audit, concerns, crypto, seed
from storage.db import transaction
from storage.models import AuditEvent, Concern, ConcernOutcome, ConcernStatus, Person, StaffRole
from tests.chat import Chat, Clock

KEY = crypto.new_key()
NOW = datetime(2026, 12, 2, 22, 30, tzinfo=UTC)  # a school night
WORDS = "zqwords my step-dad hit me and im scared to go home"


@dataclass
class World:
    school_id: int
    dsl: Person
    leader: Person  # careers leader and DSL
    tutor: Person
    plain_leader: Person  # careers leader, not a DSL
    far_dsl: Person  # another school's DSL
    amira: Person
    cara: Person
    clock: Clock
    dispatcher: Dispatcher

    def chat(self, user_id: str) -> Chat:
        return Chat(self.dispatcher, user_id, "slack")


def raise_one(
    engine: Engine, pupil: Person, at: datetime, *, words: str = WORDS, category: str = "harm_by_adult"
) -> int:
    context = ["zqbefore I had a rubbish day", words]
    raised = seed.concern(
        engine, pupil, key=KEY, at=at, words=words, phrase=words[:20], category=category, context=context
    )
    assert raised.concern.id is not None
    return raised.concern.id


@pytest.fixture
def world(engine: Engine) -> World:
    school = seed.school(engine)
    elsewhere = seed.school(engine, "Other School")
    assert school.id is not None and elsewhere.id is not None
    dsl = seed.staff(engine, school.id, "Dee", "Lead", role=StaffRole.dsl)
    leader = seed.staff(engine, school.id, "Lee", "Morgan", role=StaffRole.leader, other_staff_roles="dsl")
    tutor = seed.staff(engine, school.id, "Sam", "Patel")
    plain_leader = seed.staff(engine, school.id, "Pat", "Shah", role=StaffRole.leader)
    far_dsl = seed.staff(engine, elsewhere.id, "Fay", "Far", role=StaffRole.dsl)
    amira = seed.pupil(engine, school.id, "Amira", "Khan", form="11A", tutor_id=tutor.id)
    cara = seed.pupil(engine, school.id, "Cara", "Smith", form="11B")
    for person, uid in [(dsl, "dee"), (leader, "lee"), (tutor, "sam"), (plain_leader, "pat"), (far_dsl, "fay")]:
        seed.link(engine, person, "slack", uid)
    clock = Clock(NOW)
    settings = load_settings(database_url="sqlite://", encryption_key=KEY, timezone="Europe/London")
    return World(
        school.id, dsl, leader, tutor, plain_leader, far_dsl, amira, cara, clock, Dispatcher(engine, settings, clock)
    )


def events(engine: Engine, action: str | None = None) -> list[AuditEvent]:
    with transaction(engine, write=False) as session:
        query = select(AuditEvent).order_by(col(AuditEvent.id))
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return list(session.exec(query).all())


def concern_row(engine: Engine, concern_id: int) -> Concern:
    with transaction(engine, write=False) as session:
        row = session.get(Concern, concern_id)
        assert row is not None
        return row


def test_the_list_puts_the_oldest_unacknowledged_first_and_each_has_a_button(engine: Engine, world: World) -> None:
    older = raise_one(engine, world.cara, NOW - timedelta(days=2), category="bullying")
    newer = raise_one(engine, world.amira, NOW - timedelta(hours=1))
    taken = raise_one(engine, world.amira, NOW - timedelta(days=5), words="zqother I feel unsafe", category="unsafe")
    with transaction(engine) as session:
        row = session.get(Concern, taken)
        assert row is not None and world.dsl.id is not None
        concerns.acknowledge(session, row, world.dsl.id, NOW - timedelta(days=4))

    dee = world.chat("dee")
    dee.say("/concerns")
    lines = dee.text.splitlines()
    assert lines[1].startswith(f"#{older} Cara Smith (11B): Bullying, raised 30 Nov 2026 22:30, NOT ACKNOWLEDGED")
    assert lines[2].startswith(f"#{newer} Amira Khan (11A): Harm by an adult, raised 2 Dec 2026 21:30")
    assert lines[3].startswith(f"#{taken} Amira Khan (11A): Feeling unsafe") and "acknowledged by Dee Lead" in lines[3]
    assert [b.data for r in dee.last for row in r.buttons for b in row] == [
        f"/concerns {older}",
        f"/concerns {newer}",
        f"/concerns {taken}",
    ]
    assert "zqwords" not in dee.text and "hit me" not in dee.text  # the list never shows the words
    assert events(engine, audit.OPEN_CONCERN) == []  # listing opens nothing, but names the pupils listed
    listed = events(engine, audit.LIST_PUPILS)
    assert {(e.actor_id, e.subject_id) for e in listed} == {
        (world.dsl.id, world.cara.id),
        (world.dsl.id, world.amira.id),
    }


def test_opening_shows_the_words_in_context_tutor_chronology_and_notes_and_is_audited(
    engine: Engine, world: World
) -> None:
    first = raise_one(
        engine, world.amira, NOW - timedelta(days=30), words="zqfirst they call me names", category="bullying"
    )
    closed = raise_one(engine, world.amira, NOW - timedelta(days=20), words="zqsecond home alone", category="neglect")
    with transaction(engine) as session:
        row = session.get(Concern, closed)
        assert row is not None and world.dsl.id is not None
        concerns.close(session, row, world.dsl.id, ConcernOutcome.monitoring, NOW - timedelta(days=19))
    concern_id = raise_one(engine, world.amira, NOW)
    dee = world.chat("dee")
    dee.say("/concerns")
    dee.press(f"/concerns {concern_id}")
    shown = dee.text
    assert f"Concern #{concern_id} about Amira Khan (11A): Harm by an adult" in shown
    assert "on Telegram" in shown and "NOT ACKNOWLEDGED" in shown
    assert "Tutor: Sam Patel" in shown
    assert f"What they wrote:\n{WORDS}" in shown
    assert "- zqbefore I had a rubbish day" in shown
    assert f"#{first} 2 Nov 2026" in shown and "Bullying (open)" in shown  # the chronology
    assert f"#{closed} 12 Nov 2026" in shown and "Neglect (closed: Monitoring)" in shown
    assert "zqfirst" not in shown and "zqsecond" not in shown  # earlier concerns named; their words need opening
    assert "Notes: none yet" in shown
    assert dee.buttons() == ["Acknowledge", "Add a note", "Close", "All open concerns"]
    opened = events(engine, audit.OPEN_CONCERN)
    assert [(e.actor_id, e.subject_id, e.detail) for e in opened] == [
        (world.dsl.id, world.amira.id, f"concern {concern_id}, slack")
    ]


def test_acknowledge_note_and_close_each_audited_and_the_note_encrypted(engine: Engine, world: World) -> None:
    concern_id = raise_one(engine, world.amira, NOW)
    dee = world.chat("dee")
    dee.say(f"/concerns {concern_id}")
    world.clock.now = NOW + timedelta(minutes=5)
    dee.press("Acknowledge")
    assert "You've acknowledged concern" in dee.text and "Acknowledge" not in dee.buttons()
    row = concern_row(engine, concern_id)
    assert row.status == ConcernStatus.acknowledged.value and row.acknowledged_by_id == world.dsl.id

    lee = world.chat("lee")  # a careers leader who is also a DSL
    lee.say(f"/concerns {concern_id} ack")
    assert "acknowledged already" in lee.text
    assert concern_row(engine, concern_id).acknowledged_by_id == world.dsl.id

    dee.press("Add a note")
    assert "Type your note" in dee.text
    dee.press_data("/concerns")  # a stray button mid-note abandons it like any command
    dee.say(f"/concerns {concern_id} note")
    dee.say("")
    assert "That message was empty" in dee.text and "Type your note" in dee.text
    dee.say("zqnote Spoke to Amira with her tutor; calling mum tomorrow")
    assert "Your note is kept" in dee.text
    with engine.connect() as conn:
        dumped = " ".join(repr(r) for r in conn.execute(text("SELECT * FROM concernnote")))
    assert "zqnote" not in dumped

    dee.press("Close")
    assert dee.buttons() == [
        "No further action",
        "Monitoring",
        "Early help",
        "Referred to children's social care",
        "Police",
    ]
    dee.press_data("outcome:forgotten")  # forged: not an outcome
    assert "isn't an answer" in dee.text and "What is the outcome" in dee.text
    dee.say("Early help")
    assert dee.text.startswith(f"Concern #{concern_id} is closed: Early help.")
    row = concern_row(engine, concern_id)
    assert row.status == ConcernStatus.closed.value and row.outcome == "early_help"

    dee.say("/concerns")
    assert dee.text == "There are no open safeguarding concerns at your school."
    dee.say(f"/concerns {concern_id}")
    assert "zqnote Spoke to Amira" in dee.text and "closed" in dee.text and "Early help" in dee.text
    assert [e.action for e in events(engine) if e.action != audit.LIST_PUPILS] == [
        audit.OPEN_CONCERN,
        audit.ACK_CONCERN,
        audit.NOTE_CONCERN,
        audit.CLOSE_CONCERN,
        audit.OPEN_CONCERN,
    ]


def test_nobody_but_a_dsl_lists_or_opens_even_with_forged_data_or_a_typed_id(engine: Engine, world: World) -> None:
    concern_id = raise_one(engine, world.amira, NOW)
    for uid in ("sam", "pat"):  # a tutor, a careers leader who is not a DSL
        someone = world.chat(uid)
        for attempt in ("/concerns", f"/concerns {concern_id}", f"/concerns {concern_id} ack"):
            someone.say(attempt)
            assert someone.text == texts.NOT_FOR_YOU
            someone.press_data(attempt)  # forged button data
            assert someone.text == texts.NOT_FOR_YOU
        someone.press_data("outcome:police")  # a forged answer to a step they were never in
        assert "zqwords" not in someone.text and "Concerns" not in someone.buttons()
    fay = world.chat("fay")  # another school's DSL: the id reads like one that does not exist
    for attempt in (f"/concerns {concern_id}", f"/concerns {concern_id} ack", f"/concerns {concern_id} close"):
        fay.press_data(attempt)
        assert fay.text == NOT_FOUND.format(number=concern_id)
    fay.say(f"/concerns {concern_id + 1000}")
    assert fay.text == NOT_FOUND.format(number=concern_id + 1000)
    fay.say("/concerns")
    assert fay.text == "There are no open safeguarding concerns at your school."
    assert events(engine) == []
    row = concern_row(engine, concern_id)
    assert row.status == ConcernStatus.open.value


def test_a_dsl_who_loses_the_role_mid_note_is_stopped_and_nothing_is_kept(engine: Engine, world: World) -> None:
    concern_id = raise_one(engine, world.amira, NOW)
    lee = world.chat("lee")
    lee.say(f"/concerns {concern_id} note")
    with transaction(engine) as session:
        leader = session.get(Person, world.leader.id)
        assert leader is not None
        leader.other_staff_roles = ""
        session.add(leader)
    lee.say("zqlate a note after the role went")
    assert lee.text == NOT_FOR_YOU
    assert events(engine, audit.NOTE_CONCERN) == []


def test_the_menu_and_roles_follow_every_staff_role(engine: Engine, world: World) -> None:
    lee = world.chat("lee")
    lee.say("/help")
    assert {"Concerns", "Needs attention", "Find pupil"} <= set(lee.buttons())
    assert "/concerns - open safeguarding concerns" in lee.text
    pat = world.chat("pat")
    pat.say("/help")
    assert "Concerns" not in pat.buttons() and "/concerns" not in pat.text


def test_a_dsl_opens_any_pupils_record_audited(engine: Engine, world: World) -> None:
    dee = world.chat("dee")
    dee.say("/pupil Cara")
    dee.press("Cara Smith (11B)")
    assert "Cara Smith (11B), Year 11" in dee.text
    assert not any(b.startswith("Log advice") for b in dee.buttons())  # a DSL alone keeps no advice records
    assert [(e.actor_id, e.subject_id) for e in events(engine, audit.VIEW_PUPIL)] == [(world.dsl.id, world.cara.id)]
    dee.say("/log Cara")
    assert dee.text == texts.NOT_FOR_YOU


def test_without_the_key_a_dsl_is_told_the_words_are_kept_but_unreadable(engine: Engine, world: World) -> None:
    concern_id = raise_one(engine, world.amira, NOW)
    settings = load_settings(database_url="sqlite://", timezone="Europe/London")
    dee = Chat(Dispatcher(engine, settings, world.clock), "dee", "slack")
    dee.say(f"/concerns {concern_id}")
    assert "can't be read: WAYMARK_ENCRYPTION_KEY is not set" in dee.text
    dee.press("Add a note")
    dee.say("zqnokey a note")
    assert "Nothing was saved" in dee.text
    assert events(engine, audit.NOTE_CONCERN) == []


def test_a_group_chat_never_reaches_concerns(world: World) -> None:
    # The DSL's own account, from a group: the engine answers before any step.
    replies = world.dispatcher.dispatch(
        Incoming(platform="slack", chat_id="G1", user_id="dee", text="/concerns", chat_type="group")
    )
    assert [r.text for r in replies] == [texts.PRIVATE_ONLY]


def test_what_a_concern_is_about_in_plain_words() -> None:
    def about(source: str, category: str) -> str:
        return category_label(
            Concern(school_id=1, subject_id=1, source=source, category=category, words=b"", context=b"")
        )

    assert about("screening", "self_harm") == "Self-harm or suicide"
    assert about("asked", "asked") == "Asked to talk to someone"
    assert about("staff", "staff") == "Raised by a member of staff"
    assert about("staff", "self_harm") == "Self-harm or suicide"  # staff may name a category


def test_a_long_list_says_there_are_more_and_a_bad_number_is_explained(engine: Engine, world: World) -> None:
    ids = [raise_one(engine, world.amira, NOW - timedelta(hours=30 - n), words=f"zqmany {n} hit me") for n in range(21)]
    dee = world.chat("dee")
    dee.say("/concerns")
    assert len(dee.buttons()) == 20 and dee.buttons()[0] == f"Open #{ids[0]}"  # the oldest first
    assert f"Open #{ids[20]}" not in dee.buttons() and "There are more" in dee.text
    dee.say("/concerns twelve")
    assert dee.text.startswith("Send /concerns to see the open concerns, or /concerns and a number")
    dee.say(f"/concerns #{ids[20]}")  # as the list writes it
    assert f"Concern #{ids[20]} about Amira Khan (11A)" in dee.text
