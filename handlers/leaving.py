"""/leaving: a leaver says whether the school may message them once a year, where, and whether
they would help current pupils later; /leavers: the careers leader sees who has not answered.

Asked once, in the summer term of the final year (scheduler.campaign.run_leaver_invitations sends
the invitation); an alumnus can send /leaving again to change their answer. See leaving.mmd.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.calendar import unanswered_window
from core.messages import Button, Reply
from core.platforms import Platform, choice_labels
from handlers import answers
from handlers.access import too_young_for
from handlers.context import Context
from handlers.flow import Flow
from handlers.menus import main_menu
from handlers.registry import command
from storage import alumni, codes, consents, identities, leavers
from storage.consents import ConsentKind
from storage.models import Role

YES, NO = answers.YES, answers.NO
CHANNEL = "ch:"  # + platform, or "telegram-new" for a code to link Telegram now
EMAIL_RE = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]{2,}$")
PLATFORM_LABELS = choice_labels()
YES_WORDS = {"yes", "y", "yeah", "yep", "ok", "okay", "sure"}
NO_WORDS = {"no", "n", "nope", "no thanks"}


def _yes_no(ctx: Context) -> str | None:
    if ctx.button in (YES, NO):
        return ctx.button
    word = ctx.text.lower().strip(" .!")
    return YES if word in YES_WORDS else NO if word in NO_WORDS else None


def _is_leaver(ctx: Context) -> bool:
    person = ctx.person
    return person is not None and (
        person.role == Role.alumnus or (person.role == Role.pupil and person.leaving_date is not None)
    )


@dataclass
class LeavingDraft:
    yearly: bool = False  # said yes to the yearly message


LEAVING = Flow(
    "leaving",
    roles={"pupil", "alumnus"},
    draft=LeavingDraft,
    refusal="That question is only for leavers, so I've stopped it.",
    admits=_is_leaver,
)
YEARLY = LEAVING.state("yearly")
CHANNEL_STEP = LEAVING.state("channel")
EMAIL = LEAVING.state("email")
HELP = LEAVING.state("help")


def _ask_yearly(ctx: Context) -> Reply:
    assert ctx.school is not None
    years = ctx.settings.campaign_years
    return Reply(
        f"Once a year, for {years} years after you leave, may {ctx.school.name} send you one short message "
        "asking where you are now (college, job, apprenticeship...)? It helps the school help pupils who "
        "come after you. You can say stop at any time.",
        buttons=[[Button("Yes, that's fine", YES), Button("No thanks", NO)]],
    )


@LEAVING.command("leaving", summary="staying in touch after you leave school", order=60, moves_to={YEARLY})
def leaving(ctx: Context) -> list[Reply]:
    if not _is_leaver(ctx):
        return [
            Reply(
                "This is for pupils who are about to leave school. The careers team will ask you "
                "in the summer term of your last year.",
                buttons=main_menu(ctx),
            )
        ]
    ctx.goto(YEARLY)
    return [_ask_yearly(ctx)]


@LEAVING.step(YEARLY, moves_to={HELP, CHANNEL_STEP})
def yearly(ctx: Context) -> list[Reply]:
    answer = _yes_no(ctx)
    if answer is None:
        return answers.again(ctx, answers.choice_problem(ctx, answers.YES_OR_NO), _ask_yearly(ctx))
    if answer == NO:
        assert ctx.person is not None and ctx.person.id is not None
        consents.record(ctx.session, ctx.person.id, ConsentKind.yearly_checkin, False, ctx.now)
        ctx.goto(HELP)
        LEAVING.draft(ctx).yearly = False
        return [Reply("That's fine: we won't send you yearly messages."), _ask_help()]
    ctx.goto(CHANNEL_STEP)
    return [_ask_channel(ctx)]


def _channel_buttons(ctx: Context) -> list[Button]:
    assert ctx.person is not None and ctx.person.id is not None
    linked = [i.platform for i in identities.identities_of(ctx.session, ctx.person.id) if i.unreachable_at is None]
    buttons = [Button(PLATFORM_LABELS[p], f"{CHANNEL}{p}") for p in dict.fromkeys(linked) if p in PLATFORM_LABELS]
    if Platform.telegram.value not in linked and not too_young_for(
        ctx.person, ctx.settings.min_age(Platform.telegram), ctx.now.date()
    ):
        buttons.append(Button("Telegram (link it now)", f"{CHANNEL}telegram-new"))
    buttons.append(Button("Email", f"{CHANNEL}email"))
    return buttons


def _ask_channel(ctx: Context) -> Reply:
    return Reply(
        "Thank you! Where should that message go? (The web chat only works while you visit it, "
        "so for the web we send an email with a link.)",
        buttons=answers.rows(_channel_buttons(ctx)),
    )


@LEAVING.step(CHANNEL_STEP, moves_to={EMAIL, HELP})
def channel(ctx: Context) -> list[Reply]:
    assert ctx.person is not None and ctx.person.id is not None
    offered = {b.data for b in _channel_buttons(ctx)}
    if ctx.button not in offered:  # re-checked: forged data cannot pick an account that isn't theirs
        return answers.again(ctx, answers.choice_problem(ctx), _ask_channel(ctx))
    choice = (ctx.button or "").removeprefix(CHANNEL)
    if choice == "email":
        ctx.goto(EMAIL)
        return [_ask_email()]
    lead = ""
    if choice == "telegram-new":
        issued = codes.issue(ctx.session, ctx.person, days=30, now=ctx.now, secret=ctx.settings.code_secret)
        username = ctx.settings.telegram_bot_username
        where = f"https://t.me/{username}?start={issued.code}" if username else "the school's Telegram bot"
        lead = f"To link Telegram, open {where} and send: /start {issued.code}\nThe code works once, for 30 days. "
        choice = Platform.telegram.value
    consents.record(ctx.session, ctx.person.id, ConsentKind.yearly_checkin, True, ctx.now, channel=choice)
    ctx.goto(HELP)
    LEAVING.draft(ctx).yearly = True
    # A new code in it: the web chat's transcript keeps this line only encrypted.
    return [Reply(f"{lead}Got it: {PLATFORM_LABELS.get(choice, choice)}.", sealed=bool(lead)), _ask_help()]


def _ask_email() -> Reply:
    return Reply("Which email address should we use? Type it here (e.g. sam@example.com).")


@LEAVING.step(EMAIL, moves_to={HELP})
def email(ctx: Context) -> list[Reply]:
    assert ctx.person is not None and ctx.person.id is not None
    problem = answers.problem_with(ctx, limit=254)
    if problem:
        return answers.again(ctx, problem, _ask_email())
    address = ctx.text.strip().lower()
    if not EMAIL_RE.match(address):
        return answers.again(ctx, "That doesn't look like an email address.", _ask_email())
    if alumni.email_in_use(ctx.session, ctx.person.school_id, address, ctx.person.id):
        return answers.again(ctx, "I can't use that address. Please give a different one.", _ask_email())
    ctx.person.email = address
    ctx.person.updated_at = ctx.now
    ctx.session.add(ctx.person)
    consents.record(ctx.session, ctx.person.id, ConsentKind.yearly_checkin, True, ctx.now, channel="email")
    ctx.goto(HELP)
    LEAVING.draft(ctx).yearly = True
    return [Reply(f"Got it: {address}."), _ask_help()]


def _ask_help() -> Reply:
    return Reply(
        "One more: later on, would you be willing to help current pupils, for example a short talk "
        "about what you do, or mentoring?",
        buttons=[[Button("Yes, happy to", YES), Button("No thanks", NO)]],
    )


@LEAVING.step(HELP)
def help_pupils(ctx: Context) -> list[Reply]:
    assert ctx.person is not None and ctx.person.id is not None
    answer = _yes_no(ctx)
    if answer is None:
        return answers.again(ctx, answers.choice_problem(ctx, answers.YES_OR_NO), _ask_help())
    consents.record(ctx.session, ctx.person.id, ConsentKind.help_pupils, answer == YES, ctx.now)
    yearly_yes = LEAVING.draft(ctx).yearly
    ctx.end()
    parts = ["Thank you, that's saved."]
    if yearly_yes:
        parts.append("We'll be in touch once a year. Send /stop at any time if you'd rather we didn't.")
    if answer == YES:
        parts.append("The careers team may contact you about helping pupils.")
    parts.append("You can change your answers with /leaving. Good luck!")
    return [Reply(" ".join(parts), buttons=main_menu(ctx))]


@command("leavers", roles={"leader"}, summary="leavers who haven't answered about staying in touch", order=75)
def leavers_list(ctx: Context) -> list[Reply]:
    assert ctx.person is not None
    first, last = unanswered_window(ctx.now.astimezone(ctx.settings.zone).date())
    people = leavers.unanswered(ctx.session, ctx.person.school_id, first, last)
    if not people:
        return [Reply("Every leaver has answered the staying-in-touch question.", buttons=main_menu(ctx))]
    linked = leavers.with_chat_account(ctx.session, [p.id for p in people if p.id is not None])
    lines = [f"Leavers who haven't answered about staying in touch ({len(people)}):"]
    for person in people[:50]:
        note = "" if person.id in linked else " - no chat linked: ask in person"
        left = f"{person.leaving_date:%d %b %Y}" if person.leaving_date else "?"
        lines.append(f"- {person.full_name} ({person.form or 'no form'}), leaving {left}{note}")
    if len(people) > 50:
        lines.append(f"...and {len(people) - 50} more.")
    lines.append("They're asked automatically; they can also answer with /leaving.")
    return [Reply("\n".join(lines), buttons=main_menu(ctx))]
