"""Signing in to the web chat and unlinking, as platform-free steps: one transaction each."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from core.settings import load_settings
from handlers import Dispatcher, linking, signin, texts
from storage import identities, seed, signin_limits, websessions
from storage.db import transaction
from storage.models import ConversationState, LinkAttempt, Person, SignInAddress, TranscriptLine, WebSession
from tests.chat import Chat
from tests.test_web import alumnus_link, counting_transactions

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def dispatcher(engine: Engine) -> Dispatcher:
    return Dispatcher(engine, load_settings(database_url="sqlite://"), clock=lambda: NOW)


def pupil_code(engine: Engine, given: str = "Amira") -> tuple[Person, str]:
    school = seed.school(engine)
    person = seed.pupil(
        engine, school.id, given, "Khan", year_group=13, dob=date(2008, 1, 5)
    )  # old enough for Telegram
    return person, seed.code_for(engine, person)


def sign_in(dispatcher: Dispatcher, code: str, previous: str | None = None) -> signin.SignIn:
    return signin.sign_in(dispatcher, code, browser_id="b" * 32, address="203.0.113.7", previous_token=previous)


def live_session(engine: Engine, token: str | None) -> WebSession | None:
    with transaction(engine, write=False) as s:
        return websessions.find(s, token, NOW)


def test_a_sign_in_is_one_transaction_that_links_greets_and_starts_a_session(
    engine: Engine, dispatcher: Dispatcher
) -> None:
    amira, code = pupil_code(engine)
    with counting_transactions(engine) as began:
        done = sign_in(dispatcher, code.lower())
    assert began == [1]
    assert done.token is not None and done.problem == ""
    row = live_session(engine, done.token)
    assert row is not None and row.person_id == amira.id
    with transaction(engine, write=False) as s:
        greeting = s.exec(select(TranscriptLine).where(TranscriptLine.identity_key == f"web:{row.external_id}")).all()
        assert "Welcome to Waymark, Amira" in " ".join(line.text for line in greeting)
    # The code is used up: a second browser is refused, in one transaction too.
    with counting_transactions(engine) as began:
        again = signin.sign_in(dispatcher, code, browser_id=None, address="198.51.100.1", previous_token=None)
    assert began == [1] and again == signin.SignIn(None, texts.WRONG_CODE)


def test_wrong_codes_count_against_the_browser_and_lock_it_with_the_one_rule(
    engine: Engine, dispatcher: Dispatcher
) -> None:
    _, code = pupil_code(engine)
    answers = [sign_in(dispatcher, "22222-33333").problem for _ in range(signin.MAX_WRONG_CODES_PER_BROWSER)]
    assert answers == [texts.WRONG_CODE] * (signin.MAX_WRONG_CODES_PER_BROWSER - 1) + [texts.LOCKED_OUT]
    assert sign_in(dispatcher, code) == signin.SignIn(None, texts.LOCKED_OUT)  # even a good code, for now
    with transaction(engine, write=False) as s:
        assert identities.locked_until(s, "web", f"browser:{'b' * 32}", NOW)
        # The address's count is apart (never a lock), under a keyed hash: the address is nowhere in clear.
        key = signin_limits.address_hash("203.0.113.7", dispatcher.settings.code_secret)
        assert signin_limits.wrong_codes(s, key, NOW) == signin.MAX_WRONG_CODES_PER_BROWSER
        assert not signin_limits.is_slowed(s, key, NOW)
        assert "203.0.113.7" not in repr(s.exec(select(SignInAddress)).all() + s.exec(select(LinkAttempt)).all())


def test_a_new_sign_in_ends_the_browsers_old_session_but_a_wrong_code_does_not(
    engine: Engine, dispatcher: Dispatcher
) -> None:
    _, first_code = pupil_code(engine)
    _, second_code = pupil_code(engine, "Ben")
    first = sign_in(dispatcher, first_code).token
    assert sign_in(dispatcher, "22222-33333", previous=first).token is None
    assert live_session(engine, first) is not None
    second = sign_in(dispatcher, second_code, previous=first).token
    assert live_session(engine, first) is None and live_session(engine, second) is not None
    with transaction(engine, write=False) as s:
        assert len(s.exec(select(identities.ChatIdentity)).all()) == 1  # type: ignore[attr-defined]


def test_a_checkin_link_signs_in_once_in_one_transaction_and_a_used_one_changes_nothing(
    engine: Engine, dispatcher: Dispatcher
) -> None:
    _, token = alumnus_link(engine, NOW)
    assert signin.link_works(engine, token, NOW)
    with counting_transactions(engine) as began:
        session_token = signin.claim_link(dispatcher, token, previous_token=None)
    assert began == [1]
    row = live_session(engine, session_token)
    assert row is not None
    with transaction(engine, write=False) as s:
        lines = s.exec(select(TranscriptLine).where(TranscriptLine.identity_key == f"web:{row.external_id}")).all()
        assert "Where are you now?" in " ".join(line.text for line in lines)
    assert not signin.link_works(engine, token, NOW)
    assert signin.claim_link(dispatcher, token, previous_token=session_token) is None
    assert live_session(engine, session_token) is not None  # a used link signed nobody out


def test_sign_out_unlinks_the_browsers_account_in_one_transaction(engine: Engine, dispatcher: Dispatcher) -> None:
    _, code = pupil_code(engine)
    token = sign_in(dispatcher, code).token
    row = live_session(engine, token)
    assert row is not None
    with counting_transactions(engine) as began:
        done = signin.sign_out(engine, row, NOW)
    assert began == [1] and done == linking.Unlinked(("web",), 1)
    assert live_session(engine, token) is None
    with transaction(engine, write=False) as s:
        assert identities.find(s, "web", row.external_id) is None


@pytest.mark.parametrize("platform", ["web", "telegram"])
def test_unlink_in_the_middle_of_a_conversation_drops_it_and_ends_web_sessions_at_once(
    engine: Engine, dispatcher: Dispatcher, platform: str
) -> None:
    amira, code = pupil_code(engine)
    chat = Chat(dispatcher, "acct-1", platform)
    chat.say(f"/start {code}")
    with transaction(engine) as s:
        token = websessions.create(s, amira.id, "acct-1", NOW)  # type: ignore[arg-type]
    chat.say("/reflect")
    with transaction(engine, write=False) as s:
        assert s.exec(select(ConversationState)).one().state  # in the middle of it
    chat.say("/unlink")
    assert chat.text == texts.UNLINKED
    with transaction(engine, write=False) as s:
        state = s.exec(select(ConversationState)).one()
        assert (state.state, state.data) == ("", "{}")
        assert identities.find(s, platform, "acct-1") is None
    # In the same step, not when a page next asks: a copied cookie is dead at once.
    assert live_session(engine, token) is None
    chat.say(f"/start {seed.code_for(engine, amira)}")
    chat.say("/help")
    assert "in the middle of something" not in chat.text


def test_the_one_unlink_takes_every_account_it_is_given(engine: Engine, dispatcher: Dispatcher) -> None:
    amira, _ = pupil_code(engine)
    ben, _ = pupil_code(engine, "Ben")
    for platform, account in (("telegram", "t1"), ("web", "w1"), ("slack", "s1")):
        seed.link(engine, amira, platform, account)
    seed.link(engine, ben, "web", "w2")
    with transaction(engine) as s:
        amira_token = websessions.create(s, amira.id, "w1", NOW)  # type: ignore[arg-type]
        ben_token = websessions.create(s, ben.id, "w2", NOW)  # type: ignore[arg-type]
    Chat(dispatcher, "t1", "telegram").say("/reflect")

    def unlink_all() -> linking.Unlinked:
        with transaction(engine) as s:
            return linking.unlink(s, identities.identities_of(s, amira.id), NOW)  # type: ignore[arg-type]

    done = unlink_all()
    assert sorted(done.platforms) == ["slack", "telegram", "web"] and done.web_sessions_ended == 1
    assert live_session(engine, amira_token) is None and live_session(engine, ben_token) is not None
    with transaction(engine, write=False) as s:
        assert identities.identities_of(s, amira.id) == []  # type: ignore[arg-type]
        assert [row.state for row in s.exec(select(ConversationState)).all()] == [""]
    assert unlink_all() == linking.Unlinked((), 0)
