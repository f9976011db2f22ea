"""Reading a typed answer inside a conversation step, and asking again without losing anything.

Every step, and the engine itself, answers bad input the same way (`again`): what was wrong (a
photo, an empty message, too long, a stray or forged button, a choice that isn't offered), that
nothing is lost, and the question again with its buttons, in one message. The state stays as it was.
"""

from __future__ import annotations

from collections.abc import Container

from core.messages import Button, Reply
from handlers.context import Context
from handlers.menus import main_menu

KEPT = "Nothing you've entered so far is lost."
WAITING = "I'm still waiting for your answer to the last question."
EMPTY = "That message was empty."
STRAY_BUTTON = "That button isn't an answer to this question."
TAP_ONE = "Please tap one of the buttons below."
YES, NO = "yes", "no"  # the data of every Yes / No button
YES_OR_NO = "Please tap Yes or No."
SHORT_FIELD = 200  # names of places, providers, courses
NOT_A_PUPIL = "That's only for pupils, so I've stopped it."


def problem_with(ctx: Context, limit: int | None = None) -> str | None:
    """Why the message cannot answer a question that wants typed text, or None when it can."""
    if ctx.button is not None:
        return STRAY_BUTTON
    if not ctx.text:
        return EMPTY
    if limit is not None and len(ctx.text) > limit:
        return f"That's {len(ctx.text):,} characters and this answer can be up to {limit:,}. Please shorten it."
    return None


def skippable_problem(ctx: Context, skip: str, limit: int | None = None) -> str | None:
    """`problem_with` for a question that has a Skip button: tapping Skip is a good answer."""
    return None if ctx.button == skip else problem_with(ctx, limit)


def choice_problem(ctx: Context, unknown: str = TAP_ONE) -> str:
    """Why a message picked none of a question's choices; `unknown` answers typed text that matched none."""
    if ctx.button is not None:
        return f"{STRAY_BUTTON} {TAP_ONE}"
    if not ctx.text:
        return EMPTY
    return unknown


def button_choice(button: str, prefix: str, keys: Container[str]) -> str | None:
    """The key a choice button carries, or None when the data is not one of ours (forged or stale)."""
    key = button.removeprefix(prefix)
    return key if button.startswith(prefix) and key in keys else None


def folded(text: str) -> str:
    """Letters and digits only, case folded: how a typed choice is matched to a button's label
    ("Careers Fair!" is "careers fair", "FE college" is "fe_college")."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def typed(ctx: Context) -> str:
    """The answer as the person typed it (surrounding blank lines dropped, nothing else changed)."""
    return (ctx.incoming.text or "").strip("\r\n")


def typed_or_skipped(ctx: Context, skip: str) -> str:
    """The typed answer, or "" when the person tapped Skip."""
    return "" if ctx.button == skip else typed(ctx)


def again(ctx: Context, problem: str, question: Reply | None = None) -> list[Reply]:
    """The one answer to bad input: what was wrong, that nothing is lost, and the question again.

    `question` is the step's question as it stands now (a list of picks may have grown); without it,
    the question the step first asked (kept by the engine) is repeated. Outside a conversation there
    is nothing to keep: the problem and the menu."""
    if not ctx.state:
        return [Reply(problem, buttons=main_menu(ctx))]
    if question is None:
        question = asked(ctx)
    if question is None:  # a step saved before questions were kept
        return [Reply(f"{problem} {KEPT} {WAITING}")]
    return [Reply(f"{problem} {KEPT}\n\n{question.text}", buttons=question.buttons, sealed=question.sealed)]


def asked(ctx: Context) -> Reply | None:
    """The question the step in hand first asked (kept by the engine), as it was shown; None if none was kept."""
    if ctx.question is None:
        return None
    stored = ctx.question.get("buttons", [])
    return Reply(
        str(ctx.question.get("text", "")),
        buttons=[[Button(**button) for button in row] for row in stored],
        sealed=bool(ctx.question.get("sealed")),
    )


def preview(text: str, limit: int = 300) -> str:
    """A long answer shortened for a confirmation; the full text is what was saved."""
    return text if len(text) <= limit else text[:limit].rstrip() + "… (shortened here, saved in full)"


def rows(buttons: list[Button], per_row: int = 2) -> list[list[Button]]:
    return [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]
