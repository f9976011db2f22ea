"""/log: a tutor or the careers leader records an advice conversation in under a minute.

    find pupil -> kind -> discussed and advised -> agreed action (+ due date), repeat -> staff-only note
    -> summary: Save | Edit

Everything gathered lives in the conversation state (the staff-only note already encrypted), so a
restart or another process carries on. Saving writes the record, its actions and the pupil's
notification in one transaction. See log_advice.mmd.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from core.messages import Button, Reply
from handlers import access, pupils
from handlers.context import Context
from handlers.dates import EXAMPLES, DueDateError, parse_due, show, split_due
from handlers.menus import main_menu
from handlers.registry import command, state
from storage import advice, crypto, outbox
from storage.models import Person

KINDS: dict[str, str] = {
    "guidance_interview": "Personal guidance interview",
    "tutor_checkin": "Tutor check-in",
    "parents_evening": "Parents' evening",
    "group_session": "Group session",
    "other": "Other",
}
MAX_ACTIONS = 10
MAX_ACTION_LENGTH = 500
MAX_NOTE_LENGTH = 2000

ASK_PUPIL = "Who was the conversation with? Type part of their name or their form (e.g. 10A)."
ASK_KIND = "What kind of conversation was it with {name}?"
ASK_SUMMARY = "What was discussed, and what did you advise? One message is fine."
ASK_ACTION = (
    "What did you agree? Type one decision or next step. Add a due date at the end if you like, e.g. "
    "\u201cVisit the college open day by 12 Dec\u201d."
)
ASK_NEXT_ACTION = "Type another agreed action, or tap Done."
ASK_DUE = f"When is \u201c{{action}}\u201d due? Type a date {EXAMPLES}, or tap No due date."
ASK_NOTE = "Anything for staff only? Pupils never see it. Type it, or tap No staff note."
ASK_NOTE_NO_KEY = (
    "Staff-only notes are switched off here because Waymark has no encryption key "
    "(WAYMARK_ENCRYPTION_KEY), and I won't keep one unprotected. Tap No staff note to carry on; "
    "ask your Waymark administrator to set the key."
)
NOTE_REFUSED = (
    "I can't save a staff-only note: Waymark has no encryption key (WAYMARK_ENCRYPTION_KEY) and I won't "
    "keep a private note unprotected. Your note was not kept. Tap No staff note to save the rest, "
    "and ask your Waymark administrator to set the key."
)
EMPTY = "That was empty. "
BUTTONS_ONLY = "Please tap one of the buttons below (or send /cancel to stop)."
LOST_ACCESS = "You can no longer log advice for that pupil, so nothing was saved. Send /log to start again."
NOTIFY = "Something new is in your careers record: notes from a {kind} with {staff}{actions}. Send /record to read it."


def _data_pupil(ctx: Context) -> Person | None:
    """The pupil this log is for, checked against the rules again on every step."""
    return pupils.allowed_pupil(ctx, ctx.data.get("pupil_id"), access.may_log_advice)


def _lost(ctx: Context) -> list[Reply]:
    ctx.end()
    return [Reply(LOST_ACCESS, buttons=main_menu(ctx))]


def _kind_buttons() -> list[list[Button]]:
    return [[Button(label, f"kind:{key}")] for key, label in KINDS.items()]


def _actions(ctx: Context) -> list[dict[str, Any]]:
    value = ctx.data.get("actions")
    return value if isinstance(value, list) else []


def _due(item: dict[str, Any]) -> date | None:
    return date.fromisoformat(item["due"]) if item.get("due") else None


@command("log", roles={"tutor", "leader"}, summary="log an advice conversation", menu_label="Log advice", order=200)
def log(ctx: Context) -> list[Reply]:
    ctx.goto("log.find")
    if ctx.args.startswith("#"):  # from a button on /pupil or /caseload; checked like any other
        pupil = pupils.allowed_pupil(ctx, ctx.args[1:], access.may_log_advice)
        if pupil is None:
            return [Reply(pupils.NOT_AVAILABLE)]
        ctx.data["pupil_id"] = pupil.id
        return _ask_kind(ctx, pupil)
    if ctx.args:
        return _search(ctx, ctx.args)
    return [Reply(ASK_PUPIL)]


def _search(ctx: Context, query: str) -> list[Reply]:
    text, buttons = pupils.search(ctx, query, "pick:")
    return [Reply(text, buttons=buttons)]


def _ask_kind(ctx: Context, pupil: Person) -> list[Reply]:
    ctx.goto("log.kind")
    return [Reply(ASK_KIND.format(name=pupil.given_name), buttons=_kind_buttons())]


@state("log.find")
def find(ctx: Context) -> list[Reply]:
    if ctx.button is not None:
        if not ctx.button.startswith("pick:"):
            return [Reply(ASK_PUPIL)]
        pupil = pupils.allowed_pupil(ctx, ctx.button.removeprefix("pick:"), access.may_log_advice)
        if pupil is None:
            return [Reply(pupils.NOT_AVAILABLE)]
        ctx.data["pupil_id"] = pupil.id
        return _confirm(ctx) if ctx.data.get("editing") else _ask_kind(ctx, pupil)
    if not ctx.text:
        return [Reply(EMPTY + ASK_PUPIL)]
    return _search(ctx, ctx.text)


@state("log.kind")
def kind(ctx: Context) -> list[Reply]:
    pupil = _data_pupil(ctx)
    if pupil is None:
        return _lost(ctx)
    chosen = (ctx.button or "").removeprefix("kind:") if ctx.button else None
    if chosen is None and ctx.text:
        typed = ctx.text.casefold()
        chosen = next((key for key, label in KINDS.items() if label.casefold() == typed), None)
    if chosen not in KINDS:
        return [Reply(BUTTONS_ONLY, buttons=_kind_buttons())]
    ctx.data["kind"] = chosen
    if ctx.data.get("editing"):
        return _confirm(ctx)
    ctx.goto("log.summary")
    return [Reply(ASK_SUMMARY)]


@state("log.summary")
def summary(ctx: Context) -> list[Reply]:
    if _data_pupil(ctx) is None:
        return _lost(ctx)
    if not ctx.text:
        return [Reply((EMPTY if ctx.button is None else "") + ASK_SUMMARY)]
    ctx.data["summary"] = ctx.text
    if ctx.data.get("editing"):
        return _confirm(ctx)
    ctx.goto("log.action", actions=[])
    return [Reply(ASK_ACTION)]


def _done_button() -> list[list[Button]]:
    return [[Button("Done", "act:done")]]


@state("log.action")
def action(ctx: Context) -> list[Reply]:
    if _data_pupil(ctx) is None:
        return _lost(ctx)
    actions = _actions(ctx)
    more = _done_button() if actions else []
    if ctx.button == "act:done":
        if not actions:
            return [Reply("Add at least one agreed decision or next step first. " + ASK_ACTION)]
        return _confirm(ctx) if ctx.data.get("editing") else _ask_note(ctx)
    if not ctx.text:
        return [Reply(EMPTY + (ASK_NEXT_ACTION if actions else ASK_ACTION), buttons=more)]
    if len(ctx.text) > MAX_ACTION_LENGTH:
        return [
            Reply(
                f"That action is {len(ctx.text):,} characters; please keep each one under {MAX_ACTION_LENGTH}. "
                "Put the detail in what was discussed instead.",
                buttons=more,
            )
        ]
    text, due = split_due(ctx.text, pupils.today(ctx))
    if due is not None:
        return _add_action(ctx, text, due)
    ctx.goto("log.due", pending=text)
    return [Reply(ASK_DUE.format(action=_clip(text)), buttons=[[Button("No due date", "due:none")]])]


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "\u2026"


def _add_action(ctx: Context, text: str, due: date | None) -> list[Reply]:
    actions = [*_actions(ctx), {"text": text, "due": due.isoformat() if due else None}]
    ctx.data.pop("pending", None)
    ctx.goto("log.action", actions=actions)
    added = f"Added: {_clip(text)} ({show(due)})."
    if len(actions) >= MAX_ACTIONS:
        return [Reply(f"{added} That's {MAX_ACTIONS} actions, the most one record holds.")] + (
            _confirm(ctx) if ctx.data.get("editing") else _ask_note(ctx)
        )
    return [Reply(f"{added} {ASK_NEXT_ACTION}", buttons=_done_button())]


@state("log.due")
def due(ctx: Context) -> list[Reply]:
    if _data_pupil(ctx) is None:
        return _lost(ctx)
    pending = str(ctx.data.get("pending") or "")
    no_due = [[Button("No due date", "due:none")]]
    if ctx.button == "due:none":
        return _add_action(ctx, pending, None)
    if not ctx.text:
        return [Reply(EMPTY + ASK_DUE.format(action=_clip(pending)), buttons=no_due)]
    try:
        when = parse_due(ctx.text, pupils.today(ctx))
    except DueDateError as exc:
        return [Reply(f"{exc} Or tap No due date.", buttons=no_due)]
    return _add_action(ctx, pending, when)


def _ask_note(ctx: Context) -> list[Reply]:
    ctx.goto("log.note")
    prompt = ASK_NOTE if crypto.has_key(ctx.settings.encryption_key) else ASK_NOTE_NO_KEY
    return [Reply(prompt, buttons=[[Button("No staff note", "note:none")]])]


@state("log.note")
def note(ctx: Context) -> list[Reply]:
    if _data_pupil(ctx) is None:
        return _lost(ctx)
    skip = [[Button("No staff note", "note:none")]]
    if ctx.button == "note:none":
        ctx.data.pop("note", None)
        return _confirm(ctx)
    if not ctx.text:
        return [Reply(EMPTY + ASK_NOTE, buttons=skip)]
    if len(ctx.text) > MAX_NOTE_LENGTH:
        return [
            Reply(f"That note is {len(ctx.text):,} characters; please keep it under {MAX_NOTE_LENGTH}.", buttons=skip)
        ]
    try:
        # Encrypted before it is kept anywhere, the conversation state included.
        token = crypto.encrypt(ctx.settings.encryption_key, ctx.text)
    except crypto.NoKeyError:
        return [Reply(NOTE_REFUSED, buttons=skip)]
    ctx.data["note"] = token.decode("ascii")
    return _confirm(ctx)


def _summary_text(ctx: Context, pupil: Person) -> str:
    lines = [
        "Check this before saving:",
        f"Pupil: {pupils.label(pupil)}",
        f"Conversation: {KINDS.get(str(ctx.data.get('kind')), 'Other')}",
        f"Discussed and advised: {ctx.data.get('summary', '')}",
        "Agreed actions:",
    ]
    lines += [f"  {i}. {item['text']} ({show(_due(item))})" for i, item in enumerate(_actions(ctx), 1)]
    if ctx.data.get("note"):
        try:
            shown = crypto.decrypt(ctx.settings.encryption_key, str(ctx.data["note"]).encode("ascii"))
        except (crypto.NoKeyError, crypto.UnreadableNoteError):
            shown = "(kept, but can't be shown: the encryption key has changed)"
        lines.append(f"Staff-only note (pupils never see this): {shown}")
    else:
        lines.append("Staff-only note: none")
    return "\n".join(lines)


def _confirm(ctx: Context) -> list[Reply]:
    pupil = _data_pupil(ctx)
    if pupil is None:
        return _lost(ctx)
    ctx.data.pop("editing", None)
    ctx.goto("log.confirm")
    buttons = [[Button("Save", "save"), Button("Edit", "edit")], [Button("Cancel", "/cancel")]]
    return [Reply(_summary_text(ctx, pupil), buttons=buttons)]


EDIT_CHOICES = [
    ("Pupil", "edit:pupil"),
    ("Kind of conversation", "edit:kind"),
    ("What was discussed", "edit:summary"),
    ("Agreed actions", "edit:actions"),
    ("Staff-only note", "edit:note"),
    ("Back to summary", "edit:back"),
]


@state("log.confirm")
def confirm(ctx: Context) -> list[Reply]:
    pupil = _data_pupil(ctx)
    if pupil is None:
        return _lost(ctx)
    choice = ctx.button or ctx.text.casefold()
    if choice == "save":
        return _save(ctx, pupil)
    if choice == "edit":
        ctx.goto("log.edit")
        return [
            Reply("What would you like to change?", buttons=[[Button(label, data)] for label, data in EDIT_CHOICES])
        ]
    return [Reply(BUTTONS_ONLY), *_confirm(ctx)]


@state("log.edit")
def edit(ctx: Context) -> list[Reply]:
    pupil = _data_pupil(ctx)
    if pupil is None:
        return _lost(ctx)
    choice = ctx.button or ""
    ctx.data["editing"] = True
    if choice == "edit:pupil":
        ctx.goto("log.find")
        return [Reply(ASK_PUPIL)]
    if choice == "edit:kind":
        ctx.goto("log.kind")
        return [Reply(ASK_KIND.format(name=pupil.given_name), buttons=_kind_buttons())]
    if choice == "edit:summary":
        ctx.goto("log.summary")
        return [Reply(f"Now it says: {ctx.data.get('summary', '')}\n\n{ASK_SUMMARY}")]
    if choice == "edit:actions":
        ctx.goto("log.action", actions=[])
        return [Reply("The actions are cleared; type them again. " + ASK_ACTION)]
    if choice == "edit:note":
        ctx.data.pop("editing", None)  # the note step always goes on to the summary
        return _ask_note(ctx)
    if choice == "edit:back":
        return _confirm(ctx)
    ctx.data.pop("editing", None)
    return [Reply(BUTTONS_ONLY, buttons=[[Button(label, data)] for label, data in EDIT_CHOICES])]


def _save(ctx: Context, pupil: Person) -> list[Reply]:
    assert ctx.person is not None and ctx.person.id is not None and pupil.id is not None
    note_token = ctx.data.get("note")
    items = [advice.NewAction(str(item["text"]), _due(item)) for item in _actions(ctx)]
    kind = str(ctx.data.get("kind"))
    summary_text = str(ctx.data.get("summary") or "")
    if kind not in KINDS or not summary_text or not items:
        ctx.goto("log.kind")
        return [Reply("Something is missing from this record. " + BUTTONS_ONLY, buttons=_kind_buttons())]
    record = advice.save(
        ctx.session,
        pupil_id=pupil.id,
        staff_id=ctx.person.id,
        kind=kind,
        summary=summary_text,
        staff_note=str(note_token).encode("ascii") if note_token else None,
        actions=items,
        now=ctx.now,
    )
    plural = "s" if len(items) != 1 else ""
    told = outbox.notify_person(
        ctx.session,
        key=f"advice:{record.id}",
        person_id=pupil.id,
        text=NOTIFY.format(
            kind=KINDS[kind].lower(), staff=ctx.person.full_name, actions=f" and {len(items)} agreed action{plural}"
        ),
        now=ctx.now,
    )
    ctx.end()
    return [
        Reply(
            f"Saved. {pupil.given_name} can see it in their record now"
            + (
                ", and I've told them it's there."
                if told
                else "; they have no chat linked yet, so I couldn't tell them."
            ),
            buttons=main_menu(ctx),
        )
    ]
