"""Alumni: "Where are you now?" (/destination, also the yearly check-in's button) and /stop.

The yearly message's buttons send /destination and /stop, so a check-in needs no state of its own
and survives restarts. An answer is saved as a `Destination` for the year after leaving, with the
NCCIS code, and marks this year's check-in answered (which ends its reminders). See alumni.mmd.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.calendar import latest_campaign_year, years_after_leaving
from core.messages import Button, Reply
from handlers import answers
from handlers.context import Context
from handlers.flow import Flow
from handlers.interests import sector_buttons
from handlers.menus import main_menu
from reports.sectors import BUTTON_LABELS
from storage import alumni, checkins, consents, destinations
from storage.alumni import NewDestination
from storage.consents import ConsentKind
from storage.models import Destination, Person
from storage.outbox import notify_person


@dataclass
class DestinationDraft:
    year: int = 1  # the year after leaving this answer is for
    key: str = ""  # the chosen category (storage.destinations)
    provider: str = ""


ALUMNI = Flow(
    "alumni",
    roles={"alumnus"},
    draft=DestinationDraft,
    refusal="That's only for former pupils, so I've stopped it.",
    refusal_menu=True,
)
WHERE = ALUMNI.state("where")
PROVIDER = ALUMNI.state("provider")  # where and which course or job, in one message
HELP = ALUMNI.state("help")
SECTOR = ALUMNI.state("sector")  # a willing alumnus: which sector what they do now is in
STOP = ALUMNI.state("stop")

PICK = "dest:"  # + category key
SAME = "dest:same"
KEEP = "dest:keep"
SKIP = "skip"
SECTOR_PICK = "dest:sec:"  # + a reports.sectors key
YES, NO = answers.YES, answers.NO
LOOKING_FOR_WORK = 619
NO_DETAILS = {"NEET", "not known"}  # nothing to ask about a provider or a course


def _year_after_leaving(ctx: Context) -> int:
    """This year's open check-in decides; otherwise count the campaigns since they left."""
    assert ctx.person is not None and ctx.person.id is not None
    open_checkin = checkins.open_checkin(ctx.session, ctx.person.id)
    if open_checkin is not None:
        return open_checkin.year_after_leaving
    if ctx.person.leaving_date is None:
        return 1
    today = ctx.now.astimezone(ctx.settings.zone).date()
    campaign = latest_campaign_year(today, ctx.settings.campaign)
    return max(1, years_after_leaving(ctx.person.leaving_date, campaign, ctx.settings.campaign))


def _describe(row: Destination) -> str:
    details = ", ".join(part for part in (row.provider, row.course) if part)
    return f"{row.category}" + (f" ({details})" if details else "")


def _ask_where(ctx: Context) -> Reply:
    assert ctx.person is not None and ctx.person.id is not None
    buttons = [Button(c.label, f"{PICK}{c.key}") for c in destinations.CATEGORIES]
    rows = answers.rows(buttons)
    text = "Where are you now? Pick the one that fits best (or send /cancel)."
    year = ALUMNI.draft(ctx).year
    this_year = alumni.answer_for_year(ctx.session, ctx.person.id, year)
    last = alumni.last_destination(ctx.session, ctx.person.id, before_year=year)
    if this_year is not None:
        # Answered already this year: that answer is shown, and nothing offers last year's over it.
        text = f"This year you told us: {_describe(this_year)}.\n\nIf that has changed, pick what fits now."
        rows.insert(0, [Button("Keep it", KEEP)])
    elif last is not None:
        text = f"Last time you told us: {_describe(last)}.\n\n{text}"
        rows.insert(0, [Button("Same as last year", SAME)])
    return Reply(text, buttons=rows)


@ALUMNI.command(
    "destination", summary="tell the school where you are now", menu_label="Where I am now", order=20, moves_to={WHERE}
)
def destination(ctx: Context) -> list[Reply]:
    ctx.goto(WHERE)
    ALUMNI.draft(ctx).year = _year_after_leaving(ctx)
    return [_ask_where(ctx)]


def _category(ctx: Context) -> destinations.Category | None:
    if ctx.button is not None:
        key = ctx.button.removeprefix(PICK) if ctx.button.startswith(PICK) else None
        return destinations.by_key(key) if key else None
    typed = ctx.text.lower()
    return next((c for c in destinations.CATEGORIES if c.label.lower() == typed), None)


@ALUMNI.step(WHERE, moves_to={PROVIDER, HELP, SECTOR})
def where(ctx: Context) -> list[Reply]:
    assert ctx.person is not None and ctx.person.id is not None
    draft = ALUMNI.draft(ctx)
    year = draft.year
    this_year = alumni.answer_for_year(ctx.session, ctx.person.id, year)
    if ctx.button == KEEP or (ctx.button == SAME and this_year is not None):
        ctx.end()
        kept = f"Kept: {_describe(this_year)}." if this_year is not None else "Nothing changed."
        return [Reply(f"{kept} You can update it any time with /destination.", buttons=main_menu(ctx))]
    if ctx.button == SAME:
        last = alumni.last_destination(ctx.session, ctx.person.id, before_year=year)
        if last is None:
            return answers.again(ctx, "There's no earlier answer to copy.", _ask_where(ctx))
        new = NewDestination(year, last.category, last.nccis_code, last.group, last.provider, last.course)
        return _save(ctx, new)
    chosen = _category(ctx)
    if chosen is None:
        return answers.again(ctx, answers.choice_problem(ctx), _ask_where(ctx))
    if chosen.group in NO_DETAILS:
        return _save(ctx, NewDestination(year, chosen.label, chosen.code, chosen.group))
    ctx.goto(PROVIDER)
    draft.key = chosen.key
    return [_ask_provider(chosen)]


def _ask_provider(chosen: destinations.Category) -> Reply:
    return Reply(
        f"{chosen.label}: where, and which course or job? One message, for example "
        '"Leeds College, A levels" or "Acme Electrics, trainee electrician". Or tap Skip.',
        buttons=[[Button("Skip", SKIP)]],
    )


def split_details(text: str) -> tuple[str, str]:
    """'Leeds College, A levels' -> ('Leeds College', 'A levels'): the place, then the course or job,
    split at the first new line, comma, semicolon or dash; one part alone is the place."""
    for separator in ("\n", ",", ";", " - ", " \u2013 "):
        if separator in text:
            place, course = text.split(separator, 1)
            return place.strip(), course.strip()
    return text.strip(), ""


def _lost(ctx: Context) -> list[Reply]:
    """The chosen destination is gone from the state (an older version's key): start again."""
    ctx.end()
    return [Reply("Sorry, I lost track of that. Please start again with /destination.")]


@ALUMNI.step(PROVIDER, moves_to={SECTOR})
def provider(ctx: Context) -> list[Reply]:
    draft = ALUMNI.draft(ctx)
    chosen = destinations.by_key(draft.key)
    if chosen is None:
        return _lost(ctx)
    problem = answers.skippable_problem(ctx, SKIP, 2 * answers.SHORT_FIELD)
    place, course = split_details(answers.typed_or_skipped(ctx, SKIP))
    longest = max(len(place), len(course))
    if not problem and longest > answers.SHORT_FIELD:
        problem = (
            f"That's {longest:,} characters, and the place and the course or job can be up to "
            f"{answers.SHORT_FIELD} each. Please shorten it."
        )
    if problem:
        return answers.again(ctx, problem, _ask_provider(chosen))
    return _save(ctx, NewDestination(draft.year, chosen.label, chosen.code, chosen.group, place, course))


def _save(ctx: Context, new: NewDestination) -> list[Reply]:
    assert ctx.person is not None and ctx.person.id is not None
    row = alumni.save_destination(ctx.session, ctx.person.id, new, ctx.now)
    checkins.mark_answered(ctx.session, ctx.person.id, ctx.now)
    ctx.end()
    saved = f"Thank you! Saved: {_describe(row)}. You can update it any time with /destination."
    if new.nccis_code == LOOKING_FOR_WORK:
        # The careers leader hears of it whatever the answer to the offer below (DESIGN.md,
        # "Destinations"); the action for them comes when the alumnus asks for help.
        _tell_leaders(
            ctx,
            f"lfw-said:{row.id}",
            f"{ctx.person.full_name}, a former pupil (left {_left(ctx)}), says they are looking for work. "
            "I've offered them help from the careers team; you'll hear again if they ask for it.",
        )
        ctx.goto(HELP)
        return [Reply(saved), _offer_help()]
    if new.group not in NO_DETAILS and _willing(ctx):
        ctx.goto(SECTOR)
        return [Reply(saved), _ask_sector()]
    return [Reply(saved, buttons=main_menu(ctx))]


def _willing(ctx: Context) -> bool:
    assert ctx.person is not None and ctx.person.id is not None
    said = consents.latest(ctx.session, ctx.person.id, ConsentKind.help_pupils)
    return bool(said and said.granted)


def _ask_sector() -> Reply:
    return Reply(
        "You said you'd help current pupils. Which sector is that in? It helps the school invite you "
        "to the right talks.",
        buttons=[*sector_buttons(SECTOR_PICK), [Button("Skip", SKIP)]],
    )


@ALUMNI.step(SECTOR)
def sector(ctx: Context) -> list[Reply]:
    assert ctx.person is not None and ctx.person.id is not None
    if ctx.button == SKIP:
        ctx.end()
        return [Reply("OK. Thank you!", buttons=main_menu(ctx))]
    key = answers.button_choice(ctx.button or "", SECTOR_PICK, BUTTON_LABELS)
    if key is None:
        return answers.again(ctx, answers.problem_with(ctx) or answers.TAP_ONE, _ask_sector())
    row = alumni.last_destination(ctx.session, ctx.person.id)
    ctx.end()
    if row is None:
        return _lost(ctx)
    row.sector = key
    ctx.session.add(row)
    return [Reply(f"Thank you! Saved: {BUTTON_LABELS[key]}.", buttons=main_menu(ctx))]


def _left(ctx: Context) -> str:
    assert ctx.person is not None
    return str(ctx.person.leaving_date or "?")


def _tell_leaders(ctx: Context, key: str, text: str, leaders: list[Person] | None = None) -> None:
    """A message to each careers leader of the alumnus's school, on every account they can be reached on."""
    assert ctx.person is not None
    for leader in leaders if leaders is not None else alumni.careers_leaders(ctx.session, ctx.person.school_id):
        assert leader.id is not None
        notify_person(ctx.session, key=f"{key}:{leader.id}", person_id=leader.id, text=text, now=ctx.now)


def _offer_help() -> Reply:
    return Reply(
        "Looking for work can be hard. Would you like the school's careers team to get in touch "
        "and help (CVs, apprenticeships, courses)?",
        buttons=[[Button("Yes please", YES), Button("No thanks", NO)]],
    )


@ALUMNI.step(HELP)
def help_wanted(ctx: Context) -> list[Reply]:
    assert ctx.person is not None and ctx.person.id is not None
    word = ctx.text.lower().strip(" .!")
    answer = (
        ctx.button if ctx.button in (YES, NO) else YES if word in {"yes", "y"} else NO if word in {"no", "n"} else None
    )
    if answer is None:
        return answers.again(ctx, answers.choice_problem(ctx, answers.YES_OR_NO), _offer_help())
    ctx.end()
    if answer == NO:
        return [Reply("OK. If you change your mind, send /destination again.", buttons=main_menu(ctx))]
    leaders = alumni.careers_leaders(ctx.session, ctx.person.school_id)
    action = alumni.add_leader_action(
        ctx.session,
        ctx.person.id,
        leaders[0].id if leaders else None,
        f"Get in touch with {ctx.person.full_name} (left {_left(ctx)}): looking for work and asked for help.",
        ctx.now,
    )
    _tell_leaders(
        ctx,
        f"lfw:{action.id}",
        f"{ctx.person.full_name}, a former pupil, is looking for work and asked the careers team to get in touch.",
        leaders,
    )
    return [Reply("Done: the careers team will get in touch with you here soon.", buttons=main_menu(ctx))]


def _ask_stop() -> Reply:
    return Reply(
        "Stop the yearly messages? You won't get any more check-ins from the school.",
        buttons=[[Button("Yes, stop them", YES), Button("No, keep them", NO)]],
    )


@ALUMNI.command("stop", summary="no more yearly messages", order=80, moves_to={STOP})
def stop(ctx: Context) -> list[Reply]:
    assert ctx.person is not None and ctx.person.id is not None
    latest = consents.latest(ctx.session, ctx.person.id, ConsentKind.yearly_checkin)
    if latest is not None and not latest.granted:
        return [
            Reply(
                "The yearly messages are already stopped: nothing more to do. If you change your mind, send /leaving.",
                buttons=main_menu(ctx),
            )
        ]
    ctx.goto(STOP)
    return [_ask_stop()]


@ALUMNI.step(STOP)
def stop_confirm(ctx: Context) -> list[Reply]:
    assert ctx.person is not None and ctx.person.id is not None
    word = ctx.text.lower().strip(" .!")
    answer = (
        ctx.button
        if ctx.button in (YES, NO)
        else YES
        if word in {"yes", "y", "stop"}
        else NO
        if word in {"no", "n"}
        else None
    )
    if answer is None:
        return answers.again(ctx, answers.choice_problem(ctx, answers.YES_OR_NO), _ask_stop())
    ctx.end()
    if answer == NO:
        return [Reply("OK, nothing changed: we'll still check in once a year.", buttons=main_menu(ctx))]
    consents.record(ctx.session, ctx.person.id, ConsentKind.yearly_checkin, False, ctx.now)
    checkins.stop(ctx.session, ctx.person.id)
    return [
        Reply(
            "Done: no more yearly messages. Thank you for staying in touch. If you change your mind, send /leaving.",
            buttons=main_menu(ctx),
        )
    ]
