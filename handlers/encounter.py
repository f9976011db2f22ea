"""/encounter: an employer talk, workplace visit, work experience, college or university visit, careers fair.

Three steps (see encounter.mmd): what kind, who with or where, and what the pupil took from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.messages import Button, Reply
from handlers import answers
from handlers.context import Context
from handlers.flow import Flow
from handlers.menus import main_menu
from storage import journal


@dataclass
class EncounterDraft:
    type: str = ""  # a key of ENCOUNTER_TYPES
    who: str = ""
    reflection: str = ""  # typed with the command: saved without asking


ENCOUNTER = Flow("encounter", roles={"pupil"}, draft=EncounterDraft, refusal=answers.NOT_A_PUPIL)
TYPE_STEP = ENCOUNTER.state("type")
WITH = ENCOUNTER.state("with")
REFLECTION = ENCOUNTER.state("reflection")

# Stored key -> what the pupil sees.
ENCOUNTER_TYPES = {
    "employer_talk": "Employer talk",
    "workplace_visit": "Workplace visit",
    "work_experience": "Work experience",
    "college_visit": "College visit",
    "university_visit": "University visit",
    "careers_fair": "Careers fair",
}
TYPE = "enc:"
SKIP = "enc:skip"


@ENCOUNTER.command(
    "encounter",
    summary="log a talk, visit, work experience or careers fair",
    menu_label="Encounter",
    order=20,
    moves_to={TYPE_STEP, WITH},
)
def encounter(ctx: Context) -> list[Reply]:
    """Guided; or typed as `/encounter careers fair` (the kind), `/encounter Siemens, Lincoln` (who or
    where) or `/encounter <a longer account>` (what they took from it): the flow asks only the rest."""
    typed = ctx.args
    draft = ENCOUNTER.draft(ctx)
    if not typed:
        ctx.goto(TYPE_STEP)
        return [_ask_type()]
    key = _type_named(typed)
    if key is not None:
        ctx.goto(WITH)
        draft.type = key
        return [_ask_with(key)]
    ctx.goto(TYPE_STEP)
    if len(typed) <= answers.SHORT_FIELD:
        draft.who = typed
        return [_ask_type(f"Got it: {typed}.")]
    draft.reflection = typed
    return [_ask_type("Got your account of it; two quick questions and it's saved.")]


def _ask_type(lead: str = "") -> Reply:
    buttons = [Button(label, f"{TYPE}{key}") for key, label in ENCOUNTER_TYPES.items()]
    question = "What kind of encounter was it? Tap one (or type it)."
    return Reply(f"{lead}\n\n{question}" if lead else question, buttons=answers.rows(buttons))


def _type_named(text: str) -> str | None:
    """The kind whose label this is ("careers fair", "Careers Fair!"), or None."""
    wanted = answers.folded(text)
    for key, label in ENCOUNTER_TYPES.items():
        if wanted == answers.folded(label):
            return key
    return None


def type_from(ctx: Context) -> str | None:
    """The encounter type from a button or typed label; None if neither."""
    if ctx.button is not None:
        return answers.button_choice(ctx.button, TYPE, ENCOUNTER_TYPES)
    return _type_named(ctx.text)


@ENCOUNTER.step(TYPE_STEP, moves_to={WITH, REFLECTION})
def kind(ctx: Context) -> list[Reply]:
    key = type_from(ctx)
    if key is None:
        problem = answers.choice_problem(
            ctx, f"I don't know that kind. Please pick one of: {', '.join(ENCOUNTER_TYPES.values())}."
        )
        return answers.again(ctx, problem, _ask_type())
    draft = ENCOUNTER.draft(ctx)
    draft.type = key
    if draft.who:  # typed with the command: straight on to what they took from it
        ctx.goto(REFLECTION)
        return [_ask_reflection()]
    ctx.goto(WITH)
    return [_ask_with(key)]


def _ask_with(key: str) -> Reply:
    return Reply(
        f'{ENCOUNTER_TYPES[key]}: who was it with, or where? For example: "Nurse from the Royal Infirmary" '
        'or "Siemens, Lincoln".'
    )


@ENCOUNTER.step(WITH, moves_to={TYPE_STEP, REFLECTION})
def with_whom(ctx: Context) -> list[Reply]:
    draft = ENCOUNTER.draft(ctx)
    key = draft.type
    if key not in ENCOUNTER_TYPES:  # state from an older version: start again
        ctx.goto(TYPE_STEP)
        return [_ask_type()]
    problem = answers.problem_with(ctx, limit=answers.SHORT_FIELD)
    if problem:
        return answers.again(ctx, problem, _ask_with(key))
    if draft.reflection:  # typed with the command
        return _save(ctx, key, answers.typed(ctx), draft.reflection)
    ctx.goto(REFLECTION)
    draft.who = answers.typed(ctx)
    return [_ask_reflection()]


def _ask_reflection() -> Reply:
    return Reply(
        "What did you take from it? What did you find out, and did it change what you might do? Type it, or tap Skip.",
        buttons=[[Button("Skip", SKIP)]],
    )


@ENCOUNTER.step(REFLECTION, moves_to={TYPE_STEP})
def reflection(ctx: Context) -> list[Reply]:
    problem = answers.skippable_problem(ctx, SKIP)
    if problem:
        return answers.again(ctx, problem, _ask_reflection())
    text = answers.typed_or_skipped(ctx, SKIP)
    draft = ENCOUNTER.draft(ctx)
    if draft.type not in ENCOUNTER_TYPES:
        ctx.goto(TYPE_STEP)
        return [_ask_type()]
    return _save(ctx, draft.type, draft.who, text)


def _save(ctx: Context, key: str, who: str, text: str) -> list[Reply]:
    assert ctx.person is not None and ctx.person.id is not None
    journal.add_encounter(ctx.session, ctx.person.id, key, who, text, ctx.now)
    ctx.end()
    lines = [f"Saved to your journal: {ENCOUNTER_TYPES[key]} - {answers.preview(who)}"]
    if text:
        lines.append(answers.preview(text))
    lines.append("You can read your journal any time with /record.")
    return [Reply("\n".join(lines), buttons=main_menu(ctx))]
