"""/caseload: my pupils, when we last had a guidance conversation, open and overdue actions, flags.

Pupils with nothing this school year come first. Paged for a phone: the page number travels in
the button as a typed command (`/caseload 2`), so there is no state to lose.
"""

from __future__ import annotations

from core.messages import Button, Reply
from core.numbers import whole_number
from handlers import access, pupils
from handlers.context import Context
from handlers.pupil_view import OPEN
from handlers.registry import command
from storage import caseload

PAGE_SIZE = 8
EMPTY_CASELOAD = (
    "You have no pupils yet. Pupils appear here when the roster names you as their tutor, or when "
    "the careers leader assigns them to you."
)


@command(
    "caseload",
    roles={"tutor", "leader"},
    summary="my pupils, last contact, open and overdue actions",
    menu_label="Caseload",
    order=210,
)
def show_caseload(ctx: Context) -> list[Reply]:
    assert ctx.person is not None
    wanted = ctx.args.strip()
    page_number = whole_number(wanted, low=1, high=9_999) or 1
    year_start = pupils.year_start_at(ctx)
    on = pupils.today(ctx)
    everyone = access.sees_every_pupil(ctx.person)

    def fetch(number: int) -> caseload.CaseloadPage:
        return caseload.page(
            ctx.session,
            ctx.person,  # type: ignore[arg-type]
            everyone=everyone,
            year_start_at=year_start,
            today=on,
            offset=(number - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )

    result = fetch(page_number)
    if not result.rows and page_number > 1:
        page_number = 1  # an old "next page" button after the caseload shrank
        result = fetch(page_number)
    if not result.rows:
        return [Reply(EMPTY_CASELOAD)]
    pages = (result.total + PAGE_SIZE - 1) // PAGE_SIZE
    pupils.record_listed(
        ctx, [r.pupil.id for r in result.rows if r.pupil.id is not None], f"caseload page {page_number}"
    )
    lines = [f"Your pupils ({result.total}), page {page_number} of {pages}. No conversation this year first."]
    weights = pupils.school_weights(ctx)
    for row in result.rows:
        p = row.pupil
        risk = pupils.risk_for(row, on, year_start, weights)
        seen = row.last_advice_at is not None and row.last_advice_at >= year_start
        last = pupils.short_date(row.last_advice_at, ctx) if seen else "none this year"
        line = f"\n{pupils.label(p)}\n  last guidance: {last}; actions: {row.open_actions} open"
        if row.overdue_actions:
            line += f", {row.overdue_actions} overdue"
        flags = pupils.flags_for(p, risk)
        if flags:
            line += "\n  flags: " + "; ".join(flags)
        lines.append(line)
    names = pupils.short_names([r.pupil for r in result.rows])
    buttons = [[Button(names[p.id], f"{OPEN}{p.id}")] for p in (r.pupil for r in result.rows) if p.id is not None]
    paging = pupils.paging_buttons("/caseload", page_number, pages)
    if paging:
        buttons.append(paging)
    return [Reply("\n".join(lines), buttons=_in_rows(buttons))]


def _in_rows(buttons: list[list[Button]], per_row: int = 2) -> list[list[Button]]:
    """Pupil buttons two to a row (a phone is narrow); the paging row stays as it is."""
    singles = [row[0] for row in buttons if len(row) == 1 and row[0].data.startswith(OPEN)]
    rest = [row for row in buttons if not (len(row) == 1 and row[0].data.startswith(OPEN))]
    return [singles[i : i + per_row] for i in range(0, len(singles), per_row)] + rest
