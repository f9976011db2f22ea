"""The database goes away under a running server, as it does to a careless administrator: a
PostgreSQL database dropped and re-created, a disk that fills up. Each gives one clear log line and
an answer in words (never a traceback), and the same process works again once the database is back,
without a restart."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, make_url, text

from bot.http import BOUND_PORTS, start_http
from core.settings import load_settings
from handlers import Dispatcher
from storage.db import make_engine, normalise_url
from storage.migrate import upgrade
from tests.conftest import PG_SKIP_REASON, PG_URL
from tests.test_web import pupil_with_code
from tests.web_client import Browser, hidden


@asynccontextmanager
async def browser_on(engine: Engine) -> AsyncIterator[Browser]:
    settings = load_settings(
        database_url="sqlite://", http_host="127.0.0.1", http_port=0, public_url="http://127.0.0.1"
    )
    stop, app = await start_http(settings, Dispatcher(engine, settings))

    class Site:
        base = f"http://127.0.0.1:{app[BOUND_PORTS][0]}"

    b = Browser(Site())
    try:
        yield b
    finally:
        await b.close()
        await stop()


async def refused_in_one_line(b: Browser, csrf: str, code: str, caplog: pytest.LogCaptureFixture, problem: str) -> None:
    """A sign-in (from a page opened before) while the database is away: a 503 in words, and exactly
    one log line naming the problem."""
    caplog.clear()
    async with b.http.post("/signin", data={"code": code, "csrf": csrf}) as r:
        assert r.status == 503 and "try again in a minute" in await r.text()
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(errors) == 1, [e.getMessage() for e in errors]
    assert problem in errors[0].getMessage()
    assert "Traceback" not in caplog.text and code not in caplog.text


def _admin() -> Engine:
    assert PG_URL
    return make_engine(PG_URL).execution_options(isolation_level="AUTOCOMMIT")


@pytest.fixture
def own_pg_database() -> Iterator[tuple[Engine, str]]:
    """A PostgreSQL database of this test's own (it is dropped: a schema would not do)."""
    if not PG_URL:
        pytest.skip(PG_SKIP_REASON)
    name = f"waymark_drop_{uuid.uuid4().hex[:10]}"
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(normalise_url(PG_URL)).set(database=name).render_as_string(hide_password=False))
    upgrade(engine)
    try:
        yield engine, name
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


async def test_a_dropped_and_recreated_postgresql_database(
    own_pg_database: tuple[Engine, str], caplog: pytest.LogCaptureFixture
) -> None:
    engine, name = own_pg_database
    _, code = pupil_with_code(engine)
    async with browser_on(engine) as b:
        _, html = await b.page("/signin")  # and the database's connections are in the pool
        admin = _admin()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await refused_in_one_line(b, hidden(html, "csrf"), code, caplog, f'database "{name}" does not exist')
        with admin.connect() as conn:  # the administrator re-creates it and restores the schema
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        upgrade(engine)
        _, fresh_code = pupil_with_code(engine)
        assert (await b.sign_in(fresh_code)).status == 303  # the same process: no restart


async def test_a_full_disk(sqlite_only: Engine, caplog: pytest.LogCaptureFixture) -> None:
    """SQLite's `max_page_count` caps the file at its size, as a full disk would; a scratch table
    then takes the last free pages, so the next write that needs a page (a long message) fails as
    on a full disk."""
    _, code = pupil_with_code(sqlite_only)
    full = [False]

    def maybe_full(dbapi_connection: Any, _record: Any) -> None:
        if full[0]:
            pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(sqlite_only, "connect", maybe_full)
    long_message = "é" * 3000  # 6 KB: more than a page, so it needs new ones
    async with browser_on(sqlite_only) as b:
        assert (await b.sign_in(code)).status == 303
        _, html = await b.page("/chat")
        with sqlite_only.connect() as conn:
            conn.execute(text("CREATE TABLE scratch (filler BLOB)"))
            conn.commit()
        full[0] = True
        sqlite_only.dispose()
        with sqlite_only.connect() as conn:
            with pytest.raises(Exception, match="full"):
                while True:
                    conn.execute(text("INSERT INTO scratch VALUES (randomblob(2000))"))
                    conn.commit()
            conn.rollback()
        caplog.clear()
        form = {"csrf": hidden(html, "csrf"), "mid": hidden(html, "mid"), "text": long_message}
        async with b.http.post("/send", data=form) as r:
            page = await r.text()
            # Not saved, not shown as sent: the words go back into the box, with what went wrong.
            assert r.status == 200 and f">{long_message}</textarea>" in page and page.count(long_message) == 1
        errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
        assert [e.getMessage() for e in errors] == ["database unavailable for web: database or disk is full"]
        assert "Traceback" not in caplog.text and "é" * 20 not in caplog.text
        full[0] = False
        sqlite_only.dispose()  # room again (an administrator cleared the disk): no restart
        async with b.http.post("/send", data=form) as r:  # sent again, with the same message id
            assert r.status == 200 and long_message in await r.text()
