"""/worried [TEXT] and the Talk to someone button: a pupil or alumnus asks for help, and a concern
is raised at once, with their own words if they add any. No steps: nothing waits for an answer."""

from __future__ import annotations

from core.messages import Reply
from handlers.context import Context
from handlers.disclosures.raising import raise_and_alert, support
from handlers.registry import command
from handlers.safeguarding.alert_text import ASKED
from storage.models import ConcernSource

NO_WORDS = "(asked to talk to someone, without saying more)"
SAY_MORE = (
    "If you want to tell us more, you can: send /worried and then your words, like this: /worried I feel scared at home"
)


@command(
    "worried",
    roles={"pupil", "alumnus"},
    summary="talk to someone at school about something worrying you",
    menu_label="Talk to someone",
    order=800,
)
def worried(ctx: Context) -> list[Reply]:
    assert ctx.person is not None
    words = ctx.args.strip()
    raise_and_alert(
        ctx,
        subject=ctx.person,
        source=ConcernSource.asked,
        category=ASKED,
        phrase="worried",  # asking again within the hour joins the same concern: one alert, not ten
        words=words or NO_WORDS,
        context=[f"Pupil: {(ctx.incoming.text or '').strip() or '/worried'}"],
    )
    ctx.concern_raised = True
    replies = [support(ctx, ctx.person)]
    if not words:
        replies.append(Reply(SAY_MORE))
    return replies
