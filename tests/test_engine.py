"""The engine's own answers to bad input: the question comes back with its buttons, nothing is lost."""

import pytest
from sqlalchemy import Engine, text
from sqlmodel import select

from handlers import Dispatcher, Incoming, texts
from handlers.engine import parse_command
from storage import seed
from storage.db import transaction
from storage.models import JournalEntry
from tests.chat import Chat


def journal_texts(engine: Engine, person_id: int | None) -> list[str]:
    with transaction(engine) as s:
        return [e.text for e in s.exec(select(JournalEntry).where(JournalEntry.person_id == person_id)).all()]


def test_photo_mid_step_repeats_the_question_with_its_buttons(engine: Engine, dispatcher: Dispatcher) -> None:
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id)
    seed.link(engine, amira, "console", "amira")
    chat = Chat(dispatcher, "amira")
    chat.say("/reflect")
    chat.say("Ran the bake sale stall")
    question, skills = chat.text, chat.buttons()
    assert "Teamwork" in skills
    chat.send_photo()
    assert chat.text.startswith(texts.TEXT_ONLY)
    assert question in chat.text
    assert chat.buttons() == skills
    chat.say("x" * 10_000)
    assert "10,000" in chat.text and chat.buttons() == skills
    chat.press("Teamwork")  # the conversation carries on where it was
    assert "Teamwork" in chat.text or "Teamwork" in " ".join(chat.buttons())


def test_commands_split_on_any_whitespace() -> None:
    assert parse_command("/reflect\nHelped at the open evening") == ("reflect", "Helped at the open evening")
    assert parse_command("/Reflect@waymark_bot\t Line one\nline two") == ("reflect", "Line one\nline two")
    assert parse_command("link\nABCDE-23456") == ("link", "ABCDE-23456")
    assert parse_command("/help") == ("help", "")
    assert parse_command("linking is fun") is None


def test_reflection_typed_after_a_newline_is_saved(engine: Engine, dispatcher: Dispatcher) -> None:
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id)
    seed.link(engine, amira, "console", "amira")
    chat = Chat(dispatcher, "amira")
    chat.say("/reflect\nRan the bake sale stall")
    assert "Saved" in chat.text
    assert journal_texts(engine, amira.id) == ["Ran the bake sale stall"]


@pytest.mark.parametrize("kind", ["sticker", "voice"])
def test_sticker_and_voice_mid_step_repeat_the_question(engine: Engine, kind: str, dispatcher: Dispatcher) -> None:
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id)
    seed.link(engine, amira, "telegram", "77")
    chat = Chat(dispatcher, "77", "telegram")
    chat.say("/reflect")
    chat.say("Ran the bake sale stall")
    question, skills = chat.text, chat.buttons()
    replies = dispatcher.dispatch(Incoming("telegram", "77", "77", attachment=kind, update_id=f"{kind}-1"))
    assert replies[0].text.startswith(texts.TEXT_ONLY) and question in replies[0].text
    assert [b.label for r in replies for row in r.buttons for b in row] == skills
    chat.press("Teamwork")  # nothing was lost
    assert "Teamwork" in chat.text or "Teamwork" in " ".join(chat.buttons())


def test_help_in_the_middle_of_a_step_keeps_the_step(engine: Engine, dispatcher: Dispatcher) -> None:
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id)
    seed.link(engine, amira, "console", "amira")
    chat = Chat(dispatcher, "amira")
    chat.say("/encounter")
    chat.press("Employer talk")
    chat.say("/help")
    assert "/cancel" in chat.text and "/reflect" in chat.text
    chat.say("Nurse from the Royal Infirmary")  # still the who-or-where question
    assert "What did you take from it?" in chat.text
    chat.say("/privacy")
    assert texts.PRIVACY in chat.text
    chat.press_data("enc:skip")  # the Skip button the reflection question showed before /privacy
    assert "Saved to your journal: Employer talk - Nurse from the Royal Infirmary" in chat.text


REFUSE_JOURNAL = {
    "sqlite": ["CREATE TRIGGER refuse_journal BEFORE INSERT ON journalentry BEGIN SELECT RAISE(ABORT, 'refused'); END"],
    "postgresql": [
        "CREATE FUNCTION refuse_journal() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'refused' USING ERRCODE = 'check_violation'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_journal BEFORE INSERT ON journalentry FOR EACH ROW EXECUTE FUNCTION refuse_journal()",
    ],
}
ALLOW_JOURNAL = {
    "sqlite": ["DROP TRIGGER refuse_journal"],
    "postgresql": ["DROP TRIGGER refuse_journal ON journalentry", "DROP FUNCTION refuse_journal()"],
}


def _run(engine: Engine, statements: list[str]) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def test_a_constraint_failure_other_than_a_duplicate_is_answered_and_rolled_back(
    engine: Engine, dispatcher: Dispatcher
) -> None:
    """Only the processed-update key means "seen before"; any other constraint says so and keeps nothing."""
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id)
    seed.link(engine, amira, "telegram", "77")
    _run(engine, REFUSE_JOURNAL[engine.dialect.name])  # the database itself refuses the journal insert
    message = Incoming("telegram", "77", "77", text="/reflect Helped at the open evening", update_id="500")
    assert [r.text for r in dispatcher.dispatch(message)] == [texts.NOT_SAVED]
    _run(engine, ALLOW_JOURNAL[engine.dialect.name])
    # The failed step was rolled back, its update id too: the same update goes through now, once.
    assert "Saved" in dispatcher.dispatch(message)[0].text
    assert dispatcher.dispatch(message) == []
    assert journal_texts(engine, amira.id) == ["Helped at the open evening"]


def test_a_channel_reads_what_the_step_wrote_inside_its_transaction(engine: Engine, dispatcher: Dispatcher) -> None:
    """`within` sees the step's own writes before they commit (the web chat reads its new lines
    there), and is not called for a redelivered update, whose step does not run."""
    from sqlmodel import Session

    from storage import websessions
    from storage.models import TranscriptLine

    school = seed.school(engine)
    amira = seed.pupil(engine, school.id)
    seed.link(engine, amira, "web", "w-amira")
    read: list[list[TranscriptLine]] = []
    roles: list[frozenset[str]] = []

    def lines(session: Session) -> None:
        read.append(websessions.lines_after(session, "w-amira", 0))

    incoming = Incoming(
        platform="web", chat_id="w-amira", user_id="w-amira", text="/reflect Ran a stall", update_id="u1"
    )
    replies = dispatcher.dispatch(incoming, on_roles=roles.append, within=lines)
    assert roles == [frozenset({"pupil"})] and "Saved" in replies[0].text
    [seen] = read
    assert [line.direction for line in seen] == ["in", "out"] and seen[0].text == "/reflect Ran a stall"
    assert dispatcher.dispatch(incoming, on_roles=roles.append, within=lines) == []  # a redelivery
    assert len(read) == 1 and len(roles) == 1
