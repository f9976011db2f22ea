"""Erasure: an alumnus with every kind of record is erased and nothing of them is left in any table,
nor in the SQLite file and its WAL; the audit trail stays anonymously; destination reports do not
change; a safeguarding concern still kept stops it; every table of the metadata is covered."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlmodel import SQLModel, col, select

import storage.models  # noqa: F401  (registers every table)
from core.settings import load_settings
from reports import build
from storage import audit, audit_log, coverage, crypto, erasure, seed
from storage.db import is_postgres, transaction
from storage.models import (
    AuditEvent,
    CaseloadAssignment,
    Checkin,
    CheckinLink,
    ConcernNote,
    ConcernStatus,
    Consent,
    ConversationState,
    Destination,
    LinkAttempt,
    OutboxMessage,
    Person,
    School,
    StaffRole,
    TranscriptLine,
    WebSession,
)
from storage.reports import Breakdown
from tests.test_cli import run

KEY = crypto.new_key()
NOW = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)
SETTINGS = load_settings(database_url="sqlite://", timezone="Europe/London")
GIVEN, FAMILY, UPN = "Zoë", "Quillfeather", "Q123456789012"
EMAIL = "zoe.quillfeather@mail.example"
WORDS = "zqjournal I loved the week at the marine biology lab"
ADVICE = "zqadvice talked through marine biology degrees and A levels"
SECRET_NOTE = "zqnote mum mentioned money worries at home"
TELEGRAM_ID, WEB_ID = "7700112233", "webzq-4f1c2a9e"


def _everything(engine: Engine) -> tuple[int, int]:
    """An alumnus (left 2025, now 26) with a row in every table that can hold one; and a classmate."""
    school = seed.school(engine, "Erasure Academy")
    assert school.id is not None
    dsl = seed.staff(engine, school.id, "Dee", "Lead", role=StaffRole.dsl)
    tutor = seed.staff(engine, school.id, "Tom", "Tutor")
    left = date(2025, 7, 18)
    zoe = seed.alumnus(
        engine, school.id, GIVEN, FAMILY, upn=UPN, email=EMAIL, date_of_birth=date(2000, 5, 1), leaving_date=left,
        gender="F", fsm=True, eal=True, looked_after=True, tutor_id=tutor.id,
    )  # fmt: skip
    other = seed.alumnus(engine, school.id, "Bo", "Other", leaving_date=left, gender="M")
    seed.link(engine, zoe, "telegram", TELEGRAM_ID)
    seed.link(engine, zoe, "web", WEB_ID)
    seed.code_for(engine, zoe)
    seed.journal(engine, zoe, WORDS, learned="zqlearned sea water chemistry is hard")
    advice = seed.advice(engine, zoe, tutor, "guidance_interview", ADVICE, staff_note=crypto.encrypt(KEY, SECRET_NOTE))
    seed.action(engine, zoe, advice, "zqaction email the marine lab about a placement")
    seed.application(engine, zoe, "Zq Marine College", course="Oceanography")
    raised = seed.concern(engine, zoe, key=KEY, at=NOW - timedelta(days=400), words="zqconcern words")
    with transaction(engine) as session:
        concern = raised.concern
        concern.status, concern.closed_at = ConcernStatus.closed.value, NOW - timedelta(days=300)
        session.add(concern)
        session.add(ConcernNote(concern_id=concern.id, author_id=dsl.id, text=crypto.encrypt(KEY, "zqdsl note")))  # type: ignore[arg-type]
        for year, grp, code in ((1, "education", 230), (2, "education", 240)):
            for person in (zoe, other):
                session.add(
                    Destination(
                        person_id=person.id, year_after_leaving=year, category="college", nccis_code=code, group=grp,  # type: ignore[arg-type]
                        provider="Zq Marine College" if person is zoe else "Town College", reported_at=NOW - timedelta(days=400 - 300 * (year - 1)),
                    )
                )  # fmt: skip
        session.add(Checkin(person_id=zoe.id, campaign_year=2025, year_after_leaving=1, channel="telegram"))  # type: ignore[arg-type]
        session.add(CheckinLink(token_hash="zqtokenhash", person_id=zoe.id, expires_at=NOW))  # type: ignore[arg-type]
        session.add(Consent(person_id=zoe.id, kind="yearly_checkin", granted=True, channel="telegram"))  # type: ignore[arg-type]
        session.add(CaseloadAssignment(staff_id=tutor.id, pupil_id=zoe.id))  # type: ignore[arg-type]
        session.add(WebSession(token_hash="zqsession", person_id=zoe.id, external_id=WEB_ID, csrf_token="zqcsrf"))  # type: ignore[arg-type]
        session.add(LinkAttempt(platform="telegram", external_id=TELEGRAM_ID, failures=2))
        session.add(
            ConversationState(platform="telegram", external_id=TELEGRAM_ID, state="x", data=json.dumps({"t": WORDS}))
        )
        # A tutor half-way through a conversation about her, and a tutor's web view of her record.
        session.add(
            ConversationState(platform="web", external_id="tutor-web", data=json.dumps({"name": f"{GIVEN} {FAMILY}"}))
        )
        session.add(TranscriptLine(identity_key=f"web:{WEB_ID}", person_id=zoe.id, direction="in", text=WORDS))
        session.add(
            TranscriptLine(
                identity_key="web:tutor-web", person_id=tutor.id, direction="out", text=f"{GIVEN} {FAMILY}, 11A"
            )
        )
        session.add(
            TranscriptLine(identity_key="web:tutor-web", person_id=tutor.id, direction="out", text=f"Journal: {WORDS}")
        )
        session.add(
            TranscriptLine(identity_key="web:tutor-web", person_id=tutor.id, direction="out", text="Tom's own line")
        )
        session.add(OutboxMessage(key="zq:1", person_id=zoe.id, platform="telegram", text="Where are you now?"))  # type: ignore[arg-type]
        session.add(
            OutboxMessage(key="zq:2", person_id=dsl.id, platform="telegram", text=f"Concern about {GIVEN} {FAMILY}")
        )  # type: ignore[arg-type]
        audit.record(
            session,
            school_id=school.id,
            actor_id=tutor.id,
            action=audit.VIEW_PUPIL,
            subject_id=zoe.id,
            now=NOW,
            detail="web",
        )
        audit.record(
            session,
            school_id=school.id,
            actor_id=None,
            action="unlink_all",
            subject_id=zoe.id,
            now=NOW,
            detail=f"unlinked {GIVEN} {FAMILY}",
        )
    assert zoe.id is not None and tutor.id is not None
    return zoe.id, tutor.id


NEEDLES = (
    GIVEN,
    FAMILY,
    UPN,
    EMAIL,
    TELEGRAM_ID,
    WEB_ID,
    "zqjournal",
    "zqlearned",
    "zqadvice",
    "zqaction",
    "Zq Marine",
)


def _rows_mentioning(engine: Engine) -> list[str]:
    found = []
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                flat = " ".join(str(v) for v in row).lower()
                found += [f"{table.name}: {n}" for n in NEEDLES if n.lower() in flat]
    return found


def _reports(engine: Engine) -> list[object]:
    with transaction(engine, write=False) as session:
        school = session.exec(select(School)).one()
        return [
            build.destinations(session, school, SETTINGS, today=NOW.date(), year_after_leaving=year, by=by)
            for year in (1, 2)
            for by in Breakdown  # every breakdown, EAL and looked-after included
        ]


def test_every_table_is_covered_by_erasure_and_retention() -> None:
    """A table added later without a rule in storage/erasure.py and storage/retention.py fails here
    (read through the one registry, storage/coverage.py)."""
    found = coverage.gaps()
    assert found.get("erasure") is None, found
    assert found.get("retention") is None, found


def test_erase_leaves_nothing_in_any_table_or_file_and_reports_do_not_change(engine: Engine, tmp_path: Path) -> None:
    zoe_id, tutor_id = _everything(engine)
    before = _reports(engine)
    assert len(_rows_mentioning(engine)) > 20  # the scan finds what it looks for
    with transaction(engine, write=False) as session:
        events_before = session.exec(select(AuditEvent)).all()

    done, files = erasure.erase_and_scrub(engine, zoe_id, now=NOW)

    assert done.rows["journalentry"] == 1 and done.rows["transcriptline"] == 3 and done.rows["outboxmessage"] == 2
    assert _rows_mentioning(engine) == []
    assert _reports(engine) == before
    with transaction(engine, write=False) as session:
        events = session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
        markers = {e.subject_marker for e in events if e.subject_marker}
        assert len(events) == len(events_before) + 1 and len(markers) == 1  # one marker stands for her
        assert events[-1].action == erasure.ERASE_PERSON
        [marker] = markers
        trail = audit_log.events(session, marker=marker)  # what `waymark audit --pupil erased-...` shows
        assert [(r.action, r.subject) for r in trail] == [
            ("view_pupil", marker),
            ("unlink_all", marker),
            (erasure.ERASE_PERSON, marker),
        ]
        assert trail[0].actor.startswith("Tom Tutor") and trail[1].detail == f"unlinked {marker}"
        assert session.get(Person, tutor_id) is not None
        tutor_lines = session.exec(select(TranscriptLine.text)).all()
        assert tutor_lines == ["Tom's own line"]  # the tutor's other lines stay
    if is_postgres(engine):
        assert files.startswith("vacuumed")
        return
    path = Path(engine.url.database or "")
    raw = path.read_bytes() + (
        path.with_name(path.name + "-wal").read_bytes() if path.with_name(path.name + "-wal").exists() else b""
    )
    for needle in NEEDLES:
        for form in {needle.encode(), needle.lower().encode(), json.dumps(needle)[1:-1].encode()}:
            assert form not in raw, needle


def test_erase_all_drops_the_anonymous_row_too(engine: Engine) -> None:
    zoe_id, _ = _everything(engine)
    erasure.erase_and_scrub(engine, zoe_id, now=NOW, keep_statistics=False)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM erasedleaver")).scalar_one() == 0


def test_a_concern_open_or_still_kept_stops_erasure(engine: Engine) -> None:
    school = seed.school(engine)
    young = seed.pupil(engine, school.id, "Kid", "Young", dob=date(2012, 1, 1))
    raised = seed.concern(engine, young, key=KEY, at=NOW, words="zqwords")
    with pytest.raises(erasure.ErasureRefused, match="still open"):
        erasure.erase_and_scrub(engine, young.id or 0, now=NOW)
    with transaction(engine) as session:
        raised.concern.status = ConcernStatus.closed.value
        session.add(raised.concern)
    with pytest.raises(erasure.ErasureRefused, match="until 2037-01-01"):
        erasure.erase_and_scrub(engine, young.id or 0, now=NOW)


def test_waymark_erase_shows_what_goes_asks_and_erases_with_yes(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    from storage.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'school.db'}")
    try:
        with transaction(engine) as session:
            school = session.exec(select(School)).one()
        pupil = seed.pupil(engine, school.id, "Cli", "Pupil", upn="C000000000001")
        seed.journal(engine, pupil, "zqcli journal words")
    finally:
        engine.dispose()
    asked = run(tmp_path, "erase", "C000000000001")
    assert asked.returncode == 1 and "journalentry" in asked.stdout and "Nothing erased" in asked.stderr
    done = run(tmp_path, "erase", "c000000000001", "--yes")
    assert done.returncode == 0, done.stderr
    assert "Erased Cli Pupil" in done.stdout
    again = run(tmp_path, "erase", "C000000000001", "--yes")
    assert again.returncode == 1 and "Nobody has the UPN" in again.stderr


def test_tables_in_the_database_are_the_tables_in_the_metadata(engine: Engine) -> None:
    """The coverage above walks the metadata; the database has no table the metadata lacks."""
    assert set(inspect(engine).get_table_names()) - {"alembic_version"} == set(SQLModel.metadata.tables)


def test_a_member_of_staff_who_wrote_in_pupils_records_stays_there_as_former_staff(engine: Engine) -> None:
    school = seed.school(engine)
    tutor = seed.staff(engine, school.id, "Wren", "Writer")
    pupil = seed.pupil(engine, school.id, "Pat", "Pupil", tutor_id=tutor.id)
    seed.advice(engine, pupil, tutor, "tutor_checkin", "zq talked about college open days")
    with transaction(engine) as session:
        row = session.get(School, school.id)
        assert row is not None
        row.safeguarding_contacts = "head@school.example\nwren.writer@school.example"
        session.add(row)
    done, _ = erasure.erase_and_scrub(engine, tutor.id or 0, now=NOW)
    assert done.keeps_staff_placeholder and "person" not in done.rows and "advicerecord" not in done.rows
    with transaction(engine, write=False) as session:
        former = session.get(Person, tutor.id)
        assert former is not None and (former.full_name, former.email) == ("Former member of staff", None)
        assert session.get(Person, pupil.id).tutor_id is None  # type: ignore[union-attr]
        assert session.get(School, school.id).safeguarding_contacts == "head@school.example"  # type: ignore[union-attr]


def test_an_erased_alumnus_who_could_not_be_contacted_still_counts_so(engine: Engine) -> None:
    school = seed.school(engine, "Erasure Academy")
    left = date(2024, 7, 19)
    gone = seed.alumnus(engine, school.id, "Una", "Reachable", leaving_date=left, gender="F")
    quiet = seed.alumnus(engine, school.id, "Nat", "Known", leaving_date=left, gender="F")
    with transaction(engine) as session:
        session.add(
            Checkin(
                person_id=gone.id, campaign_year=2024, year_after_leaving=1, channel="telegram", status="unreachable"
            )
        )  # type: ignore[arg-type]
        session.add(
            Checkin(person_id=gone.id, campaign_year=2025, year_after_leaving=2, channel="telegram", reminders=2)
        )  # type: ignore[arg-type]
        session.add(
            Checkin(person_id=quiet.id, campaign_year=2025, year_after_leaving=2, channel="telegram", reminders=1)
        )  # type: ignore[arg-type]
    before = _reports(engine)
    counts = _counts(engine, school.id or 0)
    assert ("F", "cannot be contacted", 1) in counts[1] and ("F", "cannot be contacted", 1) in counts[2]
    erasure.erase_and_scrub(engine, gone.id or 0, now=NOW)
    assert _reports(engine) == before and _counts(engine, school.id or 0) == counts


def _counts(engine: Engine, school_id: int) -> dict[int, list[tuple[str, str, int]]]:
    from storage.reports import destination_counts

    with transaction(engine, write=False) as session:
        return {
            year: [
                (c.value, c.group, c.alumni)
                for c in destination_counts(
                    session, school_id, year_after_leaving=year, by=Breakdown.gender, left_before=date(2026, 1, 1)
                )
            ]
            for year in (1, 2)
        }
