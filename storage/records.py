"""A pupil's (or alumnus's) own record, as they may see it: pages of items newest first, and their actions.

Advice is read column by column without `staff_note`, so a staff-only note can never reach this view,
not even encrypted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import literal_column, union_all
from sqlmodel import Session, col, func, select

from storage.models import AdviceRecord, AgreedAction, Destination, JournalEntry, Person

PAGE_SIZE = 5


@dataclass(frozen=True)
class ActionView:
    id: int
    text: str
    due_date: date | None
    status: str  # open | done
    done_at: datetime | None
    created_at: datetime
    school_to_do: bool  # a member of staff owns it; the pupil cannot tick it off


@dataclass(frozen=True)
class AdviceView:
    id: int
    kind: str
    summary: str
    staff_name: str
    created_at: datetime
    actions: list[ActionView] = field(default_factory=list)


@dataclass(frozen=True)
class RecordItem:
    kind: str  # journal | advice | action | destination
    at: datetime
    journal: JournalEntry | None = None
    advice: AdviceView | None = None
    action: ActionView | None = None
    destination: Destination | None = None


@dataclass(frozen=True)
class RecordPage:
    items: list[RecordItem]
    page: int  # 0 is the newest
    pages: int
    total: int

    @property
    def has_older(self) -> bool:
        return self.page + 1 < self.pages

    @property
    def has_newer(self) -> bool:
        return self.page > 0


def _timeline(person_id: int):  # type: ignore[no-untyped-def]
    """Every item of a person's record as (kind, id, at); actions from an advice record travel with it."""
    return union_all(
        select(
            literal_column("'journal'").label("kind"),
            col(JournalEntry.id).label("id"),
            col(JournalEntry.created_at).label("at"),
        ).where(JournalEntry.person_id == person_id),
        select(literal_column("'advice'"), col(AdviceRecord.id), col(AdviceRecord.created_at)).where(
            AdviceRecord.pupil_id == person_id
        ),
        select(literal_column("'action'"), col(AgreedAction.id), col(AgreedAction.created_at)).where(
            AgreedAction.pupil_id == person_id, col(AgreedAction.advice_id).is_(None)
        ),
        select(literal_column("'destination'"), col(Destination.id), col(Destination.reported_at)).where(
            Destination.person_id == person_id
        ),
    ).subquery("timeline")


def _action_view(row: AgreedAction) -> ActionView:
    assert row.id is not None
    return ActionView(
        id=row.id,
        text=row.text,
        due_date=row.due_date,
        status=row.status,
        done_at=row.done_at,
        created_at=row.created_at,
        school_to_do=row.owner_id is not None,
    )


def record_page(session: Session, person_id: int, page: int, per_page: int = PAGE_SIZE) -> RecordPage:
    """One page of the record, newest first; a page past the end shows the oldest page."""
    timeline = _timeline(person_id)
    total = session.exec(select(func.count()).select_from(timeline)).one()
    pages = max(1, -(-total // per_page))
    page = min(max(page, 0), pages - 1)
    keys = session.exec(
        select(timeline.c.kind, timeline.c.id, timeline.c.at)
        .order_by(timeline.c.at.desc(), timeline.c.kind, timeline.c.id.desc())
        .limit(per_page)
        .offset(page * per_page)
    ).all()
    ids: dict[str, list[int]] = {"journal": [], "advice": [], "action": [], "destination": []}
    for kind, item_id, _at in keys:
        ids[kind].append(item_id)

    journals = {
        e.id: e for e in session.exec(select(JournalEntry).where(col(JournalEntry.id).in_(ids["journal"]))).all()
    }
    advice = _advice_views(session, person_id, ids["advice"])
    actions = {
        a.id: _action_view(a)
        for a in session.exec(
            select(AgreedAction).where(col(AgreedAction.id).in_(ids["action"]), AgreedAction.pupil_id == person_id)
        ).all()
    }
    destinations = {
        d.id: d for d in session.exec(select(Destination).where(col(Destination.id).in_(ids["destination"]))).all()
    }

    items: list[RecordItem] = []
    for kind, item_id, _at in keys:
        if kind == "journal" and item_id in journals:
            entry = journals[item_id]
            items.append(RecordItem("journal", entry.created_at, journal=entry))
        elif kind == "advice" and item_id in advice:
            view = advice[item_id]
            items.append(RecordItem("advice", view.created_at, advice=view))
        elif kind == "action" and item_id in actions:
            action = actions[item_id]
            items.append(RecordItem("action", action.created_at, action=action))
        elif kind == "destination" and item_id in destinations:
            dest = destinations[item_id]
            items.append(RecordItem("destination", dest.reported_at, destination=dest))
    return RecordPage(items=items, page=page, pages=pages, total=total)


def _advice_views(session: Session, pupil_id: int, advice_ids: list[int]) -> dict[int, AdviceView]:
    if not advice_ids:
        return {}
    mine = (col(AdviceRecord.id).in_(advice_ids), AdviceRecord.pupil_id == pupil_id)
    # Named columns, never the whole row: staff_note stays in the database.
    rows = session.exec(
        select(AdviceRecord.id, AdviceRecord.kind, AdviceRecord.summary, AdviceRecord.created_at).where(*mine)
    ).all()
    staff_names = {
        advice_id: f"{given} {family}"
        for advice_id, given, family in session.exec(
            select(AdviceRecord.id, Person.given_name, Person.family_name)
            .join(Person, col(Person.id) == AdviceRecord.staff_id)
            .where(*mine)
        ).all()
    }
    actions: dict[int, list[ActionView]] = {}
    for action in session.exec(
        select(AgreedAction)
        .where(col(AgreedAction.advice_id).in_(advice_ids), AgreedAction.pupil_id == pupil_id)
        .order_by(col(AgreedAction.id))
    ).all():
        assert action.advice_id is not None
        actions.setdefault(action.advice_id, []).append(_action_view(action))
    views: dict[int, AdviceView] = {}
    for advice_id, kind, summary, created_at in rows:
        assert advice_id is not None
        views[advice_id] = AdviceView(
            id=advice_id,
            kind=kind,
            summary=summary,
            staff_name=staff_names.get(advice_id, "a member of staff"),
            created_at=created_at,
            actions=actions.get(advice_id, []),
        )
    return views


def open_actions(session: Session, pupil_id: int) -> list[ActionView]:
    """A pupil's open agreed actions, soonest due first (no due date last)."""
    rows = session.exec(
        select(AgreedAction)
        .where(AgreedAction.pupil_id == pupil_id, AgreedAction.status == "open")
        .order_by(col(AgreedAction.due_date).is_(None), col(AgreedAction.due_date), col(AgreedAction.id))
    ).all()
    return [_action_view(a) for a in rows]


def mark_action_done(session: Session, pupil_id: int, action_id: int, now: datetime) -> ActionView | None:
    """Tick off the pupil's own open action; None when it is not theirs, not open, or owned by staff."""
    return _set_done(session, pupil_id, action_id, now)


def undo_action_done(session: Session, pupil_id: int, action_id: int) -> ActionView | None:
    """Open again the pupil's own action they ticked off (a tap by mistake); None when it is not theirs or not done."""
    return _set_done(session, pupil_id, action_id, None)


def _set_done(session: Session, pupil_id: int, action_id: int, now: datetime | None) -> ActionView | None:
    """Done at `now`, or open again when `now` is None; only the pupil's own action, never one staff own."""
    row = session.exec(
        select(AgreedAction).where(
            AgreedAction.id == action_id,
            AgreedAction.pupil_id == pupil_id,
            AgreedAction.status == ("open" if now is not None else "done"),
            col(AgreedAction.owner_id).is_(None),
        )
    ).first()
    if row is None:
        return None
    row.status = "done" if now is not None else "open"
    row.done_at = now
    session.add(row)
    return _action_view(row)
