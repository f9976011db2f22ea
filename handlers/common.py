"""Commands everyone has: link, help, cancel, privacy, unlink."""

from __future__ import annotations

from sqlmodel import Session

from core import platforms
from core.messages import Reply
from core.retention import DEFAULTS, schedule_from_json
from handlers import discard, linking, texts
from handlers.access import is_leader, too_young_for
from handlers.concern_work import NO_DSL_FOR_LEADER
from handlers.context import Context
from handlers.flow import KeepsWork
from handlers.menus import commands_for, main_menu
from handlers.registry import command
from storage import audit, codes, concerns, identities, schools
from storage.models import Person, Role, School

HIDDEN_CODE = "/start \u2022\u2022\u2022\u2022\u2022-\u2022\u2022\u2022\u2022\u2022"


@command("start", roles={"anyone"}, summary="link this chat with your enrolment code", aliases=("link",))
def start(ctx: Context) -> list[Reply]:
    if ctx.person is not None:
        if ctx.args:
            return [Reply(texts.ALREADY_LINKED.format(name=ctx.person.known_as), buttons=main_menu(ctx))]
        return [Reply(f"Hello again, {ctx.person.known_as}! What would you like to do?", buttons=main_menu(ctx))]
    if not ctx.args:
        return [Reply(texts.START_WITHOUT_CODE)]
    ctx.shown_input = HIDDEN_CODE  # a transcript never keeps a code, used or not
    return _redeem(ctx, ctx.args)


def _redeem(ctx: Context, code: str) -> list[Reply]:
    platform, key = ctx.incoming.platform, ctx.incoming.user_id
    if identities.locked_until(ctx.session, platform, key, ctx.now):
        return [Reply(texts.LOCKED_OUT)]
    row = codes.find_valid(ctx.session, code, now=ctx.now, secret=ctx.settings.code_secret)
    person = ctx.session.get(Person, row.person_id) if row else None
    if row is None or person is None:
        locked = identities.record_wrong_code(ctx.session, platform, key, ctx.now)
        return [Reply(texts.LOCKED_OUT if locked else texts.WRONG_CODE)]
    min_age = ctx.settings.min_age(platform)
    if too_young_for(person, min_age, ctx.now.date()):
        # The code is left unused: it still works on the web chat.
        return [
            Reply(
                texts.TOO_YOUNG.format(
                    name=person.known_as,
                    platform=platforms.label(platform),
                    age=min_age,
                    url=ctx.settings.public_url,
                )
            )
        ]
    if not codes.claim(ctx.session, row, now=ctx.now):
        # Someone else redeemed this code a moment ago: the same refusal as any used code.
        locked = identities.record_wrong_code(ctx.session, platform, key, ctx.now)
        return [Reply(texts.LOCKED_OUT if locked else texts.WRONG_CODE)]
    identities.clear_wrong_codes(ctx.session, platform, key)
    identities.link(ctx.session, person, platform, key, ctx.incoming.chat_id, ctx.now)
    ctx.person = person
    privacy = notice_for(person, ctx.session)
    greeting = f"Welcome to Waymark, {person.known_as}! You're linked now."
    return [Reply(greeting), Reply(privacy), Reply(_what_you_can_do(ctx), buttons=main_menu(ctx))]


def _what_you_can_do(ctx: Context) -> str:
    lines = ["Here's what you can do (tap a button, or type the command):"]
    lines += [f"/{c.name} - {c.summary}" for c in commands_for(ctx.roles) if c.name not in {"start"}]
    return "\n".join(lines)


@command("help", roles={"anyone"}, summary="what I can do here", menu_label="Help", order=900)
def help_(ctx: Context) -> list[Reply]:
    if ctx.person is None:
        return [Reply(texts.START_WITHOUT_CODE + "\n\n/privacy - who can read what you write here")]
    suffix = (
        "\n\nYou're in the middle of something: answer the last question, or send /cancel to stop it."
        if ctx.state
        else ""
    )
    return [Reply(_what_you_can_do(ctx) + _no_dsl(ctx) + suffix, buttons=main_menu(ctx))]


def _no_dsl(ctx: Context) -> str:
    """A careers leader is told plainly when nobody at the school would be alerted to a disclosure."""
    if ctx.person is None or not is_leader(ctx.person) or concerns.dsls(ctx.session, ctx.person.school_id):
        return ""
    return "\n\n" + NO_DSL_FOR_LEADER


@command("cancel", roles={"anyone"}, summary="stop what you're doing", order=910)
def cancel(ctx: Context) -> list[Reply]:
    if ctx.discarding:  # /cancel again at "Discard this log?": that is a yes
        return discard.discarded(ctx)
    if discard.worth_asking(ctx):
        return discard.ask(ctx)
    had_step = bool(ctx.state)
    kept = isinstance(ctx.draft, KeepsWork) and ctx.draft.kept()
    ctx.end()
    said = texts.CANCELLED_KEPT if kept else texts.CANCELLED if had_step else texts.NOTHING_TO_CANCEL
    return [Reply(said, buttons=main_menu(ctx))]


@command("privacy", roles={"anyone"}, summary="who can read what you write here", order=920)
def privacy(ctx: Context) -> list[Reply]:
    return [Reply(notice_for(ctx.person, ctx.session))]


def notice_for(person: Person | None, session: Session) -> str:
    """The privacy notice for this person: an alumnus's speaks of the careers team, not tutors;
    how long things are kept is their school's retention schedule."""
    if person is not None and person.role == Role.staff:
        return texts.PRIVACY_STAFF
    notice = texts.PRIVACY_ALUMNI if person is not None and person.role == Role.alumnus else texts.PRIVACY
    school = session.get(School, person.school_id) if person is not None else None
    return with_schedule(notice, school)


def with_schedule(notice: str, school: School | None) -> str:
    """The notice with how long things are kept at this school (`waymark school retention`); the
    documented defaults when no school is known or it kept them."""
    if school is None or not school.retention:
        return notice
    return notice.replace(texts.keeping(DEFAULTS), texts.keeping(schedule_from_json(school.retention)))


def web_privacy(session: Session, person_id: int | None) -> tuple[str | None, str]:
    """The web /privacy page's school name and notice for pupils: the signed-in reader's school,
    else the one school this server holds; a trust's server with several schools, to a reader not
    signed in, can only quote the defaults (each school's own is in its pupils' /privacy)."""
    person = session.get(Person, person_id) if person_id is not None else None
    school = session.get(School, person.school_id) if person is not None else schools.only_school(session)
    return (school.name if school else None), with_schedule(texts.PRIVACY, school)


@command("unlink", roles={"anyone"}, summary="disconnect this chat account from you", order=930)
def unlink(ctx: Context) -> list[Reply]:
    if ctx.person is None:
        return [Reply(texts.NOT_LINKED_UNLINK)]
    account = identities.find(ctx.session, ctx.incoming.platform, ctx.incoming.user_id)
    linking.unlink(ctx.session, [account] if account else [], ctx.now)
    audit.record(
        ctx.session,
        school_id=ctx.person.school_id,
        actor_id=ctx.person.id,
        action=audit.UNLINK,
        subject_id=ctx.person.id,
        now=ctx.now,
        detail=ctx.incoming.platform,
    )
    ctx.person = None
    ctx.end()
    return [Reply(texts.UNLINKED)]
