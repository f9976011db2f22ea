from datetime import date, timedelta

import pytest
from sqlalchemy import Engine

from bot.settings import load_settings
from handlers import Dispatcher, Incoming, texts
from storage import identities
from storage.db import transaction
from tests import factories
from tests.chat import Chat


@pytest.fixture
def dispatcher(engine: Engine) -> Dispatcher:
    return Dispatcher(engine, load_settings(database_url="sqlite://", public_url="https://waymark.school.example"))


def test_start_with_code_links_and_greets_by_first_name(engine: Engine, dispatcher: Dispatcher) -> None:
    school = factories.school(engine)
    amira = factories.pupil(engine, school.id, "Amira", "Khan")
    code = factories.code_for(engine, amira)
    chat = Chat(dispatcher, "u1", platform="web")
    chat.say(f"/start {code}")
    assert "Amira" in chat.text
    assert "careers team" in chat.text  # told who can read what they write
    assert chat.buttons()
    with transaction(engine) as s:
        assert identities.person_for(s, "web", "u1").id == amira.id  # type: ignore[union-attr]


def test_code_is_single_use_and_refusal_reveals_nothing(engine: Engine, dispatcher: Dispatcher) -> None:
    school = factories.school(engine)
    amira = factories.pupil(engine, school.id, "Amira", "Khan")
    code = factories.code_for(engine, amira)
    Chat(dispatcher, "u1", "web").say(f"/start {code}")
    other = Chat(dispatcher, "u2", "web")
    other.say(f"/start {code}")
    assert other.text == texts.WRONG_CODE
    assert "Amira" not in other.text
    other.say("/start ZZZZZ-ZZZZZ")
    assert other.text == texts.WRONG_CODE


def test_five_wrong_codes_lock_the_chat_for_fifteen_minutes(engine: Engine) -> None:
    now = [date.today()]
    from datetime import UTC, datetime

    clock = [datetime(2026, 11, 23, 10, 0, tzinfo=UTC)]
    dispatcher = Dispatcher(engine, load_settings(database_url="sqlite://"), clock=lambda: clock[0])
    school = factories.school(engine)
    amira = factories.pupil(engine, school.id)
    code = factories.code_for(engine, amira)
    chat = Chat(dispatcher, "u1", "web")
    for _ in range(4):
        chat.say("/start 22222-33333")
        assert chat.text == texts.WRONG_CODE
    chat.say("/start 22222-33333")
    assert chat.text == texts.LOCKED_OUT
    chat.say(f"/start {code}")  # even the right code waits
    assert chat.text == texts.LOCKED_OUT
    clock[0] += timedelta(minutes=16)
    chat.say(f"/start {code}")
    assert "Welcome" in chat.text
    assert now


def test_pupil_under_sixteen_is_sent_to_the_web_chat_and_code_stays_valid(
    engine: Engine, dispatcher: Dispatcher
) -> None:
    school = factories.school(engine)
    young = factories.pupil(engine, school.id, "Leo", "Ward", year_group=9, dob=date(2012, 5, 1))
    code = factories.code_for(engine, young)
    tg = Chat(dispatcher, "9001", "telegram")
    tg.say(f"/start {code}")
    assert "16" in tg.text and "https://waymark.school.example" in tg.text
    with transaction(engine) as s:
        assert identities.person_for(s, "telegram", "9001") is None
    web = Chat(dispatcher, "w1", "web")
    web.say(f"/start {code}")
    assert "Welcome to Waymark, Leo" in web.text


def test_linked_account_cannot_be_moved_by_another_code(engine: Engine, dispatcher: Dispatcher) -> None:
    school = factories.school(engine)
    amira = factories.pupil(engine, school.id, "Amira", "Khan")
    ben = factories.pupil(engine, school.id, "Ben", "Jones")
    chat = Chat(dispatcher, "u1", "web")
    chat.say(f"/start {factories.code_for(engine, amira)}")
    chat.say(f"/start {factories.code_for(engine, ben)}")
    assert "already linked" in chat.text and "Ben" not in chat.text
    chat.say("/unlink")
    assert chat.text == texts.UNLINKED
    chat.say("/record")
    assert chat.text == texts.NOT_LINKED


def test_group_chat_is_refused_and_nothing_stored(engine: Engine, dispatcher: Dispatcher) -> None:
    replies = dispatcher.dispatch(Incoming("telegram", "-100", "5", text="/start X", update_id="1", chat_type="group"))
    assert replies[0].text == texts.PRIVATE_ONLY
    replies = dispatcher.dispatch(Incoming("telegram", "-100", "5", text="/start X", update_id="1", chat_type="group"))
    assert replies[0].text == texts.PRIVATE_ONLY  # not even the update id was kept


def test_duplicate_update_is_handled_once(engine: Engine, dispatcher: Dispatcher) -> None:
    first = dispatcher.dispatch(Incoming("telegram", "7", "7", text="/help", update_id="42"))
    again = dispatcher.dispatch(Incoming("telegram", "7", "7", text="/help", update_id="42"))
    assert first and again == []


def test_photo_and_unknown_command_get_clear_answers(engine: Engine, dispatcher: Dispatcher) -> None:
    chat = Chat(dispatcher, "u1", "web")
    chat.send_photo()
    assert chat.text.startswith(texts.TEXT_ONLY)
    chat.say("/frobnicate")
    assert "/frobnicate" in chat.text and "/help" in chat.text
