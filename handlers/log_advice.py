"""/log: a tutor or the careers leader records an advice conversation in under a minute.

    find pupil -> kind -> discussed and advised -> agreed action (+ due date), repeat -> staff-only note
    -> summary: Save | Edit | Discard log… (asks first, like /cancel: handlers/discard.py)

What was discussed and the agreed actions may come in one message ("Agreed:" or bullet lines
become actions, handlers/agreed.py), which skips the one-action-at-a-time steps.

Everything gathered lives in the conversation state (the staff-only note already encrypted), so a
restart or another process carries on. Saving writes the record, its actions and the pupil's
notification in one transaction. See log_advice.mmd.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from core.messages import DANGER, PRIMARY, Button, Reply
from handlers import access, answers, pupils
from handlers.agreed import split_agreed
from handlers.context import Context
from handlers.dates import EXAMPLES, DueDateError, parse_due, show, split_due
from handlers.flow import Flow
from handlers.menus import main_menu
from storage import advice, crypto, outbox
from storage.models import Person


@dataclass
class ActionItem:
    text: str = ""
    due: str | None = None  # ISO date


@dataclass
class LogDraft:
    pupil_id: int | None = None
    kind: str = ""  # a key of KINDS
    summary: str = ""
    actions: list[ActionItem] = field(default_factory=list)
    pending: str = ""  # an action waiting for its due date
    note: str = ""  # the staff-only note, already a Fernet token: never kept in clear, here either
    editing: bool = False  # came from Edit: the changed part goes back to the summary

    def answered(self) -> int:
        """How many answers stopping now would throw away (handlers/discard.py asks first from three)."""
        given = (self.pupil_id is not None, bool(self.kind), bool(self.summary), bool(self.pending), bool(self.note))
        return sum(given) + len(self.actions)


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
ASK_SUMMARY = (
    "What was discussed, and what did you advise? One message is fine. To add the agreed actions in the "
    "same message, put them after \u201cAgreed:\u201d, one a line, each with a date at the end if it has one, "
    "e.g. \u201cAgreed: Visit the college open day by 12 Dec\u201d."
)
ASK_ACTION = (
    "What did you agree? Type one decision or next step. Add a due date at the end if you like, e.g. "
    "\u201cVisit the college open day by 12 Dec\u201d."
)
ASK_NEXT_ACTION = "Type another agreed action, or tap Done."
ASK_DUE = f"When is \u201c{{action}}\u201d due? Type a date {EXAMPLES}, or tap No due date."
ASK_NOTE = "Anything for staff only? Pupils never see it. Type it, or tap No staff note."
BUTTONS_ONLY = "Please tap one of the buttons below (or send /cancel to stop)."
LOST_ACCESS = "You can no longer log advice for that pupil, so nothing was saved. Send /log to start again."
NOTIFY = "Something new is in your careers record: notes from a {kind} with {staff}{actions}. Send /record to read it."

LOG = Flow("log", roles={"tutor", "leader"}, draft=LogDraft, refusal=LOST_ACCESS, refusal_menu=True, noun="log")
FIND = LOG.state("find")
KIND = LOG.state("kind")
SUMMARY = LOG.state("summary")
ACTION = LOG.state("action")
DUE = LOG.state("due")
NOTE = LOG.state("note")
CONFIRM = LOG.state("confirm")
EDIT = LOG.state("edit")

FOR_PUPIL = "/log #"  # + pupil id: the button on a pupil's record starts a log for them
PICK = "pick:"  # + pupil id
KIND_BUTTON = "kind:"  # + a key of KINDS
ACTIONS_DONE = "act:done"
NO_DUE = "due:none"
NO_NOTE = "note:none"
SAVE = "save"
EDIT_BUTTON = "edit"
DISCARD_BUTTON = "/cancel"  # the command itself, which asks first (handlers/discard.py)
EDIT_PUPIL, EDIT_KIND, EDIT_SUMMARY = "edit:pupil", "edit:kind", "edit:summary"
EDIT_ACTIONS, EDIT_NOTE, EDIT_BACK = "edit:actions", "edit:note", "edit:back"


def _data_pupil(ctx: Context) -> Person | None:
    """The pupil this log is for, checked against the rules again on every step."""
    return pupils.allowed_pupil(ctx, LOG.draft(ctx).pupil_id, access.may_log_advice)


def _lost(ctx: Context) -> list[Reply]:
    ctx.end()
    return [Reply(LOST_ACCESS, buttons=main_menu(ctx))]


def _kind_buttons() -> list[list[Button]]:
    return [[Button(label, f"{KIND_BUTTON}{key}")] for key, label in KINDS.items()]


def _due(item: ActionItem) -> date | None:
    return date.fromisoformat(item.due) if item.due else None


@LOG.command("log", summary="log an advice conversation", menu_label="Log advice", order=200, moves_to={FIND, KIND})
def log(ctx: Context) -> list[Reply]:
    ctx.goto(FIND)
    if ctx.args.startswith("#"):  # FOR_PUPIL, from a button on /pupil; checked like any other
        pupil = pupils.allowed_pupil(ctx, ctx.args[1:], access.may_log_advice)
        if pupil is None:
            return [Reply(pupils.NOT_AVAILABLE)]
        LOG.draft(ctx).pupil_id = pupil.id
        return _ask_kind(ctx, pupil)
    if ctx.args:
        return _search(ctx, ctx.args)
    return [Reply(ASK_PUPIL)]


def _search(ctx: Context, query: str) -> list[Reply]:
    text, buttons = pupils.search(ctx, query, PICK)
    return [Reply(text, buttons=buttons)]


def _ask_kind(ctx: Context, pupil: Person) -> list[Reply]:
    ctx.goto(KIND)
    return [_kind_question(pupil)]


def _kind_question(pupil: Person) -> Reply:
    return Reply(ASK_KIND.format(name=pupil.given_name), buttons=_kind_buttons())


@LOG.step(FIND, moves_to={KIND, CONFIRM})
def find(ctx: Context) -> list[Reply]:
    if ctx.button is not None:
        if not ctx.button.startswith(PICK):
            return answers.again(ctx, answers.STRAY_BUTTON, Reply(ASK_PUPIL))
        pupil = pupils.allowed_pupil(ctx, ctx.button.removeprefix(PICK), access.may_log_advice)
        if pupil is None:
            return [Reply(pupils.NOT_AVAILABLE)]
        LOG.draft(ctx).pupil_id = pupil.id
        return _confirm(ctx) if LOG.draft(ctx).editing else _ask_kind(ctx, pupil)
    if not ctx.text:
        return answers.again(ctx, answers.EMPTY, Reply(ASK_PUPIL))
    return _search(ctx, ctx.text)


@LOG.step(KIND, moves_to={SUMMARY, CONFIRM})
def kind(ctx: Context) -> list[Reply]:
    pupil = _data_pupil(ctx)
    if pupil is None:
        return _lost(ctx)
    chosen = (ctx.button or "").removeprefix(KIND_BUTTON) if ctx.button else None
    if chosen is None and ctx.text:
        typed = ctx.text.casefold()
        chosen = next((key for key, label in KINDS.items() if label.casefold() == typed), None)
    if chosen not in KINDS:
        return answers.again(ctx, answers.choice_problem(ctx), _kind_question(pupil))
    draft = LOG.draft(ctx)
    draft.kind = chosen
    if draft.editing:
        return _confirm(ctx)
    ctx.goto(SUMMARY)
    return [Reply(ASK_SUMMARY)]


@LOG.step(SUMMARY, moves_to={ACTION, NOTE, CONFIRM})
def summary(ctx: Context) -> list[Reply]:
    if _data_pupil(ctx) is None:
        return _lost(ctx)
    problem = answers.problem_with(ctx)
    if problem:
        return answers.again(ctx, problem, Reply(ASK_SUMMARY))
    agreed = split_agreed(ctx.text, pupils.today(ctx))
    problem = _agreed_problem(agreed.summary, agreed.actions)
    if problem:
        return answers.again(ctx, problem, Reply(ASK_SUMMARY))
    draft = LOG.draft(ctx)
    draft.summary = agreed.summary
    if agreed.actions:
        draft.actions = [ActionItem(text, due.isoformat() if due else None) for text, due in agreed.actions]
        listed = "\n".join(f"  {i}. {_clip(item.text)} ({show(_due(item))})" for i, item in enumerate(draft.actions, 1))
        lead = Reply(f"Agreed actions:\n{listed}")
        return [lead] + (_confirm(ctx) if draft.editing else _ask_note(ctx))
    if draft.editing:
        return _confirm(ctx)
    ctx.goto(ACTION)
    draft.actions = []
    return [Reply(ASK_ACTION)]


def _agreed_problem(summary_text: str, actions: list[tuple[str, date | None]]) -> str | None:
    if actions and not summary_text:
        return "Please say what was discussed as well, before \u201cAgreed:\u201d."
    if len(actions) > MAX_ACTIONS:
        return f"That's {len(actions)} agreed actions, and one record holds up to {MAX_ACTIONS}."
    if any(len(text) > MAX_ACTION_LENGTH for text, _ in actions):
        return f"Please keep each agreed action under {MAX_ACTION_LENGTH} characters."
    return None


def _done_button() -> list[list[Button]]:
    return [[Button("Done", ACTIONS_DONE)]]


@LOG.step(ACTION, moves_to={DUE, NOTE, CONFIRM})
def action(ctx: Context) -> list[Reply]:
    if _data_pupil(ctx) is None:
        return _lost(ctx)
    draft = LOG.draft(ctx)
    more = _done_button() if draft.actions else []
    question = Reply(ASK_NEXT_ACTION if draft.actions else ASK_ACTION, buttons=more)
    if ctx.button == ACTIONS_DONE:
        if not draft.actions:
            return answers.again(ctx, "Add at least one agreed decision or next step first.", Reply(ASK_ACTION))
        return _confirm(ctx) if draft.editing else _ask_note(ctx)
    problem = answers.problem_with(ctx)
    if problem:
        return answers.again(ctx, problem, question)
    if len(ctx.text) > MAX_ACTION_LENGTH:
        problem = (
            f"That action is {len(ctx.text):,} characters; please keep each one under {MAX_ACTION_LENGTH}. "
            "Put the detail in what was discussed instead."
        )
        return answers.again(ctx, problem, question)
    text, due = split_due(ctx.text, pupils.today(ctx))
    if due is not None:
        return _add_action(ctx, text, due)
    ctx.goto(DUE)
    draft.pending = text
    return [_due_question(text)]


def _due_question(pending: str) -> Reply:
    return Reply(ASK_DUE.format(action=_clip(pending)), buttons=[[Button("No due date", NO_DUE)]])


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "\u2026"


def _add_action(ctx: Context, text: str, due: date | None) -> list[Reply]:
    draft = LOG.draft(ctx)
    draft.actions.append(ActionItem(text, due.isoformat() if due else None))
    draft.pending = ""
    ctx.goto(ACTION)
    added = f"Added: {_clip(text)} ({show(due)})."
    if len(draft.actions) >= MAX_ACTIONS:
        return [Reply(f"{added} That's {MAX_ACTIONS} actions, the most one record holds.")] + (
            _confirm(ctx) if draft.editing else _ask_note(ctx)
        )
    return [Reply(f"{added} {ASK_NEXT_ACTION}", buttons=_done_button())]


@LOG.step(DUE, moves_to={ACTION, NOTE, CONFIRM})
def due(ctx: Context) -> list[Reply]:
    if _data_pupil(ctx) is None:
        return _lost(ctx)
    pending = LOG.draft(ctx).pending
    if ctx.button == NO_DUE:
        return _add_action(ctx, pending, None)
    problem = answers.problem_with(ctx)
    if problem:
        return answers.again(ctx, problem, _due_question(pending))
    try:
        when = parse_due(ctx.text, pupils.today(ctx))
    except DueDateError as exc:
        return answers.again(ctx, str(exc), _due_question(pending))
    return _add_action(ctx, pending, when)


def _note_question(ctx: Context) -> Reply:
    return Reply(ASK_NOTE, buttons=[[Button("No staff note", NO_NOTE)]])


def _ask_note(ctx: Context) -> list[Reply]:
    ctx.goto(NOTE)
    return [_note_question(ctx)]


@LOG.step(NOTE, moves_to={CONFIRM})
def note(ctx: Context) -> list[Reply]:
    if _data_pupil(ctx) is None:
        return _lost(ctx)
    draft = LOG.draft(ctx)
    if ctx.button == NO_NOTE:
        draft.note = ""
        return _confirm(ctx)
    ctx.sealed_input = True  # whatever was typed here was meant as a staff-only note, even if refused
    problem = answers.problem_with(ctx)
    if problem:
        return answers.again(ctx, problem, _note_question(ctx))
    if len(ctx.text) > MAX_NOTE_LENGTH:
        problem = f"That note is {len(ctx.text):,} characters; please keep it under {MAX_NOTE_LENGTH}."
        return answers.again(ctx, problem, _note_question(ctx))
    # Encrypted before it is kept anywhere, the conversation state included. There is always a key:
    # `waymark run` and `waymark chat` do not start without one (bot/keys_cli.py).
    draft.note = crypto.seal(ctx.settings.keyring, ctx.text)
    return _confirm(ctx)


def _summary_text(ctx: Context, pupil: Person) -> str:
    draft = LOG.draft(ctx)
    lines = [
        "Check this before saving:",
        f"Pupil: {pupils.label(pupil)}",
        f"Conversation: {KINDS.get(draft.kind, 'Other')}",
        f"Discussed and advised: {draft.summary}",
        "Agreed actions:",
    ]
    lines += [f"  {i}. {item.text} ({show(_due(item))})" for i, item in enumerate(draft.actions, 1)]
    if draft.note:
        try:
            shown = crypto.decrypt(ctx.settings.keyring, draft.note.encode("ascii"))
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
    LOG.draft(ctx).editing = False
    ctx.goto(CONFIRM)
    return [_confirm_question(ctx, pupil)]


def _confirm_question(ctx: Context, pupil: Person) -> Reply:
    # Discarding is last, on its own row away from Save, styled as a danger where the channel can show
    # it, and asks first like /cancel: it throws a whole log away.
    buttons = [
        [Button("Save", SAVE, PRIMARY)],
        [Button("Edit", EDIT_BUTTON)],
        [Button("Discard log\u2026", DISCARD_BUTTON, DANGER)],
    ]
    # With a staff-only note in it, the summary is kept only encrypted (transcript, conversation state).
    return Reply(_summary_text(ctx, pupil), buttons=buttons, sealed=bool(LOG.draft(ctx).note))


EDIT_CHOICES = [
    ("Pupil", EDIT_PUPIL),
    ("Kind of conversation", EDIT_KIND),
    ("What was discussed", EDIT_SUMMARY),
    ("Agreed actions", EDIT_ACTIONS),
    ("Staff-only note", EDIT_NOTE),
    ("Back to summary", EDIT_BACK),
]


def _edit_question() -> Reply:
    return Reply("What would you like to change?", buttons=[[Button(label, data)] for label, data in EDIT_CHOICES])


@LOG.step(CONFIRM, moves_to={EDIT, KIND})
def confirm(ctx: Context) -> list[Reply]:
    pupil = _data_pupil(ctx)
    if pupil is None:
        return _lost(ctx)
    choice = ctx.button or ctx.text.casefold()
    if choice == SAVE:
        return _save(ctx, pupil)
    if choice == EDIT_BUTTON:
        ctx.goto(EDIT)
        return [_edit_question()]
    return answers.again(ctx, answers.choice_problem(ctx), _confirm_question(ctx, pupil))


@LOG.step(EDIT, moves_to={FIND, KIND, SUMMARY, ACTION, NOTE, CONFIRM})
def edit(ctx: Context) -> list[Reply]:
    pupil = _data_pupil(ctx)
    if pupil is None:
        return _lost(ctx)
    choice = ctx.button or ""
    draft = LOG.draft(ctx)
    draft.editing = True
    if choice == EDIT_PUPIL:
        ctx.goto(FIND)
        return [Reply(ASK_PUPIL)]
    if choice == EDIT_KIND:
        ctx.goto(KIND)
        return [_kind_question(pupil)]
    if choice == EDIT_SUMMARY:
        ctx.goto(SUMMARY)
        return [Reply(f"Now it says: {draft.summary}\n\n{ASK_SUMMARY}")]
    if choice == EDIT_ACTIONS:
        ctx.goto(ACTION)
        draft.actions = []
        return [Reply("The actions are cleared; type them again. " + ASK_ACTION)]
    if choice == EDIT_NOTE:
        draft.editing = False  # the note step always goes on to the summary
        return _ask_note(ctx)
    if choice == EDIT_BACK:
        return _confirm(ctx)
    draft.editing = False
    return answers.again(ctx, answers.choice_problem(ctx), _edit_question())


def _save(ctx: Context, pupil: Person) -> list[Reply]:
    assert ctx.person is not None and ctx.person.id is not None and pupil.id is not None
    draft = LOG.draft(ctx)
    note_token = draft.note
    items = [advice.NewAction(item.text, _due(item)) for item in draft.actions]
    kind = draft.kind
    summary_text = draft.summary
    if kind not in KINDS or not summary_text or not items:
        ctx.goto(KIND)
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
