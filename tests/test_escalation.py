"""Safeguarding alerts that wait: escalation of unacknowledged alerts (time-machine on the real job),
alerts held for a school with no DSL, and the emails contacts and DSLs get through the real sender and
aiosmtplib against an SMTP server on loopback. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import Engine
from sqlmodel import col, select

from core.reach import AlertCopy, alert_reached, can_be_reached, first_escalation_at
from core.settings import Settings, load_settings
from handlers.safeguarding.alert_text import ASKED, RAISED_BY_STAFF, alert_text, category_label, waited, when
from scheduler.quiet import QuietHours
from scheduler.safeguarding import escalation_allowed
from scheduler.sender import Sender
from scheduler.service import JOBS
from storage import concerns, crypto, outbox, seed
from storage.db import make_engine, transaction
from storage.models import Concern, ConcernOutcome, ConcernSource, OutboxMessage, Person, School, StaffRole
from storage.staff import add_staff
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram_transport import telegram_transport
from tests.test_cli import run, school_row
from tests.test_email import LoopbackController, Mailbox, transport

KEY = crypto.new_key()
LONDON = ZoneInfo("Europe/London")
WORDS = "zqwords my step-dad hit me and I'm scared to go home"
LABEL = "Harm by an adult"
WEDNESDAY = datetime(2025, 11, 19, 10, 0, tzinfo=UTC)  # November: London is on UTC
FRIDAY = datetime(2025, 11, 21, 17, 0, tzinfo=UTC)
MONDAY_0730 = datetime(2025, 11, 24, 7, 30, tzinfo=UTC)


@pytest.fixture
def settings() -> Settings:
    # The process has email (the address is only written on outbox rows; each test sends, if it
    # sends at all, through its own loopback SMTP server).
    return load_settings(encryption_key=KEY, timezone="Europe/London", smtp_url="smtp://127.0.0.1:2525")


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    controller = LoopbackController(box := Mailbox(), hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield box, controller.port
    finally:
        controller.stop()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def tick(engine: Engine, settings: Settings, at: datetime) -> object:
    """The scheduler's own safeguarding job, at a moment of our choosing."""
    [job] = [spec for spec in JOBS if spec.name == "safeguarding"]
    assert job.every <= timedelta(minutes=1)
    with time_machine.travel(at, tick=False):
        return job.run(engine, settings)


def school_with(engine: Engine, *, dsl: bool = True, contacts: str = "") -> tuple[School, Person, Person | None]:
    school = seed.school(engine, "Riverside Academy", safeguarding_contacts=contacts)
    assert school.id is not None
    tutor = seed.staff(engine, school.id, "Tom", "Tutor")
    pupil = seed.pupil(engine, school.id, "Amira", "Khan", form="9C", tutor_id=tutor.id)
    lead = seed.staff(engine, school.id, "Dee", "Lead", role=StaffRole.dsl) if dsl else None
    if lead is not None:
        seed.link(engine, lead, "telegram", "7001")
    return school, pupil, lead


def raise_concern(engine: Engine, pupil: Person, at: datetime, phrase: str = "hit me") -> int:
    return seed.concern(engine, pupil, key=KEY, at=at, words=WORDS, phrase=phrase).concern.id or 0


def keys(engine: Engine, prefix: str = "sg:") -> list[str]:
    with transaction(engine, write=False) as session:
        rows = session.exec(select(OutboxMessage).where(col(OutboxMessage.key).startswith(prefix))).all()
        return sorted(r.key for r in rows)


def outbox_rows(engine: Engine, prefix: str) -> list[OutboxMessage]:
    with transaction(engine, write=False) as session:
        return list(session.exec(select(OutboxMessage).where(col(OutboxMessage.key).startswith(prefix))).all())


def concern_row(engine: Engine, concern_id: int) -> Concern:
    with transaction(engine, write=False) as session:
        found = session.get(Concern, concern_id)
        assert found is not None
        return found


def escalation_rounds(engine: Engine, concern_id: int) -> set[int]:
    return {int(k.split(":")[3]) for k in keys(engine, f"sg:escalate:{concern_id}:")}


def test_an_unacknowledged_alert_escalates_after_the_schools_minutes_and_not_before(
    engine: Engine, settings: Settings
) -> None:
    school, pupil, _ = school_with(engine)
    with transaction(engine) as session:
        row = session.get(School, school.id)
        assert row is not None
        row.safeguarding_escalate_minutes = 30
    concern_id = raise_concern(engine, pupil, WEDNESDAY)
    tick(engine, settings, WEDNESDAY)
    assert keys(engine) == [
        f"sg:alert:{concern_id}:email:dee.lead@school.example",
        f"sg:alert:{concern_id}:telegram:7001",
    ]
    tick(engine, settings, WEDNESDAY + timedelta(minutes=29))
    assert escalation_rounds(engine, concern_id) == set()
    tick(engine, settings, WEDNESDAY + timedelta(minutes=30))
    assert escalation_rounds(engine, concern_id) == {1}
    [telegram] = outbox_rows(engine, f"sg:escalate:{concern_id}:1:telegram")
    assert telegram.urgent and telegram.chat_id == "7001"
    assert "Still waiting" in telegram.text and "Amira Khan, 9C" in telegram.text and LABEL in telegram.text
    assert "zqwords" not in telegram.text and "hit me" not in telegram.text
    assert f'"/concerns {concern_id}"' in telegram.buttons
    found = concern_row(engine, concern_id)
    assert found.escalations == 1 and found.escalated_at is not None
    # A second tick in the same minute, or a second scheduler, adds nothing.
    tick(engine, settings, WEDNESDAY + timedelta(minutes=30))
    assert concern_row(engine, concern_id).escalations == 1
    # Then hourly while it waits, in working hours.
    tick(engine, settings, WEDNESDAY + timedelta(minutes=89))
    assert escalation_rounds(engine, concern_id) == {1}
    tick(engine, settings, WEDNESDAY + timedelta(minutes=90))
    tick(engine, settings, WEDNESDAY + timedelta(minutes=150))
    assert escalation_rounds(engine, concern_id) == {1, 2, 3}


def test_an_acknowledged_alert_never_escalates(engine: Engine, settings: Settings) -> None:
    _, pupil, lead = school_with(engine, contacts="head@school.example")
    assert lead is not None
    concern_id = raise_concern(engine, pupil, WEDNESDAY)
    closed_id = raise_concern(engine, pupil, WEDNESDAY, phrase="scared to go home")
    tick(engine, settings, WEDNESDAY)
    with transaction(engine) as session:
        found, other = session.get(Concern, concern_id), session.get(Concern, closed_id)
        assert found is not None and other is not None
        assert concerns.acknowledge(session, found, lead.id or 0, WEDNESDAY + timedelta(minutes=20))
        later = WEDNESDAY + timedelta(minutes=40)
        assert concerns.close(session, other, lead.id or 0, ConcernOutcome.monitoring, later)
    for hours in (1, 2, 5, 30):
        tick(engine, settings, WEDNESDAY + timedelta(hours=hours))
    assert keys(engine, "sg:escalate:") == []
    assert concern_row(engine, concern_id).escalations == 0 == concern_row(engine, closed_id).escalations


def test_repeats_stop_for_the_night_and_weekend_and_start_again_at_0730_on_the_next_working_day(
    engine: Engine, settings: Settings
) -> None:
    _, pupil, _ = school_with(engine)
    concern_id = raise_concern(engine, pupil, FRIDAY)
    tick(engine, settings, FRIDAY)
    tick(engine, settings, FRIDAY + timedelta(hours=1))  # 18:00 Friday: the first escalation is due and goes
    assert escalation_rounds(engine, concern_id) == {1}
    for moment in (
        FRIDAY + timedelta(hours=2),  # 19:00: not working hours
        FRIDAY + timedelta(hours=5),  # 22:00: night
        datetime(2025, 11, 22, 11, 0, tzinfo=UTC),  # Saturday
        datetime(2025, 11, 23, 15, 0, tzinfo=UTC),  # Sunday
        MONDAY_0730 - timedelta(minutes=1),
    ):
        tick(engine, settings, moment)
    assert escalation_rounds(engine, concern_id) == {1}
    tick(engine, settings, MONDAY_0730)
    assert escalation_rounds(engine, concern_id) == {1, 2}
    tick(engine, settings, MONDAY_0730 + timedelta(minutes=59))
    tick(engine, settings, MONDAY_0730 + timedelta(hours=1))
    assert escalation_rounds(engine, concern_id) == {1, 2, 3}


def test_a_first_escalation_that_falls_in_the_night_waits_for_0730(engine: Engine, settings: Settings) -> None:
    _, pupil, _ = school_with(engine)
    evening = datetime(2025, 11, 18, 20, 30, tzinfo=UTC)  # Tuesday 20:30
    concern_id = raise_concern(engine, pupil, evening)
    tick(engine, settings, evening)
    assert keys(engine, f"sg:alert:{concern_id}:telegram")  # the alert itself goes at once, night or not
    tick(engine, settings, evening + timedelta(hours=1))  # 21:30
    tick(engine, settings, datetime(2025, 11, 19, 7, 29, tzinfo=UTC))
    assert escalation_rounds(engine, concern_id) == set()
    tick(engine, settings, datetime(2025, 11, 19, 7, 30, tzinfo=UTC))
    assert escalation_rounds(engine, concern_id) == {1}


def test_when_an_escalation_may_go() -> None:
    def allowed(local: str, first: bool) -> bool:
        return escalation_allowed(datetime.fromisoformat(local).replace(tzinfo=LONDON), LONDON, first=first)

    assert allowed("2026-06-10 12:00", first=False)  # a Wednesday in summer time
    assert not allowed("2026-06-10 18:00", first=False)
    assert allowed("2026-06-10 18:00", first=True)
    assert not allowed("2026-06-10 21:00", first=True)
    assert not allowed("2026-06-11 07:29", first=True)
    assert allowed("2026-06-11 07:30", first=False)
    assert allowed("2026-06-13 10:00", first=True) and not allowed("2026-06-13 10:00", first=False)  # Saturday
    assert not allowed("2026-12-25 10:00", first=False)  # Christmas Day, a bank holiday


def test_an_alert_reaches_a_dsl_only_on_a_channel_that_pushes_it() -> None:
    alerted = WEDNESDAY
    assert alert_reached([AlertCopy("telegram", given_up=False)])
    assert alert_reached([AlertCopy("web", given_up=False), AlertCopy("email", given_up=False)])
    assert alert_reached([AlertCopy("slack", given_up=True), AlertCopy("slack", given_up=False)])
    # The web chat shows it only while the page is open; the terminal likewise.
    assert not alert_reached([AlertCopy("web", given_up=False), AlertCopy("console", given_up=False)])
    assert not alert_reached([AlertCopy("web", given_up=False), AlertCopy("telegram", given_up=True)])
    assert not alert_reached([AlertCopy("pigeon", given_up=False)])  # a platform Waymark does not know
    assert not alert_reached([])
    assert first_escalation_at(alerted, 60, reached=True) == alerted + timedelta(minutes=60)
    assert first_escalation_at(alerted, 60, reached=False) == alerted
    assert can_be_reached(["web", "slack"], has_email=False)
    assert can_be_reached([], has_email=True)
    assert not can_be_reached(["web", "console"], has_email=False)


def test_a_dsl_linked_only_to_the_web_chat_counts_as_unreached_and_the_alert_escalates_at_once(
    engine: Engine, settings: Settings
) -> None:
    school, pupil, _ = school_with(engine, dsl=False, contacts="head@school.example")
    web_only = seed.staff(engine, school.id, "Wendy", "Web", role=StaffRole.dsl)
    with transaction(engine) as session:
        row = session.get(Person, web_only.id)
        assert row is not None
        row.email = None  # no email either: nothing pushes the alert to her
    seed.link(engine, web_only, "web", "wendy-web")
    concern_id = raise_concern(engine, pupil, WEDNESDAY)
    tick(engine, settings, WEDNESDAY)
    # The school's 60 minutes do not apply: the alert escalates as it goes, and the head hears of it.
    assert keys(engine) == [
        f"sg:alert:{concern_id}:web:wendy-web",
        f"sg:escalate:{concern_id}:1:email:head@school.example",
        f"sg:escalate:{concern_id}:1:web:wendy-web",
    ]
    [head] = outbox_rows(engine, f"sg:escalate:{concern_id}:1:email:")
    assert "Amira Khan" in head.text and LABEL not in head.text and "zqwords" not in head.text
    # Repeats keep their hourly pace.
    tick(engine, settings, WEDNESDAY + timedelta(minutes=59))
    assert escalation_rounds(engine, concern_id) == {1}
    tick(engine, settings, WEDNESDAY + timedelta(minutes=60))
    assert escalation_rounds(engine, concern_id) == {1, 2}


def test_an_alert_the_sender_gave_up_on_counts_as_unreached(engine: Engine, settings: Settings) -> None:
    _, pupil, _ = school_with(engine)
    concern_id = raise_concern(engine, pupil, WEDNESDAY)
    tick(engine, settings, WEDNESDAY)
    tick(engine, settings, WEDNESDAY + timedelta(minutes=5))
    assert escalation_rounds(engine, concern_id) == set()  # Telegram and email may still arrive
    with transaction(engine) as session:
        for row in session.exec(select(OutboxMessage).where(col(OutboxMessage.key).startswith("sg:alert:"))):
            row.status = "undeliverable" if row.platform == "telegram" else "failed"
            session.add(row)
    tick(engine, settings, WEDNESDAY + timedelta(minutes=6))
    assert escalation_rounds(engine, concern_id) == {1}


def test_a_school_without_a_dsl_records_concerns_and_alerts_the_first_dsl_added(
    engine: Engine, settings: Settings
) -> None:
    school, pupil, _ = school_with(engine, dsl=False)
    concern_id = raise_concern(engine, pupil, WEDNESDAY)
    tick(engine, settings, WEDNESDAY)
    tick(engine, settings, WEDNESDAY + timedelta(hours=3))
    assert keys(engine) == []  # nobody to tell yet, and nothing escalates an alert that never went
    assert concern_row(engine, concern_id).alerted_at is None
    with transaction(engine) as session:
        lead = add_staff(session, school.id or 0, "Dee.Lead@school.example", "Dee Lead", "dsl").person
    seed.link(engine, lead, "telegram", "7001")
    added = WEDNESDAY + timedelta(hours=4)
    tick(engine, settings, added)
    assert keys(engine) == [
        f"sg:alert:{concern_id}:email:dee.lead@school.example",
        f"sg:alert:{concern_id}:telegram:7001",
    ]
    [row] = outbox_rows(engine, f"sg:alert:{concern_id}:telegram")
    with transaction(engine, write=False) as session:
        concern = session.get(Concern, concern_id)
        person = session.get(Person, pupil.id)
        assert concern is not None and person is not None
        assert row.text == alert_text(person, concern, LONDON)
    assert row.urgent and "Amira Khan, 9C" in row.text and LABEL in row.text and "Telegram" in row.text
    assert "10:00 on Wed 19 Nov" in row.text and "zqwords" not in row.text
    assert f'"/concerns {concern_id}"' in row.buttons
    assert concern_row(engine, concern_id).alerted_at == added
    # The escalation clock starts with the alert, not with the concern.
    tick(engine, settings, added + timedelta(minutes=59))
    assert escalation_rounds(engine, concern_id) == set()
    tick(engine, settings, added + timedelta(minutes=60))
    assert escalation_rounds(engine, concern_id) == {1}


async def test_escalation_reaches_dsls_and_contacts_by_email_and_telegram_at_night_without_the_words(
    engine: Engine, settings: Settings, smtp: tuple[Mailbox, int], fake: FakeTelegram
) -> None:
    box, port = smtp
    # The head is a contact but not a DSL; the DSL is a contact too and gets only the DSL's message.
    _, pupil, lead = school_with(engine, contacts="head@school.example\ndee.lead@school.example")
    assert lead is not None
    late = datetime(2025, 11, 19, 19, 0, tzinfo=UTC)  # 19:00 Wednesday
    concern_id = raise_concern(engine, pupil, late)
    with transaction(engine) as session:  # an ordinary message, which quiet hours do hold
        outbox.enqueue(
            session,
            key="ordinary",
            person_id=lead.id or 0,
            platform="telegram",
            chat_id="7001",
            text="not now",
            now=late,
        )
    tick(engine, settings, late)
    tick(engine, settings, late + timedelta(hours=1))
    night = late + timedelta(hours=3)  # the sender gets to them at 22:00, quiet hours for anything else
    async with telegram_transport(fake) as telegram:
        sender = Sender(
            engine,
            {"email": transport(port), "telegram": telegram},
            poll_interval=0.05,
            clock=lambda: night,
            quiet=QuietHours(LONDON),
        )
        # Never settled: the ordinary row waits for the morning; ours went.
        assert not await sender.run_until_settled(timeout=8)
    assert {r.status for r in outbox_rows(engine, "sg:")} == {"sent"}
    assert [r.status for r in outbox_rows(engine, "ordinary")] == ["pending"]

    texts = [c.text for c in fake.calls_to(7001, ["sendMessage"])]
    assert len(texts) == 2 and "Still waiting" in texts[1] and LABEL in texts[1]
    mail = {(tuple(rcpt), m["Subject"]): m.get_content() for _, rcpt, m in box.received}
    assert set(mail) == {
        (("dee.lead@school.example",), "Riverside Academy: safeguarding alert"),
        (("dee.lead@school.example",), "Riverside Academy: a safeguarding concern is still waiting"),
        (("head@school.example",), "Riverside Academy: a safeguarding concern is still waiting"),
    }
    head = mail[(("head@school.example",), "Riverside Academy: a safeguarding concern is still waiting")]
    assert "Amira Khan" in head and "has waited 1 hour" in head and "Dee Lead" in head
    for secret in ("zqwords", "hit me", LABEL, "harm", "9C", "Telegram"):
        assert secret.lower() not in head.lower()
    [contact_row] = outbox_rows(engine, f"sg:escalate:{concern_id}:1:email:head@")
    assert (
        " ".join(contact_row.text.split()) in " ".join(head.split())
        and LABEL not in contact_row.text
        and contact_row.buttons == "[]"
    )
    dsl_mail = mail[(("dee.lead@school.example",), "Riverside Academy: a safeguarding concern is still waiting")]
    assert LABEL in dsl_mail and f"send /concerns {concern_id} to Waymark" in dsl_mail and "zqwords" not in dsl_mail
    assert all(not re.search(r"Amira|Khan", subject) for _, subject in mail)  # previews name no one


def test_alert_wording_helpers() -> None:
    assert waited(timedelta(minutes=45)) == "45 minutes"
    assert waited(timedelta(hours=1)) == "1 hour"
    assert waited(timedelta(hours=2, minutes=15)) == "2 hours 15 minutes"
    assert waited(timedelta(days=3, hours=2, minutes=5)) == "3 days 2 hours"
    assert when(datetime(2026, 6, 10, 13, 5, tzinfo=UTC), LONDON) == "14:05 on Wed 10 Jun"  # summer time
    # The wording sits below storage, so it names the sources itself: they must stay storage's.
    assert (ConcernSource.asked.value, ConcernSource.staff.value) == (ASKED, RAISED_BY_STAFF)
    asked = Concern(school_id=1, subject_id=1, source="asked", category="asked", words=b"", context=b"")
    assert category_label(asked) == "Asked to talk to someone"
    by_staff = Concern(school_id=1, subject_id=1, source="staff", category="staff", words=b"", context=b"")
    assert category_label(by_staff) == "Raised by a member of staff"
    screened = Concern(school_id=1, subject_id=1, source="screening", category="self_harm", words=b"", context=b"")
    assert category_label(screened) == "Self-harm or suicide"


def test_the_school_sets_the_minutes_and_contacts_and_a_dsl_added_on_the_command_line_gets_the_held_alert(
    tmp_path: Path, settings: Settings
) -> None:
    assert run(tmp_path, "init").returncode == 0
    shown = run(tmp_path, "school", "show")
    assert "Safeguarding: unacknowledged alerts escalate after 60 minutes" in shown.stdout
    assert "Safeguarding escalation contacts: none (only the DSLs are told)" in shown.stdout

    assert run(tmp_path, "school", "safeguarding", "escalate-after", "30").returncode == 0
    for bad in ("0", "soon", "2000"):
        refused = run(tmp_path, "school", "safeguarding", "escalate-after", bad)
        assert refused.returncode == 1 and "Nothing was changed" in refused.stderr
    added = run(tmp_path, "school", "safeguarding", "contacts", "Head@Hillside.example", "chair@governors.example")
    assert added.returncode == 0 and "head@hillside.example, chair@governors.example" in added.stdout
    refused = run(tmp_path, "school", "safeguarding", "contacts", "head@hillside.example", "not-an-address")
    assert refused.returncode == 1 and "'not-an-address' is not an email address" in refused.stderr
    shown = run(tmp_path, "school", "show")
    assert "escalate after 30 minutes" in shown.stdout
    assert "contacts: head@hillside.example, chair@governors.example" in shown.stdout
    row = school_row(tmp_path)
    assert row.safeguarding_escalate_minutes == 30
    assert row.safeguarding_contacts == "head@hillside.example\nchair@governors.example"

    # A concern raised while Hillside has no DSL waits, recorded, until `waymark staff add --role dsl`.
    engine = make_engine(f"sqlite:///{tmp_path / 'school.db'}")
    try:
        pupil = seed.pupil(engine, row.id, "Amira", "Khan", form="9C")
        concern_id = raise_concern(engine, pupil, WEDNESDAY)
        tick(engine, settings, WEDNESDAY + timedelta(hours=2))
        assert keys(engine) == []
        lead = run(tmp_path, "staff", "add", "dee.lead@hillside.example", "Dee Lead", "--role", "dsl")
        assert lead.returncode == 0, lead.stderr
        tick(engine, settings, WEDNESDAY + timedelta(hours=3))
        assert keys(engine) == [f"sg:alert:{concern_id}:email:dee.lead@hillside.example"]
        tick(engine, settings, WEDNESDAY + timedelta(hours=3, minutes=30))  # the school's 30 minutes
        assert sorted(r.chat_id for r in outbox_rows(engine, f"sg:escalate:{concern_id}:1:")) == [
            "chair@governors.example",
            "dee.lead@hillside.example",
            "head@hillside.example",
        ]
    finally:
        engine.dispose()

    cleared = run(tmp_path, "school", "safeguarding", "contacts")
    assert cleared.returncode == 0 and "only the DSLs are told" in cleared.stdout
    assert school_row(tmp_path).safeguarding_contacts == ""
