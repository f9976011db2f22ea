"""The encryption key: required, recorded in the database as a check value, refused when it is not
the database's key, and rotated with `waymark rotate-key` without losing a note."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from core.keyring import Keyring
from core.settings import load_settings
from handlers import Dispatcher
from handlers.log_advice import SAVE
from storage import concerns, coverage, crypto, keycheck, rekey, seed, transcript
from storage.db import make_engine, transaction
from storage.keycheck import KeyCheckError, KeyState
from storage.models import AdviceRecord, Concern, ConcernNote, ConversationState, TranscriptLine, utcnow
from tests.chat import Chat
from tests.test_cli import env_value

WAYMARK = Path(sys.executable).with_name("waymark")
OLD, NEW = crypto.new_key(), crypto.new_key()
NOTE = "Mum mentioned money worries"


def test_every_binary_column_is_listed_for_rotation() -> None:
    """A new encrypted column that `rotate-key` (and the key check) would miss fails here."""
    import storage.models  # noqa: F401  (registers the tables)

    assert coverage.gaps().get("encryption") is None


def _dispatcher(engine: Engine, keys: Keyring) -> Dispatcher:
    settings = load_settings(
        database_url="sqlite://",
        encryption_key=keys.current,
        previous_encryption_keys=",".join(keys.previous),
        timezone="Europe/London",
    )
    return Dispatcher(engine, settings)


def _log_to_summary(chat: Chat, note: str) -> None:
    chat.say("/log ami")
    chat.press("Amira Khan (11A)")
    chat.press("Personal guidance interview")
    chat.say("Talked about apprenticeships.")
    chat.say("Write a first CV by 12/12")
    chat.press("Done")
    chat.say(note)
    assert note in chat.text


def _everything_under_old_key(engine: Engine) -> tuple[Chat, int]:
    """One of each encrypted thing under OLD: an advice note, a concern (words, context, a note), a
    sealed transcript line, and a conversation left at the summary (draft note, sealed question)."""
    school = seed.school(engine)
    assert school.id is not None
    tutor = seed.staff(engine, school.id, "Sam", "Patel")
    amira = seed.pupil(engine, school.id, "Amira", "Khan", form="11A", tutor_id=tutor.id)
    seed.link(engine, tutor, "web", "sam-web")
    seed.link(engine, tutor, "slack", "sam-slack")
    old = _dispatcher(engine, Keyring(OLD))
    with transaction(engine) as session:
        keycheck.verify(session, Keyring(OLD))  # as `waymark run` does on the first start
        raised = concerns.raise_concern(
            session,
            key=OLD,
            school_id=school.id,
            subject_id=amira.id or 0,
            raised_by_id=tutor.id,
            source="staff",
            category="staff",
            phrase="",
            words="She is scared to go home",
            context=["Sam: She is scared to go home"],
            channel="web",
            now=utcnow(),
        )
        concerns.add_note(session, raised.concern, tutor.id or 0, "Called social care", OLD, utcnow())
    saved = Chat(old, "sam-web", "web")
    _log_to_summary(saved, NOTE)
    saved.press("Save")
    pending = Chat(old, "sam-slack", "slack")
    _log_to_summary(pending, "Left at the summary")
    return pending, raised.concern.id or 0


def _readable_with_new_key_alone(engine: Engine, concern_id: int) -> None:
    with transaction(engine, write=False) as session:
        record = session.exec(select(AdviceRecord)).one()
        assert record.staff_note is not None and crypto.decrypt(NEW, record.staff_note) == NOTE
        concern = session.get(Concern, concern_id)
        assert concern is not None
        assert concerns.words_of(concern, NEW) == "She is scared to go home"
        assert concerns.context_of(concern, NEW) == ["Sam: She is scared to go home"]
        assert crypto.decrypt(NEW, session.exec(select(ConcernNote)).one().text) == "Called social care"
        lines = session.exec(select(TranscriptLine).where(TranscriptLine.text == transcript.SEALED)).all()
        assert lines and all(transcript.shown(line, NEW) != transcript.SEALED for line in lines)
        assert any(transcript.shown(line, NEW) == NOTE for line in lines)
        state = session.exec(select(ConversationState).where(ConversationState.external_id == "sam-slack")).one()
        # The whole draft is sealed (a note was typed in it), and the note inside it is a token too.
        data = json.loads(crypto.unseal(NEW, json.loads(state.data)["_sealed"]))
        assert crypto.unseal(NEW, data["note"]) == "Left at the summary"
        assert "Left at the summary" in crypto.unseal(NEW, data["_question"]["text"])


def test_rotation_keeps_every_note_readable_and_can_be_stopped_and_run_again(engine: Engine) -> None:
    pending, concern_id = _everything_under_old_key(engine)
    both = Keyring(NEW, (OLD,))
    with transaction(engine) as session:
        assert keycheck.verify(session, both) is KeyState.rotating  # processes restarted with both keys run

    calls = 0

    def stop_after_two(_done: rekey.Rotated) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt  # Ctrl+C between two batches

    with pytest.raises(KeyboardInterrupt):
        rekey.rotate_all(engine, both, batch=1, progress=stop_after_two)
    with transaction(engine) as session:  # stopped half way: the database is still the old key's
        assert keycheck.verify(session, Keyring(OLD)) is KeyState.current
    results = rekey.rotate_all(engine, both, batch=1)
    assert sum(r.unreadable for r in results) == 0
    # The first run did the first batch; the second goes on with the rest.
    assert {r.column for r in results if r.rotated} >= {"concern.words", "concernnote.text", "transcriptline.payload"}
    assert sum(r.rotated for r in rekey.rotate_all(engine, both)) == 0  # a third run has nothing to do

    _readable_with_new_key_alone(engine, concern_id)
    with transaction(engine) as session:
        assert keycheck.verify(session, Keyring(NEW)) is KeyState.current
        with pytest.raises(KeyCheckError, match="WAYMARK_ENCRYPTION_KEY is not the key"):
            keycheck.verify(session, Keyring(OLD))
    # The conversation left at the summary carries on under the new key alone.
    pending.dispatcher = _dispatcher(engine, Keyring(NEW))
    pending.say("not a button")
    assert "Left at the summary" in pending.text
    pending.press(SAVE)
    with transaction(engine, write=False) as session:
        notes = {crypto.decrypt(NEW, r.staff_note) for r in session.exec(select(AdviceRecord)).all() if r.staff_note}
    assert notes == {NOTE, "Left at the summary"}


def test_a_database_from_before_key_checks_is_recorded_with_the_key_its_notes_open_with(sqlite_only: Engine) -> None:
    _everything_under_old_key(sqlite_only)
    with transaction(sqlite_only) as session:
        session.delete(keycheck.stored(session))
    with transaction(sqlite_only) as session, pytest.raises(KeyCheckError):
        keycheck.verify(session, Keyring(NEW))  # the notes do not open with it: refused, nothing recorded
    with transaction(sqlite_only) as session:
        assert keycheck.stored(session) is None
        assert keycheck.verify(session, Keyring(OLD)) is KeyState.current


# --- the real command line ------------------------------------------------------------------------


def waymark(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp), "WAYMARK_SCHOOL_NAME": "Hill"}
    base["WAYMARK_DATABASE_URL"] = f"sqlite:///{tmp / 'school.db'}"
    return subprocess.run(
        [str(WAYMARK), *args], cwd=tmp, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def _one_clear_line(done: subprocess.CompletedProcess[str], *wanted: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    for text in wanted:
        assert text in done.stderr


def test_init_writes_both_secrets_and_run_refuses_a_missing_wrong_or_malformed_key(tmp_path: Path) -> None:
    assert waymark(tmp_path, "init").returncode == 0
    assert oct((tmp_path / ".env").stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "school.db").stat().st_mode & 0o777) == "0o600"
    key = env_value(tmp_path, "WAYMARK_ENCRYPTION_KEY")
    assert crypto.is_valid_key(key) and len(env_value(tmp_path, "WAYMARK_CODE_SECRET")) >= 32

    _one_clear_line(waymark(tmp_path, "run", WAYMARK_ENCRYPTION_KEY=NEW), "WAYMARK_ENCRYPTION_KEY is not the key")
    _one_clear_line(waymark(tmp_path, "run", WAYMARK_ENCRYPTION_KEY="not-a-fernet-key"), "WAYMARK_ENCRYPTION_KEY")
    elsewhere = tmp_path / "no-env"
    elsewhere.mkdir()
    missing = waymark(
        elsewhere, "run", WAYMARK_CODE_SECRET="s" * 40, WAYMARK_DATABASE_URL=f"sqlite:///{tmp_path / 'school.db'}"
    )
    _one_clear_line(missing, "WAYMARK_ENCRYPTION_KEY is not set", "waymark init")
    # Every other command checks the key too: none writes under a second key.
    _one_clear_line(waymark(tmp_path, "staff", "list", WAYMARK_ENCRYPTION_KEY=NEW), "WAYMARK_ENCRYPTION_KEY")


def test_rotate_key_through_the_command_then_the_old_key_is_refused(tmp_path: Path) -> None:
    assert waymark(tmp_path, "init").returncode == 0
    old = env_value(tmp_path, "WAYMARK_ENCRYPTION_KEY")
    engine = make_engine(f"sqlite:///{tmp_path / 'school.db'}")
    try:
        school = seed.school(engine)
        pupil = seed.pupil(engine, school.id)
        tutor = seed.staff(engine, school.id)
        with transaction(engine) as session:
            session.add(
                AdviceRecord(
                    pupil_id=pupil.id or 0,
                    staff_id=tutor.id or 0,
                    kind="other",
                    summary="s",
                    staff_note=crypto.encrypt(old, NOTE),
                )
            )
    finally:
        engine.dispose()
    assert "Nothing to rotate" in waymark(tmp_path, "rotate-key").stdout
    new = waymark(tmp_path, "rotate-key", "--generate").stdout.strip()
    assert crypto.is_valid_key(new)
    done = waymark(tmp_path, "rotate-key", WAYMARK_ENCRYPTION_KEY=new, WAYMARK_PREVIOUS_ENCRYPTION_KEYS=old)
    assert done.returncode == 0, done.stderr
    assert "1 value(s) re-encrypted" in done.stdout and "The old key may now be removed" in done.stdout
    _one_clear_line(
        waymark(tmp_path, "staff", "list"), "WAYMARK_ENCRYPTION_KEY is not the key"
    )  # .env still has the old
    assert waymark(tmp_path, "staff", "list", WAYMARK_ENCRYPTION_KEY=new).returncode == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'school.db'}")
    try:
        with transaction(engine, write=False) as session:
            record = session.exec(select(AdviceRecord)).one()
            assert record.staff_note is not None and crypto.decrypt(new, record.staff_note) == NOTE
    finally:
        engine.dispose()
