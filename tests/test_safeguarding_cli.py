"""The real `waymark` command for safeguarding: staff with several roles, the warning when a school
has no DSL (`staff list`, `waymark run`, a careers leader's /help), `waymark safeguarding list|show|
ack|note|close --as EMAIL` (only a DSL of that school, audited) and the school's phrase lists."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import col, select

from core.settings import load_settings
from handlers import Dispatcher, phrase_changes
from handlers.concern_work import NO_DSL_FOR_LEADER
from handlers.safeguarding import Category, PhraseBook, screen
from storage import audit, concerns, crypto, seed
from storage.db import make_engine, transaction
from storage.models import AuditEvent, Concern, ConcernStatus, Person, School, StaffRole
from storage.phrases import SchoolPhrases, phrases_of
from tests.chat import Chat
from tests.test_cli import run

KEY = crypto.new_key()
NOW = datetime(2026, 12, 2, 22, 30, tzinfo=UTC)
WORDS = "zqwords my step-dad hit me and im scared to go home"


def sg(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(tmp, *args, WAYMARK_ENCRYPTION_KEY=KEY)


def db(tmp: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp / 'school.db'}")


def raise_one(tmp: Path, pupil_upn: str) -> int:
    engine = db(tmp)
    try:
        with transaction(engine) as session:
            pupil = session.exec(select(Person).where(Person.upn == pupil_upn)).one()
            context = ["zqbefore a rubbish day", WORDS]
            raised = seed.concern(session, pupil, key=KEY, at=NOW, words=WORDS, context=context, channel="web")
            assert raised.concern.id is not None
            return raised.concern.id
    finally:
        engine.dispose()


def audit_actions(tmp: Path) -> list[tuple[str, int | None]]:
    engine = db(tmp)
    try:
        with transaction(engine, write=False) as session:
            rows = session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
            return [(e.action, e.actor_id) for e in rows]
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def school_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Hillside Academy with a careers leader, a tutor, a pupil, and (at first) no DSL."""
    tmp = tmp_path_factory.mktemp("sg")
    assert sg(tmp, "staff", "add", "pat.shah@hillside.example", "Pat Shah", "--role", "leader").returncode == 0
    assert sg(tmp, "staff", "add", "sam.patel@hillside.example", "Sam Patel", "--role", "tutor").returncode == 0
    engine = db(tmp)
    try:
        with transaction(engine) as session:
            school = session.exec(select(School)).one()
            tutor = session.exec(select(Person).where(Person.given_name == "Sam")).one()
            seed.pupil(session, school.id, "Amira", "Khan", form="11A", tutor_id=tutor.id, upn="A123456789001")
            other = seed.school(session, "Other School")
            seed.pupil(session, other.id, "Olly", "Far", form="9Z", upn="Z123456789009")
            seed.staff(session, other.id, "Fay", "Far", role=StaffRole.dsl, domain="other.example")
    finally:
        engine.dispose()
    return tmp


def test_no_dsl_is_said_plainly_then_a_leader_becomes_one_too(school_dir: Path) -> None:
    listed = sg(school_dir, "staff", "list")
    assert listed.returncode == 0
    assert "pat.shah@hillside.example\tPat Shah\tleader" in listed.stdout
    assert "Hillside Academy has no safeguarding lead (DSL)" in listed.stdout
    assert "waymark staff add EMAIL NAME --role dsl" in listed.stdout

    added = sg(school_dir, "staff", "add", "pat.shah@hillside.example", "Pat Shah", "--role", "leader", "--role", "dsl")
    assert added.returncode == 0, added.stderr
    assert "Updated Pat Shah <pat.shah@hillside.example> as leader and dsl at Hillside Academy." in added.stdout
    listed = sg(school_dir, "staff", "list")
    assert "pat.shah@hillside.example\tPat Shah\tleader and dsl" in listed.stdout
    assert "no safeguarding lead" not in listed.stdout
    # Pat has no chat linked and this process sends no email: an alert would wait for a page.
    assert "Alerts reach Pat Shah only while their web chat page is open" in listed.stdout
    assert "escalate at once" in listed.stdout
    wrong = sg(school_dir, "staff", "add", "x@hillside.example", "X Y", "--role", "leader", "--role", "head")
    assert wrong.returncode == 1 and "use one of tutor, leader, dsl" in wrong.stderr


def test_the_dsls_work_at_the_terminal_named_and_audited(school_dir: Path) -> None:
    sg(school_dir, "staff", "add", "dee.lead@hillside.example", "Dee Lead", "--role", "dsl")
    concern_id = raise_one(school_dir, "A123456789001")
    far_id = raise_one(school_dir, "Z123456789009")
    before = len(audit_actions(school_dir))

    listed = sg(school_dir, "safeguarding", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"#{concern_id} Amira Khan (11A): Harm by an adult" in listed.stdout and "NOT ACKNOWLEDGED" in listed.stdout
    assert "zqwords" not in listed.stdout and "Olly" not in listed.stdout  # never the words, never another school

    for who in ("sam.patel@hillside.example", "fay.far@other.example"):  # a tutor; another school's DSL
        refused = sg(school_dir, "safeguarding", "show", str(concern_id), "--as", who)
        assert refused.returncode == 1 and "is not a safeguarding lead (DSL) at Hillside Academy" in refused.stderr
        assert "zqwords" not in refused.stdout
    elsewhere = sg(school_dir, "safeguarding", "show", str(far_id), "--as", "dee.lead@hillside.example")
    assert elsewhere.returncode == 1 and f"There is no concern #{far_id} at Hillside Academy." in elsewhere.stderr

    shown = sg(school_dir, "safeguarding", "show", str(concern_id), "--as", "DEE.LEAD@hillside.example")
    assert shown.returncode == 0, shown.stderr
    assert f"What they wrote:\n{WORDS}" in shown.stdout and "Tutor: Sam Patel" in shown.stdout
    assert "- zqbefore a rubbish day" in shown.stdout

    acked = sg(school_dir, "safeguarding", "ack", str(concern_id), "--as", "dee.lead@hillside.example")
    assert acked.returncode == 0 and f"Concern #{concern_id} acknowledged by Dee Lead." in acked.stdout
    twice = sg(school_dir, "safeguarding", "ack", str(concern_id), "--as", "pat.shah@hillside.example")
    assert twice.returncode == 1 and "was acknowledged already" in twice.stderr

    noted = sg(
        school_dir, "safeguarding", "note", str(concern_id), "zqnote rang mum", "--as", "pat.shah@hillside.example"
    )
    assert noted.returncode == 0, noted.stderr
    no_key = run(school_dir, "safeguarding", "note", str(concern_id), "zqplain", "--as", "dee.lead@hillside.example")
    assert no_key.returncode == 2 and "WAYMARK_ENCRYPTION_KEY is not set" in no_key.stderr  # nothing is saved

    bad = sg(
        school_dir,
        "safeguarding",
        "close",
        str(concern_id),
        "--outcome",
        "forgotten",
        "--as",
        "dee.lead@hillside.example",
    )
    assert bad.returncode != 0
    closed = sg(
        school_dir,
        "safeguarding",
        "close",
        str(concern_id),
        "--outcome",
        "social_care",
        "--as",
        "dee.lead@hillside.example",
    )
    assert closed.returncode == 0 and "closed: Referred to children's social care." in closed.stdout
    assert "No open safeguarding concerns at Hillside Academy." in sg(school_dir, "safeguarding", "list").stdout

    engine = db(school_dir)
    try:
        with transaction(engine, write=False) as session:
            row = session.get(Concern, concern_id)
            dee = session.exec(select(Person).where(Person.given_name == "Dee")).one()
            pat = session.exec(select(Person).where(Person.given_name == "Pat")).one()
            assert row is not None and row.status == ConcernStatus.closed.value and row.outcome == "social_care"
            assert [t for _, t in concerns.notes_of(session, row, KEY)] == ["zqnote rang mum"]
        with engine.connect() as conn:
            dumped = " ".join(repr(r) for r in conn.execute(text("SELECT * FROM concernnote")))
        assert "zqnote" not in dumped and "zqplain" not in dumped
    finally:
        engine.dispose()
    assert audit_actions(school_dir)[before:] == [
        (audit.LIST_PUPILS, None),
        (audit.OPEN_CONCERN, dee.id),
        (audit.ACK_CONCERN, dee.id),
        (audit.NOTE_CONCERN, pat.id),
        (audit.CLOSE_CONCERN, dee.id),
    ]


def test_phrases_list_add_and_remove_are_checked_and_reach_the_schools_book(school_dir: Path) -> None:
    listed = sg(school_dir, "safeguarding", "phrases", "list")
    assert listed.returncode == 0
    assert "Self-harm or suicide [self_harm]:" in listed.stdout and "  kill myself" in listed.stdout
    assert "Removed by the school: nothing" in listed.stdout
    # The listing says how the lists are used: a default phrase may be overruled, the school's never.
    assert "a phrase added by the school always raises its concern" in listed.stdout

    assert (
        "Added 'the grey cloud is back'"
        in sg(school_dir, "safeguarding", "phrases", "add", "self_harm", "the grey cloud is back").stdout
    )
    removed = sg(school_dir, "safeguarding", "phrases", "remove", "self_harm", "kill myself")
    assert removed.returncode == 0 and "Removed 'kill myself'." in removed.stdout
    # It says the truth about what a removal does not do: the classifier still screens.
    assert "The trained classifier still screens every message" in removed.stdout
    refused = sg(school_dir, "safeguarding", "phrases", "add", "hobbies", "x")
    assert refused.returncode == 1 and "Nothing changed: 'hobbies' is not a category" in refused.stderr

    listed = sg(school_dir, "safeguarding", "phrases", "list")
    assert "  the grey cloud is back   (added by the school)" in listed.stdout
    assert "Removed by the school: kill myself" in listed.stdout and "  kill myself\n" not in listed.stdout

    engine = db(school_dir)
    try:
        with transaction(engine, write=False) as session:
            school = session.exec(select(School).where(School.name == "Hillside Academy")).one()
            stored = json.loads(school.safeguarding_phrases)
            changes = phrases_of(school)
    finally:
        engine.dispose()
    assert stored == {"additions": [["self_harm", "the grey cloud is back"]], "removals": ["kill myself"]}
    book = PhraseBook(changes.additions, changes.removals)
    assert [m.category for m in screen("honestly the grey cloud is back", book)] == [Category.self_harm]
    assert screen("i could kill myself laughing", book) == []

    back = sg(school_dir, "safeguarding", "phrases", "add", "self_harm", "kill myself")
    assert back.returncode == 0 and "is back in the list" in back.stdout
    gone = sg(school_dir, "safeguarding", "phrases", "remove", "self_harm", "the grey cloud is back")
    assert gone.returncode == 0 and "Removed the school's" in gone.stdout
    assert "Removed by the school: nothing" in sg(school_dir, "safeguarding", "phrases", "list").stdout


def test_a_careers_leaders_help_says_when_there_is_no_dsl(engine: Engine) -> None:
    school = seed.school(engine)
    assert school.id is not None
    leader = seed.staff(engine, school.id, "Pat", "Shah", role=StaffRole.leader)
    tutor = seed.staff(engine, school.id, "Sam", "Patel")
    seed.link(engine, leader, "slack", "pat")
    seed.link(engine, tutor, "slack", "sam")
    dispatcher = Dispatcher(engine, load_settings(database_url="sqlite://"))
    pat, sam = Chat(dispatcher, "pat", "slack"), Chat(dispatcher, "sam", "slack")
    pat.say("/help")
    assert NO_DSL_FOR_LEADER in pat.text and "--role dsl" in pat.text
    sam.say("/help")
    assert "safeguarding lead" not in sam.text  # the careers leader is the one told
    seed.staff(engine, school.id, "Dee", "Lead", role=StaffRole.dsl)
    pat.say("/help")
    assert NO_DSL_FOR_LEADER not in pat.text


def test_waymark_run_warns_about_a_school_without_a_dsl(tmp_path: Path) -> None:
    engine = db(tmp_path)
    try:
        from storage.migrate import upgrade

        upgrade(engine)
        covered = seed.school(engine, "Covered Academy")
        seed.school(engine, "Bare Academy")
        seed.staff(engine, covered.id, "Dee", "Lead", role=StaffRole.dsl)
    finally:
        engine.dispose()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "WAYMARK_DATABASE_URL": f"sqlite:///{tmp_path / 'school.db'}",
        "WAYMARK_HTTP_HOST": "127.0.0.1",
        "WAYMARK_HTTP_PORT": "0",
        "WAYMARK_ENCRYPTION_KEY": KEY,
        "WAYMARK_CODE_SECRET": "sg-cli-code-secret-0123456789abcdefghij",
    }
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from bot.cli import app; app()", "run"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=out,
        )
        try:
            deadline = time.monotonic() + 60
            while "waymark running" not in log.read_text() and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    output = log.read_text()
    assert "waymark running" in output
    assert "WARNING waymark: Bare Academy has no safeguarding lead (DSL)" in output
    assert "Covered Academy has no" not in output


@pytest.mark.parametrize(
    ("change", "category", "phrase", "why"),
    [
        (phrase_changes.add, "hobbies", "x", "'hobbies' is not a category"),
        (phrase_changes.add, "self_harm", "kill myself please <nosuchclass>", "can't be used: unknown class"),
        (phrase_changes.add, "self_harm", "!!!", "the phrase has no words in it"),
        (phrase_changes.add, "self_harm", "Want to DIE", "already in the list of Self-harm or suicide"),
        (phrase_changes.remove, "bullying", "kill myself", "is not in the list of Bullying"),
        (phrase_changes.remove, "quiet", "kill myself", "is not in the list of quiet contexts"),
    ],
)
def test_a_phrase_change_that_cannot_be_made_says_why(
    change: Callable[[SchoolPhrases, str, str], phrase_changes.Changed], category: str, phrase: str, why: str
) -> None:
    with pytest.raises(phrase_changes.PhraseChangeError, match=re.escape(why)):
        change(SchoolPhrases(), category, phrase)


def test_removing_a_phrase_one_pattern_stands_for_and_a_quiet_context() -> None:
    book_phrase = phrase_changes.remove(SchoolPhrases(), "self_harm", "wish i was dead")
    assert book_phrase.phrases.removals == ["wish i was dead"]
    quiet = phrase_changes.add(SchoolPhrases(), "quiet", "kill myself laughing")
    assert quiet.phrases.additions == [("quiet", "kill myself laughing")]
    book = PhraseBook(quiet.phrases.additions, quiet.phrases.removals)
    assert screen("i could kill myself laughing", book) == []
    assert [m.category for m in screen("i want to kill myself", book)] == [Category.self_harm]
