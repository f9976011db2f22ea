"""The engine's own answers to bad input: the question comes back with its buttons, nothing is lost."""

from sqlalchemy import Engine

from bot.settings import load_settings
from handlers import Dispatcher, texts
from tests import factories
from tests.chat import Chat


def test_photo_mid_step_repeats_the_question_with_its_buttons(engine: Engine) -> None:
    dispatcher = Dispatcher(engine, load_settings(database_url="sqlite://"))
    school = factories.school(engine)
    amira = factories.pupil(engine, school.id)
    factories.link(engine, amira, "console", "amira")
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
