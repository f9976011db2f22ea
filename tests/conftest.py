"""Shared fixtures: a migrated database on SQLite and (when WAYMARK_TEST_PG_URL is set) PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from storage.db import make_engine, normalise_url
from storage.migrate import upgrade

PG_URL = os.environ.get("WAYMARK_TEST_PG_URL")
PG_SKIP_REASON = "WAYMARK_TEST_PG_URL is not set: PostgreSQL cases skipped"

# Test servers live on loopback; no proxy may sit between a client and them.
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
for _proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_proxy, None)
os.environ.setdefault("PTB_TIMEDELTA", "1")


def sqlite_engine(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    return engine


def pg_engine() -> tuple[Engine, str]:
    """A migrated engine in a schema of its own, so concurrent test runs never meet."""
    assert PG_URL
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in PG_URL else "?"
    engine = make_engine(f"{normalise_url(PG_URL)}{sep}options=-csearch_path%3D{schema}")
    upgrade(engine)
    return engine, schema


def drop_pg_schema(schema: str) -> None:
    assert PG_URL
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A freshly migrated database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        eng = sqlite_engine(tmp_path / "waymark.db")
        yield eng
        eng.dispose()
        return
    if not PG_URL:
        pytest.skip(PG_SKIP_REASON)
    eng, schema = pg_engine()
    yield eng
    eng.dispose()
    drop_pg_schema(schema)


@pytest.fixture
def sqlite_only(tmp_path: Path) -> Iterator[Engine]:
    eng = sqlite_engine(tmp_path / "waymark.db")
    yield eng
    eng.dispose()
