"""Retention: durations parse as documented, the schedule's defaults, a dry run lists exactly what
a real run removes, the audit log is append-only on PostgreSQL, and `waymark audit` reads it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from core.retention import (
    DEFAULTS,
    Duration,
    DurationError,
    birthday_limit,
    parse_change,
    parse_duration,
    schedule_from_json,
    schedule_to_json,
)
from storage import audit, retention, seed
from storage.db import is_postgres, make_engine, transaction
from storage.models import (
    AuditEvent,
    ChatIdentity,
    Consent,
    EnrolmentCode,
    LinkAttempt,
    OutboxMessage,
    Person,
    School,
    SignInAddress,
    TranscriptLine,
)
from tests.test_cli import run

NOW = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("written", "meant"),
    [("90d", Duration(days=90)), ("1y", Duration(years=1)), (" 6Y ", Duration(years=6)), ("age:25", Duration(age=25))],
)
def test_durations_parse(written: str, meant: Duration) -> None:
    assert parse_duration(written) == meant
    assert parse_duration(str(meant)) == meant


@pytest.mark.parametrize("written", ["", "90", "1w", "-3d", "age:", "age:3", "forever"])
def test_bad_durations_say_what_to_write(written: str) -> None:
    with pytest.raises(DurationError, match=r"90d|age|16"):
        parse_duration(written)


def test_the_defaults_are_the_documented_ones_and_changes_store_only_the_difference() -> None:
    assert {k: str(v) for k, v in DEFAULTS.items()} == {
        "careers_record": "age:25",
        "alumni_contacts": "0d",
        "transcripts": "1y",
        "codes": "30d",
        "outbox": "90d",
        "audit": "6y",
        "safeguarding": "age:25",
    }
    changed = {**DEFAULTS, **dict([parse_change("transcripts=2y")])}
    assert schedule_to_json(changed) == '{"transcripts": "2y"}'
    assert schedule_from_json(schedule_to_json(changed)) == changed
    with pytest.raises(DurationError, match="not a birthday"):
        parse_change("outbox=age:25")
    with pytest.raises(DurationError, match="careers_record"):
        parse_change("journals=1y")


def test_age_counts_from_the_birthday_or_from_leaving_plus_n_minus_16() -> None:
    assert birthday_limit(Duration(age=25), date(2001, 2, 3), None) == date(2026, 2, 3)
    assert birthday_limit(Duration(age=25), None, date(2020, 7, 20)) == date(2029, 7, 20)
    assert birthday_limit(Duration(age=25), None, None) is None


def _school_with_old_things(engine: Engine) -> int:
    school = seed.school(engine, "Retention High")
    assert school.id is not None
    tutor = seed.staff(engine, school.id)
    old = seed.alumnus(
        engine, school.id, "Old", "Leaver", date_of_birth=date(2000, 1, 1), leaving_date=date(2016, 7, 20)
    )
    stopped = seed.alumnus(engine, school.id, "Stop", "Ped", email="stop@mail.example", leaving_date=date(2025, 7, 18))
    young = seed.pupil(engine, school.id, "Now", "Pupil", dob=date(2011, 1, 1))
    seed.link(engine, stopped, "telegram", "55501")
    seed.journal(engine, old, "zq old journal")
    seed.journal(engine, young, "zq young journal")
    with transaction(engine) as session:
        session.add(
            Consent(person_id=stopped.id, kind="yearly_checkin", granted=False, recorded_at=NOW - timedelta(days=2))
        )  # type: ignore[arg-type]
        for person, expires in ((young, NOW - timedelta(days=40)), (young, NOW - timedelta(days=10))):
            session.add(EnrolmentCode(person_id=person.id, code_hash=f"h{expires.day}", expires_at=expires))  # type: ignore[arg-type]
        session.add(
            LinkAttempt(platform="telegram", external_id="x1", failures=3, first_failure_at=NOW - timedelta(days=31))
        )
        session.add(
            LinkAttempt(platform="telegram", external_id="x2", failures=1, first_failure_at=NOW - timedelta(days=3))
        )
        for days in (31, 3):  # a network address's wrong codes (hashed); housekeeping usually got there first
            at = NOW - timedelta(days=days)
            session.add(SignInAddress(address_hash=f"a{days}", wrong_codes=2, first_wrong_at=at, expires_at=at))
        for days, status in ((100, "sent"), (10, "sent"), (100, "pending")):
            session.add(
                OutboxMessage(key=f"k{days}{status}", person_id=young.id, platform="telegram", text="hi", status=status,  # type: ignore[arg-type]
                              sent_at=NOW - timedelta(days=days) if status == "sent" else None)
            )  # fmt: skip
        for key, days in (("web:old", 400), ("web:old", 380), ("web:new", 400), ("web:new", 5), ("web:anon", 500)):
            person_id = young.id if key != "web:anon" else None
            session.add(
                TranscriptLine(
                    identity_key=key,
                    person_id=person_id,
                    direction="in",
                    text="x",
                    created_at=NOW - timedelta(days=days),
                )
            )
        for years in (7, 5):
            audit.record(
                session,
                school_id=school.id,
                actor_id=tutor.id,
                action="view_pupil",
                subject_id=young.id,
                now=NOW - timedelta(days=365 * years),
            )
    return school.id


def test_a_dry_run_lists_exactly_what_a_real_run_removes(engine: Engine) -> None:
    school_id = _school_with_old_things(engine)
    dry = sorted(retention.run(engine, [school_id], now=NOW, campaign_years=3, dry_run=True), key=repr)
    real = sorted(retention.run(engine, [school_id], now=NOW, campaign_years=3), key=repr)
    assert dry == real
    kinds = {(r.kind, r.table) for r in real}
    assert kinds == {
        ("codes", "enrolmentcode"),
        ("codes", "linkattempt"),
        ("codes", "signinaddress"),
        ("outbox", "outboxmessage"),
        ("transcripts", "transcriptline"),
        ("audit", "auditevent"),
        ("alumni_contacts", "chatidentity"),
        ("alumni_contacts", "person"),
        ("careers_record", "person"),
    }
    assert sum(r.table == "transcriptline" for r in real) == 3  # web:old (both lines) and web:anon
    assert list(retention.run(engine, [school_id], now=NOW, campaign_years=3, dry_run=True)) == []
    with transaction(engine, write=False) as session:
        names = {p.full_name for p in session.exec(select(Person)).all()}
        assert "Old Leaver" not in names and "Now Pupil" in names
        assert session.exec(select(Person).where(Person.given_name == "Stop")).one().email is None
        assert session.exec(select(ChatIdentity)).all() == []
        assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "view_pupil")).all()) == 1


def test_the_audit_log_refuses_a_plain_update_or_delete_on_postgresql(engine: Engine) -> None:
    if not is_postgres(engine):
        pytest.skip("the append-only trigger is PostgreSQL's; SQLite relies on the application")
    school = seed.school(engine)
    with transaction(engine) as session:
        audit.record(session, school_id=school.id or 0, actor_id=None, action="x", subject_id=None, now=NOW)
    for statement in ("UPDATE auditevent SET detail = 'changed'", "DELETE FROM auditevent"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.begin() as conn:  # retention's way in
        conn.execute(text("SELECT set_config('waymark.audit_change', 'retention', true)"))
        assert conn.execute(text("DELETE FROM auditevent")).rowcount == 1


def test_waymark_audit_shows_who_did_what_and_writes_csv(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'school.db'}")
    try:
        with transaction(engine) as session:
            school = session.exec(select(School)).one()
            assert school.id is not None
            tutor = seed.staff(session, school.id, "Tess", "Tutor")
            pupil = seed.pupil(session, school.id, "Pia", "Pupil", upn="A000000000009")
            audit.record(
                session,
                school_id=school.id,
                actor_id=tutor.id,
                action="view_pupil",
                subject_id=pupil.id,
                now=NOW,
                detail="web",
            )
    finally:
        engine.dispose()
    shown = run(tmp_path, "audit", "--pupil", "A000000000009")
    assert shown.returncode == 0, shown.stderr
    assert all(len(line) <= 80 for line in shown.stdout.splitlines())
    assert "Tess Tutor" in shown.stdout and "view_pupil" in shown.stdout and "web" in shown.stdout
    csv_path = tmp_path / "audit.csv"
    assert run(tmp_path, "audit", "--staff", "tess.tutor@school.example", "--csv", str(csv_path)).returncode == 0
    assert "Pia Pupil" in csv_path.read_text(encoding="utf-8-sig")
    assert "1 event" in run(tmp_path, "audit", "--since", "2026-11-16").stdout
    assert "YYYY-MM-DD" in run(tmp_path, "audit", "--since", "last week").stderr
    schedule = run(tmp_path, "school", "retention", "transcripts=2y")
    assert schedule.returncode == 0 and "2y" in schedule.stdout
    assert all(len(line) <= 80 for line in schedule.stdout.splitlines())
    bad = run(tmp_path, "school", "retention", "outbox=forever")
    assert bad.returncode == 2 and "90d" in bad.stderr
    dry = run(tmp_path, "retention", "run", "--dry-run")
    assert dry.returncode == 0 and "Retention would remove 0 record(s)." in dry.stdout


def test_the_daily_job_applies_every_schools_schedule(engine: Engine) -> None:
    from core.settings import load_settings
    from scheduler.retention import run_retention
    from scheduler.service import JOBS

    [job] = [spec for spec in JOBS if spec.name == "retention"]
    assert job.every == timedelta(days=1)
    school_id = _school_with_old_things(engine)
    due = len(list(retention.run(engine, [school_id], now=NOW, campaign_years=3, dry_run=True)))
    assert run_retention(engine, load_settings(database_url="sqlite://"), NOW) == due > 0
    assert run_retention(engine, load_settings(database_url="sqlite://"), NOW) == 0


def test_the_privacy_notice_quotes_the_retention_schedule_and_alumni_hear_of_the_careers_team(
    dispatcher: object, chat: object, engine: Engine
) -> None:
    from handlers import texts

    for notice in (texts.PRIVACY, texts.PRIVACY_ALUMNI):
        assert "careers record (journal, advice, actions, applications) until your 25th birthday" in notice
        assert "web chat: 1 year after your last message" in notice
        assert "sent you: 90 days" in notice and "who opened your record: 6 years" in notice
        assert "safeguarding lead: until your 25th birthday" in notice
        assert "/export" in notice and "Download my record" in notice and "deleted, ask the school" in notice
    assert "tutor" not in texts.PRIVACY_ALUMNI and "careers team" in texts.PRIVACY_ALUMNI
    assert "/stop" in texts.PRIVACY_ALUMNI
    changed = {**DEFAULTS, "transcripts": Duration(years=2), "careers_record": Duration(age=30)}
    assert "2 years after your last message" in texts.keeping(changed) and "30th birthday" in texts.keeping(changed)
    school = seed.school(engine)
    former = seed.alumnus(engine, school.id, "Al", "Umna", leaving_date=date(2024, 7, 19))
    pupil = seed.pupil(engine, school.id, "Pu", "Pil")
    assert chat("a1", former).say("/privacy")[-1].text == texts.PRIVACY_ALUMNI  # type: ignore[operator]
    pupil_chat = chat("p1", pupil)  # type: ignore[operator]
    assert pupil_chat.say("/privacy")[-1].text == texts.PRIVACY
    with transaction(engine) as session:  # a school that keeps transcripts longer says so
        row = session.get(School, school.id)
        assert row is not None
        row.retention = schedule_to_json({**DEFAULTS, "transcripts": Duration(years=2)})
        session.add(row)
    told = pupil_chat.say("/privacy")[-1].text
    assert "web chat: 2 years after your last message" in told and "1 year after" not in told


def test_role_changes_and_unlinking_are_audited(engine: Engine, chat: object) -> None:
    from storage.staff import add_staff

    school = seed.school(engine)
    with transaction(engine) as session:
        sam = add_staff(session, school.id or 0, "sam@school.example", "Sam Patel", "tutor").person
        add_staff(session, school.id or 0, "sam@school.example", "Sam Patel", "tutor")  # no change: no event
        add_staff(session, school.id or 0, "sam@school.example", "Sam Patel", "leader", also=["dsl"])
    pupil = seed.pupil(engine, school.id, "Una", "Link")
    chat("u1", pupil).say("/unlink")  # type: ignore[operator]
    with transaction(engine, write=False) as session:
        roles = [e.detail for e in audit.events_about(session, sam.id or 0, audit.CHANGE_ROLES)]
        assert roles == ["cli: none -> tutor", "cli: tutor -> dsl,leader"]
        [unlinked] = audit.events_about(session, pupil.id or 0, audit.UNLINK)
        assert (unlinked.actor_id, unlinked.detail) == (pupil.id, "console")
