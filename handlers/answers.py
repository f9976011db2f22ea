"""Reading a typed answer inside a conversation step, and asking again without losing anything.

Every step of the pupil conversations answers the same kinds of bad input the same way: a stray
or forged button, an empty message, or an answer too long for its field. The question is asked
again in the same message, and the state is left as it was.
"""

from __future__ import annotations

from collections.abc import Container

from core.messages import Button, Reply
from handlers.context import Context
from storage.models import Role

KEPT = "Nothing you've entered so far is lost."
EMPTY = "That message was empty."
STRAY_BUTTON = "That button isn't an answer to this question."
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


def choice_problem(ctx: Context, unknown: str) -> str:
    """Why a message picked none of a question's choices; `unknown` answers typed text that matched none."""
    if ctx.button is not None:
        return STRAY_BUTTON
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


def again(problem: str, question: Reply) -> list[Reply]:
    """Say what was wrong and ask the same question, in one message."""
    return [Reply(f"{problem} {KEPT}\n\n{question.text}", buttons=question.buttons)]


def is_pupil(ctx: Context) -> bool:
    """Steps re-check the role: a person's role can change between two messages (a leaver)."""
    return ctx.person is not None and ctx.person.role == Role.pupil


def not_a_pupil(ctx: Context) -> list[Reply]:
    ctx.end()
    return [Reply(NOT_A_PUPIL)]


def preview(text: str, limit: int = 300) -> str:
    """A long answer shortened for a confirmation; the full text is what was saved."""
    return text if len(text) <= limit else text[:limit].rstrip() + "… (shortened here, saved in full)"


def rows(buttons: list[Button], per_row: int = 2) -> list[list[Button]]:
    return [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]
