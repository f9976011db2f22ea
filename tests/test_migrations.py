from sqlalchemy import Engine, inspect

from storage.migrate import current_revision, head_revision, upgrade


def test_upgrade_empty_database_reaches_head_and_is_repeatable(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    upgrade(engine)  # a second `waymark init` changes nothing
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert {"person", "chatidentity", "enrolmentcode", "outboxmessage", "destination"} <= tables
