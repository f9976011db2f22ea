"""Shared fixtures: a migrated database on SQLite and (when WAYMARK_TEST_PG_URL is set) PostgreSQL,
a dispatcher on a fixed clock, chats to talk through it, and a clean environment for every test."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from core import settings as core_settings
from handlers import Dispatcher
from storage import seed
from storage.db import make_engine, normalise_url
from storage.migrate import current_revision, head_revision, upgrade
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


_sqlite_template: list[Path] = []  # this process's migrated empty database, made once


def _migrated_sqlite_file() -> Path:
    """Migrating costs about 0.1 s a database (SQLite rebuilds tables for each ALTER); a copy of one
    migrated file costs a millisecond and is the same bytes, so every test still starts at head."""
    if not _sqlite_template:
        path = Path(tempfile.mkdtemp(prefix="waymark-template-")) / "template.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the main file
        engine.dispose()
        _sqlite_template.append(path)
    return _sqlite_template[0]


def sqlite_engine(path: Path) -> Engine:
    """A migrated SQLite database at `path` (private to its owner, like one `waymark init` makes);
    a database already there is opened, and brought to head, as it is."""
    if path.exists():
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        return engine
    shutil.copy2(_migrated_sqlite_file(), path)
    return make_engine(f"sqlite:///{path}")


def _schema_engine(schema: str) -> Engine:
    assert PG_URL
    sep = "&" if "?" in PG_URL else "?"
    return make_engine(f"{normalise_url(PG_URL)}{sep}options=-csearch_path%3D{schema}")


def pg_engine() -> tuple[Engine, str]:
    """A migrated engine in a schema of its own, so concurrent test runs never meet."""
    assert PG_URL
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    engine = _schema_engine(schema)
    upgrade(engine)
    return engine, schema


@dataclass
class _ReusedSchema:
    """One migrated PostgreSQL schema per test process, emptied between the tests that borrow it:
    migrating a schema costs about half a second, emptying it a few milliseconds. Tests in a process
    run one at a time, so no two ever share it at once."""

    name: str
    tables: frozenset[str]


_pg_reused: list[_ReusedSchema] = []


def _table_names(engine: Engine) -> frozenset[str]:
    return frozenset(inspect(engine).get_table_names())


def borrow_pg_schema() -> tuple[Engine, str]:
    if not _pg_reused:
        engine, schema = pg_engine()
        _pg_reused.append(_ReusedSchema(schema, _table_names(engine)))
        return engine, schema
    return _schema_engine(_pg_reused[0].name), _pg_reused[0].name


def return_pg_schema(engine: Engine) -> None:
    """Empty every table but Alembic's, or, if the test changed the schema itself or something still
    holds a lock on it, give it up (it is dropped) so the next test gets a freshly migrated one."""
    reused = _pg_reused[0]
    try:
        if current_revision(engine) != head_revision() or _table_names(engine) != reused.tables:
            raise RuntimeError("schema changed")
        names = ", ".join(f'"{t}"' for t in sorted(reused.tables - {"alembic_version"}))
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '5s'"))
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    except Exception:
        _pg_reused.clear()
        engine.dispose()
        drop_pg_schema(reused.name)
        return
    engine.dispose()


def drop_pg_schema(schema: str) -> None:
    assert PG_URL
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def _templates_go_at_the_end() -> Iterator[None]:
    yield
    if _pg_reused:
        drop_pg_schema(_pg_reused.pop().name)
    while _sqlite_template:
        shutil.rmtree(_sqlite_template.pop().parent, ignore_errors=True)


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
    eng, _ = borrow_pg_schema()
    yield eng
    return_pg_schema(eng)


@pytest.fixture
def sqlite_only(tmp_path: Path) -> Iterator[Engine]:
    eng = sqlite_engine(tmp_path / "waymark.db")
    yield eng
    eng.dispose()
