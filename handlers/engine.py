"""`dispatch`: one incoming message, one step of a conversation, one transaction, a list of replies.

    adapter -> Incoming -> dispatch -> (dedupe, who is it, which step) -> handler -> [Reply] -> adapter

Everything a step writes (journal, records, outbox rows, the next state, the processed update id)
commits together or not at all.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from core import platforms
from core.characters import has_refused_characters, replace_refused_characters
from core.messages import Incoming, Reply
from core.settings import Settings
from handlers import answers, discard, texts
from handlers.context import Context
from handlers.disclosures.raising import draft_before, screen_step
from handlers.flow import check_moves
from handlers.menus import main_menu
from handlers.registry import ALIASES, COMMANDS, IDLE, STEPS, load_conversations
from handlers.safeguarding.classifier import default_classifier
from storage import chatfiles, conversations, crypto, identities, transcript
from storage.db import problem_line, transaction
from storage.models import utcnow

log = logging.getLogger(__name__)

MAX_TEXT = 4000
QUESTION_KEY = "_question"  # stored beside the draft: the question the current step asked
OFFERED_KEY = "offered"  # within it: the choices the latest reply offered, [label, data] pairs
SEALED_KEY = "sealed"  # in a kept question: its text is encrypted (a staff-only note in a summary)
SEALED_DRAFT_KEY = "_sealed"  # the whole draft, encrypted: a step of this flow held such words
# A worry about a child is raised at once, even at the cost of a draft in hand: never a question first.
RAISE_AT_ONCE = frozenset({"worried", "concern"})
DISCARDING_KEY = "_discarding"  # beside the draft: "Discard this log?" is showing (handlers/discard.py)
CANCEL_WORD = "cancel"  # typed on its own inside a conversation, it is /cancel


def _head_and_rest(text: str) -> tuple[str, str]:
    """Split at the first run of any whitespace (space, tab, newline): phones often put a newline there."""
    parts = text.split(maxsplit=1)
    if not parts:
        return "", ""
    return parts[0], parts[1].strip() if len(parts) > 1 else ""


def parse_command(raw: str | None) -> tuple[str, str] | None:
    """'/Reflect@waymark_bot  Helped out' -> ('reflect', 'Helped out'); '/reflect\nText' too; plain 'link CODE'."""
    if not raw:
        return None
    text = raw.strip()
    if text.startswith("/"):
        head, rest = _head_and_rest(text[1:])
        name = head.split("@", 1)[0].lower()
        return (name, rest) if name else None
    head, rest = _head_and_rest(text)
    if head.lower() in {"link", "start"} and rest:
        return head.lower(), rest
    return None


class _AlreadyHandled(Exception):
    """The processed-update insert hit its unique key: this update was handled before."""


class Dispatcher:
    """Holds the database and settings; `dispatch` is safe to call from many threads and processes."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
        *,
        screening: bool = True,
    ) -> None:
        """`screening=False` is for benchmarks and tests only: the same step with no safeguarding
        screening, the floor bench/screening_step_bench.py measures screening's cost against."""
        load_conversations()
        problems = check_moves()
        if problems:
            raise RuntimeError("conversation flows do not hold together:\n" + "\n".join(problems))
        if screening:
            # Load the screening model now, so a missing or damaged file stops start-up with one
            # clear ModelError instead of failing at the first pupil's message.
            default_classifier()
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.screening = screening

    def dispatch(
        self,
        incoming: Incoming,
        on_roles: Callable[[frozenset[str]], None] | None = None,
        within: Callable[[Session], None] | None = None,
    ) -> list[Reply]:
        """`on_roles`, if given, hears the person's roles once the step has committed ({} if unlinked).
        `within`, if given, is called with the step's session after the step, before it commits: a
        channel reads what the step wrote (the web chat's new lines) without another transaction. What
        it read counts only once `on_roles` has been heard: a step that does not commit never calls it."""
        if incoming.chat_type != "private":
            # Nothing from a group is stored, not even the update id.
            return [Reply(texts.PRIVATE_ONLY)]
        try:
            return self._dispatch(incoming, on_roles, within)
        except _AlreadyHandled:
            # A redelivery, or another process committed the same update first.
            log.info("update %s:%s already handled", incoming.platform, incoming.update_id)
            return []
        except IntegrityError:
            # Any other constraint (a race on another unique key, a foreign key): the whole step was
            # rolled back, so the person is still where they were and may simply send it again.
            log.exception("step failed on a database constraint for %s", incoming.platform)
            return [Reply(texts.NOT_SAVED)]
        except OperationalError as exc:
            # One line, not a traceback per message while the database is away (read-only, full, dropped).
            log.error("database unavailable for %s: %s", incoming.platform, problem_line(exc))
            return [Reply(texts.TRY_AGAIN)]

    def _dispatch(
        self,
        incoming: Incoming,
        on_roles: Callable[[frozenset[str]], None] | None,
        within: Callable[[Session], None] | None,
    ) -> list[Reply]:
        now = self.clock()
        with transaction(self.engine) as session:
            replies, ctx = self._step(session, incoming, now)
            # After the step: /start or /unlink may have changed who this is. Worked out only when asked.
            roles = frozenset(ctx.roles) if on_roles is not None else frozenset()
            if within is not None:
                within(session)
        if on_roles is not None:  # e.g. Telegram keeps each chat's "/" menu to these roles
            on_roles(roles)
        return replies

    def step_within(self, session: Session, incoming: Incoming, now: datetime) -> list[Reply]:
        """One step inside the caller's transaction, when the step is part of a larger one (the web
        chat's sign-in runs /start in the transaction that checks the code and starts the session).
        Errors are the caller's: its whole transaction rolls back."""
        return self._step(session, incoming, now)[0]

    def _step(self, session: Session, incoming: Incoming, now: datetime) -> tuple[list[Reply], Context]:
        if incoming.update_id is not None:
            # A redelivered update fails this insert's unique key: dispatch() answers nothing.
            try:
                conversations.mark_processed(session, incoming.platform, incoming.update_id, now)
                session.flush()
            except IntegrityError:
                raise _AlreadyHandled from None
        person, school = identities.person_and_school(session, incoming.platform, incoming.user_id)
        row = conversations.load(session, incoming.platform, incoming.user_id)
        ctx = Context(session=session, settings=self.settings, incoming=incoming, person=person, school=school, now=now)
        lost = not _resume(ctx, row.state, conversations.decode(row))
        before = draft_before(ctx) if self.screening else []
        replies = _lost_place(ctx) if lost and parse_command(_raw(incoming)) is None else route(ctx)
        _remember_question(ctx, previous_state=row.state, replies=replies)
        # After the step has saved as usual: what a pupil typed is screened, and a concern adds one reply.
        if self.screening:
            replies += screen_step(ctx, before)
        conversations.save(session, row, ctx.state, _stored(ctx), now)
        if platforms.is_transcribed(incoming.platform):  # the school's own channels show it again
            _transcribe(ctx, replies)
        return replies, ctx


def _raw(incoming: Incoming) -> str | None:
    return incoming.button if incoming.button is not None else incoming.text


def _resume(ctx: Context, state: str, stored: dict[str, Any]) -> bool:
    """Put the saved step and its draft back in `ctx`; False (and logged) when they no longer fit."""
    if not state:
        return True
    if SEALED_DRAFT_KEY in stored:
        try:
            stored = json.loads(crypto.unseal(ctx.settings.keyring, str(stored[SEALED_DRAFT_KEY])))
        except (crypto.NoKeyError, crypto.UnreadableNoteError, ValueError):
            log.error("an encrypted conversation draft for %s cannot be read: starting again", ctx.identity_key)
            return False
        ctx.seal_draft = True
    question = stored.pop(QUESTION_KEY, None)
    ctx.discarding = stored.pop(DISCARDING_KEY, False) is True
    step = STEPS.get(state)
    draft = step.flow.restore(stored) if step is not None else None
    if step is None or draft is None:
        # A step from an older version of Waymark, a typo, or a draft of another shape.
        what = "unknown conversation state" if step is None else "conversation data that doesn't fit"
        log.error("%s %r for %s: starting again", what, state, ctx.identity_key)
        return False
    ctx.state, ctx.draft = state, draft
    ctx.question = _unsealed(ctx, question) if isinstance(question, dict) else None
    return True


def _unsealed(ctx: Context, question: dict[str, Any]) -> dict[str, Any]:
    """A kept question as it was asked: a sealed one (a summary with a staff-only note) decrypted."""
    if not question.get(SEALED_KEY):
        return question
    try:
        text = crypto.unseal(ctx.settings.keyring, str(question.get("text", "")))
    except (crypto.NoKeyError, crypto.UnreadableNoteError):
        text = transcript.SEALED
    return {**question, "text": text}


def _sealed_question(ctx: Context, question: dict[str, Any]) -> dict[str, Any]:
    """A question as the conversation state keeps it: a sealed one only encrypted, never in clear."""
    if not question.get(SEALED_KEY):
        return question
    keys = ctx.settings.keyring
    text = crypto.seal(keys, str(question.get("text", ""))) if crypto.has_key(keys) else ""
    return {**question, "text": text}


def _lost_place(ctx: Context) -> list[Reply]:
    """The kind reset after a state that could not be resumed (a command simply runs instead)."""
    return [Reply(texts.LOST_PLACE, buttons=main_menu(ctx))]


def _stored(ctx: Context) -> dict[str, Any]:
    if not ctx.state:
        return {}
    stored = asdict(ctx.draft) if ctx.draft is not None else {}
    if ctx.question is not None:
        stored[QUESTION_KEY] = _sealed_question(ctx, ctx.question)
    if ctx.discarding:
        stored[DISCARDING_KEY] = True
    keys = ctx.settings.keyring
    if stored and (ctx.sealed_input or ctx.seal_draft) and crypto.has_key(keys):
        # A draft may hold what was typed (e.g. a journal entry offered back): kept only encrypted.
        return {SEALED_DRAFT_KEY: crypto.seal(keys, json.dumps(stored, ensure_ascii=False, default=str))}
    return stored


def route(ctx: Context) -> list[Reply]:
    """The step, command or idle offer for this message. Typed words that name a choice on offer are
    that choice ("done", "DONE" where Done is offered), on every channel; `ctx.incoming` is put back
    afterwards, so the words are still screened and transcribed as typed."""
    typed = ctx.incoming
    data = typed_choice(ctx)
    if data is None and ctx.state and typed.button is None and answers.folded(typed.text or "") == CANCEL_WORD:
        # "Cancel" typed where no choice of that name is offered: the person means /cancel, which
        # asks first when there is work to lose, rather than "cancel" becoming an answer.
        ctx.incoming = dataclasses.replace(typed, text="/" + CANCEL_WORD)
    elif data is None:
        return _route(ctx)
    else:
        ctx.incoming = dataclasses.replace(typed, text=None, button=data)
    try:
        return _route(ctx)
    finally:
        ctx.incoming = typed


def typed_choice(ctx: Context) -> str | None:
    """The data of the offered choice whose label the typed text names (letters and digits, any case):
    a choice of the step in hand, or outside any conversation a button of the menu ("my record")."""
    if ctx.incoming.button is not None or ctx.person is None:
        return None
    wanted = answers.folded(ctx.incoming.text or "")
    if not wanted:
        return None
    if ctx.state:
        offered = ctx.question.get(OFFERED_KEY, []) if ctx.question is not None else []
    else:
        offered = [[b.label, b.data] for row in main_menu(ctx) for b in row]
    return next((data for label, data in offered if answers.folded(str(label)) == wanted), None)


def _route(ctx: Context) -> list[Reply]:
    incoming = ctx.incoming
    raw = _raw(incoming)
    if raw is None or (incoming.attachment and not (incoming.text or "").strip()):
        return answers.again(ctx, texts.TEXT_ONLY)
    if len(raw) > MAX_TEXT:
        return answers.again(ctx, texts.TOO_LONG.format(length=len(raw), limit=MAX_TEXT))
    if has_refused_characters(raw):
        return answers.again(ctx, texts.CONTROL_CHARACTERS)
    parsed = parse_command(raw)
    if parsed is not None:
        name, args = parsed
        name = ALIASES.get(name, name)
        command = COMMANDS.get(name)
        if command is None:
            return [Reply(texts.UNKNOWN_COMMAND.format(name=name[:40]))]
        if "anyone" not in command.roles and not (command.roles & ctx.roles):
            return [Reply(texts.NOT_LINKED if ctx.person is None else texts.NOT_FOR_YOU)]
        if name not in {"help", "privacy", "cancel"}:
            if name not in RAISE_AT_ONCE and not ctx.discarding and discard.worth_asking(ctx):
                return discard.ask(ctx, instead=name)  # a draft worth keeping: ask before dropping it
            ctx.end()  # a new command abandons the step in hand
        ctx.args = args
        ctx.running = command
        return command.handler(ctx)
    if ctx.person is None:
        if ctx.text and _looks_like_code(ctx.text):
            ctx.args = ctx.text
            return COMMANDS["start"].handler(ctx)  # "link" is only an alias of "start"
        return [Reply(texts.NOT_LINKED)]
    if ctx.state:
        step = STEPS[ctx.state]  # _resume checked it
        if not step.flow.admits(ctx):  # e.g. a pupil who left school between two messages
            return step.flow.refuse(ctx)
        ctx.running = step
        if ctx.discarding:  # "Discard this log?" was asked over this step: this message answers it
            return discard.answer(ctx)
        return step.handler(ctx)
    if incoming.button is not None:
        return [Reply(texts.STALE_BUTTON, buttons=main_menu(ctx))]
    # Text sent outside any conversation: a flow may offer to use it (e.g. as a journal entry).
    replies: list[Reply] = []
    for idle in IDLE:
        if idle.flow is not None and idle.flow.admits(ctx):
            ctx.running = idle
            replies = idle.handler(ctx)
    return replies or [Reply(texts.IDLE_HINT, buttons=main_menu(ctx))]


def _looks_like_code(text: str) -> bool:
    compact = "".join(ch for ch in text if ch.isalnum())
    return len(text) <= 16 and len(compact) == 10 and " " not in text.strip()


def _remember_question(ctx: Context, previous_state: str, replies: list[Reply]) -> None:
    """Keep the question a step has just asked (its first wording, not a re-ask after bad input)."""
    if not ctx.state or not replies:
        return
    if ctx.state != previous_state or ctx.question is None:
        last = replies[-1]
        ctx.question = {"text": last.text, "buttons": [[asdict(b) for b in r] for r in last.buttons]}
        if last.sealed:
            ctx.question[SEALED_KEY] = True
    # What is on offer now, which a re-ask or a step that stays put may have changed (a Done appears).
    ctx.question[OFFERED_KEY] = [[b.label, b.data] for reply in replies for row in reply.buttons for b in row]


def _transcribe(ctx: Context, replies: list[Reply]) -> None:
    person_id = ctx.person.id if ctx.person else None
    keys = ctx.settings.keyring
    shown = ctx.incoming.text if ctx.incoming.button is None else ctx.incoming.button
    if ctx.shown_input is not None:
        shown = ctx.shown_input
    if shown:
        # What the engine would not take is not kept whole either: the limit, and no NUL (PostgreSQL refuses it).
        kept = replace_refused_characters(shown[:MAX_TEXT]) + ("\u2026" if len(shown) > MAX_TEXT else "")
        # A pressed button is kept as its data; the mark lets a page that no longer knows its label
        # say "a button" rather than show the data ("sk:1") as if the person had typed it.
        pressed = {"pressed": True} if ctx.incoming.button is not None else None
        sealed_in = keys if ctx.sealed_input and ctx.incoming.button is None else None
        transcript.record(ctx.session, ctx.identity_key, person_id, "in", kept, ctx.now, pressed, sealed_with=sealed_in)
    for reply in replies:
        payload: dict[str, Any] = {"buttons": [[asdict(b) for b in row] for row in reply.buttons]}
        # The bytes go to a table of their own (the line names them), so the web chat can show them
        # again later (charts, exports) and retention can prune them apart from the words.
        if reply.image is not None:
            payload["image"] = reply.image_name
            if reply.image_alt:
                payload["image_alt"] = reply.image_alt
            payload["image_id"] = chatfiles.offer(
                ctx.session, ctx.identity_key, person_id, reply.image_name, "image/png", reply.image, ctx.now
            )
        if reply.file is not None:
            payload["file"] = reply.file_name
            payload["file_type"] = reply.file_type
            payload["file_id"] = chatfiles.offer(
                ctx.session, ctx.identity_key, person_id, reply.file_name, reply.file_type, reply.file, ctx.now
            )
        # A step whose message is sealed may echo it back: all its replies are sealed with it.
        sealed_out = keys if reply.sealed or ctx.sealed_input else None
        transcript.record(
            ctx.session, ctx.identity_key, person_id, "out", reply.text, ctx.now, payload, sealed_with=sealed_out
        )
