"""/attention (careers leader): counts per year group, then the named pupils of one year group.

`/attention` shows, per year group, how many pupils have had no guidance this school year, have
overdue actions, have no intended next step (from Year 10) and are flagged at risk of NEET without a
conversation in the last term (handlers.dates.last_term_start: a rolling 13 weeks), with a button per
year group. `/attention 11` (or the button) names those pupils, a page at a time. Counts come from one
GROUP BY query and each list from one query; the at-risk flag is the pure scoring function.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from core.messages import Button, Reply
from handlers import access, answers, pupils
from handlers.context import Context
from handlers.pupil_view import OPEN
from handlers.registry import command
from handlers.risk import RiskWeights
from storage import attention
from storage.attention import NEXT_STEP_FROM_YEAR
from storage.caseload import CaseloadRow

MAX_NAMES = 6
PAGE_LINES = 25  # names per page: a year group's list stays readable on a phone
NO_YEAR = "none"
NOT_FOR_TUTORS = "Needs attention is for the careers leader. Send /caseload to see your own pupils."
ARGS = re.compile(r"^(?:year\s*|y)?(\d{1,2}|none)(?:\s+(?:page\s*|p)?(\d{1,4}))?$", re.IGNORECASE | re.ASCII)


@command("attention", roles={"leader"}, summary="pupils who need attention", menu_label="Needs attention", order=230)
def needs_attention(ctx: Context) -> list[Reply]:
    if not access.may_see_attention(ctx.person, ctx.incoming.chat_type):
        return [Reply(NOT_FOR_TUTORS)]
    if ctx.args.strip():
        wanted = ARGS.match(ctx.args.strip())
        if wanted is None:
            return [
                Reply(
                    f"I didn't understand \u201c{ctx.args.strip()[:40]}\u201d. Send /attention for every year group, "
                    "or /attention 11 for the names in Year 11."
                )
            ]
        raw_year, raw_page = wanted.groups()
        year = None if raw_year.lower() == NO_YEAR else int(raw_year)
        return [_year_group(ctx, year, int(raw_page or 1))]
    return [_overview(ctx)]


def _overview(ctx: Context) -> Reply:
    assert ctx.person is not None
    on = pupils.today(ctx)
    year_start = pupils.year_start_at(ctx)
    counts = attention.counts_by_year(ctx.session, ctx.person, year_start_at=year_start, today=on)
    if not counts:
        return Reply("There are no pupils on roll yet. Import the roster first (waymark import-roster FILE.csv).")
    since = pupils.last_term_start_at(ctx)
    weights = pupils.school_weights(ctx)
    flagged: dict[int | None, list[str]] = defaultdict(list)
    for row in attention.without_conversation_since(ctx.session, ctx.person, since=since, today=on):
        risk = pupils.risk_for(row, on, year_start, weights)
        if risk.flagged:
            flagged[row.pupil.year_group].append(f"{pupils.label(row.pupil)}: {'; '.join(risk.reasons)}")
    lines = [f"Needs attention (school year from {pupils.short_date(year_start, ctx)}):"]
    buttons: list[Button] = []
    for c in counts:
        year = _year_name(c.year_group)
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
        buttons.append(Button(year, f"/attention {_year_arg(c.year_group)}"))
    lines.append("\nTap a year group to see who, by name.")
    return Reply("\n".join(lines), buttons=[buttons[i : i + 3] for i in range(0, len(buttons), 3)])


@dataclass(frozen=True)
class _Entry:
    section: str
    line: str
    pupil_id: int


def _year_group(ctx: Context, year: int | None, page: int) -> Reply:
    assert ctx.person is not None
    on = pupils.today(ctx)
    year_start = pupils.year_start_at(ctx)
    since = pupils.last_term_start_at(ctx)
    rows = attention.needing_attention(
        ctx.session, ctx.person, year_group=year, year_start_at=year_start, since=since, today=on
    )
    entries = _entries(ctx, rows, on, year_start, since, pupils.school_weights(ctx))
    back = [Button("All year groups", "/attention")]
    if not entries:
        return Reply(f"{_year_name(year)}: nobody needs attention right now.", buttons=[back])
    pages = (len(entries) + PAGE_LINES - 1) // PAGE_LINES
    page = min(max(page, 1), pages)  # an old button after the list shrank
    shown = entries[(page - 1) * PAGE_LINES : page * PAGE_LINES]
    pupils.record_listed(ctx, [entry.pupil_id for entry in shown], f"needs attention {_year_arg(year)} page {page}")
    heading = f"{_year_name(year)}: who needs attention"
    lines = [heading + (f" (page {page} of {pages})" if pages > 1 else "") + ":"]
    section = ""
    for entry in shown:
        if entry.section != section:
            section = entry.section
            lines.append(f"\n{section}")
        lines.append(f"  - {entry.line}")
    nav = pupils.paging_buttons(f"/attention {_year_arg(year)}", page, pages)
    lines.append("\nTap a name to open that pupil's record, or send /log NAME to log a conversation.")
    by_id = {row.pupil.id: row.pupil for row in rows}
    named = [by_id[i] for i in dict.fromkeys(entry.pupil_id for entry in shown)]  # once each, in list order
    names = pupils.short_names(named)
    open_buttons = [Button(names[p.id], f"{OPEN}{p.id}") for p in named if p.id is not None]
    return Reply("\n".join(lines), buttons=answers.rows(open_buttons) + [row for row in (nav, back) if row])


def _entries(
    ctx: Context, rows: list[CaseloadRow], on: date, year_start: datetime, since: datetime, weights: RiskWeights
) -> list[_Entry]:
    """Every reason a pupil needs attention, one line each, grouped by reason in this order."""
    no_guidance = f"No guidance conversation this school year (since {pupils.short_date(year_start, ctx)}):"
    overdue = "Overdue agreed actions:"
    no_plan = "No intended next step yet:"
    at_risk = f"At risk of NEET, no conversation since {pupils.short_date(since, ctx)}:"
    found: dict[str, list[tuple[str, int]]] = {no_guidance: [], overdue: [], no_plan: [], at_risk: []}
    for row in rows:
        p, last = row.pupil, row.last_advice_at
        assert p.id is not None
        name = pupils.label(p)
        if last is None or last < year_start:
            found[no_guidance].append((f"{name}, last: {pupils.short_date(last, ctx)}", p.id))
        if row.overdue_actions:
            plural = "s" if row.overdue_actions != 1 else ""
            found[overdue].append((f"{name}: {row.overdue_actions} overdue action{plural}", p.id))
        if (p.year_group or 0) >= NEXT_STEP_FROM_YEAR and not p.next_step:
            found[no_plan].append((name, p.id))
        if last is None or last < since:
            risk = pupils.risk_for(row, on, year_start, weights)
            if risk.flagged:
                found[at_risk].append((f"{name}: {'; '.join(risk.reasons)}", p.id))
    return [_Entry(section, line, pupil_id) for section, lines in found.items() for line, pupil_id in lines]


def _year_name(year: int | None) -> str:
    return f"Year {year}" if year is not None else "No year group"


def _year_arg(year: int | None) -> str:
    return str(year) if year is not None else NO_YEAR
