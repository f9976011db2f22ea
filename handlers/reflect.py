"""/reflect: a journal entry saved as soon as it is typed, with skills and what next as follow-ups.

    /reflect -> what I did (saved) -> skills, each added at once -> Done -> what I learned / next, or Skip

The entry is saved by the message that says what the pupil did (or by `/reflect TEXT`), so walking
away after it loses nothing; skills and "what next" are added to that saved entry. See reflect.mmd.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.messages import Button, Reply
from core.numbers import whole_number
from handlers import answers
from handlers.context import Context
from handlers.flow import Flow
from handlers.menus import main_menu
from storage import journal


@dataclass
class ReflectDraft:
    what: str = ""
    skills: list[str] = field(default_factory=list)
    entry_id: int | None = None  # the saved entry the follow-ups add to

    def kept(self) -> bool:
        """Whether stopping now keeps something: the entry is saved once its text is typed."""
        return self.entry_id is not None


REFLECT = Flow("reflect", roles={"pupil"}, draft=ReflectDraft, refusal=answers.NOT_A_PUPIL)
WHAT = REFLECT.state("what")
SKILLS = REFLECT.state("skills")
LEARNED = REFLECT.state("learned")
OFFER = REFLECT.state("offer")

SKILL = "sk:"  # + index into the school's framework
DONE = "sk:done"
SKIP = "learned:skip"
DONE_WORDS = {"done", "finished", "next", "none", "no"}
OFFER_SAVE = "offer:save"
OFFER_SKILLS = "offer:skills"  # from an older version's offer: the same as Save it
OFFER_NO = "offer:no"
OFFER_MIN_WORDS = 4  # "hi" or "thanks" is not a journal entry


@REFLECT.command(
    "reflect", summary="write in your skills journal", menu_label="Reflect", order=10, moves_to={WHAT, SKILLS}
)
def reflect(ctx: Context) -> list[Reply]:
    if ctx.args:
        return _save_and_follow_up(ctx, ctx.args)
    ctx.goto(WHAT)
    return [_ask_what()]


def _ask_what() -> Reply:
    return Reply(
        'What did you do? For example: "Helped run the Year 7 science club". '
        "Type it in your own words (or send /cancel to stop)."
    )


@REFLECT.step(WHAT, moves_to={SKILLS})
def what(ctx: Context) -> list[Reply]:
    problem = answers.problem_with(ctx)
    if problem:
        return answers.again(ctx, problem, _ask_what())
    return _save_and_follow_up(ctx, answers.typed(ctx))


def _save_and_follow_up(ctx: Context, text: str) -> list[Reply]:
    """The entry is saved now; skills and what next are offered to add to it."""
    assert ctx.person is not None and ctx.person.id is not None
    entry_id = journal.add_reflection(ctx.session, ctx.person.id, text, ctx.now)
    ctx.goto(SKILLS)
    draft = REFLECT.draft(ctx)
    draft.what, draft.skills, draft.entry_id = text, [], entry_id
    return [_ask_skills(ctx, f"Saved to your journal: {answers.preview(text)}")]


def _entry_id(ctx: Context) -> int:
    """The saved entry; a conversation from before entries were saved at once saves it now."""
    assert ctx.person is not None and ctx.person.id is not None
    draft = REFLECT.draft(ctx)
    if draft.entry_id is None:
        draft.entry_id = journal.add_reflection(ctx.session, ctx.person.id, draft.what, ctx.now, skills=draft.skills)
    return draft.entry_id


def _ask_skills(ctx: Context, lead: str = "") -> Reply:
    framework = journal.skills_framework(ctx.school)
    chosen = REFLECT.draft(ctx).skills
    buttons = [Button(("✓ " if name in chosen else "") + name, f"{SKILL}{i}") for i, name in enumerate(framework)]
    rows = answers.rows(buttons)
    rows.append([Button("Done", DONE)])
    picked = f"Picked so far: {', '.join(chosen)}." if chosen else "None picked yet."
    text = (
        "Which skills did you use? Tap any that fit (tap again to take one off), or type their names. "
        f"Then tap Done.\n{picked}"
    )
    return Reply(f"{lead}\n\n{text}" if lead else text, buttons=rows)


def match_skills(typed: str, framework: list[str]) -> tuple[list[str], list[str]]:
    """Typed skill names (comma or line separated, any case) -> (known names, unknown pieces)."""
    by_key = {answers.folded(name): name for name in framework}
    known: list[str] = []
    unknown: list[str] = []
    for piece in typed.replace("\n", ",").split(","):
        piece = piece.strip()
        if not piece:
            continue
        name = by_key.get(answers.folded(piece))
        if name is None:
            unknown.append(piece)
        elif name not in known:
            known.append(name)
    return known, unknown


@REFLECT.step(SKILLS, moves_to={LEARNED, OFFER})
def skills(ctx: Context) -> list[Reply]:
    assert ctx.person is not None and ctx.person.id is not None
    framework = journal.skills_framework(ctx.school)
    draft = REFLECT.draft(ctx)
    chosen = [s for s in draft.skills if s in framework]
    button = ctx.button
    if button == DONE or (button is None and ctx.text.casefold() in DONE_WORDS):
        draft.skills = chosen
        _keep_skills(ctx, chosen)
        ctx.goto(LEARNED)
        return [_ask_learned(ctx)]
    if button is not None:
        index = whole_number(button.removeprefix(SKILL), high=len(framework) - 1)
        if not button.startswith(SKILL) or index is None:
            return answers.again(ctx, answers.STRAY_BUTTON, _ask_skills(ctx))
        name = framework[index]
        draft.skills = [s for s in chosen if s != name] if name in chosen else [*chosen, name]
        _keep_skills(ctx, draft.skills)
        return [_ask_skills(ctx)]
    if not ctx.text:
        return answers.again(ctx, answers.EMPTY, _ask_skills(ctx))
    known, unknown = match_skills(ctx.text, framework)
    if not known and len(ctx.text.split()) >= OFFER_MIN_WORDS:
        # Not skill names but something new to say: the follow-ups end (the entry is kept) and it is
        # offered as an entry of its own, as any text outside a conversation is.
        ctx.end()
        return offer(ctx)
    draft.skills = chosen + [name for name in known if name not in chosen]
    _keep_skills(ctx, draft.skills)
    if unknown:
        lead = (
            f"I don't have a skill called {', '.join(repr(u[:60]) for u in unknown[:3])}. "
            f"The skills are: {', '.join(framework)}."
        )
        return answers.again(ctx, lead, _ask_skills(ctx))
    return [_ask_skills(ctx, f"Added {', '.join(known)}.")]


def _keep_skills(ctx: Context, chosen: list[str]) -> None:
    assert ctx.person is not None and ctx.person.id is not None
    journal.update_reflection(ctx.session, ctx.person.id, _entry_id(ctx), skills=chosen)


def _ask_learned(ctx: Context) -> Reply:
    chosen = REFLECT.draft(ctx).skills
    saved = f"Saved, with {', '.join(chosen)}." if chosen else "Saved."
    return Reply(
        f"{saved} What did you learn, or what will you do next? If you like, type it; or tap Skip.",
        buttons=[[Button("Skip", SKIP)]],
    )


@REFLECT.step(LEARNED)
def learned(ctx: Context) -> list[Reply]:
    problem = answers.skippable_problem(ctx, SKIP)
    if problem:
        return answers.again(ctx, problem, _ask_learned(ctx))
    assert ctx.person is not None and ctx.person.id is not None
    text = answers.typed_or_skipped(ctx, SKIP)
    journal.update_reflection(ctx.session, ctx.person.id, _entry_id(ctx), learned=text)
    return _finished(ctx, text)


def _finished(ctx: Context, learned_text: str) -> list[Reply]:
    draft = REFLECT.draft(ctx)
    what_text, chosen = draft.what, draft.skills
    ctx.end()
    return [Reply(_saved_text(what_text, chosen, learned_text), buttons=main_menu(ctx))]


def _saved_text(what_text: str, chosen: list[str], learned_text: str) -> str:
    lines = ["Saved to your journal:", answers.preview(what_text)]
    if chosen:
        lines.append(f"Skills: {', '.join(chosen)}")
    if learned_text:
        lines.append(f"Learned / next: {answers.preview(learned_text)}")
    lines.append("You can read your journal any time with /record.")
    return "\n".join(lines)


@REFLECT.on_idle_text(moves_to={OFFER})
def offer(ctx: Context) -> list[Reply]:
    """A pupil typed something outside any conversation: offer to keep it as a journal entry."""
    if len(ctx.text.split()) < OFFER_MIN_WORDS:
        return []  # the engine answers with the menu
    ctx.goto(OFFER)
    REFLECT.draft(ctx).what = answers.typed(ctx)
    return [_ask_offer(ctx)]


def _ask_offer(ctx: Context, lead: str = "") -> Reply:
    text = f"Save this as a journal entry?\n{answers.preview(REFLECT.draft(ctx).what)}"
    buttons = [[Button("Save it", OFFER_SAVE), Button("No thanks", OFFER_NO)]]
    return Reply(f"{lead}\n\n{text}" if lead else text, buttons=buttons)


@REFLECT.step(OFFER, moves_to={SKILLS})
def offered(ctx: Context) -> list[Reply]:
    draft = REFLECT.draft(ctx)
    what_text = draft.what
    if ctx.button in (OFFER_SAVE, OFFER_SKILLS):
        return _save_and_follow_up(ctx, what_text)
    if ctx.button == OFFER_NO:
        ctx.end()
        return [Reply("OK, I haven't saved it. What would you like to do?", buttons=main_menu(ctx))]
    if ctx.button is not None:
        return answers.again(ctx, answers.STRAY_BUTTON, _ask_offer(ctx))
    if not ctx.text:
        return answers.again(ctx, answers.EMPTY, _ask_offer(ctx))
    # More typed text before answering: it joins the same entry rather than being dropped.
    joined = f"{what_text}\n{answers.typed(ctx)}"
    if len(joined) > 4000:
        problem = "That would make the entry too long to keep as one. Tap Save it first."
        return answers.again(ctx, problem, _ask_offer(ctx))
    draft.what = joined
    return [_ask_offer(ctx, "Added that to the same entry.")]
