"""What the staff conversations share: finding a pupil someone may see, the school calendar, flags.

Every pupil chosen by id (a button, possibly forged) goes through the pure access rules again, and
a refusal reads exactly like "no such pupil", so nobody learns who exists outside their caseload.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, date, datetime, time

from core.calendar import last_term_start, local_today, school_year_start
from core.messages import Button
from core.numbers import whole_number
from handlers import access
from handlers.context import Context
from handlers.risk import Risk, RiskFacts, RiskWeights, assess, weights_from_json
from storage import audit, caseload
from storage.caseload import CaseloadRow
from storage.models import Person, Role

Rule = Callable[[Person | None, Person, Collection[int], str], bool]

SEARCH_LIMIT = 8
SEND_WORDS = {"K": "SEN support", "E": "EHC plan"}

NOT_FOUND = (
    "I couldn't find a pupil matching \u201c{query}\u201d among the pupils you work with. "
    "Type part of a first or family name, or a form like 10A."
)
NOT_AVAILABLE = "That pupil isn't one you can see, or the button is out of date. Type a name or a form to search."


def today(ctx: Context) -> date:
    return local_today(ctx.now, ctx.settings.zone)


def local_midnight(ctx: Context, day: date) -> datetime:
    """The school's midnight on `day`, as the aware UTC time the database compares with."""
    return datetime.combine(day, time(), ctx.settings.zone).astimezone(UTC)


def year_start_at(ctx: Context) -> datetime:
    return local_midnight(ctx, school_year_start(today(ctx)))


def last_term_start_at(ctx: Context) -> datetime:
    return local_midnight(ctx, last_term_start(today(ctx)))


def label(pupil: Person) -> str:
    if pupil.role == Role.alumnus:
        left = f", left {pupil.leaving_date.year}" if pupil.leaving_date else ""
        return f"{pupil.full_name} (former pupil{left})"
    form = f" ({pupil.form})" if pupil.form else ""
    return f"{pupil.full_name}{form}"


def short_names(people: list[Person]) -> dict[int, str]:
    """A short name for each button (given name and family initial), made longer only where two
    would read the same: the whole name, then with the form ("Ibrahim T" twice -> "Ibrahim Taylor",
    "Ibrahim Thomas"). Two people are compared at the same length, so each name is unique."""

    def tier(person: Person, k: int) -> str:
        return [f"{person.given_name} {person.family_name[:1]}", person.full_name, label(person)][k]

    names: dict[int, str] = {}
    for person in people:
        assert person.id is not None
        others = [o for o in people if o.id != person.id]
        names[person.id] = next(
            (tier(person, k) for k in range(3) if all(tier(o, k) != tier(person, k) for o in others)),
            f"{label(person)} #{person.id}",  # the same name and form: only the number tells them apart
        )
    return names


def assigned(ctx: Context) -> set[int]:
    if ctx.person is None or ctx.person.id is None:
        return set()
    return caseload.assigned_pupil_ids(ctx.session, ctx.person.id)


def allowed_pupil(ctx: Context, pupil_id: object, rule: Rule) -> Person | None:
    """The pupil with this id if `rule` lets this person at them now; None otherwise (existing or not)."""
    wanted = whole_number(str(pupil_id))
    if wanted is None:
        return None
    pupil = ctx.session.get(Person, wanted)
    if pupil is None or not rule(ctx.person, pupil, assigned(ctx), ctx.incoming.chat_type):
        return None
    return pupil


def search(
    ctx: Context, query: str, data_prefix: str, *, everyone: bool | None = None, alumni: bool = False
) -> tuple[str, list[list[Button]]]:
    """Search the pupils this member of staff may see (`everyone`: the whole school; by default only
    the careers leader; `alumni`: former pupils too); one button per match, data `<prefix><id>`."""
    assert ctx.person is not None
    whole_school = access.sees_every_pupil(ctx.person) if everyone is None else everyone
    found, total = caseload.search(
        ctx.session, ctx.person, query, everyone=whole_school, limit=SEARCH_LIMIT, alumni=alumni
    )
    shown_query = query if len(query) <= 40 else query[:40] + "\u2026"
    if not found:
        return NOT_FOUND.format(query=shown_query), []
    record_listed(ctx, [p.id for p in found if p.id is not None], search_list_name(ctx))
    buttons = [[Button(label(p), f"{data_prefix}{p.id}")] for p in found]
    if total > len(found):
        text = f"{total} pupils match; here are the first {len(found)}. Tap one, or type more of the name to narrow it."
    else:
        text = "Tap the pupil:" if len(found) > 1 else "Is this the pupil? Tap to carry on, or type another name."
    return text, buttons


def school_weights(ctx: Context) -> RiskWeights:
    """The at-risk-of-NEET weights this school set (`waymark school risk-weights`), over the defaults."""
    return weights_from_json(ctx.school.risk_weights if ctx.school else "")


def risk_for(row: CaseloadRow, on: date, year_start: datetime, weights: RiskWeights) -> Risk:
    p = row.pupil
    facts = RiskFacts(
        year_group=p.year_group,
        send=p.send,
        pupil_premium=p.pupil_premium,
        eal=p.eal,
        looked_after=p.looked_after,
        young_carer=p.young_carer,
        attendance=p.attendance,
        exclusions=p.exclusions,
        has_next_step=bool(p.next_step),
        overdue_actions=row.overdue_actions,
        had_guidance_this_year=row.last_advice_at is not None and row.last_advice_at >= year_start,
    )
    return assess(facts, on, weights)


def flags_for(pupil: Person, risk: Risk) -> list[str]:
    """The roster's flags, then the risk with only the reasons not already said
    (never "SEN support; at risk of NEET: SEN support; ...")."""
    flags = roster_flags(pupil)
    if risk.flagged:
        said = {flag.casefold() for flag in flags}
        rest = [reason for reason in risk.reasons if reason.casefold() not in said]
        flags.append("at risk of NEET" + (": " + "; ".join(rest) if rest else ""))
    return flags


def roster_flags(pupil: Person) -> list[str]:
    flags = []
    if pupil.send in SEND_WORDS:
        flags.append(SEND_WORDS[pupil.send])
    if pupil.pupil_premium:
        flags.append("pupil premium")
    return flags


def short_date(moment: datetime | date | None, ctx: Context) -> str:
    if moment is None:
        return "never"
    day = moment.astimezone(ctx.settings.zone).date() if isinstance(moment, datetime) else moment
    return f"{day.day} {day:%b %Y}"


def search_list_name(ctx: Context) -> str:
    """What a search's list is called in the audit log: "pupil search (/log)", by the conversation
    that searched. Never the words typed: a fragment of a name would outlive an erasure there."""
    flow = ctx.running.flow if ctx.running is not None else None
    return f"pupil search (/{flow.name})" if flow is not None else "pupil search"


def record_listed(ctx: Context, pupil_ids: list[int], what: str) -> None:
    """A staff list (caseload, needs attention, a search's matches) showed these pupils: audit each."""
    assert ctx.person is not None and ctx.person.id is not None
    audit.record_listed(
        ctx.session,
        school_id=ctx.person.school_id,
        actor_id=ctx.person.id,
        subject_ids=pupil_ids,
        now=ctx.now,
        detail=f"{what}, {ctx.incoming.platform}",
    )


def paging_buttons(command: str, page: int, pages: int) -> list[Button]:
    """Previous / Next for a staff list a page at a time; the page number follows `command`."""
    buttons = []
    if page > 1:
        buttons.append(Button("\u2190 Previous", f"{command} {page - 1}"))
    if page < pages:
        buttons.append(Button("Next \u2192", f"{command} {page + 1}"))
    return buttons
