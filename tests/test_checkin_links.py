"""One-time alumni links: a link is used up by exactly one request, even when two race."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import Engine

from storage import checkin_links, seed
from storage.db import is_postgres, transaction
from storage.models import Person, Role


def _alumnus_token(engine: Engine, now: datetime) -> str:
    school = seed.school(engine)
    with transaction(engine) as s:
        person = Person(school_id=school.id, role=Role.alumnus, status="left", given_name="Kai", family_name="Lee")
        s.add(person)
        s.flush()
        return checkin_links.issue_link(s, person, now)


def test_a_link_read_before_another_request_used_it_cannot_be_claimed_again(engine: Engine) -> None:
    now = datetime.now(UTC)
    token = _alumnus_token(engine, now)
    with transaction(engine, write=False) as s:
        found = checkin_links.find_valid(s, token, now)
    assert found is not None
    stale_link = found[0]
    with transaction(engine) as s:
        first = checkin_links.find_valid(s, token, now)
        assert first is not None
        assert checkin_links.claim(s, first[0], now)
    with transaction(engine) as s:  # the slower request still holds the row it read as unused
        assert not checkin_links.claim(s, stale_link, now)
    with transaction(engine, write=False) as s:
        assert checkin_links.find_valid(s, token, now) is None


def test_two_simultaneous_presses_sign_in_once(engine: Engine) -> None:
    now = datetime.now(UTC)
    token = _alumnus_token(engine, now)
    # On PostgreSQL both requests read the link as unused before either writes; SQLite lets one
    # writer in at a time, so there the second simply finds it used.
    both_read = threading.Barrier(2, timeout=10) if is_postgres(engine) else None
    won: list[bool] = []

    def press() -> None:
        with transaction(engine) as s:
            found = checkin_links.find_valid(s, token, now)
            if both_read is not None:
                both_read.wait()
            won.append(found is not None and checkin_links.claim(s, found[0], now))

    threads = [threading.Thread(target=press) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert sorted(won) == [False, True]
