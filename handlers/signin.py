"""Signing in to the web chat, platform-free: with an enrolment code, with an alumnus's one-time
check-in link, and signing out. Each is one transaction.

A browser is not a chat app: it has no account of its own until it signs in. So each sign-in makes
a new web chat account (a random external id) and links it through the same `/start` as every
channel, inside the transaction that checks the code and starts the session; a half-done sign-in
never commits. The web chat (bot/channels/web) only parses requests and draws pages around these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.messages import Incoming
from handlers import linking, texts
from handlers.engine import Dispatcher
from storage import checkin_links, codes, identities, signin_limits, websessions
from storage.db import transaction
from storage.models import WebSession

WEB = websessions.WEB
MAX_CODE_LENGTH = 40  # longer is no code of ours, and is not worth a database lookup

# Wrong sign-in codes. A browser (its cookie) gets the chat accounts' rule (identities.record_wrong_code:
# 5 wrong codes within 15 minutes lock it for 15 minutes). A network address is never locked: a
# whole school often reaches Waymark through one address, and a lock there let one pupil with
# fresh cookies shut every classmate out. Instead, past storage.signin_limits.SLOW_AFTER_WRONG_CODES
# in 15 minutes, the address is slowed: its sign-ins (right codes too, so the answer gives nothing
# away) take turns, one per WAYMARK_SIGNIN_SLOW_DOWN_SECONDS for the address, counted in the database
# so every process hands out the same turns. A right code always works; guessing stays hopeless
# (the README has the arithmetic).
MAX_WRONG_CODES_PER_BROWSER = identities.MAX_WRONG_CODES


@dataclass(frozen=True)
class SignIn:
    """The session token for the cookie, or (with no token) what to tell the person, or how long to
    wait for this sign-in's turn (a slowed address) before calling `sign_in` again with `turn_taken`."""

    token: str | None
    problem: str = ""
    wait: float | None = None  # seconds


def browser_key(browser_id: str) -> str:
    return f"browser:{browser_id}"


def sign_in(
    dispatcher: Dispatcher,
    code: str,
    *,
    browser_id: str | None,
    address: str,
    previous_token: str | None,
    turn_taken: bool = False,
) -> SignIn:
    """Sign a browser in with an enrolment code; `previous_token` is the session it still had, if any.

    From a slowed address the first call only hands out a turn (`SignIn.wait`); the caller waits
    that long and calls again with `turn_taken`, which tries the code."""
    code = code.strip()
    now = dispatcher.clock()
    settings = dispatcher.settings
    address_key = signin_limits.address_hash(address, settings.code_secret)
    external_id = websessions.new_external_id()
    try:
        with transaction(dispatcher.engine) as s:
            if browser_id and identities.locked_until(s, WEB, browser_key(browser_id), now):
                return SignIn(None, texts.LOCKED_OUT)
            if not turn_taken and signin_limits.is_slowed(s, address_key, now):
                turn = signin_limits.take_turn(
                    s,
                    address_key,
                    now,
                    timedelta(seconds=settings.signin_slow_down_seconds),
                    timedelta(seconds=settings.signin_max_wait_seconds),
                )
                if turn.wait is None:
                    return SignIn(None, texts.SIGNIN_BUSY)
                return SignIn(None, wait=turn.wait.total_seconds())
            if len(code) > MAX_CODE_LENGTH or codes.find_valid(s, code, now=now, secret=settings.code_secret) is None:
                locked = False
                if browser_id:
                    locked = identities.record_wrong_code(
                        s, WEB, browser_key(browser_id), now, MAX_WRONG_CODES_PER_BROWSER
                    )
                signin_limits.record_wrong_code(s, address_key, now)
                return SignIn(None, texts.LOCKED_OUT if locked else texts.WRONG_CODE)
            # The same /start as every channel: it links the account, greets, and records the transcript.
            start = Incoming(
                platform=WEB,
                chat_id=external_id,
                user_id=external_id,
                text=f"/start {codes.normalise(code)}",
                update_id=f"{external_id}:signin",
            )
            dispatcher.step_within(s, start, now)
            person = identities.person_for(s, WEB, external_id)
            if person is None or person.id is None:
                return SignIn(None, texts.WRONG_CODE)  # used by someone else a moment ago
            _end_previous(s, previous_token, now)
            if browser_id:  # the address's count stands: one good code must not buy another 30 guesses
                identities.clear_wrong_codes(s, WEB, browser_key(browser_id))
            return SignIn(websessions.create(s, person.id, external_id, now))
    except IntegrityError:
        # A race on a unique key with another request (the same code, the same lockout row): the
        # sign-in rolled back as a whole, and a second press finds out which.
        return SignIn(None, texts.WRONG_CODE)


def link_works(engine: Engine, token: str, now: datetime) -> bool:
    """Whether an alumnus's check-in link can still be used (read only: opening it uses nothing)."""
    with transaction(engine, write=False) as s:
        return checkin_links.find_valid(s, token, now) is not None


def claim_link(dispatcher: Dispatcher, token: str, *, previous_token: str | None) -> str | None:
    """Use an alumnus's one-time check-in link: a new web chat account, signed in, at the start of
    their check-in. Returns the session token, or None when the link does not work (wrong, used,
    expired), in which case nothing changes: whoever uses this browser now stays signed in."""
    now = dispatcher.clock()
    with transaction(dispatcher.engine) as s:
        found = checkin_links.find_valid(s, token, now)
        if found is None:
            return None
        link, person = found
        if person.id is None or not checkin_links.claim(s, link, now):
            return None
        external_id = websessions.new_external_id()
        identities.link(s, person, WEB, external_id, external_id, now)
        session_token = websessions.create(s, person.id, external_id, now)
        _end_previous(s, previous_token, now)
        checkin = Incoming(
            platform=WEB,
            chat_id=external_id,
            user_id=external_id,
            text="/destination",
            update_id=f"{external_id}:checkin",
        )
        dispatcher.step_within(s, checkin, now)
        return session_token


def sign_out(engine: Engine, session_row: WebSession, now: datetime) -> linking.Unlinked:
    """Sign out ends the session and unlinks this browser's account: no session can reach it again."""
    with transaction(engine) as s:
        return _unlink_web_account(s, session_row.external_id, now)


def _end_previous(s: Session, token: str | None, now: datetime) -> None:
    """A new sign-in in a browser that still had a session: the old account is signed out."""
    row = websessions.find(s, token, now)
    if row is not None:
        _unlink_web_account(s, row.external_id, now)


def _unlink_web_account(s: Session, external_id: str, now: datetime) -> linking.Unlinked:
    account = identities.find(s, WEB, external_id)
    return linking.unlink(s, [account] if account else [], now)
