"""Alumni: "Where are you now?" (/destination, also the yearly check-in's button) and /stop.

The yearly message's buttons send /destination and /stop, so a check-in needs no state of its own
and survives restarts. An answer is saved as a `Destination` for the year after leaving, with the
NCCIS code, and marks this year's check-in answered (which ends its reminders). See alumni.mmd.
"""

from __future__ import annotations

from core.calendar import latest_campaign_year, years_after_leaving
from core.messages import Button, Reply
from handlers import answers
from handlers.context import Context
from handlers.menus import main_menu
from handlers.registry import command, state
from storage import alumni, checkins, consents, destinations
from storage.alumni import NewDestination
from storage.consents import ConsentKind
from storage.models import Destination, Person, Role
from storage.outbox import notify_person

PICK = "dest:"  # + category key
SAME = "dest:same"
SKIP = "skip"
YES, NO = "yes", "no"
LOOKING_FOR_WORK = 619
NO_DETAILS = {"NEET", "not known"}  # nothing to ask about a provider or a course


def _is_alumnus(ctx: Context) -> bool:
    return ctx.person is not None and ctx.person.role == Role.alumnus


def _refuse(ctx: Context) -> list[Reply]:
    ctx.end()
    return [Reply("That's only for former pupils, so I've stopped it.", buttons=main_menu(ctx))]


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
    last = alumni.last_destination(ctx.session, ctx.person.id, before_year=ctx.data.get("year"))
    if last is not None:
        text = f"Last time you told us: {_describe(last)}.\n\n{text}"
        rows.insert(0, [Button("Same as last year", SAME)])
    return Reply(text, buttons=rows)


@command(
    "destination", roles={"alumnus"}, summary="tell the school where you are now", menu_label="Where I am now", order=20
)
def destination(ctx: Context) -> list[Reply]:
    ctx.goto("alumni.where", year=_year_after_leaving(ctx))
    return [_ask_where(ctx)]


def _category(ctx: Context) -> destinations.Category | None:
    if ctx.button is not None:
        key = ctx.button.removeprefix(PICK) if ctx.button.startswith(PICK) else None
        return destinations.by_key(key) if key else None
    typed = ctx.text.lower()
    return next((c for c in destinations.CATEGORIES if c.label.lower() == typed), None)


@state("alumni.where")
def where(ctx: Context) -> list[Reply]:
    if not _is_alumnus(ctx):
        return _refuse(ctx)
    assert ctx.person is not None and ctx.person.id is not None
    year = int(ctx.data.get("year") or 1)
    if ctx.button == SAME:
        last = alumni.last_destination(ctx.session, ctx.person.id, before_year=year)
        if last is None:
            return answers.again("There's no earlier answer to copy.", _ask_where(ctx))
        new = NewDestination(year, last.category, last.nccis_code, last.group, last.provider, last.course)
        return _save(ctx, new)
    chosen = _category(ctx)
    if chosen is None:
        return answers.again("Please tap one of the buttons.", _ask_where(ctx))
    if chosen.group in NO_DETAILS:
        return _save(ctx, NewDestination(year, chosen.label, chosen.code, chosen.group))
    ctx.goto("alumni.provider", key=chosen.key)
    return [_ask_provider(chosen)]


def _ask_provider(chosen: destinations.Category) -> Reply:
    return Reply(
        f"{chosen.label}: where? Type the name of the school, college, university or employer.",
        buttons=[[Button("Skip", SKIP)]],
    )


def _ask_course() -> Reply:
    return Reply(
        'And the course or job? For example "A levels", "Nursing" or "Trainee electrician".',
        buttons=[[Button("Skip", SKIP)]],
    )


def _lost(ctx: Context) -> list[Reply]:
    """The chosen destination is gone from the state (an older version's key): start again."""
    ctx.end()
    return [Reply("Sorry, I lost track of that. Please start again with /destination.")]


@state("alumni.provider")
def provider(ctx: Context) -> list[Reply]:
    if not _is_alumnus(ctx):
        return _refuse(ctx)
    chosen = destinations.by_key(str(ctx.data.get("key")))
    if chosen is None:
        return _lost(ctx)
    problem = answers.skippable_problem(ctx, SKIP, answers.SHORT_FIELD)
    if problem:
        return answers.again(problem, _ask_provider(chosen))
    ctx.goto("alumni.course", provider=answers.typed_or_skipped(ctx, SKIP).strip())
    return [_ask_course()]


@state("alumni.course")
def course(ctx: Context) -> list[Reply]:
    if not _is_alumnus(ctx):
        return _refuse(ctx)
    chosen = destinations.by_key(str(ctx.data.get("key")))
    if chosen is None:
        return _lost(ctx)
    problem = answers.skippable_problem(ctx, SKIP, answers.SHORT_FIELD)
    if problem:
        return answers.again(problem, _ask_course())
    text = answers.typed_or_skipped(ctx, SKIP).strip()
    year = int(ctx.data.get("year") or 1)
    new = NewDestination(year, chosen.label, chosen.code, chosen.group, str(ctx.data.get("provider", "")), text)
    return _save(ctx, new)


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
        ctx.goto("alumni.help")
        return [Reply(saved), _offer_help()]
    return [Reply(saved, buttons=main_menu(ctx))]


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


@state("alumni.help")
def help_wanted(ctx: Context) -> list[Reply]:
    if not _is_alumnus(ctx):
        return _refuse(ctx)
    assert ctx.person is not None and ctx.person.id is not None
    word = ctx.text.lower().strip(" .!")
    answer = (
        ctx.button if ctx.button in (YES, NO) else YES if word in {"yes", "y"} else NO if word in {"no", "n"} else None
    )
    if answer is None:
        return answers.again("Please tap Yes or No.", _offer_help())
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


@command("stop", roles={"alumnus"}, summary="no more yearly messages", order=80)
def stop(ctx: Context) -> list[Reply]:
    ctx.goto("alumni.stop")
    return [_ask_stop()]


@state("alumni.stop")
def stop_confirm(ctx: Context) -> list[Reply]:
    if not _is_alumnus(ctx):
        return _refuse(ctx)
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
        return answers.again("Please tap Yes or No.", _ask_stop())
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
