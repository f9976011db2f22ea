"""Create or upgrade a database to the newest schema with Alembic (`waymark init`).

Every command opens the database through `upgrade` (any command may be the first). Alembic itself
takes about half a second of CPU to import and to read the migration scripts, so `upgrade` first
asks the database for its revision with one plain SELECT and stops there when it is already the
newest: only a database that needs migrating pays for Alembic.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps
# Scripts are named NNNN_words.py and each says `revision: str = "NNNN"`, revising the one before.
_SCRIPT = re.compile(r"^(\d{4})_\w+\.py$")
_REVISION = re.compile(r'^revision(?:: str)? = "(\d{4})"$', re.MULTILINE)


def alembic_config(url: str = "") -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@lru_cache(maxsize=1)
def newest_script() -> str | None:
    """The newest revision, read from the scripts' names without Alembic; None when the names do
    not settle it (two scripts with one number, as after a merge, or a script named otherwise), and
    then Alembic decides. tests/test_migrate_fast.py checks it equals Alembic's head."""
    numbers = []
    for script in (MIGRATIONS / "versions").glob("*.py"):
        found = _SCRIPT.match(script.name)
        if found is None:
            return None
        numbers.append(found.group(1))
    if not numbers or len(set(numbers)) != len(numbers):
        return None
    newest = max(numbers)
    named = _REVISION.search(next((MIGRATIONS / "versions").glob(f"{newest}_*.py")).read_text(encoding="utf-8"))
    return newest if named is not None and named.group(1) == newest else None


def _at_newest(engine: Engine) -> bool:
    newest = newest_script()
    if newest is None:
        return False
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return False
        versions: list[str] = list(connection.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalars())
    return versions == [newest]


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest revision; harmless when it is there already."""
    if _at_newest(engine):
        return
    from alembic import command

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
