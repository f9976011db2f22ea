"""/encounter: an employer talk, workplace visit, work experience, college or university visit, careers fair.

Three steps (see encounter.mmd): what kind, who with or where, and what the pupil took from it.
"""

from __future__ import annotations

from core.messages import Button, Reply
from handlers import answers
from handlers.context import Context
from handlers.menus import main_menu
from handlers.registry import command, state
from storage import journal

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


@command(
    "encounter",
    roles={"pupil"},
    summary="log a talk, visit, work experience or careers fair",
    menu_label="Encounter",
    order=20,
)
def encounter(ctx: Context) -> list[Reply]:
    """Guided; or typed as `/encounter careers fair` (the kind), `/encounter Siemens, Lincoln` (who or
    where) or `/encounter <a longer account>` (what they took from it): the flow asks only the rest."""
    typed = ctx.args
    if not typed:
        ctx.goto("encounter.type")
        return [_ask_type()]
    key = _type_named(typed)
    if key is not None:
        ctx.goto("encounter.with", type=key)
        return [_ask_with(key)]
    if len(typed) <= answers.SHORT_FIELD:
        ctx.goto("encounter.type", who=typed)
        return [_ask_type(f"Got it: {typed}.")]
    ctx.goto("encounter.type", reflection=typed)
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


@state("encounter.type")
def kind(ctx: Context) -> list[Reply]:
    if not answers.is_pupil(ctx):
        return answers.not_a_pupil(ctx)
    key = type_from(ctx)
    if key is None:
        problem = answers.choice_problem(
            ctx, f"I don't know that kind. Please pick one of: {', '.join(ENCOUNTER_TYPES.values())}."
        )
        return answers.again(problem, _ask_type())
    if ctx.data.get("who"):  # typed with the command: straight on to what they took from it
        ctx.goto("encounter.reflection", type=key)
        return [_ask_reflection()]
    ctx.goto("encounter.with", type=key)
    return [_ask_with(key)]


def _ask_with(key: str) -> Reply:
    return Reply(
        f'{ENCOUNTER_TYPES[key]}: who was it with, or where? For example: "Nurse from the Royal Infirmary" '
        'or "Siemens, Lincoln".'
    )


@state("encounter.with")
def with_whom(ctx: Context) -> list[Reply]:
    if not answers.is_pupil(ctx):
        return answers.not_a_pupil(ctx)
    key: str = ctx.data.get("type", "")
    if key not in ENCOUNTER_TYPES:  # state from an older version: start again
        ctx.goto("encounter.type")
        return [_ask_type()]
    problem = answers.problem_with(ctx, limit=answers.SHORT_FIELD)
    if problem:
        return answers.again(problem, _ask_with(key))
    reflection_given = ctx.data.get("reflection")
    if isinstance(reflection_given, str) and reflection_given:  # typed with the command
        return _save(ctx, key, answers.typed(ctx), reflection_given)
    ctx.goto("encounter.reflection", who=answers.typed(ctx))
    return [_ask_reflection()]


def _ask_reflection() -> Reply:
    return Reply(
        "What did you take from it? What did you find out, and did it change what you might do? Type it, or tap Skip.",
        buttons=[[Button("Skip", SKIP)]],
    )


@state("encounter.reflection")
def reflection(ctx: Context) -> list[Reply]:
    if not answers.is_pupil(ctx):
        return answers.not_a_pupil(ctx)
    problem = answers.skippable_problem(ctx, SKIP)
    if problem:
        return answers.again(problem, _ask_reflection())
    text = answers.typed_or_skipped(ctx, SKIP)
    assert ctx.person is not None and ctx.person.id is not None
    key: str = ctx.data.get("type", "")
    who: str = ctx.data.get("who", "")
    if key not in ENCOUNTER_TYPES:
        ctx.goto("encounter.type")
        return [_ask_type()]
    return _save(ctx, key, who, text)


def _save(ctx: Context, key: str, who: str, text: str) -> list[Reply]:
    assert ctx.person is not None and ctx.person.id is not None
    journal.add_encounter(ctx.session, ctx.person.id, key, who, text, ctx.now)
    ctx.end()
    lines = [f"Saved to your journal: {ENCOUNTER_TYPES[key]} - {answers.preview(who)}"]
    if text:
        lines.append(answers.preview(text))
    lines.append("You can read your journal any time with /record.")
    return [Reply("\n".join(lines), buttons=main_menu(ctx))]
