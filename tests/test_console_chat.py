"""The terminal chat's own words and numbers: ConsoleChat in-process, its output read as a person would."""

from __future__ import annotations

import io
import re

from rich.console import Console as RichConsole
from sqlalchemy import Engine
from sqlmodel import select

from bot.channels.console import ConsoleChat
from core.settings import load_settings
from handlers import Dispatcher, Reply, discard
from storage import seed
from storage.db import transaction
from storage.models import JournalEntry


def _chat(engine: Engine) -> tuple[ConsoleChat, io.StringIO, int]:
    school = seed.school(engine)
    pupil = seed.pupil(engine, school.id, "Amira", "Khan")
    assert pupil.id is not None
    out = io.StringIO()
    chat = ConsoleChat(Dispatcher(engine, load_settings(database_url="sqlite://")), pupil.id, stdout=out)
    chat.handle("/start")
    return chat, out, pupil.id


def _typed(chat: ConsoleChat, out: io.StringIO, line: str) -> str:
    mark = len(out.getvalue())
    assert chat.handle(line)
    return out.getvalue()[mark:]


def test_several_numbers_pick_several_skills_and_a_missing_number_is_answered(sqlite_only: Engine) -> None:
    chat, out, pupil_id = _chat(sqlite_only)
    _typed(chat, out, "/reflect")
    shown = _typed(chat, out, "Helped run the Year 7 science club")
    numbered = dict((label, n) for n, label in re.findall(r"^\s*(\d+)\. (.*)$", shown, re.MULTILINE))
    assert numbered["Teamwork"] == "8" and numbered["Speaking"] == "2"
    shown = _typed(chat, out, "8, 2")
    assert "(pressed: Teamwork)" in shown and "(pressed: Speaking)" in shown
    shown = _typed(chat, out, "12")
    assert "There's no choice 12 here" in shown and "Which skills" not in shown  # not sent, not the menu
    shown = _typed(chat, out, "done")
    assert "What did you learn" in shown
    shown = _typed(chat, out, "1, 2")  # one choice (Skip) on offer: 2 is not one
    assert "There's no choice 2 here" in shown
    with transaction(sqlite_only, write=False) as s:
        entry = s.exec(select(JournalEntry).where(JournalEntry.person_id == pupil_id)).one()
    assert entry.skills == "Teamwork,Speaking"
    assert not re.search(r"\b[Tt]ap", out.getvalue())  # nothing to tap in a terminal
    assert "button" not in out.getvalue().lower()


def test_one_choice_questions_take_only_the_first_number(sqlite_only: Engine) -> None:
    chat, out, _ = _chat(sqlite_only)
    _typed(chat, out, "Went to the careers fair and met a vet")  # offered as an entry: Save it, No thanks
    shown = _typed(chat, out, "2, 1")
    assert "(pressed: No thanks)" in shown and "only one choice could be picked there, so I used 2" in shown


def test_a_number_after_a_question_without_choices_is_sent_as_typed(sqlite_only: Engine) -> None:
    chat, out, _ = _chat(sqlite_only)
    _typed(chat, out, "/reflect")  # the menu's choices are gone: this question has none
    _typed(chat, out, "2")
    with transaction(sqlite_only, write=False) as s:
        assert [e.text for e in s.exec(select(JournalEntry)).all()] == ["2"]


def test_a_choice_that_throws_work_away_is_red_and_the_safe_one_green(sqlite_only: Engine) -> None:
    chat, _, _ = _chat(sqlite_only)
    coloured = io.StringIO()
    chat.out = RichConsole(file=coloured, force_terminal=True, color_system="standard", highlight=False)
    chat.show([Reply("Discard this log?", buttons=discard.CHOICES)])
    shown = coloured.getvalue()
    assert "\x1b[1;32mKeep editing" in shown and "\x1b[1;31mDiscard" in shown
    assert "\x1b[1;31m" not in shown.split("Discard this log?")[0]  # the question itself is not red
