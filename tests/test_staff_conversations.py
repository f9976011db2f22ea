"""The tutor and careers-leader conversations, end to end through `Dispatcher.dispatch`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, event
from sqlmodel import select

from core.messages import DANGER, PRIMARY
from core.settings import load_settings
from handlers import Dispatcher
from handlers.pupils import NOT_AVAILABLE
from storage import alumni, audit, caseload, crypto, seed
from storage.db import transaction
from storage.models import AdviceRecord, AgreedAction, AuditEvent, ConversationState, OutboxMessage, Person, StaffRole
from storage.models import School as SchoolRow
from tests.chat import Chat

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday in the autumn term
KEY = crypto.new_key()
SECRET = "Mum mentioned money worries at home"


@dataclass
class School:
    engine: Engine
    dispatcher: Dispatcher
    school_id: int
    leader: Person
    tutor: Person
    other_tutor: Person
    amira: Person  # tutor group of `tutor`
    ben: Person  # tutor group of `tutor`
    cara: Person  # tutor group of `other_tutor`
    dan: Person  # assigned to `tutor` by a caseload assignment


def make_dispatcher(engine: Engine, key: str | None = KEY) -> Dispatcher:
    settings = load_settings(database_url="sqlite://", encryption_key=key, timezone="Europe/London")
    return Dispatcher(engine, settings, clock=lambda: NOW)


@pytest.fixture
def school(engine: Engine) -> School:
    s = seed.school(engine)
    assert s.id is not None
    leader = seed.staff(engine, s.id, "Lee", "Morgan", role=StaffRole.leader)
    tutor = seed.staff(engine, s.id, "Sam", "Patel")
    other = seed.staff(engine, s.id, "Olu", "Adeyemi")
    amira = seed.pupil(engine, s.id, "Amira", "Khan", form="11A", tutor_id=tutor.id)
    ben = seed.pupil(engine, s.id, "Ben", "Jones", form="11A", tutor_id=tutor.id, send="K", attendance=85.0)
    cara = seed.pupil(engine, s.id, "Cara", "Smith", form="11B", tutor_id=other.id)
    dan = seed.pupil(engine, s.id, "Dan", "Okafor", year_group=10, form="10C", tutor_id=other.id)
    with transaction(engine) as session:
        assert tutor.id is not None and dan.id is not None
        caseload.assign(session, tutor.id, dan.id)
    seed.link(engine, leader, "slack", "lee")
    seed.link(engine, tutor, "slack", "sam")
    seed.link(engine, other, "slack", "olu")
    seed.link(engine, amira, "web", "amira-web")
    return School(engine, make_dispatcher(engine), s.id, leader, tutor, other, amira, ben, cara, dan)


def log_up_to_summary(chat: Chat) -> None:
    chat.say("/log ami")
    chat.press("Amira Khan (11A)")
    assert "What kind of conversation" in chat.text
    chat.press("Personal guidance interview")
    chat.say("Talked about apprenticeships in engineering; advised the Year 12 open evening.")


def save_advice_with_a_staff_note(chat: Chat) -> None:
    """An advice record with one action and the SECRET staff-only note, saved."""
    log_up_to_summary(chat)
    chat.say("Write a first CV by 12/12")
    chat.press("Done")
    chat.say(SECRET)
    chat.press("Save")


def test_tutor_logs_advice_with_two_actions_pupil_sees_it_and_is_told(school: School) -> None:
    sam = Chat(school.dispatcher, "sam", "slack")
    log_up_to_summary(sam)
    sam.say("Visit the college open day by 12 Dec")
    assert "Added" in sam.text and "12 Dec 2026" in sam.text
    sam.say("Write a first CV")
    assert "When is" in sam.text
    sam.say("next Friday")
    assert "27 Nov 2026" in sam.text
    sam.press("Done")
    sam.say(SECRET)
    assert "Check this before saving" in sam.text and SECRET in sam.text
    assert "Visit the college open day (Sat 12 Dec 2026)" in sam.text
    sam.press("Save")
    assert "Saved" in sam.text

    with transaction(school.engine) as s:
        record = s.exec(select(AdviceRecord).where(AdviceRecord.pupil_id == school.amira.id)).one()
        assert record.kind == "guidance_interview" and record.staff_id == school.tutor.id
        assert record.staff_note is not None and SECRET.encode() not in record.staff_note  # encrypted at rest
        assert crypto.decrypt(KEY, record.staff_note) == SECRET
        actions = s.exec(select(AgreedAction).where(AgreedAction.pupil_id == school.amira.id)).all()
        assert {(a.text, a.due_date) for a in actions} == {
            ("Visit the college open day", date(2026, 12, 12)),
            ("Write a first CV", date(2026, 11, 27)),
        }
        assert all(a.advice_id == record.id for a in actions)
        outbox = s.exec(select(OutboxMessage).where(OutboxMessage.person_id == school.amira.id)).one()
        assert outbox.key == f"advice:{record.id}:web:amira-web"
        assert "/record" in outbox.text and SECRET not in outbox.text
        state = s.exec(select(ConversationState).where(ConversationState.external_id == "sam")).one()
        assert state.state == "" and state.data == "{}"


def test_a_restart_in_the_middle_of_the_advice_log_continues(school: School) -> None:
    sam = Chat(school.dispatcher, "sam", "slack")
    log_up_to_summary(sam)
    sam.say("Research three apprenticeships by 2026-12-12")
    sam.say("Phone the careers adviser")
    assert "When is" in sam.text

    restarted = Chat(make_dispatcher(school.engine), "sam", "slack")  # a new process, same database
    restarted.say("12/12")
    assert "Added: Phone the careers adviser" in restarted.text
    restarted.press("Done")
    restarted.press("No staff note")
    assert "Research three apprenticeships" in restarted.text and "Phone the careers adviser" in restarted.text
    restarted.press("Save")
    with transaction(school.engine) as s:
        assert len(s.exec(select(AgreedAction).where(AgreedAction.pupil_id == school.amira.id)).all()) == 2
        record = s.exec(select(AdviceRecord)).one()
        assert record.staff_note is None


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "\U0001f600\U0001f44d",
        "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
        "<b>x</b> & *y* _z_ `q`",
        "x" * 10_000,
        "photo",
    ],
)
def test_bad_input_at_every_step_keeps_what_was_entered(school: School, bad: str) -> None:
    sam = Chat(school.dispatcher, "sam", "slack")

    def poke() -> str:
        if bad == "photo":
            sam.send_photo()
        else:
            sam.say(bad)
        assert sam.text  # always a clear answer
        return sam.text

    sam.say("/log")
    poke()  # at "which pupil"
    sam.say("amira")
    sam.press("Amira Khan (11A)")
    poke()  # at "what kind": typed text is not a kind
    assert any(
        words in sam.text for words in ("What kind", "tap one of the buttons", "only read text", "characters long")
    )
    sam.press_data("kind:tutor_checkin")
    answer = poke()  # at "what was discussed": odd but real text is stored as typed
    typed_summary = bad.strip() and bad != "photo" and len(bad) <= 4000
    if not typed_summary:
        assert "empty" in answer or "only read text" in answer or "characters long" in answer
        sam.say("Discussed options after Year 11.")
    first_action = "Look up sixth-form courses by 12 Dec"
    sam.say(first_action)
    poke()  # at "another action": still one action
    if bad.strip() and bad != "photo" and len(bad) <= 500:
        assert "When is" in sam.text  # odd text is a valid action; it asks for its due date
        sam.press("No due date")
    # After a refusal the buttons of the earlier message are still on screen: press them by data.
    sam.press_data("act:done")
    poke()  # at the staff-only note
    if "Check this before saving" not in sam.text:
        sam.press_data("note:none")
    assert "Check this before saving" in sam.text
    assert "Look up sixth-form courses (Sat 12 Dec 2026)" in sam.text
    summary = sam.text
    poke()  # at the summary: nothing typed saves
    sam.press_data("save")
    assert "Saved" in sam.text
    with transaction(school.engine) as s:
        record = s.exec(select(AdviceRecord)).one()
        if typed_summary:
            assert record.summary == bad.strip()
        assert record.kind == "tutor_checkin"
        texts = {a.text for a in s.exec(select(AgreedAction)).all()}
        assert "Look up sixth-form courses" in texts
    assert "Pupil: Amira Khan (11A)" in summary


def test_bad_due_date_is_explained_and_the_action_kept(school: School) -> None:
    sam = Chat(school.dispatcher, "sam", "slack")
    log_up_to_summary(sam)
    sam.say("Book a work experience week")
    for wrong, words in [("31/02", "no 31 February"), ("1/1/2020", "already passed"), ("soonish", "couldn't read")]:
        sam.say(wrong)
        assert words in sam.text and "No due date" in sam.buttons()
    sam.say("by 3 Feb")
    assert "Added: Book a work experience week (Wed 3 Feb 2027)" in sam.text


def test_edit_from_the_summary_changes_one_part(school: School) -> None:
    sam = Chat(school.dispatcher, "sam", "slack")
    log_up_to_summary(sam)
    sam.say("Visit the college open day by 12 Dec")
    sam.press("Done")
    sam.press("No staff note")
    sam.press("Edit")
    sam.press("Kind of conversation")
    sam.press("Parents' evening")
    assert "Conversation: Parents' evening" in sam.text
    sam.press("Edit")
    sam.press("Pupil")
    sam.say("Okafor")  # Dan is assigned to Sam
    sam.press("Dan Okafor (10C)")
    assert "Pupil: Dan Okafor (10C)" in sam.text
    sam.press("Save")
    with transaction(school.engine) as s:
        record = s.exec(select(AdviceRecord)).one()
        assert record.pupil_id == school.dan.id and record.kind == "parents_evening"


def test_staff_note_is_never_in_anything_the_pupil_can_read(school: School) -> None:
    sam = Chat(school.dispatcher, "sam", "slack")
    save_advice_with_a_staff_note(sam)
    with transaction(school.engine) as s:
        state = s.exec(select(ConversationState).where(ConversationState.external_id == "sam")).first()
        assert state is None or SECRET not in state.data
    amira = Chat(school.dispatcher, "amira-web", "web")
    for command in ["/record", "/actions", "/help", "/privacy", "/pupil Amira", "/log Amira"]:
        amira.say(command)
        assert SECRET not in amira.text
    amira.say("/record")
    assert "Write a first CV" in amira.text  # the pupil sees the advice and the action
    with transaction(school.engine) as s:
        for row in s.exec(select(OutboxMessage)).all():
            assert SECRET not in row.text


def test_pupil_view_shows_the_whole_record_and_audits_each_view(school: School) -> None:
    sam = Chat(school.dispatcher, "sam", "slack")
    save_advice_with_a_staff_note(sam)
    sam.say("/pupil Amira")
    assert "Amira Khan (11A)" in sam.buttons()
    sam.press("Amira Khan (11A)")
    assert SECRET in sam.text and "Write a first CV" in sam.text and "Personal guidance interview" in sam.text
    sam.say("/pupil khan 11a")
    sam.press("Amira Khan (11A)")
    lee = Chat(school.dispatcher, "lee", "slack")  # the careers leader sees every pupil
    lee.say(f"/pupil #{school.amira.id}")
    assert SECRET in lee.text
    with transaction(school.engine) as s:
        events = audit.events_about(s, school.amira.id, audit.VIEW_PUPIL)  # type: ignore[arg-type]
        assert [e.actor_id for e in events] == [school.tutor.id, school.tutor.id, school.leader.id]
        assert all(e.school_id == school.school_id for e in events)


def test_pupil_outside_the_caseload_reads_like_no_such_pupil(school: School) -> None:
    sam = Chat(school.dispatcher, "sam", "slack")
    sam.say("/pupil Cara")
    outside = sam.text
    sam.say("/pupil Zebedee")
    nobody = sam.text
    assert outside.replace("Cara", "X") == nobody.replace("Zebedee", "X")
    sam.say(f"/pupil #{school.cara.id}")
    assert sam.text == NOT_AVAILABLE
    sam.say("/pupil #999999")
    assert sam.text == NOT_AVAILABLE
    with transaction(school.engine) as s:
        assert s.exec(select(AuditEvent)).all() == []


def test_caseload_lists_counts_flags_and_puts_pupils_without_guidance_first(school: School) -> None:
    with transaction(school.engine) as s:
        record = AdviceRecord(
            pupil_id=school.amira.id, staff_id=school.tutor.id, kind="tutor_checkin", summary="ok", created_at=NOW
        )
        s.add(record)
        s.flush()
        s.add(AgreedAction(pupil_id=school.amira.id, advice_id=record.id, text="a", due_date=date(2026, 11, 1)))
        s.add(AgreedAction(pupil_id=school.amira.id, advice_id=record.id, text="b", due_date=date(2026, 12, 1)))
        s.add(AgreedAction(pupil_id=school.amira.id, advice_id=record.id, text="c", status="done"))
        # Last school year's conversation does not count for this one.
        s.add(
            AdviceRecord(
                pupil_id=school.ben.id,
                staff_id=school.tutor.id,
                kind="other",
                summary="old",
                created_at=datetime(2026, 7, 1, tzinfo=UTC),
            )
        )
    sam = Chat(school.dispatcher, "sam", "slack")
    sam.say("/caseload")
    text = sam.text
    assert "Cara" not in text  # another tutor's pupil
    assert text.index("Ben Jones") < text.index("Dan Okafor") < text.index("Amira Khan")
    amira_part = text[text.index("Amira Khan") :]
    assert "last guidance: 23 Nov 2026" in amira_part and "2 open, 1 overdue" in amira_part
    ben_part = text[text.index("Ben Jones") : text.index("Dan Okafor")]
    assert "none this year" in ben_part and "SEN support" in ben_part
    assert "at risk of NEET" in ben_part and "attendance 85%" in ben_part
    assert "Your pupils (3)" in text


def test_caseload_pages_on_a_phone(school: School) -> None:
    for i in range(10):
        seed.pupil(school.engine, school.school_id, f"Pupil{i:02d}", "Zed", form="11A", tutor_id=school.tutor.id)
    sam = Chat(school.dispatcher, "sam", "slack")
    sam.say("/caseload")
    assert "page 1 of 2" in sam.text and "Next \u2192" in sam.buttons()
    sam.press("Next \u2192")
    assert "page 2 of 2" in sam.text and "\u2190 Previous" in sam.buttons()
    sam.say("/caseload 99")  # an old button: back to the first page
    assert "page 1 of 2" in sam.text


def test_attention_for_the_leader_per_year_group(school: School) -> None:
    with transaction(school.engine) as s:
        s.add(AgreedAction(pupil_id=school.cara.id, text="overdue", due_date=(NOW - timedelta(days=3)).date()))
        s.add(AdviceRecord(pupil_id=school.dan.id, staff_id=school.tutor.id, kind="other", summary="x", created_at=NOW))
    lee = Chat(school.dispatcher, "lee", "slack")
    lee.say("/attention")
    text = lee.text
    assert "Year 10 (1 pupils): 0 with no guidance" in text
    assert (
        "Year 11 (3 pupils): 3 with no guidance conversation this year; 1 with overdue actions; "
        "3 with no intended next step yet; 1 at risk"
    ) in text
    with transaction(school.engine) as s:
        cara = s.get(Person, school.cara.id)
        assert cara is not None
        cara.next_step = "Apprenticeship"
        s.add(cara)
    lee.say("/attention")
    assert "1 with overdue actions; 2 with no intended next step yet" in lee.text
    assert "Ben Jones (11A): SEN support; attendance 85%" in text
    sam = Chat(school.dispatcher, "sam", "slack")
    sam.say("/attention")
    assert "Ben Jones" not in sam.text and "isn't something you can do" in sam.text


def test_attention_names_the_pupils_of_a_year_group(school: School) -> None:
    with transaction(school.engine) as s:
        s.add(AgreedAction(pupil_id=school.cara.id, text="CV", due_date=(NOW - timedelta(days=3)).date()))
        s.add(AgreedAction(pupil_id=school.cara.id, text="Visit", due_date=(NOW - timedelta(days=1)).date()))
        # Amira had a conversation this school year and has a plan: she needs no attention.
        s.add(
            AdviceRecord(pupil_id=school.amira.id, staff_id=school.tutor.id, kind="other", summary="x", created_at=NOW)
        )
        amira = s.get(Person, school.amira.id)
        assert amira is not None
        amira.next_step = "Apprenticeship"
        s.add(amira)
    lee = Chat(school.dispatcher, "lee", "slack")
    lee.say("/attention")
    assert {"Year 10", "Year 11"} <= set(lee.buttons())
    lee.press("Year 11")
    text = lee.text
    assert text.startswith("Year 11: who needs attention:")
    no_guidance, overdue, no_plan, at_risk = (
        text.split("No guidance conversation this school year")[1].split("Overdue agreed actions:")[0],
        text.split("Overdue agreed actions:")[1].split("No intended next step yet:")[0],
        text.split("No intended next step yet:")[1].split("At risk of NEET")[0],
        text.split("At risk of NEET")[1],
    )
    assert "Ben Jones (11A), last: never" in no_guidance and "Cara Smith (11B)" in no_guidance
    assert "Amira" not in text  # seen this year, with a plan
    assert "Cara Smith (11B): 2 overdue actions" in overdue and "Ben" not in overdue
    assert "Ben Jones (11A)" in no_plan and "Cara Smith (11B)" in no_plan
    assert "Ben Jones (11A): SEN support; attendance 85%" in at_risk and "Cara" not in at_risk
    assert "Dan Okafor" not in text  # Year 10 is another list
    lee.say("/attention year 10")
    assert "Dan Okafor (10C)" in lee.text and "Ben Jones" not in lee.text
    lee.say("/attention 7")
    assert lee.text == "Year 7: nobody needs attention right now." and lee.buttons() == ["All year groups"]
    lee.say("/attention eleven")
    assert "/attention 11" in lee.text
    sam = Chat(school.dispatcher, "sam", "slack")
    sam.say("/attention 11")
    assert "Ben Jones" not in sam.text and "Cara" not in sam.text


def test_caseload_and_attention_lists_are_audited_for_each_pupil_shown(school: School) -> None:
    sam = Chat(school.dispatcher, "sam", "slack")
    sam.say("/caseload")
    lee = Chat(school.dispatcher, "lee", "slack")
    lee.say("/attention")  # counts only: nobody is named
    lee.say("/attention 10")

    def listed(pupil: Person) -> list[tuple[int | None, str]]:
        with transaction(school.engine, write=False) as s:
            return [(e.actor_id, e.detail) for e in audit.events_about(s, pupil.id, audit.LIST_PUPILS)]  # type: ignore[arg-type]

    for pupil in (school.amira, school.ben, school.dan):
        assert (school.tutor.id, "caseload page 1, slack") in listed(pupil)
    assert listed(school.cara) == []  # another tutor's pupil, and Year 11 was not opened
    assert listed(school.dan)[-1] == (school.leader.id, "needs attention 10 page 1, slack")


def test_search_lists_are_audited_for_each_pupil_shown(school: School) -> None:
    """/pupil NAME, the name search in /log and /concern NAME show a list of pupils: each pupil on
    it gets a list event naming the search, as the caseload does; a search that finds nobody
    writes nothing, and the words typed are never kept (a name fragment would outlive an erasure)."""
    sam = Chat(school.dispatcher, "sam", "slack")
    sam.say("/pupil Amira")
    sam.say("/cancel")
    sam.say("/log")
    sam.say("11A")  # the log flow's own search step, by form: Amira and Ben
    sam.say("/cancel")
    sam.say("/concern Cara")  # any pupil at the school, names and forms only
    sam.say("/cancel")
    sam.say("/pupil Nobody-by-this-name")
    lee = Chat(school.dispatcher, "lee", "slack")
    lee.say("/pupil zzz-no-match")

    with transaction(school.engine, write=False) as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.action == audit.LIST_PUPILS)).all()
    listed = sorted((e.subject_id or 0, e.actor_id or 0, e.detail) for e in events)
    tutor = school.tutor.id or 0
    assert listed == sorted(
        [
            (school.amira.id or 0, tutor, "pupil search (/pupil), slack"),
            (school.amira.id or 0, tutor, "pupil search (/log), slack"),
            (school.ben.id or 0, tutor, "pupil search (/log), slack"),
            (school.cara.id or 0, tutor, "pupil search (/concern), slack"),
        ]
    )
    assert not any("Nobody" in e.detail or "zzz" in e.detail or "Cara" in e.detail for e in events)


def test_attention_list_pages_a_large_year_group(school: School) -> None:
    for i in range(30):
        seed.pupil(school.engine, school.school_id, f"Pupil{i:02d}", "Zed", year_group=9, form="9Z")
    lee = Chat(school.dispatcher, "lee", "slack")
    lee.say("/attention 9")
    assert "(page 1 of 2)" in lee.text and "Pupil00 Zed (9Z)" in lee.text and "Pupil29" not in lee.text
    lee.press("Next \u2192")
    assert "(page 2 of 2)" in lee.text and "Pupil29 Zed (9Z)" in lee.text and "Pupil00" not in lee.text
    assert "\u2190 Previous" in lee.buttons()
    lee.say("/attention 9 99")  # an old button after the list shrank: the last page
    assert "(page 2 of 2)" in lee.text


def test_attention_uses_the_school_risk_weights(school: School) -> None:
    lee = Chat(school.dispatcher, "lee", "slack")
    lee.say("/attention 11")
    assert "Ben Jones (11A): SEN support; attendance 85%" in lee.text
    with transaction(school.engine) as s:
        row = s.get(SchoolRow, school.school_id)
        assert row is not None
        row.risk_weights = '{"threshold": 10}'
        s.add(row)
    lee.say("/attention 11")
    assert "At risk of NEET" not in lee.text


def test_staff_menu_shows_the_staff_buttons(school: School) -> None:
    sam = Chat(school.dispatcher, "sam", "slack")
    sam.say("/help")
    assert {"Log advice", "Caseload", "Find pupil"} <= set(sam.buttons())
    assert "Needs attention" not in sam.buttons()
    lee = Chat(school.dispatcher, "lee", "slack")
    lee.say("/help")
    assert {"Log advice", "Caseload", "Find pupil", "Needs attention"} <= set(lee.buttons())


def test_caseload_counts_come_from_one_statement(school: School) -> None:
    for i in range(20):
        seed.pupil(school.engine, school.school_id, f"P{i}", "Many", form="11A", tutor_id=school.tutor.id)
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    with transaction(school.engine) as s:
        tutor = s.get(Person, school.tutor.id)
        assert tutor is not None
        event.listen(school.engine, "before_cursor_execute", count)
        try:
            result = caseload.page(
                s, tutor, everyone=False, year_start_at=datetime(2026, 9, 1, tzinfo=UTC), today=NOW.date(), limit=8
            )
        finally:
            event.remove(school.engine, "before_cursor_execute", count)
    assert result.total == 23 and len(result.rows) == 8
    assert len(statements) == 1 and "GROUP BY" in statements[0].upper()


# --- issue 13: fewer taps, nothing lost by one tap, typed choices -----------------------------------


def test_a_log_with_two_actions_one_dated_and_a_note_takes_at_most_7(school: School) -> None:
    sam = Chat(school.dispatcher, "sam", "slack")
    sam.say("/log ami")
    sam.press("Amira Khan (11A)")
    sam.press("Personal guidance interview")
    sam.say(
        "Talked about apprenticeships in engineering.\n"
        "Agreed:\n- Visit the college open day in 2 weeks\n- Write a first CV"
    )
    assert "Anything for staff only" in sam.text
    sam.say(SECRET)
    assert "Visit the college open day (Mon 7 Dec 2026)" in sam.text  # "in 2 weeks" left the text
    assert "Write a first CV (no due date)" in sam.text
    sam.press("Save")
    assert "Saved" in sam.text and sam.sent <= 7
    with transaction(school.engine) as s:
        record = s.exec(select(AdviceRecord).where(AdviceRecord.pupil_id == school.amira.id)).one()
        assert record.summary == "Talked about apprenticeships in engineering."
        actions = s.exec(select(AgreedAction).where(AgreedAction.advice_id == record.id)).all()
        assert {(a.text, a.due_date) for a in actions} == {
            ("Visit the college open day", date(2026, 12, 7)),
            ("Write a first CV", None),
        }


def test_typing_done_where_done_is_offered_is_done_not_an_action(school: School) -> None:
    sam = Chat(school.dispatcher, "sam", "slack")
    log_up_to_summary(sam)
    sam.say("Write a first CV by 12/12")
    sam.say("DONE")  # any case
    assert "Anything for staff only" in sam.text
    sam.say("no staff note")
    assert "Check this before saving" in sam.text
    assert "Done" not in sam.text.split("Agreed actions:")[1]
    sam.say("save")
    with transaction(school.engine) as s:
        actions = s.exec(select(AgreedAction).where(AgreedAction.pupil_id == school.amira.id)).all()
        assert [a.text for a in actions] == ["Write a first CV"]


def test_discarding_a_log_asks_first_and_is_not_next_to_save(school: School) -> None:
    """Discard log…, /cancel, or "cancel" typed, at the summary or earlier once three answers are in,
    asks "Discard this log?"; Keep editing shows the same question again and loses nothing."""
    sam = Chat(school.dispatcher, "sam", "slack")
    log_up_to_summary(sam)
    sam.say("Write a first CV by 12/12")
    sam.press("Done")
    sam.press("No staff note")
    summary = sam.last[-1]
    rows = [[(b.label, b.style) for b in row] for row in summary.buttons]
    assert rows[0] == [("Save", PRIMARY)] and rows[-1] == [("Discard log\u2026", DANGER)]  # last, own row, red
    for stop in (lambda: sam.press("Discard log\u2026"), lambda: sam.say("/cancel"), lambda: sam.say("Cancel")):
        stop()
        assert "Discard this log?" in sam.text and "Nothing in it will be saved" in sam.text
        assert [[(b.label, b.style) for b in row] for row in sam.last[-1].buttons] == [
            [("Keep editing", PRIMARY)],
            [("Discard", DANGER)],
        ]  # the safe choice first: a web page focuses it
        sam.say("Save")  # not an answer to this question: asked again, still nothing lost
        assert "Please tap Keep editing or Discard" in sam.text and "Discard this log?" in sam.text
        sam.say("keep editing")  # typed words naming a choice are that choice
        assert sam.last[-1].text == summary.text and sam.last[-1].buttons == summary.buttons  # unchanged
    with transaction(school.engine) as s:
        assert s.exec(select(AdviceRecord)).all() == []
    sam.say("/cancel")
    sam.press("Discard")
    assert "Discarded: nothing from that log was saved" in sam.text
    sam.say("/cancel")
    assert "There was nothing to stop" in sam.text
    # Earlier in the log, with three answers (pupil, kind, summary), /cancel asks too; /cancel twice discards.
    log_up_to_summary(sam)
    assert "What did you agree?" in sam.text
    sam.say("/cancel")
    assert "Discard this log?" in sam.text
    sam.press("Keep editing")
    assert "What did you agree?" in sam.text  # the action question again
    sam.say("Visit the college open day by 12 Dec")  # and the log carries on where it was
    assert "Added: Visit the college open day" in sam.text
    sam.say("/cancel")
    sam.say("/cancel")
    assert "Discarded: nothing from that log was saved" in sam.text
    # Another command in the middle of such a log asks first too, naming it; sent again, it goes ahead.
    log_up_to_summary(sam)
    sam.say("/caseload")
    assert "in the middle of a log. Discard it to use /caseload?" in sam.text
    sam.press("Keep editing")
    assert "What did you agree?" in sam.text
    sam.say("/caseload")
    sam.say("/caseload")
    assert "Discard" not in sam.text and "What did you agree?" not in sam.text
    sam.say("/cancel")
    assert "There was nothing to stop" in sam.text
    # A worry about a child is never held up by a question: /concern goes at once.
    log_up_to_summary(sam)
    sam.say("/concern ami")
    assert "Discard" not in sam.text
    sam.say("/cancel")
    # With fewer answers there is little to lose: /cancel stops at once, as before.
    sam.say("/log ami")
    sam.press("Amira Khan (11A)")
    sam.say("/cancel")
    assert sam.text.startswith("OK, I've stopped that")
    with transaction(school.engine) as s:
        assert s.exec(select(AdviceRecord)).all() == []
    # A summary holding a staff-only note comes back whole, still sealed, and still saves.
    log_up_to_summary(sam)
    sam.say("Write a first CV by 12/12")
    sam.press("Done")
    sam.say(SECRET)
    sam.say("cancel")
    sam.press("Keep editing")
    assert SECRET in sam.text and sam.last[-1].sealed
    sam.press("Save")
    with transaction(school.engine) as s:
        assert len(s.exec(select(AdviceRecord)).all()) == 1


# --- issue 13: what staff see, and getting around it ----------------------------------------------


def test_the_staff_view_shows_what_the_pupil_wrote_and_leads_back_to_the_caseload(school: School) -> None:
    amira = Chat(school.dispatcher, "amira-web", "web")
    amira.say("/reflect Helped at the open evening")
    amira.press("Done")
    amira.say("I want to ask about engineering courses")
    amira.say("/encounter employer talk")
    amira.say("Siemens")
    amira.say("Engineers solve problems in teams")
    sam = Chat(school.dispatcher, "sam", "slack")
    sam.say("/caseload")
    sam.press("Amira K")
    text = sam.text
    assert "Learned / next: I want to ask about engineering courses" in text
    assert "Employer talk with Siemens: Engineers solve problems in teams" in text, text
    sam.press("\u2190 My caseload")
    assert "Your pupils (3)" in sam.text


def test_caseload_buttons_tell_two_pupils_apart_and_flags_are_said_once(school: School) -> None:
    for family in ("Taylor", "Thomas"):
        seed.pupil(school.engine, school.school_id, "Ibrahim", family, form="11A", tutor_id=school.tutor.id)
    sam = Chat(school.dispatcher, "sam", "slack")
    sam.say("/caseload")
    names = sam.buttons()
    assert "Ibrahim Taylor" in names and "Ibrahim Thomas" in names and "Ibrahim T" not in names
    assert "Amira K" in names  # short where it is unique
    ben_part = sam.text[sam.text.index("Ben Jones") :]
    flags = ben_part.split("flags: ")[1].split("\n")[0]
    assert flags.count("SEN support") == 1 and "at risk of NEET: attendance 85%" in flags


def test_names_in_needs_attention_open_the_record(school: School) -> None:
    lee = Chat(school.dispatcher, "lee", "slack")
    lee.say("/attention 11")
    assert {"Ben J", "Cara S"} <= set(lee.buttons())
    lee.press("Cara S")
    assert lee.text.startswith("Cara Smith (11B), Year 11")


def test_the_careers_leader_finds_an_alumnus_and_a_tutor_does_not(school: School) -> None:
    jordan = seed.alumnus(school.engine, school.school_id, "Jordan", "Evans", leaving_date=date(2025, 7, 18))
    with transaction(school.engine) as s:
        assert jordan.id is not None
        alumni.save_destination(
            s, jordan.id, alumni.NewDestination(1, "Apprenticeship", 310, "apprenticeship", "Acme"), NOW
        )
    lee = Chat(school.dispatcher, "lee", "slack")
    lee.say("/pupil Jordan Evans")
    assert "Jordan Evans (former pupil, left 2025)" in lee.buttons()
    lee.press("Jordan Evans (former pupil, left 2025)")
    assert lee.text.startswith("Jordan Evans (former pupil, left 2025)\nYear 1 after leaving: Apprenticeship (Acme)")
    sam = Chat(school.dispatcher, "sam", "slack")
    sam.say("/pupil Jordan Evans")
    assert "couldn't find" in sam.text
    sam.say(f"/pupil #{jordan.id}")
    assert sam.text == NOT_AVAILABLE
