import threading
import time
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, text

from core.settings import load_settings
from handlers import Dispatcher, Incoming, texts
from storage import codes, identities, seed
from storage.db import make_engine, transaction
from tests.chat import Chat, Clock


@pytest.fixture
def dispatcher(engine: Engine, clock: Clock) -> Dispatcher:
    settings = load_settings(database_url="sqlite://", public_url="https://waymark.school.example")
    return Dispatcher(engine, settings, clock=clock)


def test_start_with_code_links_and_greets_by_first_name(engine: Engine, dispatcher: Dispatcher) -> None:
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id, "Amira", "Khan")
    code = seed.code_for(engine, amira)
    chat = Chat(dispatcher, "u1", platform="web")
    chat.say(f"/start {code}")
    assert "Amira" in chat.text
    assert "careers team" in chat.text  # told who can read what they write
    assert chat.buttons()
    with transaction(engine) as s:
        assert identities.person_for(s, "web", "u1").id == amira.id  # type: ignore[union-attr]


def test_code_is_single_use_and_refusal_reveals_nothing(engine: Engine, dispatcher: Dispatcher) -> None:
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id, "Amira", "Khan")
    code = seed.code_for(engine, amira)
    Chat(dispatcher, "u1", "web").say(f"/start {code}")
    other = Chat(dispatcher, "u2", "web")
    other.say(f"/start {code}")
    assert other.text == texts.WRONG_CODE
    assert "Amira" not in other.text
    other.say("/start ZZZZZ-ZZZZZ")
    assert other.text == texts.WRONG_CODE


def test_five_wrong_codes_lock_the_chat_for_fifteen_minutes(
    engine: Engine, dispatcher: Dispatcher, clock: Clock
) -> None:
    now = [date.today()]
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id)
    code = seed.code_for(engine, amira)
    chat = Chat(dispatcher, "u1", "web")
    for _ in range(4):
        chat.say("/start 22222-33333")
        assert chat.text == texts.WRONG_CODE
    chat.say("/start 22222-33333")
    assert chat.text == texts.LOCKED_OUT
    chat.say(f"/start {code}")  # even the right code waits
    assert chat.text == texts.LOCKED_OUT
    clock.now += timedelta(minutes=16)
    chat.say(f"/start {code}")
    assert "Welcome" in chat.text
    assert now


def test_pupil_under_sixteen_is_sent_to_the_web_chat_and_code_stays_valid(
    engine: Engine, dispatcher: Dispatcher
) -> None:
    school = seed.school(engine)
    young = seed.pupil(engine, school.id, "Leo", "Ward", year_group=9, dob=date(2012, 5, 1))
    code = seed.code_for(engine, young)
    tg = Chat(dispatcher, "9001", "telegram")
    tg.say(f"/start {code}")
    assert "16" in tg.text and "https://waymark.school.example" in tg.text
    with transaction(engine) as s:
        assert identities.person_for(s, "telegram", "9001") is None
    web = Chat(dispatcher, "w1", "web")
    web.say(f"/start {code}")
    assert "Welcome to Waymark, Leo" in web.text


def test_linked_account_cannot_be_moved_by_another_code(engine: Engine, dispatcher: Dispatcher) -> None:
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id, "Amira", "Khan")
    ben = seed.pupil(engine, school.id, "Ben", "Jones")
    chat = Chat(dispatcher, "u1", "web")
    chat.say(f"/start {seed.code_for(engine, amira)}")
    chat.say(f"/start {seed.code_for(engine, ben)}")
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


def test_wrong_codes_far_apart_never_add_up_to_a_lockout(engine: Engine, dispatcher: Dispatcher, clock: Clock) -> None:
    chat = Chat(dispatcher, "u1", "web")
    for _ in range(4):
        chat.say("/start 22222-33333")
        assert chat.text == texts.WRONG_CODE
    clock.now += timedelta(minutes=15)  # the window of the first failure has passed
    for _ in range(4):
        chat.say("/start 22222-33333")
        assert chat.text == texts.WRONG_CODE  # counting started again: 4, not 8
        clock.now += timedelta(minutes=1)
    chat.say("/start 22222-33333")  # the fifth within fifteen minutes of the first of these
    assert chat.text == texts.LOCKED_OUT


def test_expired_code_gets_the_generic_refusal(engine: Engine, dispatcher: Dispatcher, clock: Clock) -> None:
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id)
    with transaction(engine) as s:
        code = codes.issue(s, amira, days=2, now=clock.now).code
    clock.now += timedelta(days=2)
    chat = Chat(dispatcher, "u1", "web")
    chat.say(f"link {code}")
    assert chat.text == texts.WRONG_CODE
    with transaction(engine) as s:
        assert identities.person_for(s, "web", "u1") is None


def test_privacy_repeats_the_notice_given_on_first_link(engine: Engine, dispatcher: Dispatcher) -> None:
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id)
    sam = seed.staff(engine, school.id)
    pupil_chat, staff_chat = Chat(dispatcher, "p1", "web"), Chat(dispatcher, "s1", "console")
    pupil_chat.say(f"/start {seed.code_for(engine, amira)}")
    assert texts.PRIVACY in [r.text for r in pupil_chat.last]
    pupil_chat.say("/privacy")
    assert pupil_chat.text == texts.PRIVACY
    staff_chat.say(f"/start {seed.code_for(engine, sam)}")
    assert texts.PRIVACY_STAFF in [r.text for r in staff_chat.last]
    staff_chat.say("/privacy")
    assert staff_chat.text == texts.PRIVACY_STAFF
    Chat(dispatcher, "nobody", "web").say("/privacy")  # unlinked: the notice, and nothing about anyone


def _waiting_on_the_code_row(engine: Engine, application_name: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = :name"
                ),
                {"name": application_name},
            ).scalar_one()
        )


def test_two_redemptions_of_one_code_at_once_link_exactly_one(engine: Engine) -> None:
    """Two chat accounts send the same code at the same moment: one is linked, the other refused."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite takes one writer at a time; the race needs PostgreSQL's concurrent writers")
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id)
    code = seed.code_for(engine, amira)
    settings = load_settings(database_url="sqlite://")
    # Each side has its own engine, as two bot processes would.
    # Named, so the wait below counts only this test's connections (other test runs share the server).
    name = f"race-{uuid.uuid4().hex[:12]}"
    sides = [
        make_engine(engine.url.update_query_dict({"application_name": name}).render_as_string(False)) for _ in "ab"
    ]
    results: dict[str, list[str]] = {}
    try:
        with engine.connect() as holder:
            # Hold the code's row lock so that both sides read the code as unused before either writes.
            holder.execute(text("SELECT id FROM enrolmentcode FOR UPDATE"))

            def redeem(user: str, side: Engine) -> None:
                replies = Dispatcher(side, settings).dispatch(Incoming("telegram", user, user, text=f"/start {code}"))
                results[user] = [r.text for r in replies]

            threads = [threading.Thread(target=redeem, args=(u, e)) for u, e in zip(("801", "802"), sides, strict=True)]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 20
            while _waiting_on_the_code_row(engine, name) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert _waiting_on_the_code_row(engine, name) == 2, "both redemptions should be waiting on the code"
            holder.rollback()  # release: the two now race to use the code
        for thread in threads:
            thread.join(timeout=20)
    finally:
        for side in sides:
            side.dispose()
    welcomed = [u for u, said in results.items() if any("Welcome to Waymark" in t for t in said)]
    refused = [u for u, said in results.items() if said == [texts.WRONG_CODE]]
    assert len(welcomed) == 1 and len(refused) == 1, results
    with transaction(engine) as s:
        linked = [identities.person_for(s, "telegram", u) for u in ("801", "802")]
    assert [p.id if p else None for p in linked].count(amira.id) == 1
