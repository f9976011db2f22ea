"""/pupil NAME: one pupil's whole record for staff who may see them (a DSL: any pupil), staff-only notes included.

Every view is written to the audit log in the same transaction as the read. A pupil outside the
caseload gets exactly the answer a name that matches nobody gets.
"""

from __future__ import annotations

from core.messages import Button, Reply, sealed
from handlers import access, answers, pupils
from handlers.concern import PICK as RAISE_CONCERN
from handlers.context import Context
from handlers.encounter import ENCOUNTER_TYPES
from handlers.flow import Flow, NoDraft
from handlers.log_advice import FOR_PUPIL, KINDS
from handlers.refine import refine_buttons
from storage import advice, alumni, audit, crypto
from storage import refine as refining
from storage.caseload import CaseloadRow
from storage.models import JournalEntry, Person, Role

ASK = "Which pupil? Type part of their name or their form (e.g. 10A)."
CHUNK = 3500  # Telegram allows 4096 characters a message; leave room for the adapter
OPEN = "/pupil #"  # + pupil id: a button is the command itself, so it needs no state

PUPIL = Flow("pupil", roles={"tutor", "leader", "dsl"}, draft=NoDraft)  # a DSL may open any pupil
FIND = PUPIL.state("find")


@PUPIL.command("pupil", summary="one pupil's whole record", menu_label="Find pupil", order=220, moves_to={FIND})
def pupil_command(ctx: Context) -> list[Reply]:
    query = ctx.args.strip()
    if not query:
        ctx.goto(FIND)
        return [Reply(ASK)]
    if query.startswith("#"):
        pupil = pupils.allowed_pupil(ctx, query[1:], access.may_view_record)
        if pupil is None:
            return [Reply(pupils.NOT_AVAILABLE)]
        return show_record(ctx, pupil)
    return _search(ctx, query)


def _search(ctx: Context, query: str) -> list[Reply]:
    everyone = access.sees_every_pupil(ctx.person) or access.is_dsl(ctx.person)
    alumni = access.sees_every_pupil(ctx.person)  # the careers leader finds former pupils too
    text, buttons = pupils.search(ctx, query, OPEN, everyone=everyone, alumni=alumni)
    if not buttons:
        ctx.goto(FIND)
    return [Reply(text, buttons=buttons)]


@PUPIL.step(FIND)
def find(ctx: Context) -> list[Reply]:
    problem = answers.problem_with(ctx)
    if problem:
        return answers.again(ctx, problem, Reply(ASK))
    ctx.end()
    return _search(ctx, ctx.text)


def _note_text(ctx: Context, token: bytes) -> str:
    try:
        return crypto.decrypt(ctx.settings.keyring, token)
    except crypto.NoKeyError:
        return "(a staff-only note is kept, but it can't be read: WAYMARK_ENCRYPTION_KEY is not set)"
    except crypto.UnreadableNoteError:
        return "(a staff-only note is kept, but it can't be read with the current encryption key)"


def show_record(ctx: Context, pupil: Person) -> list[Reply]:
    assert ctx.person is not None and pupil.id is not None
    audit.record(
        ctx.session,
        school_id=pupil.school_id,
        actor_id=ctx.person.id,
        action=audit.VIEW_PUPIL,
        subject_id=pupil.id,
        now=ctx.now,
        detail=ctx.incoming.platform,
    )
    on = pupils.today(ctx)
    year_start = pupils.year_start_at(ctx)
    records = advice.records_for(ctx.session, pupil.id)
    actions = advice.actions_for(ctx.session, pupil.id)
    overdue = sum(1 for a in actions if a.status == "open" and a.due_date is not None and a.due_date < on)
    row = CaseloadRow(
        pupil,
        records[0].created_at if records else None,
        sum(1 for a in actions if a.status == "open"),
        overdue,
    )
    risk = pupils.risk_for(row, on, year_start, pupils.school_weights(ctx))
    show_notes = access.may_see_staff_notes(ctx.person, pupil, pupils.assigned(ctx), ctx.incoming.chat_type)

    former = pupil.role == Role.alumnus
    lines = [pupils.label(pupil) if former else f"{pupils.label(pupil)}, Year {pupil.year_group or '?'}"]
    for dest in alumni.destinations_of(ctx.session, pupil.id) if former else []:
        details = ", ".join(part for part in (dest.provider, dest.course) if part)
        lines.append(
            f"Year {dest.year_after_leaving} after leaving: {dest.category}" + (f" ({details})" if details else "")
        )
    flags = pupils.flags_for(pupil, risk)
    lines.append("Flags: " + ("; ".join(flags) if flags else "none"))
    lines.append(f"Intended next step: {pupil.next_step or 'not recorded yet'}")
    if pupil.interests:
        lines.append(f"Interests: {pupil.interests}")
    for app in advice.applications_for(ctx.session, pupil.id):
        lines.append(f"Applied: {app.provider} {app.course} ({app.status})".replace("  ", " "))

    lines.append("\nAgreed actions:" if actions else "\nAgreed actions: none yet")
    for a in actions:
        if a.status == "open":
            due = f", due {pupils.short_date(a.due_date, ctx)}" if a.due_date else ""
            late = " OVERDUE" if a.due_date is not None and a.due_date < on else ""
            lines.append(f"- {a.text} (open{due}){late}")
        else:
            lines.append(f"- {a.text} (done {pupils.short_date(a.done_at, ctx)})")

    lines.append("\nAdvice conversations:" if records else "\nAdvice conversations: none yet")
    notes_shown = False
    for r in records:
        lines.append(f"- {pupils.short_date(r.created_at, ctx)}, {KINDS.get(r.kind, r.kind)}: {r.summary}")
        if r.staff_note is not None and show_notes:
            lines.append(f"  Staff only: {_note_text(ctx, r.staff_note)}")
            notes_shown = True

    journal = advice.journal_for(ctx.session, pupil.id)
    lines.append("\nLatest journal entries:" if journal else "\nJournal: nothing yet")
    for j in journal:
        lines += _journal_lines(ctx, j)

    buttons: list[list[Button]] = []
    if access.may_log_advice(ctx.person, pupil, pupils.assigned(ctx), ctx.incoming.chat_type):  # not a DSL alone
        buttons.append([Button(f"Log advice for {pupil.given_name}", f"{FOR_PUPIL}{pupil.id}")])  # /log checks again
    if pupil.role == Role.pupil:
        buttons.append([Button("Raise a concern", f"{RAISE_CONCERN}{pupil.id}")])  # /concern checks the school again
    if former and access.is_leader(ctx.person):
        for year, code in _latest_codes(ctx, pupil.id):
            if refine_buttons(pupil.id, year, code):
                buttons.append([Button(f"Refine year {year} code ({code})", f"/refine #{pupil.id} {year}")])
    if ctx.roles & {"tutor", "leader"}:  # the way back to the list they most likely came from
        buttons.append([Button("\u2190 My caseload", "/caseload")])
    shown = chunks("\n".join(lines), buttons)
    # With staff-only notes in it, the web chat's transcript keeps the record only encrypted.
    return sealed(shown) if notes_shown else shown


def _latest_codes(ctx: Context, person_id: int) -> list[tuple[int, int]]:
    """(year after leaving, the code that counts for it: the most recently reported row of that year)."""
    years = sorted({d.year_after_leaving for d in alumni.destinations_of(ctx.session, person_id)})
    latest = [(y, refining.latest_for_year(ctx.session, person_id, y)) for y in years]
    return [(y, row.nccis_code) for y, row in latest if row is not None]


def _journal_lines(ctx: Context, entry: JournalEntry) -> list[str]:
    """One journal entry as the pupil wrote it: an encounter's kind and who with; a reflection's
    skills and what they learned or will do next."""
    when = pupils.short_date(entry.created_at, ctx)
    if entry.kind == "encounter":
        kind = ENCOUNTER_TYPES.get(entry.encounter_type or "", "Encounter")
        with_whom = f" with {entry.encounter_with}" if entry.encounter_with else ""
        return [f"- {when}, {kind}{with_whom}: {entry.text}"]
    skills = f" [{entry.skills.replace(',', ', ')}]" if entry.skills else ""
    lines = [f"- {when}: {entry.text}{skills}"]
    if entry.learned:
        lines.append(f"  Learned / next: {entry.learned}")
    return lines


def chunks(text: str, buttons: list[list[Button]]) -> list[Reply]:
    """Split a long record at line ends into messages a phone (and Telegram) takes; buttons on the last."""
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > CHUNK:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:CHUNK])
            line = line[CHUNK:]
        if current and len(current) + 1 + len(line) > CHUNK:
            parts.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        parts.append(current)
    replies = [Reply(part) for part in parts]
    replies[-1].buttons = buttons
    return replies
