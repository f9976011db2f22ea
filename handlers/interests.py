"""/interests: the careers and sectors a pupil is considering, shown and changed at any time."""

from __future__ import annotations

from core.messages import Button, Reply
from handlers import answers
from handlers.context import Context
from handlers.flow import Flow, NoDraft
from handlers.menus import main_menu
from reports.sectors import BUTTON_LABELS, SECTORS, picked
from storage import journal

INTERESTS = Flow("interests", roles={"pupil"}, draft=NoDraft, refusal=answers.NOT_A_PUPIL)
EDIT = INTERESTS.state("edit")

KEEP = "int:keep"
CLEAR = "int:clear"
SECTOR = "int:sec:"  # + a sector key: picks it, or unpicks it when already picked
LIMIT = 1000


@INTERESTS.command(
    "interests",
    summary="careers and sectors you're thinking about",
    menu_label="Interests",
    order=50,
    moves_to={EDIT},
)
def interests(ctx: Context) -> list[Reply]:
    assert ctx.person is not None
    if ctx.args:
        if len(ctx.args) > LIMIT:
            return [Reply(f"That's {len(ctx.args):,} characters; please keep your interests under {LIMIT:,}.")]
        journal.set_interests(ctx.session, ctx.person, ctx.args, ctx.now)
        return [Reply(f"Saved. Your interests: {ctx.args}", buttons=main_menu(ctx))]
    ctx.goto(EDIT)
    return [_ask(ctx)]


def sector_buttons(prefix: str, chosen: tuple[str, ...] | list[str] = ()) -> list[list[Button]]:
    """Our sectors as buttons two to a row, data `prefix + key`, a tick on those already chosen."""
    buttons = [Button(("✓ " if s.key in chosen else "") + BUTTON_LABELS[s.key], prefix + s.key) for s in SECTORS]
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def _ask(ctx: Context) -> Reply:
    assert ctx.person is not None
    current = ctx.person.interests
    chosen = picked(ctx.person.interest_sectors)
    sectors = (
        "Sectors you picked: " + ", ".join(BUTTON_LABELS[k] for k in chosen) + ". Tap one again to remove it."
        if chosen
        else "Or tap the sectors that interest you (tap again to remove)."
    )
    if current:
        text = (
            f"Your interests now: {current}\n\n"
            "To change them, type the careers and sectors you're considering, separated by commas "
            '(for example: "nursing, game design, construction"). This replaces the list.'
        )
        buttons = [[Button("Keep as they are", KEEP), Button("Clear them", CLEAR)]]
    elif chosen:
        text = (
            'You can also type careers you\'re considering, separated by commas (for example: "nursing, game design").'
        )
        buttons = [[Button("Done", KEEP), Button("Clear them", CLEAR)]]
    else:
        text = (
            "You haven't told me your interests yet. Type the careers and sectors you're considering, "
            'separated by commas (for example: "nursing, game design, construction").'
        )
        buttons = [[Button("Not sure yet", KEEP)]]
    return Reply(f"{text}\n\n{sectors}", buttons=sector_buttons(SECTOR, chosen) + buttons)


@INTERESTS.step(EDIT)
def edit(ctx: Context) -> list[Reply]:
    assert ctx.person is not None
    if ctx.button == KEEP:
        ctx.end()
        return [
            Reply("OK, they stay as they are. Come back with /interests whenever you like.", buttons=main_menu(ctx))
        ]
    key = answers.button_choice(ctx.button or "", SECTOR, BUTTON_LABELS)
    if key is not None:
        chosen = picked(ctx.person.interest_sectors)
        journal.set_interest_sectors(
            ctx.session, ctx.person, [k for k in chosen if k != key] if key in chosen else [*chosen, key], ctx.now
        )
        return [_ask(ctx)]  # still choosing: the buttons show what is picked now
    if ctx.button == CLEAR:
        journal.set_interests(ctx.session, ctx.person, "", ctx.now)
        journal.set_interest_sectors(ctx.session, ctx.person, [], ctx.now)
        ctx.end()
        return [Reply("Cleared. Add new ones any time with /interests.", buttons=main_menu(ctx))]
    problem = answers.problem_with(ctx, limit=LIMIT)
    if problem:
        return answers.again(ctx, problem, _ask(ctx))
    value = answers.typed(ctx)
    journal.set_interests(ctx.session, ctx.person, value, ctx.now)
    ctx.end()
    return [Reply(f"Saved. Your interests: {value}", buttons=main_menu(ctx))]
