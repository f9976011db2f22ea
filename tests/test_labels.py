"""Button labels are never cut mid-word: the rule itself, the labels built from people's words, each
platform's limit (Slack's 75 characters, Telegram's text), and the web chat's classes for button styles."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine

from bot.channels.slack.rendering import LABEL_LIMIT as SLACK_LIMIT
from bot.channels.slack.rendering import action_rows
from bot.channels.telegram.rendering import LABEL_LIMIT as TELEGRAM_LIMIT
from bot.channels.telegram.rendering import ButtonData, keyboard
from bot.channels.web.pages import Choice, LineView, choices_html
from core.labels import ELLIPSIS, shorten
from core.messages import DANGER, PRIMARY, Button
from handlers import Dispatcher
from storage import seed
from tests.conftest import MakeChat
from tests.test_pupil_conversations import advice_for

ACTION = "Visit the sixth form open evening with a parent or carer and ask about A level maths"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # one emoji of seven code points
ARABIC = "زيارة يوم الكلية المفتوح مع أمي وأبي في المساء والسؤال عن الرياضيات"
ACCENTED = "Cafe\u0301" * 20  # "Café" with a combining accent, twenty times, no spaces


def whole_words(label: str, source: str) -> bool:
    """Every word of `label` (the ellipsis aside) is a whole word of `source`."""
    return set(label.removesuffix(ELLIPSIS).split()) <= set(source.split())


def test_shortening_keeps_whole_words_and_whole_characters() -> None:
    assert shorten("Apprenticeship", 75) == "Apprenticeship"  # what fits is left alone
    assert shorten("  Visit   the\ncollege ", 75) == "Visit the college"
    for text in (ACTION, ARABIC, f"{FAMILY} Family day at the college {FAMILY} with everyone"):
        for limit in (10, 24, 32, 40):
            label = shorten(text, limit)
            assert len(label) <= limit and label.endswith(ELLIPSIS), (text, limit, label)
            assert whole_words(label, text), label
    assert shorten(ACTION, 32) == "Visit the sixth form open\u2026"
    # One word longer than the limit: cut inside it, but never through a joined emoji or an accent.
    emojis = shorten(FAMILY * 5, 16)
    assert emojis == FAMILY * 2 + ELLIPSIS
    accented = shorten(ACCENTED, 12)
    assert len(accented) <= 12 and not accented.removesuffix(ELLIPSIS).endswith("Caf")
    assert shorten("\U0001f1ec\U0001f1e7" * 6, 4) == "\U0001f1ec\U0001f1e7" + ELLIPSIS  # a flag is two letters
    # By another measure too (Telegram counts UTF-16 units: each emoji two).
    utf16 = shorten("\U0001f43e vet " * 20, 20, lambda s: len(s.encode("utf-16-le")) // 2)
    assert len(utf16.encode("utf-16-le")) // 2 <= 20 and whole_words(utf16, "\U0001f43e vet")


def test_each_platform_keeps_labels_within_its_limit_at_a_word_and_shows_styles() -> None:
    long_label = f"Mark done: 2. {ACTION} " * 2
    rows = [[Button(long_label, "a"), Button("Save", "save", PRIMARY), Button("Discard log\u2026", "/cancel", DANGER)]]
    [block] = action_rows(rows)
    slack = block["elements"]
    assert len(slack[0]["text"]["text"]) <= SLACK_LIMIT and whole_words(slack[0]["text"]["text"], long_label)
    assert [e.get("style") for e in slack] == [None, "primary", "danger"]
    markup = keyboard(rows, ButtonData())
    assert markup is not None
    telegram = markup.inline_keyboard[0]
    assert len(telegram[0].text) <= TELEGRAM_LIMIT and whole_words(telegram[0].text, long_label)
    assert [b.style for b in telegram] == [None, "primary", "danger"]
    html = choices_html([[Choice("Save", "save", PRIMARY), Choice("Discard log\u2026", "/cancel", DANGER)]])
    assert 'class="choice choice-primary"' in html and 'class="choice choice-danger"' in html
    view = LineView(1, "out", "Check this", [[Choice("Discard log\u2026", "/cancel", DANGER)]])
    assert view.as_json()["buttons"] == [[{"label": "Discard log\u2026", "data": "/cancel", "style": "danger"}]]


def test_mark_done_labels_end_at_a_word(engine: Engine, dispatcher: Dispatcher, chat: MakeChat) -> None:
    school = seed.school(engine)
    tutor = seed.staff(engine, school.id)
    pupil = seed.pupil(engine, school.id, "Amira", "Khan", tutor_id=tutor.id)
    advice_for(engine, pupil, tutor, "Plans", [("Draft a CV", None), (ACTION, date(2026, 12, 12)), (ARABIC, None)])
    amira = chat("amira", pupil, "web")
    amira.say("/actions")
    marks = sorted(label.split(". ", 1)[1] for label in amira.buttons() if label.startswith("Mark done"))
    assert marks[:2] == ["Draft a CV", "Visit the sixth form open\u2026"], marks
    assert marks[2].endswith(ELLIPSIS) and whole_words(marks[2], ARABIC)
    amira.press(next(label for label in amira.buttons() if label.endswith("Visit the sixth form open\u2026")))
    assert "Marked as done: Visit the sixth form open evening" in amira.text
