"""Asking before a draft worth keeping is thrown away: /cancel, "cancel" typed, or a Discard button.

    step (draft with ASK_FROM answers or more) --/cancel, or another command--> "Discard this log?"
        [Keep editing] [Discard]
        Keep editing -> the step's own question again, the draft unchanged
        Discard (or /cancel again) -> ended, nothing saved

The question is not a step of any flow: it sits on top of whichever step was in hand (the engine
keeps a flag beside the draft), so every flow whose draft counts its answers gets it without new
states, and Keep editing can return to exactly the question that was showing. A flow that saves as
it goes (`KeepsWork`) or holds fewer answers than that simply stops, as before.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from core.messages import DANGER, PRIMARY, Button, Reply
from handlers import answers, texts
from handlers.context import Context
from handlers.menus import main_menu
from handlers.registry import STEPS

ASK_FROM = 3  # answers in a draft from which stopping asks first: re-typing three answers is real work
DISCARD = "discard:yes"
KEEP = "discard:keep"
# Keep editing comes first: the web chat focuses a new question's first choice, so Enter keeps the work.
CHOICES = [[Button("Keep editing", KEEP, PRIMARY)], [Button("Discard", DISCARD, DANGER)]]


@runtime_checkable
class HoldsAnswers(Protocol):
    """A draft that can say how many answers it holds (a tutor's log: pupil, kind, summary, actions...)."""

    def answered(self) -> int: ...


def worth_asking(ctx: Context) -> bool:
    """Whether stopping the step in hand would throw away enough to ask first."""
    step = STEPS.get(ctx.state)
    if step is None or not step.flow.noun:
        return False
    return isinstance(ctx.draft, HoldsAnswers) and ctx.draft.answered() >= ASK_FROM


def _noun(ctx: Context) -> str:
    step = STEPS.get(ctx.state)
    return step.flow.noun if step is not None and step.flow.noun else "conversation"


def ask(ctx: Context, instead: str | None = None) -> list[Reply]:
    """Ask before the draft goes; `instead` names the command typed in the middle of it, if one was."""
    ctx.discarding = True
    if instead is None:
        return [_question(ctx)]
    asked = texts.DISCARD_FOR_COMMAND.format(noun=_noun(ctx), command=instead)
    return [Reply(asked, buttons=CHOICES)]


def _question(ctx: Context) -> Reply:
    return Reply(texts.DISCARD_ASK.format(noun=_noun(ctx)), buttons=CHOICES)


def discarded(ctx: Context) -> list[Reply]:
    said = texts.DISCARDED.format(noun=_noun(ctx))
    ctx.end()
    return [Reply(said, buttons=main_menu(ctx))]


def answer(ctx: Context) -> list[Reply]:
    """The answer to "Discard this log?": Discard ends it, Keep editing shows the step's question again."""
    if ctx.button == DISCARD:
        return discarded(ctx)
    if ctx.button == KEEP:
        ctx.discarding = False
        asked = answers.asked(ctx)
        return [asked] if asked is not None else [Reply(answers.WAITING)]
    return answers.again(ctx, answers.choice_problem(ctx, texts.DISCARD_OR_KEEP), _question(ctx))
