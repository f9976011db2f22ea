"""/nextstep: from Year 10, the pupil's intended destination and their applications (see nextstep.mmd).

The overview is a small menu: choose or change the plan, add an application, update one's status.
Every application button is checked against the pupil again, since button data can be forged.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.labels import shorten
from core.messages import Button, Reply
from core.numbers import whole_number
from handlers import answers
from handlers.context import Context
from handlers.flow import Flow
from handlers.menus import main_menu
from storage import journal
from storage.models import Person


@dataclass
class NextStepDraft:
    app_id: int | None = None  # the application being updated; None while adding one
    provider: str = ""
    course: str = ""


NEXTSTEP = Flow("nextstep", roles={"pupil"}, draft=NextStepDraft, refusal=answers.NOT_A_PUPIL)
MENU = NEXTSTEP.state("menu")
PLAN_STEP = NEXTSTEP.state("plan")
PROVIDER = NEXTSTEP.state("provider")
COURSE = NEXTSTEP.state("course")
STATUS_STEP = NEXTSTEP.state("status")

FIRST_YEAR = 10
PLAN = "ns:plan"
ADD = "ns:add"
CLOSE = "ns:close"
APP = "ns:app:"
CHOICE = "ns:to:"
STATUS = "ns:st:"
SKIP = "ns:skip"

# key -> (label, which pupils see it: "pre16" Years 10-11, "post16" Years 12-13, "all")
PLANS = {
    "sixth_form": ("School sixth form", "pre16"),
    "sixth_form_college": ("Sixth-form college", "pre16"),
    "fe_college": ("FE college", "all"),
    "apprenticeship": ("Apprenticeship", "all"),
    "job_training": ("Job with training", "all"),
    "university": ("University", "post16"),
    "gap_year": ("Gap year", "post16"),
    "not_sure": ("Not sure yet", "all"),
}
STATUS_LABELS = {
    "planning": "Planning to apply",
    "applied": "Applied",
    "offer": "Got an offer",
    "accepted": "Accepted a place",
    "rejected": "Not successful",
}
TOO_EARLY = (
    "Next steps are for Year 10 upwards, {name}, so there's nothing to fill in yet. "
    "For now, /reflect and /encounter are great ways to find out what you enjoy!"
)


def stage(person: Person) -> str:
    """Which choices fit: before or after 16. Unknown year groups see every choice."""
    if person.year_group is None:
        return "all"
    return "post16" if person.year_group >= 12 else "pre16"


def plans_for(person: Person) -> dict[str, str]:
    here = stage(person)
    return {key: label for key, (label, who) in PLANS.items() if who == "all" or here == "all" or who == here}


def too_young(person: Person) -> bool:
    return person.year_group is not None and person.year_group < FIRST_YEAR


@NEXTSTEP.command(
    "nextstep",
    summary="your plan after Year 11 or 13, and your applications",
    menu_label="Next step",
    order=60,
    moves_to={MENU},
)
def nextstep(ctx: Context) -> list[Reply]:
    assert ctx.person is not None
    if too_young(ctx.person):
        return [Reply(TOO_EARLY.format(name=ctx.person.known_as), buttons=main_menu(ctx))]
    ctx.goto(MENU)
    if ctx.args:  # `/nextstep apprenticeship` picks that choice; other words are kept as typed
        if len(ctx.args) > answers.SHORT_FIELD:
            return [
                _overview(
                    ctx,
                    f"That's {len(ctx.args):,} characters and a plan can be up to {answers.SHORT_FIELD:,}. "
                    "Tap Choose my plan, or send /nextstep with a shorter plan.",
                )
            ]
        key = plan_named(ctx.person, ctx.args)
        value = plans_for(ctx.person)[key] if key is not None else ctx.args
        journal.set_next_step(ctx.session, ctx.person, value, ctx.now)
        return [_overview(ctx, "Saved your plan.")]
    return [_overview(ctx)]


def plan_named(person: Person, text: str) -> str | None:
    """The choice this text names, by its label or key ("FE college", "fe_college"); None if none."""
    wanted = answers.folded(text)
    for key, label in plans_for(person).items():
        if wanted in {answers.folded(label), answers.folded(key)}:
            return key
    return None


def _after(person: Person) -> str:
    if person.year_group is None:
        return "after school"
    return "after Year 13" if person.year_group >= 12 else "after Year 11"


def _overview(ctx: Context, lead: str = "") -> Reply:
    assert ctx.person is not None and ctx.person.id is not None
    person, person_id = ctx.person, ctx.person.id
    lines = [lead, ""] if lead else []
    lines.append(f"Your plan {_after(person)}: {person.next_step or 'not chosen yet'}")
    apps = journal.applications_of(ctx.session, person_id)
    if apps:
        lines.append("Your applications:")
        for app in apps:
            course = f" - {app.course}" if app.course else ""
            lines.append(f"- {app.provider}{course}: {STATUS_LABELS.get(app.status, app.status)}")
    else:
        lines.append("No applications yet.")
    buttons = [
        [Button("Change my plan" if person.next_step else "Choose my plan", PLAN), Button("Add an application", ADD)]
    ]
    buttons += answers.rows([Button(f"Update: {shorten(app.provider, 30)}", f"{APP}{app.id}") for app in apps])
    buttons.append([Button("Finished", CLOSE)])
    return Reply("\n".join(lines), buttons=buttons)


@NEXTSTEP.step(MENU, moves_to={PLAN_STEP, PROVIDER, STATUS_STEP})
def menu(ctx: Context) -> list[Reply]:
    assert ctx.person is not None and ctx.person.id is not None
    button = ctx.button
    if button == PLAN:
        ctx.goto(PLAN_STEP)
        return [_ask_plan(ctx)]
    if button == ADD:
        ctx.goto(PROVIDER)
        return [_ask_provider()]
    if button == CLOSE:
        ctx.end()
        return [Reply("OK. Come back with /nextstep whenever something changes.", buttons=main_menu(ctx))]
    if button is not None and button.startswith(APP):
        raw = button.removeprefix(APP)
        app = (
            journal.application_of(ctx.session, ctx.person.id, number)
            if (number := whole_number(raw)) is not None
            else None
        )
        if app is None:
            return answers.again(ctx, "I couldn't find that application in your list.", _overview(ctx))
        ctx.goto(STATUS_STEP)
        draft = NEXTSTEP.draft(ctx)
        draft.app_id, draft.provider = app.id, app.provider
        return [_ask_status(f"How is your application to {app.provider} going?")]
    return answers.again(ctx, answers.choice_problem(ctx), _overview(ctx))


def _ask_plan(ctx: Context) -> Reply:
    assert ctx.person is not None
    buttons = [Button(label, f"{CHOICE}{key}") for key, label in plans_for(ctx.person).items()]
    return Reply(
        f"What are you planning to do {_after(ctx.person)}? Tap one, or type it in your own words.",
        buttons=answers.rows(buttons),
    )


@NEXTSTEP.step(PLAN_STEP, moves_to={MENU})
def plan(ctx: Context) -> list[Reply]:
    assert ctx.person is not None
    options = plans_for(ctx.person)
    if ctx.button is not None:
        key = answers.button_choice(ctx.button, CHOICE, options)
        if key is None:
            return answers.again(ctx, answers.choice_problem(ctx), _ask_plan(ctx))
        value = options[key]
    else:
        problem = answers.problem_with(ctx, limit=answers.SHORT_FIELD)
        if problem:
            return answers.again(ctx, problem, _ask_plan(ctx))
        value = answers.typed(ctx)
    journal.set_next_step(ctx.session, ctx.person, value, ctx.now)
    ctx.goto(MENU)
    return [_overview(ctx, "Saved your plan.")]


def _ask_provider() -> Reply:
    return Reply(
        'Where have you applied, or where are you planning to apply? For example: "Lincoln College" '
        'or "BAE Systems apprenticeships".'
    )


@NEXTSTEP.step(PROVIDER, moves_to={COURSE})
def provider(ctx: Context) -> list[Reply]:
    problem = answers.problem_with(ctx, limit=answers.SHORT_FIELD)
    if problem:
        return answers.again(ctx, problem, _ask_provider())
    ctx.goto(COURSE)
    NEXTSTEP.draft(ctx).provider = answers.typed(ctx)
    return [_ask_course()]


def _ask_course() -> Reply:
    return Reply(
        'Which course or job is it? For example: "A levels: Biology, Chemistry, Maths" or "Engineering '
        'technician". Type it, or tap Skip.',
        buttons=[[Button("Skip", SKIP)]],
    )


@NEXTSTEP.step(COURSE, moves_to={STATUS_STEP})
def course(ctx: Context) -> list[Reply]:
    problem = answers.skippable_problem(ctx, SKIP, limit=answers.SHORT_FIELD)
    if problem:
        return answers.again(ctx, problem, _ask_course())
    ctx.goto(STATUS_STEP)
    draft = NEXTSTEP.draft(ctx)
    draft.course, draft.app_id = answers.typed_or_skipped(ctx, SKIP), None
    return [_ask_status(f"How is your application to {draft.provider} going?")]


def _ask_status(question: str) -> Reply:
    buttons = [Button(label, f"{STATUS}{key}") for key, label in STATUS_LABELS.items()]
    return Reply(question, buttons=answers.rows(buttons))


def status_from(ctx: Context) -> str | None:
    if ctx.button is not None:
        return answers.button_choice(ctx.button, STATUS, STATUS_LABELS)
    typed = ctx.text.casefold()
    for key, label in STATUS_LABELS.items():
        if typed in {key, label.casefold()}:
            return key
    return None


@NEXTSTEP.step(STATUS_STEP, moves_to={MENU})
def status(ctx: Context) -> list[Reply]:
    assert ctx.person is not None and ctx.person.id is not None
    draft = NEXTSTEP.draft(ctx)
    provider_name = draft.provider
    key = status_from(ctx)
    if key is None:
        problem = answers.choice_problem(ctx)
        return answers.again(ctx, problem, _ask_status(f"How is your application to {provider_name} going?"))
    if draft.app_id is not None:
        if journal.set_application_status(ctx.session, ctx.person.id, draft.app_id, key, ctx.now) is None:
            ctx.goto(MENU)
            draft.app_id = None
            return [_overview(ctx, "I couldn't find that application in your list.")]
        lead = f"Updated: {provider_name} - {STATUS_LABELS[key]}."
    else:
        journal.add_application(ctx.session, ctx.person.id, provider_name, draft.course, key, ctx.now)
        lead = f"Added: {provider_name} - {STATUS_LABELS[key]}."
    ctx.end()
    ctx.goto(MENU)
    return [_overview(ctx, lead)]
