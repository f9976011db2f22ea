"""/concerns: the safeguarding lead's open concerns; open one, acknowledge it, add a note, close it.

Only DSLs reach any of it: the flow admits the "dsl" role alone, and every command and step checks
again that the concern belongs to the DSL's own school, since button data can be forged. Another
school's number reads exactly like a number that does not exist. Every button is the command
itself (`/concerns 12`, `/concerns 12 ack`), so a list or a concern outlives a restart; only the
note's text and the outcome are asked for in a step.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.messages import Button, Reply, sealed
from core.numbers import whole_number
from handlers import access, answers, pupils
from handlers.concern_work import OUTCOMES, Acting, acknowledge, add_note, close, list_line, open_list, show
from handlers.context import Context
from handlers.flow import Flow
from handlers.pupil_view import chunks
from storage import concerns, crypto
from storage.models import Concern, ConcernOutcome, ConcernStatus

NOT_FOR_YOU = "Safeguarding concerns are only for the school's safeguarding leads."
NOT_FOUND = "There is no concern #{number} at your school. Send /concerns to see the open ones."
NONE_OPEN = "There are no open safeguarding concerns at your school."
SHOWN = 20  # concerns on one list; the oldest unacknowledged come first, so none is hidden behind newer ones
ASK_NOTE = "Type your note on concern #{number}. It is encrypted, and only safeguarding leads can read it."
ASK_OUTCOME = "What is the outcome of concern #{number}?"
OUTCOME_DATA = "outcome:"
NOTE_LIMIT = 4000
NO_KEY = (
    "I can't keep that note: WAYMARK_ENCRYPTION_KEY is not set, and notes are never stored unencrypted. "
    "Nothing was saved."
)


@dataclass
class ConcernDraft:
    concern_id: int = 0


CONCERNS = Flow("concerns", roles={"dsl"}, draft=ConcernDraft, refusal=NOT_FOR_YOU, refusal_menu=True)
NOTE = CONCERNS.state("note")
OUTCOME = CONCERNS.state("outcome")


def _acting(ctx: Context) -> Acting:
    assert ctx.person is not None
    return Acting(ctx.person, ctx.incoming.platform, ctx.now)


def _mine(ctx: Context, number: int) -> Concern | None:
    """The concern with this number if this DSL may open it; None otherwise (existing or not)."""
    if ctx.person is None or not access.may_see_concerns(ctx.person, ctx.incoming.chat_type):
        return None
    concern = concerns.get(ctx.session, ctx.person.school_id, number)
    if concern is None or not access.may_open_concern(ctx.person, concern.school_id, ctx.incoming.chat_type):
        return None
    return concern


@CONCERNS.command(
    "concerns",
    summary="open safeguarding concerns: open, acknowledge, note, close",
    menu_label="Concerns",
    order=200,
    moves_to={NOTE, OUTCOME},
)
def concerns_command(ctx: Context) -> list[Reply]:
    if not access.may_see_concerns(ctx.person, ctx.incoming.chat_type):
        return [Reply(NOT_FOR_YOU)]
    words = ctx.args.removeprefix("#").split()
    if not words:
        return _list(ctx)
    number = whole_number(words[0])
    if number is None:
        return [Reply("Send /concerns to see the open concerns, or /concerns and a number (e.g. /concerns 12).")]
    concern = _mine(ctx, number)
    if concern is None:
        return [Reply(NOT_FOUND.format(number=number))]
    action = words[1].lower() if len(words) > 1 else ""
    if action == "ack":
        return _acknowledge(ctx, concern)
    if action == "note":
        ctx.goto(NOTE)
        CONCERNS.draft(ctx).concern_id = number
        return [Reply(ASK_NOTE.format(number=number))]
    if action == "close":
        if concern.status == ConcernStatus.closed.value:
            return [Reply(f"Concern #{number} is closed already.", buttons=_buttons(concern))]
        ctx.goto(OUTCOME)
        CONCERNS.draft(ctx).concern_id = number
        return [Reply(ASK_OUTCOME.format(number=number), buttons=_outcome_buttons())]
    return _open(ctx, concern)


def _list(ctx: Context) -> list[Reply]:
    assert ctx.person is not None
    found = open_list(ctx.session, ctx.person.school_id, SHOWN)
    if not found:
        return [Reply(NONE_OPEN)]
    shown = found[:SHOWN]
    zone = ctx.settings.zone
    lines = ["Open safeguarding concerns, oldest not acknowledged first:"]
    lines += [list_line(ctx.session, c, zone) for c in shown]
    if len(found) > SHOWN:
        lines.append("There are more: close or acknowledge these to see the rest, or type /concerns NUMBER.")
    buttons = [[Button(f"Open #{c.id}", f"/concerns {c.id}")] for c in shown]
    pupils.record_listed(ctx, [c.subject_id for c in shown], "safeguarding concerns")
    return [Reply("\n".join(lines), buttons=buttons)]


def _buttons(concern: Concern) -> list[list[Button]]:
    if concern.status == ConcernStatus.closed.value:
        return [[Button("Add a note", f"/concerns {concern.id} note")], [Button("All open concerns", "/concerns")]]
    first = [Button("Add a note", f"/concerns {concern.id} note"), Button("Close", f"/concerns {concern.id} close")]
    if concern.status == ConcernStatus.open.value:
        first.insert(0, Button("Acknowledge", f"/concerns {concern.id} ack"))
    return [first, [Button("All open concerns", "/concerns")]]


def _outcome_buttons() -> list[list[Button]]:
    return [[Button(label, f"{OUTCOME_DATA}{outcome.value}")] for outcome, label in OUTCOMES.items()]


def _open(ctx: Context, concern: Concern) -> list[Reply]:
    text = show(ctx.session, concern, ctx.settings.keyring, _acting(ctx), ctx.settings.zone)
    return sealed(chunks(text, _buttons(concern)))


def _acknowledge(ctx: Context, concern: Concern) -> list[Reply]:
    if acknowledge(ctx.session, concern, _acting(ctx)):
        text = f"You've acknowledged concern #{concern.id}. The other safeguarding leads will see that you have it."
    elif concern.status == ConcernStatus.closed.value:
        text = f"Concern #{concern.id} is closed already."
    else:
        text = f"Concern #{concern.id} was acknowledged already."
    return [Reply(text, buttons=_buttons(concern))]


def _drafted(ctx: Context) -> Concern | None:
    return _mine(ctx, CONCERNS.draft(ctx).concern_id)


@CONCERNS.step(NOTE)
def note(ctx: Context) -> list[Reply]:
    concern = _drafted(ctx)
    if concern is None:
        ctx.end()
        return [Reply(NOT_FOUND.format(number=CONCERNS.draft(ctx).concern_id))]
    ctx.sealed_input = True  # a DSL's note: safeguarding text
    problem = answers.problem_with(ctx, NOTE_LIMIT)
    if problem:
        return answers.again(ctx, problem)
    try:
        add_note(ctx.session, concern, answers.typed(ctx), ctx.settings.keyring, _acting(ctx))
    except crypto.NoKeyError:
        ctx.end()
        return [Reply(NO_KEY, buttons=_buttons(concern))]
    ctx.end()
    return [Reply(f"Your note is kept on concern #{concern.id}.", buttons=_buttons(concern))]


@CONCERNS.step(OUTCOME)
def outcome(ctx: Context) -> list[Reply]:
    concern = _drafted(ctx)
    if concern is None:
        ctx.end()
        return [Reply(NOT_FOUND.format(number=CONCERNS.draft(ctx).concern_id))]
    chosen = _chosen_outcome(ctx)
    if chosen is None:
        return answers.again(ctx, answers.choice_problem(ctx))
    ctx.end()
    if not close(ctx.session, concern, chosen, _acting(ctx)):
        return [Reply(f"Concern #{concern.id} is closed already.", buttons=_buttons(concern))]
    text = f"Concern #{concern.id} is closed: {OUTCOMES[chosen]}."
    return [Reply(text, buttons=_buttons(concern))]


def _chosen_outcome(ctx: Context) -> ConcernOutcome | None:
    if ctx.button is not None:
        key = answers.button_choice(ctx.button, OUTCOME_DATA, {o.value for o in ConcernOutcome})
        return ConcernOutcome(key) if key is not None else None
    typed = answers.folded(ctx.text)
    for outcome, label in OUTCOMES.items():
        if typed in (answers.folded(label), answers.folded(outcome.value)):
            return outcome
    return None
