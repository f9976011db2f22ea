"""/refine (careers leader): make a former pupil's NCCIS code precise, e.g. 680 to 640 (illness).

Like /report, every choice is a command with arguments (`/refine #12 1`, `/refine #12 1 640`),
carried by buttons from the former pupil's record (/pupil), so there is no state to lose and a
forged button meets the same checks: the careers leader, a private linked chat, a former pupil
of their own school, and a code of the same kind as the one recorded (storage.refine).
"""

from __future__ import annotations

from core.messages import Button, Reply
from core.numbers import whole_number
from handlers import access
from handlers.context import Context
from handlers.menus import main_menu
from handlers.registry import command
from storage import refine as refining
from storage.destinations import CODE_LABELS, by_code
from storage.models import Person, Role

NOT_FOR_YOU = "Refining destination codes is for the careers leader. Send /help to see what you can do here."
HOW = "Open a former pupil's record with /pupil NAME and tap a Refine button."
NOBODY = "I can't find that former pupil. " + HOW


def refine_buttons(person_id: int, year: int, current: int) -> list[list[Button]]:
    """One button per finer code of the recorded one's kind (none when it has no finer codes)."""
    category = by_code(current)
    codes = [c for c in (category.refinable if category else ()) if c != current]
    label = category.label.lower() if category else ""
    return [[Button(f"{c}: {CODE_LABELS.get(c, label)}", f"/refine #{person_id} {year} {c}")] for c in codes]


@command("refine", roles={"leader"}, summary="make a former pupil's destination code precise (from /pupil)")
def refine(ctx: Context) -> list[Reply]:
    if not access.is_leader(ctx.person) or not access.private_and_linked(ctx.person, ctx.incoming.chat_type):
        return [Reply(NOT_FOR_YOU)]
    assert ctx.person is not None
    words = ctx.args.replace("#", " ").split()
    numbers = [whole_number(w, low=1, high=10**9) for w in words[:3]]
    if len(words) < 2 or None in numbers:
        return [Reply(HOW, buttons=main_menu(ctx))]
    person_id, year = numbers[0], numbers[1]
    assert person_id is not None and year is not None
    former = ctx.session.get(Person, person_id)
    if former is None or former.school_id != ctx.person.school_id or former.role != Role.alumnus:
        return [Reply(NOBODY, buttons=main_menu(ctx))]
    if len(numbers) < 3:
        current = refining.latest_for_year(ctx.session, person_id, year)
        buttons = refine_buttons(person_id, year, current.nccis_code) if current else []
        if current is None or not buttons:
            return [Reply(f"Year {year} after leaving has no code to refine.", buttons=main_menu(ctx))]
        return [
            Reply(
                f"{former.full_name}, year {year} after leaving: NCCIS {current.nccis_code}. Which is it?",
                buttons=buttons,
            )
        ]
    code = numbers[2]
    assert code is not None
    done = refining.refine(ctx.session, former, year, code, now=ctx.now, actor_id=ctx.person.id)
    if isinstance(done, refining.Refused):
        return [Reply(f"Not changed: {done.reason}", buttons=main_menu(ctx))]
    meaning = CODE_LABELS.get(code, "")
    return [
        Reply(
            f"Saved: {former.full_name}, year {year} after leaving, is now NCCIS {code}"
            + (f" ({meaning})" if meaning else "")
            + ". Their own answer is kept.",
            buttons=main_menu(ctx),
        )
    ]
