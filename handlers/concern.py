"""/concern NAME: any member of staff logs a worry about a pupil of their school, noticed in a
conversation or anywhere else, and it alerts the DSLs as a pupil's disclosure does.

Safeguarding is everyone's responsibility, so a tutor may raise one about any pupil of the school,
not only their own; the search for this shows names and forms and nothing else. Only the DSLs see
the concern afterwards. See concern.mmd for the steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.messages import Button, Reply
from core.numbers import whole_number
from handlers import answers, pupils
from handlers.context import Context
from handlers.disclosures.raising import raise_and_alert
from handlers.flow import Flow
from handlers.menus import main_menu
from handlers.pupils import NOT_AVAILABLE, SEARCH_LIMIT, label
from handlers.safeguarding.alert_text import RAISED_BY_STAFF
from storage import caseload, concerns
from storage.models import ConcernSource, Person


@dataclass
class ConcernDraft:
    pupil_id: int = 0


CONCERN = Flow("concern", roles={"tutor", "leader", "dsl"}, draft=ConcernDraft)
FIND = CONCERN.state("find")
WHAT = CONCERN.state("what")

PICK = "/concern #"  # + pupil id: the button is the command itself
ASK_WHO = "Which pupil are you worried about? Type part of their name or their form (e.g. 10A)."
NOT_FOUND = (
    "I couldn't find a pupil at your school matching \u201c{query}\u201d. Type part of a name, or a form like 10A."
)
SAVED = (
    "Thank you. I've passed this to the safeguarding lead ({leads}), who will follow it up. "
    "Only the safeguarding lead can read it; the pupil and their tutor are not shown it."
)
SAVED_NO_DSL = (
    "Thank you, it is recorded. Your school has no safeguarding lead in Waymark yet, so nobody has been "
    "alerted: it goes to them as soon as one is added. If a child may be at risk now, follow your school's "
    "safeguarding policy straight away (in an emergency, call 999)."
)
NOT_KEPT = (
    "I couldn't keep what you wrote: Waymark has no encryption key (WAYMARK_ENCRYPTION_KEY), so it can't "
    "store a concern safely. The safeguarding lead has been told there is a concern about this pupil, but "
    "not what you wrote: please tell them in person now, and ask the administrator to set the key."
)


@CONCERN.command(
    "concern",
    summary="raise a safeguarding concern about a pupil",
    order=250,
    moves_to={FIND, WHAT},
)
def concern_command(ctx: Context) -> list[Reply]:
    query = ctx.args.strip()
    if not query:
        ctx.goto(FIND)
        return [Reply(ASK_WHO)]
    if query.startswith("#"):
        pupil = _pupil(ctx, query[1:])
        if pupil is None:
            return [Reply(NOT_AVAILABLE)]
        ctx.goto(WHAT)
        CONCERN.draft(ctx).pupil_id = pupil.id or 0
        return [_ask_what(pupil)]
    return _search(ctx, query)


def _pupil(ctx: Context, raw: object) -> Person | None:
    """A pupil on roll at this member of staff's school, any of them; None otherwise."""
    assert ctx.person is not None
    wanted = whole_number(str(raw))
    if wanted is None:
        return None
    return caseload.visible_pupil(ctx.session, ctx.person, wanted, everyone=True)


def _search(ctx: Context, query: str) -> list[Reply]:
    assert ctx.person is not None
    found, total = caseload.search(ctx.session, ctx.person, query, everyone=True, limit=SEARCH_LIMIT)
    if not found:
        ctx.goto(FIND)
        shown = query if len(query) <= 40 else query[:40] + "\u2026"
        return [Reply(NOT_FOUND.format(query=shown))]
    pupils.record_listed(ctx, [p.id for p in found if p.id is not None], pupils.search_list_name(ctx))
    more = f" ({total} match; type more of the name to narrow it)" if total > len(found) else ""
    buttons = [[Button(label(p), f"{PICK}{p.id}")] for p in found]  # names and forms only
    return [Reply(f"Which pupil do you mean? Tap one{more}.", buttons=buttons)]


@CONCERN.step(FIND)
def find(ctx: Context) -> list[Reply]:
    problem = answers.problem_with(ctx)
    if problem:
        return answers.again(ctx, problem, Reply(ASK_WHO))
    ctx.end()
    return _search(ctx, ctx.text)


def _ask_what(pupil: Person) -> Reply:
    return Reply(
        f"What have you noticed about {pupil.full_name}? Write what you saw or heard, in the pupil's own "
        "words where you can. Only the safeguarding lead will read it. (Send /cancel to stop.)"
    )


@CONCERN.step(WHAT)
def what(ctx: Context) -> list[Reply]:
    pupil = _pupil(ctx, CONCERN.draft(ctx).pupil_id)
    if pupil is None:  # left the school, or moved, between the two messages
        ctx.end()
        return [Reply(NOT_AVAILABLE, buttons=main_menu(ctx))]
    ctx.sealed_input = True  # a worry about a pupil: safeguarding text
    problem = answers.problem_with(ctx)
    if problem:
        return answers.again(ctx, problem, _ask_what(pupil))
    assert ctx.person is not None
    words = answers.typed(ctx)
    raised = raise_and_alert(
        ctx,
        subject=pupil,
        source=ConcernSource.staff,
        category=RAISED_BY_STAFF,  # the source's name: alert_text words it
        phrase="",  # each worry a member of staff logs is its own concern
        words=words,
        context=[f"{ctx.person.full_name} (staff): {words}"],
    )
    ctx.end()
    if raised is None:
        return [Reply(NOT_KEPT, buttons=main_menu(ctx))]
    leads = concerns.dsls(ctx.session, pupil.school_id)
    if not leads:
        return [Reply(SAVED_NO_DSL, buttons=main_menu(ctx))]
    return [Reply(SAVED.format(leads=", ".join(p.full_name for p in leads)), buttons=main_menu(ctx))]
