"""/attention (careers leader): per year group, who has had no guidance, overdue actions, flagged pupils.

Counts come from one GROUP BY query; the flagged list scores only pupils SQL has already found
without a conversation in the last term (handlers.dates.last_term_start: a rolling 13 weeks).
"""

from __future__ import annotations

from collections import defaultdict

from handlers import access, pupils
from handlers.context import Context
from handlers.registry import command
from handlers.types import Button, Reply
from storage import attention
from storage.attention import NEXT_STEP_FROM_YEAR

MAX_NAMES = 6


@command("attention", roles={"leader"}, summary="pupils who need attention", menu_label="Needs attention", order=230)
def needs_attention(ctx: Context) -> list[Reply]:
    if not access.may_see_attention(ctx.person, ctx.incoming.chat_type):
        return [Reply("Needs attention is for the careers leader. Send /caseload to see your own pupils.")]
    assert ctx.person is not None
    on = pupils.today(ctx)
    year_start = pupils.year_start_at(ctx)
    counts = attention.counts_by_year(ctx.session, ctx.person, year_start_at=year_start, today=on)
    if not counts:
        return [Reply("There are no pupils on roll yet. Import the roster first (waymark import-roster FILE.csv).")]
    since = pupils.last_term_start_at(ctx)
    flagged: dict[int | None, list[str]] = defaultdict(list)
    buttons: list[Button] = []
    for row in attention.without_conversation_since(ctx.session, ctx.person, since=since, today=on):
        risk = pupils.risk_for(row, on, year_start)
        if risk.flagged:
            flagged[row.pupil.year_group].append(f"{pupils.label(row.pupil)}: {'; '.join(risk.reasons)}")
            if len(buttons) < 8:
                buttons.append(Button(row.pupil.full_name, f"/pupil #{row.pupil.id}"))
    lines = [f"Needs attention (school year from {pupils.short_date(year_start, ctx)}):"]
    for c in counts:
        year = f"Year {c.year_group}" if c.year_group is not None else "No year group"
        plans = (
            f"{c.no_next_step} with no intended next step yet; " if (c.year_group or 0) >= NEXT_STEP_FROM_YEAR else ""
        )
        lines.append(
            f"\n{year} ({c.pupils} pupils): {c.no_guidance_this_year} with no guidance conversation this year; "
            f"{c.with_overdue_actions} with overdue actions; {plans}"
            f"{len(flagged.get(c.year_group, []))} at risk of NEET with no conversation since "
            f"{pupils.short_date(since, ctx)}"
        )
        names = flagged.get(c.year_group, [])
        lines += [f"  - {name}" for name in names[:MAX_NAMES]]
        if len(names) > MAX_NAMES:
            lines.append(f"  ...and {len(names) - MAX_NAMES} more")
    return [Reply("\n".join(lines), buttons=[buttons[i : i + 2] for i in range(0, len(buttons), 2)])]
