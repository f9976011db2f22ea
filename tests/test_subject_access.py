"""Subject access (`waymark export-person`): everything held about one person, in JSON, HTML and PDF.

One pupil with a row in every table that can hold something about a person (storage.seed), exported
through the real command; every table in the metadata must be exported or named as holding nothing
personal, so a table added later without export coverage fails here.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine
from sqlmodel import select
from typer.testing import CliRunner

from bot.cli import app
from reports import subject_access as render
from storage import audit, coverage, crypto, seed, subject_access
from storage.db import transaction
from storage.models import AuditEvent, Person, utcnow


def pdf_text(body: bytes) -> str:
    """The PDF's text with all white space gone (a long value may wrap over lines)."""
    reader = PdfReader(io.BytesIO(body))
    return re.sub(r"\s+", "", "".join(page.extract_text() for page in reader.pages))


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_every_table_is_exported_or_named_as_holding_nothing_personal() -> None:
    import storage.models  # noqa: F401  (registers every table)

    assert coverage.gaps().get("subject access") is None, "tables the export does not cover, or names wrongly"
    assert set(subject_access.PARTS).isdisjoint(subject_access.NOT_PERSONAL)


def test_export_person_shows_every_kind_of_record_in_json_html_and_pdf(engine: Engine, tmp_path: Path) -> None:
    key = crypto.new_key()
    built = seed.every_kind_of_record(engine, key)
    assert set(built.markers) == set(subject_access.PARTS), "the seeded pupil lacks a row in some table"
    env = {
        "WAYMARK_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "WAYMARK_ENCRYPTION_KEY": key,
        "COLUMNS": "200",
    }
    out = tmp_path / "sar"
    ran = CliRunner().invoke(app, ["export-person", built.pupil.upn or "", "--out", str(out)], env=env)
    assert ran.exit_code == 0, ran.output
    assert "Review before release: Advice conversations, Safeguarding concerns, Safeguarding notes" in ran.output

    data = json.loads((out / "record.json").read_text("utf-8"))
    assert data["schema"] == subject_access.SCHEMA and data["copy"] == "school"
    parts = {p["table"]: p for p in data["parts"]}
    html = squeezed((out / "record.html").read_text("utf-8"))
    pdf = pdf_text((out / "record.pdf").read_bytes())
    for table, marker in built.markers.items():
        part = parts[table]
        assert part["rows"], f"{table}: no rows"
        expected = set(subject_access.columns_of(table)) - subject_access.WITHHELD.get(table, frozenset())
        for row in part["rows"]:
            assert expected <= set(row), f"{table}: columns missing from the JSON"
            assert not any(isinstance(v, bytes) for v in row.values())
        assert marker in json.dumps(part["rows"], ensure_ascii=False), f"{table}: {marker!r} not in record.json"
        escaped = squeezed(marker.replace("'", "&#x27;"))
        assert escaped in html, f"{table}: {marker!r} not in record.html"
        assert squeezed(marker) in pdf, f"{table}: {marker!r} not in record.pdf"
    # Credentials never leave; staff-only words are there, decrypted and marked for review.
    dumped = json.dumps(data)
    assert "h" * 64 not in dumped and "c" * 20 not in dumped and "e" * 64 not in dumped
    assert parts["advicerecord"]["rows"][0]["review_before_release"] == ["staff_note"]
    assert parts["concern"]["review_before_release"] and parts["concernnote"]["review_before_release"]
    assert "REVIEWBEFORERELEASE" in pdf and "REVIEWBEFORERELEASE" in html
    # The readable copies escape what people typed.
    assert "Wiśniewska-Ó&#x27;Brien" in (out / "record.html").read_text("utf-8")

    with transaction(engine, write=False) as session:
        events = audit.events_about(session, built.pupil.id or 0, audit.EXPORT_RECORD)
    assert len(events) == 1 and "rows to" in events[0].detail


def test_a_staff_export_lists_what_they_wrote_and_what_they_read(sqlite_only: Engine) -> None:
    key = crypto.new_key()
    built = seed.every_kind_of_record(sqlite_only, key)
    with transaction(sqlite_only, write=False) as session:
        tutor = session.get(Person, built.tutor.id)
        assert tutor is not None
        record = subject_access.collect(session, tutor, key, utcnow())
    data = render.as_json(record)
    parts = {p["table"]: p["rows"] for p in data["parts"]}
    assert [r["summary"] for r in parts["advicerecord"]] == ["Marker advice: apprenticeships"]  # wrote
    assert parts["advicerecord"][0]["staff_note"] == built.staff_only[0]
    read = [r for r in parts["auditevent"] if r["actor_id"] == built.tutor.id]
    assert [r["action"] for r in read] == ["view_pupil"]  # read
    assert data["names"][str(built.pupil.id)] == "Zuzanna Wiśniewska-Ó'Brien"


def test_an_unknown_person_is_a_clear_error_and_nothing_is_audited(sqlite_only: Engine, tmp_path: Path) -> None:
    env = {"WAYMARK_DATABASE_URL": sqlite_only.url.render_as_string(hide_password=False)}
    ran = CliRunner().invoke(app, ["export-person", "Z999", "--out", str(tmp_path / "x")], env=env)
    assert ran.exit_code == 1
    assert "Nobody has the UPN or email 'Z999'" in ran.output
    with transaction(sqlite_only, write=False) as session:
        assert session.exec(select(AuditEvent)).all() == []


@pytest.mark.parametrize("wrong_key", [None, "other"])
def test_notes_that_cannot_be_read_say_so_instead_of_failing(sqlite_only: Engine, wrong_key: str | None) -> None:
    built = seed.every_kind_of_record(sqlite_only, crypto.new_key())
    with transaction(sqlite_only, write=False) as session:
        pupil = session.get(Person, built.pupil.id)
        assert pupil is not None
        key = crypto.new_key() if wrong_key else None
        record = subject_access.collect(session, pupil, key, utcnow())
    advice = record.part("advicerecord")
    assert advice is not None and advice.entries[0].clear["staff_note"] == subject_access.UNREADABLE


def test_the_schema_page_names_every_part_and_column() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "record-schema.md").read_text("utf-8")
    for table in subject_access.tables_covered():
        assert f"| `{table}` |" in page, f"docs/record-schema.md does not describe {table}"
    for table in subject_access.PARTS:
        row = next(line for line in page.splitlines() if line.startswith(f"| `{table}` |"))
        for column in subject_access.columns_of(table):
            assert f"`{column}`" in row, f"docs/record-schema.md: {table}.{column} missing"


def test_an_unwritable_folder_is_a_clear_error_and_nothing_is_audited(sqlite_only: Engine, tmp_path: Path) -> None:
    built = seed.every_kind_of_record(sqlite_only, crypto.new_key())
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder")
    env = {"WAYMARK_DATABASE_URL": sqlite_only.url.render_as_string(hide_password=False)}
    ran = CliRunner().invoke(app, ["export-person", built.pupil.upn or "", "--out", str(in_the_way)], env=env)
    assert ran.exit_code == 1
    assert f"Cannot write to {in_the_way}" in ran.output and "Nothing was exported." in ran.output
    with transaction(sqlite_only, write=False) as session:
        assert audit.events_about(session, built.pupil.id or 0, audit.EXPORT_RECORD) == []
