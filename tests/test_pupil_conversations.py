"""The pupil conversations end to end through `Dispatcher.dispatch`: reflect, encounter, interests,
next step, record and actions, with bad input at every step, restarts and forged button data."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from core.settings import load_settings
from handlers import Dispatcher, texts
from handlers.answers import KEPT
from storage import conversations, seed
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
    School,
)
from tests.chat import Chat

MIXED = "<b>Bold</b> & *stars* _under_ `tick` 🚀👩🏽‍🔬 مرحبا بالعالم שלום [link](x)"


def ticking_clock(start: datetime) -> Callable[[], datetime]:
    """Each message a second later, so 'newest first' is well defined."""
    seconds = itertools.count()
    return lambda: start + timedelta(seconds=next(seconds))


@pytest.fixture
def dispatcher(engine: Engine) -> Dispatcher:
    settings = load_settings(database_url="sqlite://")
    return Dispatcher(engine, settings, clock=ticking_clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)))


@pytest.fixture
def school(engine: Engine) -> School:
    return seed.school(engine)


def linked_pupil(
    engine: Engine, dispatcher: Dispatcher, school: School, user: str, **fields: object
) -> tuple[Person, Chat]:
    person = seed.pupil(engine, school.id, **fields)  # type: ignore[arg-type]
    seed.link(engine, person, "console", user)
    return person, Chat(dispatcher, user)


def state_of(engine: Engine, user: str) -> tuple[str, dict[str, object]]:
    with transaction(engine) as s:
        row = conversations.load(s, "console", user)
        return row.state, conversations.decode(row)


def entries(engine: Engine, person: Person) -> list[JournalEntry]:
    with transaction(engine) as s:
        return list(
            s.exec(select(JournalEntry).where(JournalEntry.person_id == person.id).order_by(JournalEntry.id)).all()
        )


def bad_inputs_keep_the_step(chat: Chat, engine: Engine, *, stray_button: bool = True) -> None:
    """A photo, empty text, 10,000 characters and a forged button each get a clear answer; nothing moves."""
    before = state_of(engine, chat.user_id)
    assert before[0], "should be in the middle of a conversation"
    chat.send_photo()
    assert "only read text" in chat.text and "lost" in chat.text
    chat.say("")
    assert chat.text and "lost" in chat.text
    chat.say("   ")
    assert chat.text and "lost" in chat.text
    chat.say("x" * 10_000)
    assert "10,000 characters" in chat.text and "lost" in chat.text
    if stray_button:
        chat.press_data("zz:forged:999")
        assert "button" in chat.text and "lost" in chat.text
    assert state_of(engine, chat.user_id) == before


# --- reflect ---------------------------------------------------------------------------------------


def test_guided_reflection_saves_what_skills_and_next(engine: Engine, dispatcher: Dispatcher, school: School) -> None:
    amira, chat = linked_pupil(engine, dispatcher, school, "p1")
    chat.say("/reflect")
    assert "What did you do" in chat.text
    chat.say("Helped run the Year 7 science club")
    assert "Which skills" in chat.text
    assert chat.buttons() == [
        "Listening",
        "Speaking",
        "Problem Solving",
        "Creativity",
        "Staying Positive",
        "Aiming High",
        "Leadership",
        "Teamwork",
        "Done",
    ]
    [saved] = entries(engine, amira)  # saved as soon as it was typed
    assert saved.text == "Helped run the Year 7 science club" and saved.skills == ""
    chat.press("Teamwork")
    assert "✓ Teamwork" in chat.buttons()
    chat.press("Listening")
    chat.press("✓ Listening")  # tapping again takes it off
    assert "Listening" in chat.buttons() and "✓ Listening" not in chat.buttons()
    chat.say("problem solving, SPEAKING")
    assert "Added Problem Solving, Speaking" in chat.text
    chat.say("Juggling")
    assert "don't have a skill called 'Juggling'" in chat.text and "Teamwork" in chat.text
    chat.press("Done")
    assert "learn" in chat.text and chat.buttons() == ["Skip"]
    chat.say("Explaining things simply is harder than it looks")
    assert "Saved to your journal" in chat.text and "Teamwork, Problem Solving, Speaking" in chat.text
    assert "Reflect" in chat.buttons()  # back to the menu
    [entry] = entries(engine, amira)
    assert entry.text == "Helped run the Year 7 science club"
    assert entry.skills == "Teamwork,Problem Solving,Speaking"
    assert entry.learned == "Explaining things simply is harder than it looks"
    assert state_of(engine, "p1")[0] == ""


def test_one_message_reflection_stores_text_exactly(engine: Engine, dispatcher: Dispatcher, school: School) -> None:
    amira, chat = linked_pupil(engine, dispatcher, school, "p1")
    chat.say(f"/reflect {MIXED}")
    assert "Saved to your journal" in chat.text and MIXED in chat.text
    [entry] = entries(engine, amira)
    assert entry.text == MIXED and entry.skills == "" and entry.kind == "reflection"


def test_guided_reflection_keeps_markup_emoji_and_rtl(engine: Engine, dispatcher: Dispatcher, school: School) -> None:
    amira, chat = linked_pupil(engine, dispatcher, school, "p1")
    chat.say("/reflect")
    chat.say(MIXED)
    chat.press("Done")
    chat.say(MIXED + "\nsecond line")
    [entry] = entries(engine, amira)
    assert entry.text == MIXED and entry.learned == MIXED + "\nsecond line" and entry.skills == ""


def test_reflection_continues_after_a_restart(engine: Engine, school: School) -> None:
    settings = load_settings(database_url="sqlite://")
    first = Dispatcher(engine, settings)
    amira, chat = linked_pupil(engine, first, school, "p1")
    chat.say("/reflect")
    chat.say("Ran the charity bake sale")
    chat.press("Leadership")
    # The process restarts: a new dispatcher on the same database picks up the same step.
    second = Chat(Dispatcher(engine, settings), "p1")
    second.press_data("sk:7")  # Teamwork
    assert "✓ Leadership" in second.buttons() and "✓ Teamwork" in second.buttons()
    second.press("Done")
    second.press("Skip")
    [entry] = entries(engine, amira)
    assert (entry.text, entry.skills, entry.learned) == ("Ran the charity bake sale", "Leadership,Teamwork", "")


def test_bad_input_at_every_reflection_step_loses_nothing(
    engine: Engine, dispatcher: Dispatcher, school: School
) -> None:
    amira, chat = linked_pupil(engine, dispatcher, school, "p1")
    chat.say("/reflect")
    bad_inputs_keep_the_step(chat, engine)
    chat.say("Volunteered at the food bank")
    chat.press("Creativity")
    bad_inputs_keep_the_step(chat, engine)
    for forged in ("sk:99", "sk:-1", "sk:", "sk:1e3"):
        chat.press_data(forged)
        assert "button" in chat.text
    assert state_of(engine, "p1")[1]["skills"] == ["Creativity"]
    chat.press("Done")
    bad_inputs_keep_the_step(chat, engine)
    chat.say("Next: ask about weekend shifts")
    [entry] = entries(engine, amira)
    assert (entry.text, entry.skills) == ("Volunteered at the food bank", "Creativity")


def test_cancel_before_the_text_saves_nothing_and_after_it_keeps_the_entry(
    engine: Engine, dispatcher: Dispatcher, school: School
) -> None:
    amira, chat = linked_pupil(engine, dispatcher, school, "p1")
    chat.say("/reflect")
    chat.say("/cancel")
    assert chat.text.startswith(texts.CANCELLED)
    assert entries(engine, amira) == []
    for steps in (["Did a thing"], ["Did a thing", "sk:1", "sk:done"]):
        chat.say("/reflect")
        for step in steps:
            chat.press_data(step) if step.startswith("sk:") else chat.say(step)
        chat.say("/cancel")
        assert chat.text.startswith(texts.CANCELLED_KEPT)  # never "nothing was saved": it was
        assert state_of(engine, "p1")[0] == ""
    assert [(e.text, e.skills) for e in entries(engine, amira)] == [("Did a thing", ""), ("Did a thing", "Speaking")]


def test_a_quick_reflection_takes_2_and_a_guided_one_with_two_skills_at_most_5(
    engine: Engine, dispatcher: Dispatcher, school: School
) -> None:
    amira, chat = linked_pupil(engine, dispatcher, school, "p1")
    chat.press_data("/reflect")  # the menu's Reflect button
    chat.say("Helped at the open evening")
    assert chat.sent == 2 and [e.text for e in entries(engine, amira)] == ["Helped at the open evening"]

    guided = Chat(dispatcher, "p1")
    guided.press_data("/reflect")
    guided.say("Ran the charity bake sale")
    guided.press("Leadership")
    guided.press("Teamwork")
    guided.press("Done")
    assert guided.sent <= 5 and "Saved, with Leadership, Teamwork" in guided.text
    assert entries(engine, amira)[-1].skills == "Leadership,Teamwork"  # complete: what next is optional


def test_something_new_typed_during_the_follow_ups_is_offered_as_its_own_entry(
    engine: Engine, dispatcher: Dispatcher, school: School
) -> None:
    amira, chat = linked_pupil(engine, dispatcher, school, "p1")
    chat.say("/reflect Helped at the open evening")
    chat.say("Also went to the careers fair on Friday")  # days later, not skill names
    assert "Save this as a journal entry?" in chat.text
    chat.press("Save it")
    assert [e.text for e in entries(engine, amira)] == [
        "Helped at the open evening",
        "Also went to the careers fair on Friday",
    ]


def test_school_sets_its_own_skills(engine: Engine, dispatcher: Dispatcher, school: School) -> None:
    with transaction(engine) as s:
        row = s.get(School, school.id)
        assert row is not None
        row.skills = "Resilience, Curiosity,, Resilience , Communication"
        s.add(row)
    amira, chat = linked_pupil(engine, dispatcher, school, "p1")
    chat.say("/reflect")
    chat.say("Debate club")
    assert chat.buttons() == ["Resilience", "Curiosity", "Communication", "Done"]
    chat.say("curiosity")
    chat.say("done")  # typed, like a terminal user would
    chat.press("Skip")
    assert entries(engine, amira)[0].skills == "Curiosity"


def test_commands_are_for_pupils_only(engine: Engine, dispatcher: Dispatcher, school: School) -> None:
    tutor = seed.staff(engine, school.id)
    seed.link(engine, tutor, "console", "t1")
    chat = Chat(dispatcher, "t1")
    for name in ("reflect hello", "encounter", "interests", "nextstep", "actions", "record"):
        chat.say(f"/{name}")
        assert chat.text == texts.NOT_FOR_YOU
    stranger = Chat(dispatcher, "nobody")
    for name in ("reflect hello", "record", "actions done 1", "nextstep"):
        stranger.say(f"/{name}")
        assert stranger.text == texts.NOT_LINKED


def test_pupil_menu_lists_the_pupil_conversations_in_order(
    engine: Engine, dispatcher: Dispatcher, school: School
) -> None:
    _, chat = linked_pupil(engine, dispatcher, school, "p1")
    chat.say("/help")
    labels = chat.buttons()
    mine = ["Reflect", "Encounter", "My record", "Actions", "Interests", "Next step"]
    assert [label for label in labels if label in mine] == mine


# --- encounter -------------------------------------------------------------------------------------


def test_encounter_end_to_end_with_bad_input(engine: Engine, dispatcher: Dispatcher, school: School) -> None:
    amira, chat = linked_pupil(engine, dispatcher, school, "p1")
    chat.say("/encounter")
    assert chat.buttons() == [
        "Employer talk",
        "Workplace visit",
        "Work experience",
        "College visit",
        "University visit",
        "Careers fair",
    ]
    bad_inputs_keep_the_step(chat, engine)
    chat.say("Space camp")
    assert "don't know that kind" in chat.text and KEPT in chat.text
    chat.press("Workplace visit")
    assert "who was it with" in chat.text
    bad_inputs_keep_the_step(chat, engine)
    chat.say("W" * 201)
    assert "up to 200" in chat.text
    chat.say("Siemens <Lincoln> & Co 🏭")
    assert "What did you take from it" in chat.text
    bad_inputs_keep_the_step(chat, engine)
    chat.say("Engineers work in teams far more than I thought. شكرا")
    assert "Saved to your journal: Workplace visit - Siemens <Lincoln> & Co 🏭" in chat.text
    [entry] = entries(engine, amira)
    assert entry.kind == "encounter" and entry.encounter_type == "workplace_visit"
    assert entry.encounter_with == "Siemens <Lincoln> & Co 🏭"
    assert entry.text == "Engineers work in teams far more than I thought. شكرا"


def test_encounter_type_can_be_typed_and_reflection_skipped(
    engine: Engine, dispatcher: Dispatcher, school: School
) -> None:
    amira, chat = linked_pupil(engine, dispatcher, school, "p1")
    chat.say("/encounter")
    chat.say("careers FAIR")
    chat.say("Lincolnshire Show")
    chat.press("Skip")
    [entry] = entries(engine, amira)
    assert (entry.encounter_type, entry.encounter_with, entry.text) == ("careers_fair", "Lincolnshire Show", "")


def test_typed_encounter_uses_the_text_and_asks_only_the_rest(
    engine: Engine, dispatcher: Dispatcher, school: School
) -> None:
    amira, chat = linked_pupil(engine, dispatcher, school, "p1")
    # Who or where, typed with the command (after a newline, as phones send it).
    chat.say("/encounter\nSiemens, Lincoln")
    assert "Siemens, Lincoln" in chat.text and "Workplace visit" in chat.buttons()
    chat.press("Workplace visit")
    assert "What did you take from it?" in chat.text  # not asked who or where again
    chat.say("Engineers fix turbines from laptops")
    # The kind, typed with the command.
    chat.say("/encounter Careers fair")
    assert "who was it with, or where?" in chat.text
    chat.say("Lincolnshire Show")
    chat.press("Skip")
    # A longer account is the reflection: the kind and the place are asked, then it is saved.
    story = "The nurse showed us how a ward runs at night. " * 6
    chat.say(f"/encounter {story}")
    chat.press("Employer talk")
    chat.say("Royal Infirmary")
    assert "Saved to your journal" in chat.text
    assert [(e.encounter_type, e.encounter_with, e.text) for e in entries(engine, amira)] == [
        ("workplace_visit", "Siemens, Lincoln", "Engineers fix turbines from laptops"),
        ("careers_fair", "Lincolnshire Show", ""),
        ("employer_talk", "Royal Infirmary", story.strip()),
    ]


def test_encounter_cancel_and_restart(engine: Engine, school: School) -> None:
    settings = load_settings(database_url="sqlite://")
    amira, chat = linked_pupil(engine, Dispatcher(engine, settings), school, "p1")
    chat.say("/encounter")
    chat.press("Employer talk")
    again = Chat(Dispatcher(engine, settings), "p1")
    again.say("NHS nurse")
    again.say("/cancel")
    assert entries(engine, amira) == []


# --- interests -------------------------------------------------------------------------------------


def test_interests_show_change_keep_and_clear(engine: Engine, dispatcher: Dispatcher, school: School) -> None:
    amira, chat = linked_pupil(engine, dispatcher, school, "p1")

    def interests() -> str:
        with transaction(engine) as s:
            person = s.get(Person, amira.id)
            assert person is not None
            return person.interests

    chat.say("/interests")
    assert "haven't told me" in chat.text
    bad_inputs_keep_the_step(chat, engine)
    chat.say("nursing, game design & <animation>, بناء")
    assert "Saved" in chat.text
    assert interests() == "nursing, game design & <animation>, بناء"
    chat.say("/interests")
    assert "nursing, game design & <animation>, بناء" in chat.text
    chat.press("Keep as they are")
    assert interests() == "nursing, game design & <animation>, بناء"
    chat.say("/interests")
    chat.say("x" * 1001)
    assert "up to 1,000" in chat.text
    chat.press("Clear them")
    assert interests() == ""
    chat.say("/interests plumbing, electrics")
    assert interests() == "plumbing, electrics"


# --- next step -------------------------------------------------------------------------------------


def test_next_step_is_kindly_refused_before_year_ten(engine: Engine, dispatcher: Dispatcher, school: School) -> None:
    _, chat = linked_pupil(engine, dispatcher, school, "p1", given="Leo", year_group=9, form="9B")
    chat.say("/nextstep")
    assert "Year 10 upwards, Leo" in chat.text
    assert state_of(engine, "p1")[0] == ""


def test_next_step_plan_and_applications(engine: Engine, dispatcher: Dispatcher, school: School) -> None:
    amira, chat = linked_pupil(engine, dispatcher, school, "p1", year_group=11)
    chat.say("/nextstep")
    assert "Your plan after Year 11: not chosen yet" in chat.text
    bad_inputs_keep_the_step(chat, engine)
    chat.say("hello")
    assert "tap one of the buttons" in chat.text
    chat.press("Choose my plan")
    options = chat.buttons()
    assert "School sixth form" in options and "Apprenticeship" in options and "University" not in options
    bad_inputs_keep_the_step(chat, engine)
    chat.press_data("ns:to:university")  # not offered in Year 11
    assert "button" in chat.text
    chat.press("Apprenticeship")
    assert "Saved your plan" in chat.text and "after Year 11: Apprenticeship" in chat.text

    chat.press("Add an application")
    bad_inputs_keep_the_step(chat, engine)
    chat.say("BAE Systems <apprenticeships>")
    bad_inputs_keep_the_step(chat, engine)
    chat.say("Engineering technician")
    bad_inputs_keep_the_step(chat, engine)
    chat.press("Applied")
    assert "Added: BAE Systems <apprenticeships> - Applied" in chat.text
    chat.press("Add an application")
    chat.say("Lincoln College")
    chat.press("Skip")
    chat.say("planning")  # a typed status works too
    assert "Lincoln College: Planning to apply" in chat.text

    chat.press("Update: BAE Systems <apprenticeships>")
    chat.press("Got an offer")
    assert "Updated: BAE Systems <apprenticeships> - Got an offer" in chat.text
    chat.press("Finished")
    assert state_of(engine, "p1")[0] == ""
    with transaction(engine) as s:
        apps = s.exec(select(Application).where(Application.person_id == amira.id).order_by(Application.id)).all()
        assert [(a.provider, a.course, a.status) for a in apps] == [
            ("BAE Systems <apprenticeships>", "Engineering technician", "offer"),
            ("Lincoln College", "", "planning"),
        ]
        person = s.get(Person, amira.id)
        assert person is not None and person.next_step == "Apprenticeship" and person.next_step_at is not None


def test_sixth_formers_see_university_and_may_type_their_own_plan(
    engine: Engine, dispatcher: Dispatcher, school: School
) -> None:
    _amira, chat = linked_pupil(engine, dispatcher, school, "p1", year_group=13, form="13A")
    chat.say("/nextstep")
    assert "after Year 13" in chat.text
    chat.press("Choose my plan")
    assert "University" in chat.buttons() and "School sixth form" not in chat.buttons()
    chat.say("Army officer training 🇬🇧")
    assert "after Year 13: Army officer training 🇬🇧" in chat.text


def test_typed_next_step_picks_a_matching_choice_or_keeps_own_words(
    engine: Engine, dispatcher: Dispatcher, school: School
) -> None:
    amira, chat = linked_pupil(engine, dispatcher, school, "p1", year_group=11)
    chat.say("/nextstep apprenticeship")
    assert "Saved your plan." in chat.text and "after Year 11: Apprenticeship" in chat.text
    chat.say("/nextstep fe college")
    assert "after Year 11: FE college" in chat.text  # the choice's own label, as the buttons save it
    chat.say("/nextstep\tJoin my uncle's joinery firm")
    assert "after Year 11: Join my uncle's joinery firm" in chat.text
    chat.say("/nextstep " + "x" * 300)
    assert "300 characters" in chat.text
    with transaction(engine) as s:
        assert s.get(Person, amira.id).next_step == "Join my uncle's joinery firm"  # type: ignore[union-attr]
    assert state_of(engine, "p1")[0] == "nextstep.menu"  # the overview's buttons work as usual
    chat.press("Finished")
    young, young_chat = linked_pupil(engine, dispatcher, school, "p2", year_group=8)
    young_chat.say("/nextstep apprenticeship")
    assert "Year 10 upwards" in young_chat.text
    with transaction(engine) as s:
        assert s.get(Person, young.id).next_step is None  # type: ignore[union-attr]


def test_forged_application_button_is_refused(engine: Engine, dispatcher: Dispatcher, school: School) -> None:
    ben, ben_chat = linked_pupil(engine, dispatcher, school, "p2", given="Ben")
    ben_chat.say("/nextstep")
    ben_chat.press("Add an application")
    ben_chat.say("Secret Academy")
    ben_chat.press("Skip")
    ben_chat.press("Applied")
    with transaction(engine) as s:
        ben_app = s.exec(select(Application).where(Application.person_id == ben.id)).one()

    _, chat = linked_pupil(engine, dispatcher, school, "p1")
    chat.say("/nextstep")
    for forged in (f"ns:app:{ben_app.id}", "ns:app:999999", "ns:app:x", "ns:app:"):
        chat.press_data(forged)
        assert "couldn't find that application" in chat.text or "button" in chat.text
        assert "Secret Academy" not in chat.text
        assert state_of(engine, "p1")[0] == "nextstep.menu"
    # Even a forged state cannot reach Ben's application: the save re-checks the owner.
    with transaction(engine) as s:
        row = conversations.load(s, "console", "p1")
        conversations.save(s, row, "nextstep.status", {"app_id": ben_app.id, "provider": "x"}, datetime.now(UTC))
    chat.press_data("ns:st:rejected")
    assert "couldn't find that application" in chat.text
    with transaction(engine) as s:
        assert s.get(Application, ben_app.id).status == "applied"  # type: ignore[union-attr]


# --- record and actions -----------------------------------------------------------------------------


def advice_for(
    engine: Engine,
    pupil: Person,
    tutor: Person,
    summary: str,
    actions: list[tuple[str, date | None]],
    *,
    note: bytes = b"STAFF-ONLY-NOTE",
    at: datetime | None = None,
) -> list[int]:
    with transaction(engine) as s:
        advice = AdviceRecord(
            pupil_id=pupil.id,  # type: ignore[arg-type]
            staff_id=tutor.id,  # type: ignore[arg-type]
            kind="guidance_interview",
            summary=summary,
            staff_note=note,
            created_at=at or datetime(2026, 3, 1, 12, tzinfo=UTC),
        )
        s.add(advice)
        s.flush()
        ids = []
        for text, due in actions:
            action = AgreedAction(pupil_id=pupil.id, advice_id=advice.id, text=text, due_date=due)  # type: ignore[arg-type]
            s.add(action)
            s.flush()
            ids.append(action.id)
        return ids  # type: ignore[return-value]


def test_record_pages_newest_first_without_staff_notes(engine: Engine, dispatcher: Dispatcher, school: School) -> None:
    tutor = seed.staff(engine, school.id, "Sam", "Patel")
    amira, chat = linked_pupil(engine, dispatcher, school, "p1")
    advice_for(
        engine,
        amira,
        tutor,
        "Talked about <engineering> & apprenticeships",
        [("Visit the BAE open day", date(2026, 2, 1)), ("Draft a CV", None)],
        note=b"gAAAAA-encrypted-STAFF-ONLY",
        at=datetime(2026, 3, 1, 12, tzinfo=UTC),
    )
    for n in range(11):
        chat.say(f"/reflect Entry number {n:02d}")
    chat.say("/interests robotics")
    chat.say("/record")
    assert "page 1 of 3" in chat.text and "Interests: robotics" in chat.text
    assert next(line for line in chat.text.splitlines() if "Entry number" in line).endswith("Entry number 10")
    assert "Entry number 06" in chat.text and "Entry number 05" not in chat.text
    assert chat.buttons()[0] == "Older" and "Newer" not in chat.buttons()
    chat.press("Older")
    assert "page 2 of 3" in chat.text and "Entry number 05" in chat.text and "Entry number 01" in chat.text
    assert "Interests" not in chat.text
    assert chat.buttons()[:2] == ["Newer", "Older"]
    chat.press("Older")
    assert "page 3 of 3" in chat.text and "Entry number 00" in chat.text
    text = chat.text
    assert "Careers guidance interview with Sam Patel" in text
    assert "Talked about <engineering> & apprenticeships" in text
    assert "Agreed: Visit the BAE open day - due 01 Feb 2026 - overdue" in text
    assert "Agreed: Draft a CV - to do" in text
    assert "STAFF-ONLY" not in text and "gAAAAA" not in text
    assert "Older" not in chat.buttons()
    chat.press("Newer")
    assert "page 2 of 3" in chat.text
    chat.say("/record 99")  # past the end: the oldest page
    assert "page 3 of 3" in chat.text
    chat.say("/record nonsense")
    assert "page 1 of 3" in chat.text


def test_record_shows_nothing_of_another_pupil(engine: Engine, dispatcher: Dispatcher, school: School) -> None:
    tutor = seed.staff(engine, school.id)
    ben, ben_chat = linked_pupil(engine, dispatcher, school, "p2", given="Ben")
    ben_chat.say("/reflect BEN-SECRET-ENTRY")
    advice_for(engine, ben, tutor, "BEN-SECRET-ADVICE", [("BEN-SECRET-ACTION", None)])
    _, chat = linked_pupil(engine, dispatcher, school, "p1")
    chat.say("/record")
    assert "empty so far" in chat.text and "BEN" not in chat.text
    chat.say("/actions")
    assert "no open actions" in chat.text and "BEN" not in chat.text


def test_alumnus_reads_their_own_record(engine: Engine, dispatcher: Dispatcher, school: School) -> None:
    tutor = seed.staff(engine, school.id)
    alum, chat = linked_pupil(engine, dispatcher, school, "a1", given="Zara", year_group=None, form=None)
    advice_for(engine, alum, tutor, "Kept options open", [])
    with transaction(engine) as s:
        person = s.get(Person, alum.id)
        assert person is not None
        person.role = Role.alumnus
        person.status = PersonStatus.left
        s.add(person)
        s.add(
            Destination(
                person_id=alum.id,  # type: ignore[arg-type]
                year_after_leaving=1,
                category="Apprenticeship",
                nccis_code=310,
                group="apprenticeship",
                provider="Rolls-Royce",
                reported_at=datetime(2026, 10, 1, tzinfo=UTC),
            )
        )
    chat.say("/record")
    assert "year 1 after leaving: Apprenticeship, Rolls-Royce" in chat.text
    assert "Kept options open" in chat.text
    chat.say("/actions")
    assert chat.text == texts.NOT_FOR_YOU
    chat.say("/reflect hi")
    assert chat.text == texts.NOT_FOR_YOU


def test_actions_mark_done_and_forged_ids_refused(engine: Engine, dispatcher: Dispatcher, school: School) -> None:
    tutor = seed.staff(engine, school.id)
    amira, chat = linked_pupil(engine, dispatcher, school, "p1")
    ben, _ = linked_pupil(engine, dispatcher, school, "p2", given="Ben")
    [cv, visit] = advice_for(
        engine, amira, tutor, "Plans", [("Draft a CV", date(2026, 3, 20)), ("Visit a college", None)]
    )
    [ben_action] = advice_for(engine, ben, tutor, "Ben's plans", [("BEN-ONLY action", None)])
    with transaction(engine) as s:
        staff_action = AgreedAction(pupil_id=amira.id, owner_id=tutor.id, text="Tutor emails the college")  # type: ignore[arg-type]
        s.add(staff_action)
        s.flush()
        staff_action_id = staff_action.id

    chat.say("/actions")
    assert "1. Draft a CV - due 20 Mar 2026 - to do" in chat.text
    assert "Tutor emails the college - to do - the school will do this" in chat.text
    marks = [label for label in chat.buttons() if label.startswith("Mark done")]
    assert marks == ["Mark done: 1. Draft a CV", "Mark done: 2. Visit a college"]
    chat.press("Mark done: 1. Draft a CV")
    assert "Marked as done: Draft a CV" in chat.text and "Draft a CV" not in "".join(chat.buttons())

    for forged in (
        f"/actions done {ben_action}",
        f"/actions done {staff_action_id}",
        f"/actions done {cv}",
        "/actions done x",
    ):
        chat.press_data(forged)
        assert "couldn't find that action" in chat.text
        assert "BEN-ONLY" not in chat.text
    with transaction(engine) as s:
        assert s.get(AgreedAction, ben_action).status == "open"  # type: ignore[union-attr]
        assert s.get(AgreedAction, staff_action_id).status == "open"  # type: ignore[union-attr]
        assert s.get(AgreedAction, cv).status == "done"  # type: ignore[union-attr]
        assert s.get(AgreedAction, visit).status == "open"  # type: ignore[union-attr]
    chat.say("/actions finish everything")
    assert "tap its button" in chat.text
    chat.say("/record")
    assert "Agreed: Draft a CV - due 20 Mar 2026 - done" in chat.text


def test_idle_text_is_offered_as_a_journal_entry(engine: Engine, dispatcher: Dispatcher, school: School) -> None:
    amira, chat = linked_pupil(engine, dispatcher, school, "p1")
    chat.say("hi")
    assert chat.text == texts.IDLE_HINT  # too short to be an entry
    chat.say("Went to the <STEM> fair & met a vet 🐶")
    assert "Save this as a journal entry?" in chat.text
    bad_inputs_keep_the_step(chat, engine)
    chat.say("She said to get work experience")
    assert "Added that to the same entry" in chat.text
    chat.press("Save it")
    [entry] = entries(engine, amira)
    assert entry.text == "Went to the <STEM> fair & met a vet 🐶\nShe said to get work experience"

    chat.say("Another thing I did this week at school")
    chat.press("Save it")
    chat.press("Listening")
    chat.press("Done")
    chat.press("Skip")
    assert entries(engine, amira)[-1].skills == "Listening"

    chat.say("Something I do not want to keep")
    chat.press("No thanks")
    assert len(entries(engine, amira)) == 2

    tutor = seed.staff(engine, school.id)
    seed.link(engine, tutor, "console", "t1")
    staff_chat = Chat(dispatcher, "t1")
    staff_chat.say("This is a long message from a member of staff")
    assert "journal" not in staff_chat.text


def test_a_pupil_s_own_record_lists_their_applications(engine: Engine, dispatcher: Dispatcher, school: School) -> None:
    _, chat = linked_pupil(engine, dispatcher, school, "p1", year_group=11)
    chat.say("/nextstep")
    chat.press("Add an application")
    chat.say("Lincoln College")
    chat.say("A levels")
    chat.press("Applied")
    chat.say("/record")
    assert "Application: Lincoln College - A levels: Applied" in chat.text


def test_mark_done_can_be_undone(engine: Engine, dispatcher: Dispatcher, school: School) -> None:
    amira, chat = linked_pupil(engine, dispatcher, school, "p1")
    other, _ = linked_pupil(engine, dispatcher, school, "p2", given="Ben", family="Jones")
    with transaction(engine) as s:
        mine = AgreedAction(pupil_id=amira.id, text="Write a first CV")
        theirs = AgreedAction(pupil_id=other.id, text="Not Amira's", status="done")
        s.add_all([mine, theirs])
        s.flush()
        mine_id, theirs_id = mine.id, theirs.id
    chat.say("/actions")
    chat.press("Mark done: 1. Write a first CV")
    assert "Marked as done" in chat.text
    chat.press("Undo: not done yet")
    assert "back on your list" in chat.text and "Mark done: 1. Write a first CV" in chat.buttons()
    chat.say(f"/actions undo {theirs_id}")  # not hers: nothing changes
    assert "couldn't find" in chat.text
    with transaction(engine, write=False) as s:
        row = s.get(AgreedAction, mine_id)
        assert row is not None and (row.status, row.done_at) == ("open", None)
        assert s.get(AgreedAction, theirs_id).status == "done"  # type: ignore[union-attr]


def test_a_typed_menu_word_is_that_choice_in_any_case(engine: Engine, dispatcher: Dispatcher, school: School) -> None:
    amira, chat = linked_pupil(engine, dispatcher, school, "p1")
    chat.say("my RECORD")  # the menu's "My record", typed
    assert chat.text.startswith("Your record is empty so far")
    chat.say("reflect")
    assert "What did you do?" in chat.text
    chat.say("Helped at the open evening")
    chat.say("TEAMWORK")
    chat.say("done")
    assert "Saved, with Teamwork" in chat.text
    chat.say("skip")
    assert "Saved to your journal" in chat.text and state_of(engine, "p1")[0] == ""
    assert [(e.skills, e.learned) for e in entries(engine, amira)] == [("Teamwork", "")]
