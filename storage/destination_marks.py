"""Which destination counts: the `latest` and `held` marks, kept whenever a destination is written.

An alumnus may have several destinations for one year after leaving: their own answer, a staff
refinement, a local authority's report. The one that counts is the most recently reported (then the
highest id). A report of a million rows that worked that out at read time ranked or probed every
row of the year for every breakdown (issue 15); instead every write marks the row that counts
(`latest`) and whether it is "sustained" (`held`: in a positive group, the same group as the row
that counts for the year before), in the same transaction, and reports read `WHERE latest`.

Every writer goes through a session (an alumnus's answer, `destination refine`, the local
authority import, the demo and seeds, tests), so one session hook marks them all: after each flush
that touched a destination, the alumnus's rows are marked again from scratch (a handful of rows).
Erasure deletes every row of the person, which leaves nothing to mark. Bulk loads that bypass the
session (the report benchmark) and the migration that added the marks call `mark_all`. The partial
index `ix_destination_latest` holds the rows that count, with what reports read of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Any

from sqlalchemy import Connection, Table, and_, event, exists, false, or_, select, true, update
from sqlalchemy.orm import Session

from storage.destinations import POSITIVE_GROUPS
from storage.models import Destination, Person

# Core statements: the hook runs inside a flush, where an ORM statement would try to flush again.
_TABLE: Table = Destination.__table__  # type: ignore[attr-defined]
_PERSON: Table = Person.__table__  # type: ignore[attr-defined]
_TOUCHED = "destination_marks_touched"  # session.info key: alumni whose destinations this flush wrote
CHUNK = 500  # ids per IN list: well under SQLite's and PostgreSQL's parameter limits


@dataclass(frozen=True)
class Reported:
    """One destination row, as far as the marks care."""

    id: int
    year_after_leaving: int
    group: str
    reported_at: datetime


def marks(rows: Iterable[Reported]) -> tuple[frozenset[int], frozenset[int]]:
    """One alumnus's rows: the ids that count (one per year), and of those the ones sustained."""
    latest: dict[int, Reported] = {}
    for row in rows:
        best = latest.get(row.year_after_leaving)
        if best is None or (row.reported_at, row.id) > (best.reported_at, best.id):
            latest[row.year_after_leaving] = row
    held = frozenset(
        row.id
        for year, row in latest.items()
        if year >= 2
        and row.group in POSITIVE_GROUPS
        and (before := latest.get(year - 1)) is not None
        and before.group == row.group
    )
    return frozenset(r.id for r in latest.values()), held


def mark_people(connection: Connection, person_ids: Sequence[int]) -> None:
    """Mark again every destination of these alumni (each alumnus's few rows, read and decided here)."""
    for start in range(0, len(person_ids), CHUNK):
        chunk = list(person_ids[start : start + CHUNK])
        # Two writers for one alumnus at once (an answer while staff refine) queue here on
        # PostgreSQL, so neither marks from rows the other has not committed. SQLite has one writer.
        connection.execute(select(_PERSON.c.id).where(_PERSON.c.id.in_(chunk)).with_for_update())
        connection.execute(
            update(_TABLE)
            .where(_TABLE.c.person_id.in_(chunk), or_(_TABLE.c.latest, _TABLE.c.held))
            .values(latest=False, held=False)
        )
        found: list[Any] = connection.execute(
            select(
                _TABLE.c.person_id, _TABLE.c.id, _TABLE.c.year_after_leaving, _TABLE.c.group, _TABLE.c.reported_at
            ).where(_TABLE.c.person_id.in_(chunk))
        ).all()  # type: ignore[assignment]
        per_person: dict[int, list[Reported]] = defaultdict(list)
        for person_id, row_id, year, group, reported_at in found:
            per_person[person_id].append(Reported(row_id, year, group, reported_at))
        latest: set[int] = set()
        held: set[int] = set()
        for rows in per_person.values():
            now, kept = marks(rows)
            latest |= now
            held |= kept
        for ids, values in ((latest, {"latest": True}), (held, {"held": True})):
            ordered = sorted(ids)
            for at in range(0, len(ordered), CHUNK):
                connection.execute(update(_TABLE).where(_TABLE.c.id.in_(ordered[at : at + CHUNK])).values(**values))


def mark_all(connection: Connection) -> None:
    """Mark every destination in the database in three statements (the migration, bulk loads).

    The same rule as `marks`, set-based: a row counts when no row of the same alumnus and year was
    reported later (or at the same time with a higher id); tests hold the two in agreement."""
    later = _TABLE.alias("later")
    before = _TABLE.alias("before")
    newer = exists().where(
        later.c.person_id == _TABLE.c.person_id,
        later.c.year_after_leaving == _TABLE.c.year_after_leaving,
        or_(
            later.c.reported_at > _TABLE.c.reported_at,
            and_(later.c.reported_at == _TABLE.c.reported_at, later.c.id > _TABLE.c.id),
        ),
    )
    same_before = exists().where(
        before.c.person_id == _TABLE.c.person_id,
        before.c.year_after_leaving == _TABLE.c.year_after_leaving - 1,
        before.c.latest == true(),
        before.c.group == _TABLE.c.group,
    )
    connection.execute(update(_TABLE).where(or_(_TABLE.c.latest, _TABLE.c.held)).values(latest=false(), held=false()))
    connection.execute(update(_TABLE).where(~newer).values(latest=true()))
    connection.execute(
        update(_TABLE)
        .where(
            _TABLE.c.latest == true(),
            _TABLE.c.year_after_leaving >= 2,
            _TABLE.c.group.in_(POSITIVE_GROUPS),
            same_before,
        )
        .values(held=true())
    )


@event.listens_for(Session, "after_flush")
def _note_touched(session: Session, _context: Any) -> None:
    touched: set[int] = session.info.setdefault(_TOUCHED, set())
    for obj in chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, Destination):
            person_id = vars(obj).get("person_id")  # never a load in the middle of a flush
            if person_id is not None:
                touched.add(person_id)


@event.listens_for(Session, "after_flush_postexec")
def _mark_touched(session: Session, _context: Any) -> None:
    touched: set[int] | None = session.info.pop(_TOUCHED, None)
    if not touched:
        return
    mark_people(session.connection(), sorted(touched))
    # The rows in this session now hold stale marks: read them again when asked.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Destination) and vars(obj).get("person_id") in touched:
            session.expire(obj, ["latest", "held"])
