"""No staff-only words in clear anywhere: a tutor logs a staff-only note in the web chat and in the
terminal, a leader reads a note written on Slack in the web chat, and the note's words are then
nowhere in the database in clear: not in the SQLite file or its WAL (every byte ever written, old
pages included), not in any PostgreSQL row. The people who wrote or may read the notes still see
them on their pages. Sign-in codes are never kept either."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import Engine, text
from sqlmodel import SQLModel, col, select

from bot.channels.console import ConsoleChat
from bot.channels.web import WEB_CHAT
from bot.http import build_app
from core.messages import Reply
from core.settings import Settings, load_settings
from handlers import Dispatcher
from handlers.log_advice import SAVE
from storage import crypto, seed, transcript
from storage.db import is_postgres, transaction
from storage.models import AdviceRecord, Person, StaffRole, TranscriptLine, WebSession
from tests.chat import Chat
from tests.web_client import Browser, read_lines

KEY = crypto.new_key()
WEB_NOTE = "Quokka said her stepdad shouts at night"
TERMINAL_NOTE = "Pangolin mentioned eviction letters"
SLACK_NOTE = "Narwhal is a young carer for gran"
SUMMARY = "Talked about apprenticeships in engineering."


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class School:
    engine: Engine
    settings: Settings
    dispatcher: Dispatcher
    tutor: Person
    leader: Person
    amira: Person


@pytest.fixture
def school(engine: Engine) -> School:
    s = seed.school(engine)
    assert s.id is not None
    tutor = seed.staff(engine, s.id, "Sam", "Patel")
    leader = seed.staff(engine, s.id, "Lee", "Morgan", role=StaffRole.leader)
    amira = seed.pupil(engine, s.id, "Amira", "Khan", form="11A", tutor_id=tutor.id)
    settings = load_settings(database_url="sqlite://", encryption_key=KEY, code_secret="c" * 40, school_name="Hill")
    return School(engine, settings, Dispatcher(engine, settings, clock=Clock()), tutor, leader, amira)


def _pick(replies: list[Reply], label: str) -> str:
    for reply in replies:
        for row in reply.buttons:
            for button in row:
                if label in button.label:
                    return button.data
    raise AssertionError(f"no button {label!r} in {[r.text for r in replies]}")


def _log_up_to_note(send_text: object, send_button: object) -> list[Reply]:
    """/log for Amira, one action, up to the staff-only note question (any channel)."""
    assert callable(send_text) and callable(send_button)
    replies = send_text("/log ami")
    replies = send_button(_pick(replies, "Amira Khan"))
    replies = send_button(_pick(replies, "Personal guidance interview"))
    send_text(SUMMARY)
    replies = send_text("Write a first CV by 12/12")
    replies = send_button(_pick(replies, "Done"))
    assert "staff only" in replies[-1].text.lower()
    return replies


async def _signed_in(site: TestServer, school: School, person: Person) -> tuple[Browser, str]:
    """A browser signed in over HTTP with a code; the web chat account it speaks as."""

    class Site:
        base = str(site.make_url("")).rstrip("/")

    browser = Browser(Site())
    response = await browser.sign_in(seed.code_for(school.engine, person))
    assert response.status == 303
    with transaction(school.engine, write=False) as session:
        row = session.exec(select(WebSession).where(WebSession.person_id == person.id)).one()
    return browser, row.external_id


def _database_text(engine: Engine, tmp_path: Path) -> str:
    """Everything the database holds, as text: SQLite's file and WAL bytes, or every PostgreSQL row."""
    if is_postgres(engine):
        found = []
        with engine.connect() as conn:
            for table in SQLModel.metadata.sorted_tables:
                rows = conn.execute(text(f'SELECT t::text FROM "{table.name}" t')).scalars()
                found += [row.replace("\\\\x", "") for row in rows]
        return "\n".join(found)
    files = [tmp_path / "waymark.db", tmp_path / "waymark.db-wal"]
    return "\n".join(f.read_bytes().decode("latin-1") for f in files if f.exists())


@pytest.fixture
async def site(school: School) -> Iterator[TestServer]:
    app = build_app(school.settings, school.dispatcher)
    app[WEB_CHAT].outbox_poll_seconds = 0.05
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    yield server
    await server.close()


async def test_staff_only_notes_are_nowhere_in_clear_yet_shown_to_staff(
    school: School, site: TestServer, tmp_path: Path
) -> None:
    # A note logged on Slack (no transcript), for the leader to open in the web chat later.
    slack = Chat(school.dispatcher, "sam-slack", "slack")
    seed.link(school.engine, school.tutor, "slack", "sam-slack")
    _log_up_to_note(slack.say, lambda data: slack._send(button=data))
    slack.say(SLACK_NOTE)
    slack.press("Save")

    # The tutor in the web chat: the note typed on the real WebSocket.
    browser, tutor_web = await _signed_in(site, school, school.tutor)
    web = Chat(school.dispatcher, tutor_web, "web")
    _log_up_to_note(web.say, lambda data: web._send(button=data))
    csrf = await browser.chat_csrf()
    ws = await browser.ws(csrf, after=10**9)
    await ws.send_json({"text": WEB_NOTE, "mid": "note1"})
    lines = await read_lines(ws)
    assert lines[0]["text"] == WEB_NOTE  # the tutor sees what they typed...
    assert WEB_NOTE in lines[-1]["text"] and "Check this before saving" in lines[-1]["text"]  # ...and the summary
    await ws.close()
    web._send(button=SAVE)
    _, page = await browser.page("/chat")
    assert WEB_NOTE in page  # a reload shows the conversation as it was
    assert "(my sign-in code)" in page  # where the code was: never the code itself
    await browser.close()

    # The tutor in the terminal.
    out = io.StringIO()
    assert school.tutor.id is not None
    console = ConsoleChat(school.dispatcher, school.tutor.id, stdout=out)
    _log_up_to_note(lambda t: console.send(text=t), lambda d: console.send(button=d))
    assert TERMINAL_NOTE in console.send(text=TERMINAL_NOTE)[-1].text
    console.send(button=SAVE)

    # The leader opens Amira's record in the web chat: the note written on Slack is on the page.
    leader_browser, leader_web = await _signed_in(site, school, school.leader)
    leader = Chat(school.dispatcher, leader_web, "web")
    leader.say("/pupil Amira")
    leader.press("Amira Khan (11A)")
    _, page = await leader_browser.page("/chat")
    assert SLACK_NOTE in page and WEB_NOTE in page and TERMINAL_NOTE in page
    await leader_browser.close()

    with transaction(school.engine, write=False) as session:
        notes = [crypto.decrypt(KEY, r.staff_note) for r in session.exec(select(AdviceRecord)).all() if r.staff_note]
        sealed = session.exec(select(TranscriptLine).where(TranscriptLine.text == transcript.SEALED)).all()
    assert sorted(notes) == sorted([SLACK_NOTE, WEB_NOTE, TERMINAL_NOTE])
    assert sealed  # the summaries, the typed notes and the record are there, encrypted

    stored = _database_text(school.engine, tmp_path)
    assert "What kind of conversation was it with Amira" in stored  # the scan does see the transcript
    assert SUMMARY in stored  # what a pupil may read is kept as it was
    for word in ("Quokka", "stepdad", "Pangolin", "eviction", "Narwhal", "young carer"):
        assert word not in stored, f"{word!r} is in the database in clear"


def test_sign_in_codes_are_never_kept_in_a_transcript(school: School, tmp_path: Path) -> None:
    code = seed.code_for(school.engine, school.amira)
    chat = Chat(school.dispatcher, "amira-web", "web")
    replies = chat.say(f"/start {code}")
    assert "You're linked now" in replies[0].text
    bare = Chat(school.dispatcher, "other-web", "web")
    bare.say(code[:5] + "-" + "23456")  # a mistyped code, typed bare, is not kept either
    with transaction(school.engine, write=False) as session:
        kept = [line.text for line in session.exec(select(TranscriptLine).order_by(col(TranscriptLine.id))).all()]
    assert "/start \u2022\u2022\u2022\u2022\u2022-\u2022\u2022\u2022\u2022\u2022" in kept
    stored = _database_text(school.engine, tmp_path)
    assert code not in stored and code[:5] + "-23456" not in stored and code[:5] + "23456" not in stored


def test_a_database_error_in_a_log_line_shows_the_sql_never_the_values(engine: Engine) -> None:
    """The engine logs a failed step with its exception: the values (what someone typed) stay out."""
    with pytest.raises(Exception) as caught, transaction(engine) as session:  # no such pupil: a foreign key error
        session.add(AdviceRecord(pupil_id=999_999, staff_id=999_999, kind="other", summary="Quokka said"))
        session.flush()
    assert "INSERT INTO advicerecord" in str(caught.value) and "Quokka" not in str(caught.value)
