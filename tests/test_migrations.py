from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlmodel import SQLModel, select

from storage.db import SQLITE_BUSY_TIMEOUT_MS, make_engine, transaction
from storage.migrate import alembic_config, current_revision, head_revision, upgrade
from storage.models import School, utcnow


def test_upgrade_empty_database_reaches_head_and_is_repeatable(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    upgrade(engine)  # a second `waymark init` changes nothing
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert {"person", "chatidentity", "enrolmentcode", "outboxmessage", "destination"} <= tables


def test_migrations_match_the_models(engine: Engine) -> None:
    """Alembic finds nothing to autogenerate: every model change came with its migration."""
    import storage.models  # noqa: F401  (registers the tables)

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'pragmas.db'}")
    try:
        for _ in range(2):  # every pooled connection, not just the first
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == SQLITE_BUSY_TIMEOUT_MS
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL
    finally:
        engine.dispose()


def test_upgrade_from_the_first_schema_keeps_schools_and_their_defaults(engine: Engine) -> None:
    """A database made by an older Waymark (revision 0001) with a school in it upgrades in place."""
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO school (name, skills, holidays, created_at) VALUES ('Old School', '', '', :at)"),
            {"at": utcnow()},
        )
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with transaction(engine) as session:
        school = session.exec(select(School)).one()
        assert (school.name, school.risk_weights) == ("Old School", "")
