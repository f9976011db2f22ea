"""Raising a concern from a step: screening what a pupil or alumnus typed, recording the concern in
the step's own transaction, alerting the DSLs, and the kind reply. The step's own replies and saves
are never changed: the reply here comes after them."""

from __future__ import annotations

import dataclasses
import logging

from core.messages import Reply
from handlers.context import Context
from handlers.disclosures.alerts import send_alert, send_unrecorded_alert
from handlers.disclosures.books import book_for
from handlers.disclosures.support import support_text
from handlers.safeguarding.classifier import default_classifier
from handlers.safeguarding.normalise import normalise
from handlers.safeguarding.screen import CLASSIFIER_PHRASE, Match, screen
from storage import audit, concerns, crypto, transcript
from storage.models import ConcernSource, Person, Role

log = logging.getLogger(__name__)

SCREENED_ROLES = {Role.pupil.value, Role.alumnus.value}


def gathered(draft: object) -> list[str]:
    """What a flow's draft has gathered, as text: the context kept on channels with no transcript."""
    if draft is None or not dataclasses.is_dataclass(draft) or isinstance(draft, type):
        return []
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            if value.strip():
                found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(dataclasses.asdict(draft))
    return found


def _screened(ctx: Context) -> bool:
    """Typed text from a pupil or alumnus: what a step screens."""
    person = ctx.person
    return (
        person is not None
        and person.role in SCREENED_ROLES
        and ctx.incoming.button is None
        and bool((ctx.incoming.text or "").strip())
    )


def draft_before(ctx: Context) -> list[str]:
    """Before the step runs: what the flow's draft holds, kept as context in case this message raises
    a concern. Only where it could be needed (a screened message on a channel with no transcript),
    since it is taken on every message."""
    return gathered(ctx.draft) if _screened(ctx) and not ctx.is_transcribed else []


def _context(ctx: Context, before: list[str], words: str) -> list[str]:
    """The last few messages of this conversation, the one that raised the concern last."""
    if ctx.is_transcribed:
        lines = transcript.last_lines(ctx.session, ctx.identity_key, concerns.CONTEXT_LINES - 1)
        keys = ctx.settings.keyring
        earlier = [
            f"{'Pupil' if line.direction == 'in' else 'Waymark'}: {transcript.shown(line, keys)}" for line in lines
        ]
    else:
        earlier = [f"Pupil (earlier in this conversation): {text}" for text in before]
    return [*earlier, f"Pupil: {words}"]


def raise_and_alert(
    ctx: Context,
    *,
    subject: Person,
    source: ConcernSource,
    category: str,
    phrase: str,
    words: str,
    context: list[str],
) -> concerns.Raised | None:
    """Record the concern (or join the open one) and alert the DSLs of a new one. None when it cannot
    be kept: with no encryption key the words are never stored in clear, so the DSLs are told only
    who and when, and it is logged."""
    assert subject.id is not None
    ctx.sealed_input = True  # the words that raised it are safeguarding text: the transcript keeps them encrypted
    if not crypto.has_key(ctx.settings.keyring):
        log.error(
            "a safeguarding concern about person %s could not be recorded: WAYMARK_ENCRYPTION_KEY is not set",
            subject.id,
        )
        send_unrecorded_alert(
            ctx.session, ctx.settings, subject=subject, category=category, channel=ctx.incoming.platform, now=ctx.now
        )
        return None
    raised = concerns.raise_concern(
        ctx.session,
        key=ctx.settings.keyring,
        school_id=subject.school_id,
        subject_id=subject.id,
        raised_by_id=ctx.person.id if ctx.person is not None else None,
        source=source.value,
        category=category,
        phrase=phrase,
        words=words,
        context=context,
        channel=ctx.incoming.platform,
        now=ctx.now,
    )
    if not raised.joined:
        audit.record(
            ctx.session,
            school_id=subject.school_id,
            actor_id=ctx.person.id if ctx.person is not None else None,
            action=audit.RAISE_CONCERN,
            subject_id=subject.id,
            now=ctx.now,
            detail=f"{source.value}, {ctx.incoming.platform}",
        )
        send_alert(ctx.session, ctx.settings, raised.concern, ctx.now)
    return raised


def support(ctx: Context, person: Person) -> Reply:
    return Reply(support_text(person, ctx.school, ctx.now, ctx.settings.zone))


def joining_phrase(match: Match, words: str) -> str:
    """What decides whether a concern joins the pupil's open one from the last hour: the book's
    phrase; for the classifier, which has no phrase, the words it weighed most, normalised ("kms"
    again joins, a different disclosure raises its own concern and alert)."""
    if match.phrase != CLASSIFIER_PHRASE:
        return match.phrase
    return f"{CLASSIFIER_PHRASE} {normalise(words[match.span[0] : match.span[1]])}"


def screen_step(ctx: Context, before: list[str]) -> list[Reply]:
    """Screen what a pupil or alumnus typed in this step (not button data). On a match: the concern,
    the alert, and one more reply after the step's own. `before` is what the flow's draft held
    before the step (the context on Telegram and Slack, which keep no transcript)."""
    person = ctx.person
    if person is None or ctx.concern_raised or not _screened(ctx):
        return []
    words = (ctx.incoming.text or "").strip()
    # The school's phrase book, then the trained classifier (loaded once; Dispatcher loads it at start).
    matches = screen(words, book_for(ctx.school), default_classifier())
    if not matches:
        return []
    first = matches[0]
    raise_and_alert(
        ctx,
        subject=person,
        source=ConcernSource.screening,
        category=first.category.value,
        phrase=joining_phrase(first, words),
        words=words,
        context=_context(ctx, before, words),
    )
    ctx.concern_raised = True
    return [support(ctx, person)]
