"""A disclosure typed by a pupil or alumnus, through the engine: saved as usual, a concern recorded in
the same step, the DSLs alerted (never the words), and the pupil helped now. /worried and the Talk to
someone button. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core import settings as core_settings
from handlers import Dispatcher
from handlers.disclosures import books
from handlers.safeguarding import default_book, screen
from storage import audit, concerns, crypto, seed, transcript
from storage.models import (
    AuditEvent,
    Concern,
    ConversationState,
    JournalEntry,
    OutboxMessage,
    Person,
    School,
    StaffRole,
    TranscriptLine,
)
from storage.phrases import phrases_of
from tests.chat import Chat, Clock

KEY = crypto.new_key()
DISCLOSURE = "my step dad hit me last night and im scared to go home"
MONDAY_MORNING = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a school day, staff at work
FRIDAY_NIGHT = datetime(2026, 11, 27, 22, 30, tzinfo=UTC)  # quiet hours; the next school day is Monday


@pytest.fixture
def keyed(engine: Engine, clock: Clock) -> Dispatcher:
    return Dispatcher(engine, core_settings.load_settings(database_url="sqlite://", encryption_key=KEY), clock=clock)


def _school(engine: Engine, dsls: int = 1) -> tuple[Person, list[Person]]:
    school = seed.school(engine)
    tutor = seed.staff(engine, school.id, "Tia", "Tutor")
    pupil = seed.pupil(engine, school.id, tutor_id=tutor.id)
    leads = [seed.staff(engine, school.id, f"Dee{n}", "Lead", role=StaffRole.dsl) for n in range(dsls)]
    for n, lead in enumerate(leads):
        seed.link(engine, lead, "telegram", f"dsl-{n}")
    return pupil, leads


def _rows(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())


def _concerns(engine: Engine) -> list[Concern]:
    with Session(engine) as session:
        return list(session.exec(select(Concern).order_by(col(Concern.id))).all())


def test_reflect_text_raises_a_concern_alerts_the_dsl_and_helps_the_pupil(
    engine: Engine, keyed: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pupil, (lead,) = _school(engine)
    seed.link(engine, pupil, "console", "p1")
    chat = Chat(keyed, "p1")
    replies = chat.say(f"/reflect {DISCLOSURE}")
    assert replies[0].text.startswith("Saved to your journal:")  # the step answered exactly as usual
    help_text = replies[-1].text
    assert "not in trouble" in help_text and "0800 1111" in help_text and "childline.org.uk" in help_text
    assert "999" in help_text and "today" in help_text
    assert "secret" not in help_text.lower() and "only between" not in help_text.lower()
    with Session(engine) as session:
        assert [j.text for j in session.exec(select(JournalEntry)).all()] == [DISCLOSURE]
    (concern,) = _concerns(engine)
    assert (concern.subject_id, concern.source, concern.category) == (pupil.id, "screening", "harm_by_adult")
    assert concerns.words_of(concern, KEY) == f"/reflect {DISCLOSURE}"
    assert concern.alerted_at == MONDAY_MORNING
    (row,) = _rows(engine)
    assert row.key == f"sg:alert:{concern.id}:telegram:dsl-0" and row.person_id == lead.id and row.urgent
    assert "Amira Khan" in row.text and "11A" in row.text and "Harm by an adult" in row.text
    assert "10:00" in row.text and "terminal" in row.text.lower()
    assert f"/concerns {concern.id}" in row.buttons
    for said in (row.text, row.buttons, caplog.text):
        assert "step dad" not in said and "scared" not in said
    with Session(engine) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == audit.RAISE_CONCERN)).all()
        assert [(e.subject_id, e.actor_id) for e in events] == [(pupil.id, pupil.id)]


def test_an_answer_inside_a_guided_step_keeps_what_the_flow_gathered_as_context(
    engine: Engine, keyed: Dispatcher
) -> None:
    """Telegram keeps no transcript: the concern keeps what the flow's draft held, then the message."""
    pupil, _ = _school(engine)
    seed.link(engine, pupil, "telegram", "tg-p")
    chat = Chat(keyed, "tg-p", platform="telegram")
    chat.say("/encounter")
    chat.press("Work experience")
    chat.say("zqwho the garage on Mill Lane")
    replies = chat.say("the manager there touches me and says not to tell anyone")
    assert replies[0].text.startswith("Saved to your journal")
    assert "0800 1111" in replies[-1].text
    (concern,) = _concerns(engine)
    assert concern.source == "screening" and concern.channel == "telegram"
    context = concerns.context_of(concern, KEY)
    assert any("zqwho the garage" in line for line in context)
    assert context[-1] == "Pupil: the manager there touches me and says not to tell anyone"


def test_a_plain_message_at_rest_is_screened_and_the_transcript_is_the_context(
    engine: Engine, keyed: Dispatcher
) -> None:
    pupil, _ = _school(engine)
    seed.link(engine, pupil, "web", "w1")
    chat = Chat(keyed, "w1", platform="web")
    chat.say("/help")
    replies = chat.say("i dont want to be here anymore, i wanna die")
    assert replies[0].text.startswith("Save this as a journal entry?")  # the usual offer, unchanged
    assert "0800 1111" in replies[-1].text
    (concern,) = _concerns(engine)
    assert concern.category == "self_harm"
    context = concerns.context_of(concern, KEY)
    assert context[0] == "Pupil: /help" and context[-1] == "Pupil: i dont want to be here anymore, i wanna die"
    with Session(engine) as session:  # the pupil's own transcript shows the kind reply...
        lines = session.exec(select(TranscriptLine).where(TranscriptLine.identity_key == "web:w1")).all()
        assert "0800 1111" in transcript.shown(lines[-1], KEY)
        # ...but keeps the words, and the step's replies that may echo them, only encrypted.
        assert not any("wanna die" in line.text or "wanna die" in line.payload for line in lines)
        # The journal entry offered back waits in the conversation state, encrypted too...
        state = session.exec(select(ConversationState).where(ConversationState.external_id == "w1")).one()
        assert state.state and "wanna die" not in state.data
    chat.press("Save it")  # ...and is saved as the pupil asked, in their own journal
    with Session(engine) as session:
        assert "wanna die" in session.exec(select(JournalEntry)).one().text


def test_the_same_words_again_join_the_concern_and_send_no_second_alert(engine: Engine, keyed: Dispatcher) -> None:
    pupil, _ = _school(engine, dsls=2)
    seed.link(engine, pupil, "console", "p1")
    chat = Chat(keyed, "p1")
    chat.say(f"/reflect {DISCLOSURE}")
    second = chat.say(f"/reflect {DISCLOSURE}")
    assert "0800 1111" in second[-1].text  # a joined concern still gets the same reply
    (concern,) = _concerns(engine)
    assert concern.hits == 2
    assert sorted(r.key for r in _rows(engine)) == [
        f"sg:alert:{concern.id}:telegram:dsl-0",
        f"sg:alert:{concern.id}:telegram:dsl-1",
    ]


def test_what_only_the_classifier_catches_raises_and_joins_by_its_words(engine: Engine, keyed: Dispatcher) -> None:
    # Words no phrase of the book holds: the trained classifier raises the concern, in its category.
    first = "my stepdad gets really angry and i end up with bruises"
    other = "mums boyfriend shouts at her and throws things and i hide upstairs"
    assert screen(first, default_book()) == [] and screen(other, default_book()) == []
    pupil, _ = _school(engine)
    seed.link(engine, pupil, "console", "p1")
    chat = Chat(keyed, "p1")
    assert "0800 1111" in chat.say(f"/reflect {first}")[-1].text
    chat.say(f"/reflect {first}")  # the same words again join it
    (concern,) = _concerns(engine)
    # The category is the classifier's choice: a plausible one, not pinned (it may change on retraining).
    assert concern.hits == 2 and concern.category in {"harm_by_adult", "domestic_abuse"}
    assert concerns.words_of(concern, KEY) == f"/reflect {first}"
    chat.say(f"/reflect {other}")  # other words are a concern of their own, with its own alert
    assert [c.hits for c in _concerns(engine)] == [2, 1]
    assert len(_rows(engine)) == 2


def test_with_no_dsl_the_concern_is_recorded_and_waits_unalerted(engine: Engine, keyed: Dispatcher) -> None:
    pupil, _ = _school(engine, dsls=0)
    seed.link(engine, pupil, "console", "p1")
    replies = Chat(keyed, "p1").say(f"/reflect {DISCLOSURE}")
    assert "0800 1111" in replies[-1].text
    (concern,) = _concerns(engine)
    assert concern.alerted_at is None and _rows(engine) == []
    with Session(engine) as session:
        assert [c.id for c in concerns.not_alerted(session, pupil.school_id)] == [concern.id]


def test_out_of_hours_the_pupil_is_told_the_next_school_day_and_the_alert_still_goes(
    engine: Engine, keyed: Dispatcher, clock: Clock
) -> None:
    clock.now = FRIDAY_NIGHT
    pupil, _ = _school(engine)
    seed.link(engine, pupil, "console", "p1")
    replies = Chat(keyed, "p1").say(DISCLOSURE)
    assert "on the next school day, Monday 30 November" in replies[-1].text
    (row,) = _rows(engine)
    assert row.urgent and row.next_attempt_at == FRIDAY_NIGHT


def test_an_adult_alumnus_is_pointed_to_adult_services(engine: Engine, keyed: Dispatcher) -> None:
    school = seed.school(engine)
    seed.staff(engine, school.id, "Dee", "Lead", role=StaffRole.dsl)
    adult = seed.alumnus(engine, school.id, date_of_birth=date(2006, 5, 1))
    seed.link(engine, adult, "console", "a1")
    replies = Chat(keyed, "a1").say("I want to kill myself")
    assert "Samaritans" in replies[-1].text and "116 123" in replies[-1].text and "999" in replies[-1].text
    assert "Childline" not in replies[-1].text
    (concern,) = _concerns(engine)
    assert concern.subject_id == adult.id


def test_staff_words_are_not_screened_and_buttons_are_not_text(engine: Engine, keyed: Dispatcher) -> None:
    pupil, (lead,) = _school(engine)
    seed.link(engine, lead, "console", "dsl")
    seed.link(engine, pupil, "console", "p1")
    Chat(keyed, "dsl").say("the pupil said her step dad hit her")
    Chat(keyed, "p1").press_data("i want to kill myself")
    assert _concerns(engine) == []


def test_without_an_encryption_key_the_message_is_saved_and_the_pupil_still_helped(
    engine: Engine, dispatcher: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    pupil, _ = _school(engine)
    seed.link(engine, pupil, "console", "p1")
    chat = Chat(dispatcher, "p1")
    replies = chat.say(f"/reflect {DISCLOSURE}")
    assert replies[0].text.startswith("Saved to your journal:") and "0800 1111" in replies[-1].text
    chat.say(f"/reflect {DISCLOSURE}")
    assert _concerns(engine) == []  # never kept in clear
    assert "WAYMARK_ENCRYPTION_KEY is not set" in caplog.text and "step dad" not in caplog.text
    (row,) = _rows(engine)  # the DSL still hears who and when, once for the hour, and never the words
    assert row.urgent and "Amira Khan" in row.text and "could not record it" in row.text
    assert "step dad" not in row.text and row.buttons == "[]"


def test_worried_and_the_talk_to_someone_button(engine: Engine, keyed: Dispatcher, clock: Clock) -> None:
    pupil, _ = _school(engine)
    seed.link(engine, pupil, "console", "p1")
    chat = Chat(keyed, "p1")
    chat.say("/help")
    assert "Talk to someone" in chat.buttons()
    replies = chat.press("Talk to someone")
    assert "0800 1111" in replies[0].text and "/worried" in replies[-1].text
    (concern,) = _concerns(engine)
    assert (concern.source, concern.category) == ("asked", "asked")
    assert "asked to talk to someone" in _rows(engine)[0].text.lower()
    clock.now += timedelta(hours=2)
    replies = chat.say("/worried nobody at home talks to me")
    assert "0800 1111" in replies[0].text and len(replies) == 1
    _first, second = _concerns(engine)
    assert concerns.words_of(second, KEY) == "nobody at home talks to me"


def test_an_alumnus_sees_talk_to_someone_too(engine: Engine, keyed: Dispatcher) -> None:
    school = seed.school(engine)
    alum = seed.alumnus(engine, school.id, date_of_birth=date(2007, 1, 1))
    seed.link(engine, alum, "console", "a1")
    chat = Chat(keyed, "a1")
    chat.say("/help")
    assert "Talk to someone" in chat.buttons()


def test_any_member_of_staff_raises_a_concern_about_any_pupil_of_the_school(engine: Engine, keyed: Dispatcher) -> None:
    pupil, (lead,) = _school(engine)
    other_tutor = seed.staff(engine, pupil.school_id, "Olu", "Other")  # not Amira's tutor
    elsewhere = seed.school(engine, "Far Away High")
    stranger = seed.pupil(engine, elsewhere.id, "Amira", "Jones", form="11C")
    seed.link(engine, other_tutor, "console", "t2")
    chat = Chat(keyed, "t2")
    replies = chat.say("/concern amira")
    assert [b.label for r in replies for row in r.buttons for b in row] == ["Amira Khan (11A)"]  # name and form only
    replies = chat.press("Amira Khan (11A)")
    assert "What have you noticed about Amira Khan?" in replies[0].text
    replies = chat.say("zqstaff she had bruises on her arms and flinched when I mentioned home")
    assert "passed this to the safeguarding lead (Dee0 Lead)" in replies[0].text
    (concern,) = _concerns(engine)
    assert (concern.source, concern.subject_id, concern.raised_by_id) == ("staff", pupil.id, other_tutor.id)
    assert concerns.words_of(concern, KEY).startswith("zqstaff")
    (row,) = _rows(engine)
    assert row.person_id == lead.id and "Raised by a member of staff" in row.text and "zqstaff" not in row.text
    # Another school's pupil, by a forged button: the same answer as an out-of-date button, nothing raised.
    replies = chat.press_data(f"/concern #{stranger.id}")
    assert "isn't one you can see" in replies[0].text and len(_concerns(engine)) == 1
    with Session(engine) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == audit.RAISE_CONCERN)).all()
        assert [(e.actor_id, e.subject_id) for e in events] == [(other_tutor.id, pupil.id)]


def test_a_staff_concern_with_no_dsl_says_it_waits(engine: Engine, keyed: Dispatcher) -> None:
    pupil, _ = _school(engine, dsls=0)
    leader = seed.staff(engine, pupil.school_id, "Lee", "Leader", role=StaffRole.leader)
    seed.link(engine, leader, "console", "l1")
    chat = Chat(keyed, "l1")
    chat.say(f"/concern #{pupil.id}")
    replies = chat.say("she said she has not eaten since Friday")
    assert "no safeguarding lead in Waymark yet" in replies[0].text
    (concern,) = _concerns(engine)
    assert concern.alerted_at is None and _rows(engine) == []


def test_the_pupil_record_offers_raise_a_concern(engine: Engine, keyed: Dispatcher) -> None:
    pupil, _ = _school(engine)
    with Session(engine) as session:
        tutor = session.exec(select(Person).where(Person.given_name == "Tia")).one()
    seed.link(engine, tutor, "console", "t1")
    chat = Chat(keyed, "t1")
    chat.say(f"/pupil #{pupil.id}")
    replies = chat.press("Raise a concern")
    assert "What have you noticed about Amira Khan?" in replies[0].text


def test_pupils_cannot_raise_a_staff_concern(engine: Engine, keyed: Dispatcher) -> None:
    pupil, _ = _school(engine)
    seed.link(engine, pupil, "console", "p1")
    replies = Chat(keyed, "p1").say(f"/concern #{pupil.id}")
    assert replies[0].text.startswith("That isn't something you can do here")
    assert _concerns(engine) == []


def test_interests_text_and_an_alumnus_check_in_answer_are_screened(engine: Engine, keyed: Dispatcher) -> None:
    pupil, _ = _school(engine)
    seed.link(engine, pupil, "console", "p1")
    replies = Chat(keyed, "p1").say("/interests nursing, and my mums boyfriend hurts me")
    assert "0800 1111" in replies[-1].text
    alum = seed.alumnus(engine, pupil.school_id, date_of_birth=date(2007, 1, 1))
    seed.link(engine, alum, "console", "a1")
    chat = Chat(keyed, "a1")
    chat.say("/destination")
    chat.press(chat.buttons()[0])
    replies = chat.say("my boyfriend hits me when he is angry")
    assert "Samaritans" in replies[-1].text
    assert [c.subject_id for c in _concerns(engine)] == [pupil.id, alum.id]


def test_asking_again_within_the_hour_joins_the_same_concern(engine: Engine, keyed: Dispatcher) -> None:
    pupil, _ = _school(engine)
    seed.link(engine, pupil, "console", "p1")
    chat = Chat(keyed, "p1")
    chat.say("/worried")
    chat.say("/worried please can someone talk to me")
    (concern,) = _concerns(engine)
    assert concern.hits == 2 and len(_rows(engine)) == 1
    assert concerns.context_of(concern, KEY) == ["Pupil: /worried please can someone talk to me"]


def test_a_schools_own_phrases_are_screened_and_a_change_rebuilds_its_book(engine: Engine, keyed: Dispatcher) -> None:
    pupil, _ = _school(engine)
    seed.link(engine, pupil, "console", "p1")
    chat = Chat(keyed, "p1")
    # Careers talk, so that only the school's phrase can raise it: "someone said ... to me in the
    # corridor" reads as bullying to the trained classifier, which is right to flag it.
    chat.say("/reflect the speaker said zqword at the careers fair")
    assert _concerns(engine) == []
    with Session(engine) as session:
        school = session.get(School, pupil.school_id)
        assert school is not None
        school.safeguarding_phrases = json.dumps({"additions": [["bullying", "said zqword"]], "removals": []})
        session.add(school)
        session.commit()
    replies = chat.say("/reflect the speaker said zqword at the careers fair")
    assert "0800 1111" in replies[-1].text
    (concern,) = _concerns(engine)
    assert concern.category == "bullying"
    with Session(engine) as session:
        school = session.get(School, pupil.school_id)
        assert school is not None
        school.safeguarding_phrases = json.dumps({"additions": [], "removals": ["said zqword"]})
        session.add(school)
        session.commit()
    chat.say("/reflect the speaker said zqword again at the fair today")
    assert len(_concerns(engine)) == 1


def test_a_schools_unreadable_phrase_list_never_stops_screening() -> None:
    def changes_of(raw: str) -> tuple[list[tuple[str, str]], list[str]]:
        read = phrases_of(School(name="Any", safeguarding_phrases=raw))
        return read.additions, read.removals

    assert changes_of("not json {") == ([], [])
    assert changes_of('{"additions": [["bullying", "zq a"], {"category": "quiet", "phrase": "zq b"}, 7]}') == (
        [("bullying", "zq a"), ("quiet", "zq b")],
        [],
    )
    assert changes_of('{"removals": ["kms", ["self_harm", "zq c"], {"phrase": "zq d"}, 3]}') == (
        [],
        ["kms", "zq c", "zq d"],
    )
    odd = School(id=987654, name="Typo Academy", safeguarding_phrases='{"additions": [["no_such_category", "zq"]]}')
    assert books.book_for(odd) is default_book()
    assert books.book_for(None) is default_book()


def test_a_staff_concern_without_a_key_tells_them_to_speak_to_the_dsl(engine: Engine, dispatcher: Dispatcher) -> None:
    pupil, (lead,) = _school(engine)
    seed.link(engine, lead, "console", "dsl")
    chat = Chat(dispatcher, "dsl")
    chat.say(f"/concern #{pupil.id}")
    replies = chat.say("zqwords she told me she is frightened of her brother")
    assert "couldn't keep what you wrote" in replies[0].text and "tell them in person" in replies[0].text
    assert _concerns(engine) == []
    (row,) = [r for r in _rows(engine) if r.platform == "telegram"]
    assert "Raised by a member of staff" in row.text and "zqwords" not in row.text


def test_screening_false_turns_screening_off_for_the_benchmark_floor(engine: Engine, clock: Clock) -> None:
    pupil, _ = _school(engine)
    seed.link(engine, pupil, "console", "p1")
    settings = core_settings.load_settings(database_url="sqlite://", encryption_key=KEY)
    off = Chat(Dispatcher(engine, settings, clock=clock, screening=False), "p1")
    replies = off.say(f"/reflect {DISCLOSURE}")
    assert len(replies) == 1 and replies[0].text.startswith("Saved to your journal:")  # the step itself ran
    assert _concerns(engine) == [] and _rows(engine) == []
    on = Chat(Dispatcher(engine, settings, clock=clock, screening=True), "p1")
    replies = on.say(f"/reflect {DISCLOSURE}")
    assert "0800 1111" in replies[-1].text
    (concern,) = _concerns(engine)
    assert concern.subject_id == pupil.id
