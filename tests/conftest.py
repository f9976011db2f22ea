"""Shared fixtures: a migrated database on SQLite and (when WAYMARK_TEST_PG_URL is set) PostgreSQL,
a dispatcher on a fixed clock, chats to talk through it, and a clean environment for every test."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from core import settings as core_settings
from handlers import Dispatcher
from storage import seed
from storage.db import make_engine, normalise_url
from storage.migrate import upgrade
from storage.models import Person
from tests.chat import Chat, Clock

pytest_plugins = ("pytester",)  # tests/test_settings.py runs a test session inside a test

PG_URL = os.environ.get("WAYMARK_TEST_PG_URL")
PG_SKIP_REASON = "WAYMARK_TEST_PG_URL is not set: PostgreSQL cases skipped"

# Test servers live on loopback; no proxy may sit between a client and them.
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
for _proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_proxy, None)
os.environ.setdefault("PTB_TIMEDELTA", "1")

# What a developer's shell or `.env` may set that would change what a test sees.
FOREIGN_PREFIXES = ("WAYMARK_", "TELEGRAM_", "SLACK_")
KEPT = {"WAYMARK_TEST_PG_URL", "WAYMARK_TEST_EXAMPLES"}


def _foreign(name: str) -> bool:
    return name.startswith(FOREIGN_PREFIXES) and name not in KEPT


# Gone for the whole session, and before any test module is imported: some build their settings
# at import time.
for _name in [n for n in os.environ if _foreign(n)]:
    del os.environ[_name]


@pytest.hookimpl(hookwrapper=True)
def pytest_collection(session: pytest.Session) -> Iterator[None]:
    """Test modules are imported in an empty directory too, so settings built at import never
    read a `.env` from where pytest was started."""
    started_in = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="waymark-collect-") as empty:
        os.chdir(empty)
        try:
            yield
        finally:
            os.chdir(started_in)


@pytest.fixture(autouse=True)
def only_what_the_test_sets(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Every test runs in an empty working directory (no `.env` is read) with none of the
    developer's Waymark, Telegram or Slack variables, and with no settings cached from before."""
    for name in [n for n in os.environ if _foreign(n)]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    core_settings.get_settings.cache_clear()
    yield
    core_settings.get_settings.cache_clear()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dispatcher(engine: Engine, clock: Clock) -> Dispatcher:
    """The conversation engine over the test's database, on the test's clock, with default settings."""
    return Dispatcher(engine, core_settings.load_settings(database_url="sqlite://"), clock=clock)


MakeChat = Callable[..., Chat]


@pytest.fixture
def chat(engine: Engine, dispatcher: Dispatcher) -> MakeChat:
    """`chat(user_id, person=None, platform="console")`: a chat account, linked to `person` if given."""

    def make(user_id: str, person: Person | None = None, platform: str = "console") -> Chat:
        if person is not None:
            seed.link(engine, person, platform, user_id)
        return Chat(dispatcher, user_id, platform)

    return make


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
