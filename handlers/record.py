"""/record and /actions: a pupil's (or alumnus's) own record, newest first and paged, and their actions.

Paging and ticking off use command buttons ("/record 2", "/actions done 17"), so a typed command
does the same as a tap, and every request is answered from the sender's own record only:
a forged page number or action id can reach nothing else.
"""

from __future__ import annotations

from datetime import date, datetime

from core.labels import shorten
from core.messages import Button, Reply
from core.numbers import whole_number
from handlers import answers, texts
from handlers.context import Context
from handlers.encounter import ENCOUNTER_TYPES
from handlers.menus import main_menu
from handlers.nextstep import STATUS_LABELS
from handlers.registry import command
from storage import journal, records
from storage.models import Role
from storage.records import ActionView, AdviceView, RecordItem

ADVICE_KINDS = {
    "guidance_interview": "Careers guidance interview",
    "tutor_checkin": "Tutor check-in",
    "parents_evening": "Parents' evening",
    "group_session": "Group session",
    "other": "Conversation",
}
_DOWNLOAD = Button(texts.DOWNLOAD_RECORD, "/export")  # the pupil's own copy, as a PDF (handlers/export.py)
ACTION_IN_LABEL = 32  # characters of an action's words on its Mark done button
FIELD_LIMIT = 300  # characters of one field shown in the list; keeps a page inside one chat message


@command(
    "record",
    roles={"pupil", "alumnus"},
    summary="your record: journal, advice and agreed actions",
    menu_label="My record",
    order=30,
)
def record(ctx: Context) -> list[Reply]:
    assert ctx.person is not None and ctx.person.id is not None
    wanted = ctx.args.strip()
    number = whole_number(wanted, low=1, high=999_999) or 1
    page = records.record_page(ctx.session, ctx.person.id, number - 1)
    about = _about_me(ctx) if page.page == 0 and ctx.person.role == Role.pupil else []
    if page.total == 0 and not about:
        hint = "Try /reflect to write your first journal entry." if ctx.person.role == Role.pupil else ""
        return [Reply(f"Your record is empty so far. {hint}".strip(), buttons=[[_DOWNLOAD], *main_menu(ctx)])]
    lines = [f"Your record, newest first (page {page.page + 1} of {max(page.pages, 1)}):", *about]
    today = ctx.now.astimezone(ctx.settings.zone).date()
    for item in page.items:
        lines += ["", _item(ctx, item, today)]
    nav: list[Button] = []
    if page.has_newer:
        nav.append(Button("Newer", f"/record {page.page}"))
    if page.has_older:
        nav.append(Button("Older", f"/record {page.page + 2}"))
    buttons = [nav] if nav else []
    return [Reply("\n".join(lines), buttons=[*buttons, [_DOWNLOAD], *main_menu(ctx)])]


def _about_me(ctx: Context) -> list[str]:
    assert ctx.person is not None
    lines = []
    if ctx.person.interests:
        lines.append(f"Interests: {_short(ctx.person.interests)}")
    if ctx.person.next_step:
        lines.append(f"Next step: {ctx.person.next_step}")
    assert ctx.person.id is not None
    for app in journal.applications_of(ctx.session, ctx.person.id):  # their own, as /nextstep lists them
        course = f" - {_short(app.course)}" if app.course else ""
        lines.append(f"Application: {_short(app.provider)}{course}: {STATUS_LABELS.get(app.status, app.status)}")
    return lines


def _short(text: str) -> str:
    return text if len(text) <= FIELD_LIMIT else text[:FIELD_LIMIT].rstrip() + "…"


def _day(ctx: Context, at: datetime) -> str:
    return at.astimezone(ctx.settings.zone).strftime("%d %b %Y")


def _item(ctx: Context, item: RecordItem, today: date) -> str:
    when = _day(ctx, item.at)
    if item.journal is not None:
        entry = item.journal
        if entry.kind == "encounter":
            kind = ENCOUNTER_TYPES.get(entry.encounter_type or "", "Encounter")
            lines = [f"{when} - {kind}: {_short(entry.encounter_with or '')}"]
            if entry.text:
                lines.append(_short(entry.text))
            return "\n".join(lines)
        lines = [f"{when} - Journal: {_short(entry.text)}"]
        if entry.skills:
            lines.append(f"Skills: {entry.skills.replace(',', ', ')}")
        if entry.learned:
            lines.append(f"Learned / next: {_short(entry.learned)}")
        return "\n".join(lines)
    if item.advice is not None:
        return _advice(when, item.advice, today)
    if item.action is not None:
        return f"{when} - Agreed action: {_action(item.action, today)}"
    if item.destination is not None:
        dest = item.destination
        where = f", {_short(dest.provider)}" if dest.provider else ""
        return f"{when} - Where you were, year {dest.year_after_leaving} after leaving: {dest.category}{where}"
    return when


def _advice(when: str, advice: AdviceView, today: date) -> str:
    kind = ADVICE_KINDS.get(advice.kind, "Conversation")
    lines = [f"{when} - {kind} with {advice.staff_name}:", _short(advice.summary)]
    for action in advice.actions:
        lines.append(f"  Agreed: {_action(action, today)}")
    return "\n".join(lines)


def _action(action: ActionView, today: date) -> str:
    parts = [_short(action.text)]
    if action.due_date is not None:
        parts.append(f"due {action.due_date.strftime('%d %b %Y')}")
    if action.status == "done":
        parts.append("done")
    elif action.due_date is not None and action.due_date < today:
        parts.append("overdue")
    else:
        parts.append("to do")
    if action.school_to_do:
        parts.append("the school will do this")
    return " - ".join(parts)


@command("actions", roles={"pupil"}, summary="your agreed actions; mark one done", menu_label="Actions", order=40)
def actions(ctx: Context) -> list[Reply]:
    assert ctx.person is not None and ctx.person.id is not None
    verb, _, rest = ctx.args.strip().partition(" ")
    raw = rest.strip()
    wanted = whole_number(raw)
    lead = ""
    undo: list[list[Button]] = []
    if verb.lower() == "done":
        done = records.mark_action_done(ctx.session, ctx.person.id, wanted, ctx.now) if wanted else None
        if done is None:
            lead = "I couldn't find that action in your list of things to do. It may be done already."
        else:
            lead = f"Well done! Marked as done: {answers.preview(done.text, 100)}"
            # A tap by mistake is put right with one more tap (the command checks it is theirs again).
            undo = [[Button("Undo: not done yet", f"/actions undo {wanted}")]]
    elif verb.lower() == "undo":
        undone = records.undo_action_done(ctx.session, ctx.person.id, wanted) if wanted else None
        if undone is None:
            lead = "I couldn't find that action among the ones you've done."
        else:
            lead = f"OK, it's back on your list: {answers.preview(undone.text, 100)}"
    elif verb:
        lead = "To mark an action done, tap its button below."
    reply = _action_list(ctx, lead)
    reply.buttons = undo + reply.buttons
    return [reply]


def _action_list(ctx: Context, lead: str) -> Reply:
    assert ctx.person is not None and ctx.person.id is not None
    today = ctx.now.astimezone(ctx.settings.zone).date()
    open_ones = records.open_actions(ctx.session, ctx.person.id)
    lines = [lead, ""] if lead else []
    if not open_ones:
        lines.append("You have no open actions. Actions you agree with your tutor or careers adviser will show here.")
        return Reply("\n".join(lines), buttons=main_menu(ctx))
    lines.append("Your agreed actions still to do:")
    buttons: list[Button] = []
    for n, action in enumerate(open_ones, start=1):
        lines.append(f"{n}. {_action(action, today)}")
        if not action.school_to_do:
            # Whole words only ("Visit the sixth form open…", never "…ope"), short enough for one line on a phone.
            buttons.append(
                Button(f"Mark done: {n}. {shorten(action.text, ACTION_IN_LABEL)}", f"/actions done {action.id}")
            )
    return Reply("\n".join(lines), buttons=[[b] for b in buttons] + main_menu(ctx))
