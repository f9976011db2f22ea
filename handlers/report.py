"""/report (careers leader): destinations of leavers by year and breakdown, and the Benchmark 3 summary.

Every choice is a command with arguments (`/report destinations 2 send`), carried by buttons or
typed, so there is no conversation state to lose and a forged button is just another command: it
meets the same leader check. Each report answers with a text table, a chart (destinations) and a
CSV file, and the export is written to the audit log because it is about pupils.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.calendar import local_today
from core.messages import Button, Reply
from core.numbers import whole_number
from handlers import access
from handlers.context import Context
from handlers.registry import command
from reports import alumni as alumni_list
from reports import build, equality
from reports.alumni import by_sector, render_lines
from reports.charts import alt_text, coverage_bars, stacked_bars
from reports.evidence import summary, year_groups
from reports.export import to_csv
from reports.html import evidence_html
from reports.tables import render_text
from reports.xlsx import to_xlsx
from storage import audit
from storage.equality import alumni_courses, pupil_interests
from storage.reports import EXPORT_REPORT, GROUPS, Breakdown
from storage.schools import sector_keywords
from storage.willing_alumni import record_shown, willing_alumni

YEARS_OFFERED = (1, 2, 3)

NOT_FOR_YOU = "Reports are for the careers leader. Send /help to see what you can do here."
HOW_TO = (
    "Reports: choose one below, or type it, e.g. /report destinations 1 gender or /report benchmark3.\n"
    "Destinations: where leavers went in year 1, 2 or 3 after leaving, by gender, ethnicity, SEND or "
    "disadvantage, EAL or looked after. Benchmark 3 summary: guidance conversations, next steps and actions per year group. "
    "Alumni who can help: former pupils who said yes to helping current pupils, by sector. "
    "Equality lens: pupils' career interests and leavers' destinations per sector, by gender (or "
    "another breakdown: /report equality send).\n"
    "Add \u201cshare\u201d (e.g. /report destinations 1 send share) for a version to publish: counts "
    "from 1 to 4 hidden, and enough others that none can be worked out."
)
SHARE_WORDS = frozenset({"share", "shared", "publish", "published", "suppress", "suppressed"})
ALUMNI_SHOWN = 30  # names in one message; the full list is `waymark report alumni`
BREAKDOWN_BUTTONS: tuple[tuple[str, Breakdown], ...] = (
    ("Gender", Breakdown.gender),
    ("Ethnicity", Breakdown.ethnicity),
    ("SEND", Breakdown.send),
    ("Disadvantage (pupil premium)", Breakdown.pupil_premium),
    ("Free school meals", Breakdown.fsm),
    ("EAL", Breakdown.eal),
    ("Looked after", Breakdown.looked_after),
)
BREAKDOWN_WORDS: dict[str, Breakdown] = {b.value: b for b in Breakdown} | {
    "disadvantage": Breakdown.pupil_premium,
    "disadvantaged": Breakdown.pupil_premium,
    "pp": Breakdown.pupil_premium,
    "sen": Breakdown.send,
    "looked": Breakdown.looked_after,
    "cla": Breakdown.looked_after,
}


@dataclass(frozen=True)
class Request:
    kind: str  # "menu" | "destinations" | "benchmark3" | "alumni" | "equality"
    year: int | None = None
    by: Breakdown | None = None
    problem: str = ""
    share: bool = False  # small counts hidden, for publishing


def parse(args: str) -> Request:
    """`/report` arguments; a trailing "share" asks for the version to publish."""
    words = args.lower().replace("-", " ").split()
    share = bool(words) and words[-1] in SHARE_WORDS
    request = _parse(words[:-1] if share else words)
    return replace(request, share=share) if share and not request.problem and request.kind != "menu" else request


def _parse(words: list[str]) -> Request:
    """`/report` arguments, as buttons send them or a person types them; a problem names what is wrong."""
    if not words:
        return Request("menu")
    head, rest = words[0], words[1:]
    if head in {"benchmark3", "benchmark", "b3", "summary"}:
        return Request("benchmark3")
    if head in {"alumni", "helpers"}:
        return Request("alumni")
    if head in {"equality", "sectors", "lens"}:
        rest = [w for w in rest if w != "by"]
        by = BREAKDOWN_WORDS.get(rest[0]) if rest else Breakdown.gender
        if by is None:
            return Request("equality", problem=f"I can't break the equality lens down by \u201c{rest[0][:30]}\u201d.")
        return Request("equality", by=by)
    if head not in {"destinations", "destination", "dest"}:
        return Request("menu", problem=f"I don't know a report called \u201c{words[0][:30]}\u201d.")
    rest = [w for w in rest if w not in {"year", "by"}]
    if not rest:
        return Request("destinations")
    year = whole_number(rest[0], low=1, high=build.MAX_YEARS_AFTER)
    if year is None:
        return Request("menu", problem=f"The year after leaving must be a number from 1 to {build.MAX_YEARS_AFTER}.")
    if len(rest) < 2:
        return Request("destinations", year)
    by = BREAKDOWN_WORDS.get(rest[1])
    if by is None:
        return Request("destinations", year, problem=f"I can't break destinations down by \u201c{rest[1][:30]}\u201d.")
    return Request("destinations", year, by)


def menu_buttons() -> list[list[Button]]:
    return [
        [Button(f"Destinations year {y}", f"/report destinations {y}") for y in YEARS_OFFERED],
        [Button("Benchmark 3 summary", "/report benchmark3"), Button("Alumni who can help", "/report alumni")],
        [Button("Equality lens (sectors by gender)", "/report equality")],
    ]


def equality_buttons() -> list[list[Button]]:
    buttons = [Button(label, f"/report equality {by.value}") for label, by in BREAKDOWN_BUTTONS]
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def breakdown_buttons(year: int) -> list[list[Button]]:
    buttons = [Button(label, f"/report destinations {year} {by.value}") for label, by in BREAKDOWN_BUTTONS]
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


@command("report", roles={"leader"}, summary="reports and charts", menu_label="Reports", order=240)
def report(ctx: Context) -> list[Reply]:
    if not access.is_leader(ctx.person) or not access.private_and_linked(ctx.person, ctx.incoming.chat_type):
        return [Reply(NOT_FOR_YOU)]
    if ctx.school is None:
        return [Reply(NOT_FOR_YOU)]
    request = parse(ctx.args)
    if request.kind == "menu" or (request.kind == "equality" and request.problem):
        prefix = f"{request.problem}\n\n" if request.problem else ""
        return [Reply(prefix + HOW_TO, buttons=menu_buttons())]
    if request.kind == "destinations" and (request.year is None or request.by is None):
        year = request.year or 1
        prefix = f"{request.problem}\n\n" if request.problem else ""
        return [Reply(prefix + f"Destinations in year {year} after leaving, broken down by:", breakdown_buttons(year))]
    if request.kind == "alumni":
        return _alumni(ctx)
    today = local_today(ctx.now, ctx.settings.zone)
    share = request.share
    if request.kind == "equality":
        assert request.by is not None
        return _equality(ctx, request.by, share)
    if request.kind == "benchmark3":
        # Every figure here comes from the evidence page and is hidden where the page hides it: the
        # summary, its chart, the CSV and the page are one publication, suppressed together.
        page = build.benchmark3_evidence(ctx.session, ctx.school, ctx.settings, today=today)
        short, table = summary(page), year_groups(page)
        name = f"benchmark3-{today:%Y-%m-%d}"
        replies = [Reply(render_text(short, suppress_small=share), buttons=menu_buttons())]
        if short.rows:
            replies.append(
                Reply(
                    "Chart: the share of each year group.",
                    image=coverage_bars(short, suppress_small=share),
                    image_name=f"{name}.png",
                    image_alt=alt_text(short, suppress_small=share),
                )
            )
        replies.append(
            Reply(
                "The Benchmark 3 evidence page for governors or an inspector: targeted groups beside everyone "
                "else, and destinations of the last three leaving cohorts.",
                file=evidence_html(page, suppress_small=share).encode("utf-8"),
                file_name=f"{name}-evidence{'-to-share' if share else ''}.html",
                file_type="text/html",
            )
        )
        detail = "benchmark3"
    else:
        assert request.year is not None and request.by is not None
        table = build.destinations(
            ctx.session, ctx.school, ctx.settings, today=today, year_after_leaving=request.year, by=request.by
        )
        name = f"destinations-year{request.year}-{request.by.value}"
        replies = [Reply(render_text(table, suppress_small=share), buttons=breakdown_buttons(request.year))]
        if table.rows:
            replies.append(
                Reply(
                    "Chart: each bar is 100% of that group's leavers.",
                    image=stacked_bars(table, suppress_small=share, columns=len(GROUPS)),
                    image_name=f"{name}.png",
                    image_alt=alt_text(table, suppress_small=share, columns=len(GROUPS)),
                )
            )
        detail = f"destinations year {request.year} by {request.by.value}"
    if share:
        name, detail = f"{name}-to-share", f"{detail} to share"
    replies.append(
        Reply(
            "The same figures as a spreadsheet (CSV).",
            file=to_csv(table, suppress_small=share),
            file_name=f"{name}.csv",
        )
    )
    _audit(ctx, detail)
    return replies


def _audit(ctx: Context, detail: str) -> None:
    assert ctx.school is not None and ctx.school.id is not None
    audit.record(
        ctx.session,
        school_id=ctx.school.id,
        actor_id=ctx.person.id if ctx.person else None,
        action=EXPORT_REPORT,
        subject_id=None,
        now=ctx.now,
        detail=detail,
    )


def _equality(ctx: Context, by: Breakdown, share: bool) -> list[Reply]:
    """Both tables of the lens as text, a chart each, and one workbook (a sheet per table)."""
    assert ctx.school is not None and ctx.school.id is not None
    tables = equality.tables(
        pupil_interests(ctx.session, ctx.school.id, by),
        alumni_courses(ctx.session, ctx.school.id, by, 1),
        by=by,
        year_after_leaving=1,
        extra=sector_keywords(ctx.school),
        school_name=ctx.school.name,
    )
    replies = []
    for part, table in zip(("interests", "destinations"), tables, strict=True):
        replies.append(Reply(render_text(table, suppress_small=share)))
        if any(row.base for row in table.rows):
            png, words = equality.chart(table, suppress_small=share)
            replies.append(
                Reply(
                    "Chart: each bar is 100% of that sector's row.",
                    image=png,
                    image_name=f"equality-{by.value}-{part}.png",
                    image_alt=words,
                )
            )
    replies[-1] = replace(replies[-1], buttons=equality_buttons())
    name = f"equality-{by.value}" + ("-to-share" if share else "")
    replies.append(
        Reply(
            "The same figures as a workbook, a sheet per table.",
            file=to_xlsx(tables, suppress_small=share),
            file_name=f"{name}.xlsx",
            file_type=XLSX_TYPE,
        )
    )
    _audit(ctx, f"equality by {by.value}" + (" to share" if share else ""))
    return replies


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _alumni(ctx: Context) -> list[Reply]:
    """Willing alumni by sector: the first ALUMNI_SHOWN as text, all of them as a CSV file; each
    name shown is audited as a staff list of pupils is. A list of names: never "to share"."""
    assert ctx.school is not None and ctx.school.id is not None
    found = willing_alumni(ctx.session, ctx.school.id)
    record_shown(ctx.session, ctx.school.id, found, actor_id=ctx.person.id if ctx.person else None, now=ctx.now)
    groups = by_sector(found, sector_keywords(ctx.school))
    lines = render_lines(by_sector(found[:ALUMNI_SHOWN], sector_keywords(ctx.school)), ctx.school.name)
    if len(found) > ALUMNI_SHOWN:
        lines.append(f"The first {ALUMNI_SHOWN} of {len(found)} by name; all of them are in the file below.")
    replies = [Reply("\n".join(lines), buttons=menu_buttons())]
    if found:
        replies.append(
            Reply(
                "All of them as a spreadsheet (CSV). " + alumni_list.STAFF_ONLY,
                file=alumni_list.to_csv(alumni_list.rows(groups)),
                file_name="alumni-who-can-help.csv",
            )
        )
    return replies
