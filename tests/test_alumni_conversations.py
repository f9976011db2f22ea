"""Alumni answering the check-in, /destination, /stop and "Looking for work"; leavers giving consent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

import handlers.alumni
import handlers.leaving  # noqa: F401  (registers /leaving and /leavers)
from core.settings import load_settings
from handlers import Dispatcher, texts
from scheduler import campaign
from storage import consents, seed
from storage.consents import ConsentKind
from storage.db import transaction
from storage.models import (
    AgreedAction,
    Checkin,
    Consent,
    Destination,
    OutboxMessage,
    Person,
    StaffRole,
)
from tests.chat import Chat, Clock

SETTINGS = load_settings(database_url="sqlite://", telegram_bot_username="waymark_test_bot")
LEFT = date(2026, 7, 17)
OCT_2026 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
OCT_2027 = datetime(2027, 10, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(OCT_2026)


@pytest.fixture
def world(engine: Engine, clock: Clock) -> dict[str, object]:
    school = seed.school(engine)
    leader = seed.staff(engine, school.id, "Lee", "Leader", role=StaffRole.leader)
    seed.link(engine, leader, "console", "leader")
    alum = seed.pupil(engine, school.id, "Ana", "Ortiz", year_group=13, form="13A", leaving_date=LEFT)
    seed.link(engine, alum, "telegram", "tg-ana")
    with transaction(engine) as s:
        assert alum.id is not None
        consents.record(s, alum.id, ConsentKind.yearly_checkin, True, OCT_2026, channel="telegram")
    campaign.run_checkins(engine, SETTINGS, OCT_2026)  # Ana becomes an alumnus and gets her check-in
    dispatcher = Dispatcher(engine, SETTINGS, clock=clock)
    return {"school": school, "leader": leader, "alum": alum, "dispatcher": dispatcher}


def _one(engine: Engine, query: Callable[[], object]) -> object:
    with transaction(engine, write=False) as s:
        return s.exec(query()).all()  # type: ignore[call-overload]


def test_check_in_answer_saves_destination_and_ends_reminders(engine: Engine, world: dict) -> None:
    ana = Chat(world["dispatcher"], "tg-ana", "telegram")
    ana.press_data("/destination")  # the check-in message's button
    assert "Where are you now?" in ana.text
    assert "Apprenticeship" in ana.buttons() and "Same as last year" not in ana.buttons()
    ana.press("Apprenticeship")
    ana.say("Acme <Engineering> & Sons 🚀, Electrician")  # the place and the job in one message
    assert "Saved: Apprenticeship (Acme <Engineering> & Sons 🚀, Electrician)" in ana.text
    assert ana.sent <= 3  # the check-in's button, the category, one message
    [dest] = _one(engine, lambda: select(Destination))  # type: ignore[misc]
    assert (dest.year_after_leaving, dest.nccis_code, dest.group, dest.source) == (1, 310, "apprenticeship", "alumnus")
    [checkin] = _one(engine, lambda: select(Checkin))  # type: ignore[misc]
    assert checkin.status == "answered"
    assert campaign.run_reminders(engine, SETTINGS, datetime(2026, 10, 20, 9, tzinfo=UTC)).sent == 0


def test_same_as_last_year(engine: Engine, world: dict, clock: Clock) -> None:
    ana = Chat(world["dispatcher"], "tg-ana", "telegram")
    ana.press_data("/destination")
    ana.press("University (higher education)")
    ana.say("University of Leeds")
    campaign.run_checkins(engine, SETTINGS, OCT_2027)
    clock.now = OCT_2027
    ana.press_data("/destination")
    assert "Last time you told us: University (higher education) (University of Leeds)" in ana.text
    ana.press("Same as last year")
    assert "Saved" in ana.text
    rows = _one(engine, lambda: select(Destination.year_after_leaving, Destination.provider, Destination.nccis_code))
    assert sorted(rows) == [(1, "University of Leeds", 240), (2, "University of Leeds", 240)]  # type: ignore[type-var]


def test_answering_again_the_same_day_shows_today_s_answer_and_keeps_it(
    engine: Engine, world: dict, clock: Clock
) -> None:
    ana = Chat(world["dispatcher"], "tg-ana", "telegram")
    ana.press_data("/destination")
    ana.press("University (higher education)")
    ana.say("University of Leeds, History")
    campaign.run_checkins(engine, SETTINGS, OCT_2027)
    clock.now = OCT_2027
    ana.press_data("/destination")
    offered_same = [b for r in ana.last for row in r.buttons for b in row if b.label == "Same as last year"]
    ana.press("Apprenticeship")
    ana.say("Acme Electrics - trainee electrician")
    ana.press_data("/destination")  # the same day again
    assert "This year you told us: Apprenticeship (Acme Electrics, trainee electrician)" in ana.text
    assert "Same as last year" not in ana.buttons() and "Keep it" in ana.buttons()
    ana.press_data(offered_same[0].data)  # the old button from this morning's question
    assert "Kept: Apprenticeship" in ana.text
    rows = _one(engine, lambda: select(Destination.year_after_leaving, Destination.category))
    assert sorted(rows) == [(1, "University (higher education)"), (2, "Apprenticeship")]  # type: ignore[type-var]


def test_looking_for_work_reaches_the_careers_leader(engine: Engine, world: dict) -> None:
    ana = Chat(world["dispatcher"], "tg-ana", "telegram")
    ana.press_data("/destination")
    ana.press("Looking for work")
    assert "get in touch" in ana.text
    ana.press("Yes please")
    assert "careers team will get in touch" in ana.text
    [action] = _one(engine, lambda: select(AgreedAction))  # type: ignore[misc]
    assert action.owner_id == world["leader"].id and action.pupil_id == world["alum"].id
    notes = _one(engine, lambda: select(OutboxMessage).where(col(OutboxMessage.key).like("lfw:%")))
    assert [(n.platform, n.chat_id) for n in notes] == [("console", "leader")]  # type: ignore[attr-defined]
    [dest] = _one(engine, lambda: select(Destination))  # type: ignore[misc]
    assert (dest.nccis_code, dest.group) == (619, "NEET")


def test_looking_for_work_tells_the_careers_leader_even_without_asking_for_help(engine: Engine, world: dict) -> None:
    ana = Chat(world["dispatcher"], "tg-ana", "telegram")
    ana.press_data("/destination")
    ana.press("Looking for work")
    ana.press("No thanks")
    assert "change your mind" in ana.text
    notes = _one(engine, lambda: select(OutboxMessage).where(col(OutboxMessage.key).like("lfw-said:%")))
    assert [(n.platform, n.chat_id) for n in notes] == [("console", "leader")]  # type: ignore[attr-defined]
    assert "Ana Ortiz" in notes[0].text and "looking for work" in notes[0].text  # type: ignore[index]
    assert _one(engine, lambda: select(AgreedAction)) == []  # no request for help, so no action for the leader


def test_stop_is_confirmed_and_ends_future_check_ins(engine: Engine, world: dict, clock: Clock) -> None:
    ana = Chat(world["dispatcher"], "tg-ana", "telegram")
    ana.say("/stop")
    assert "Stop the yearly messages?" in ana.text
    ana.press("No, keep them")
    assert "nothing changed" in ana.text
    ana.say("/stop")
    ana.press("Yes, stop them")
    assert "no more yearly messages" in ana.text
    ana.say("/stop")  # a second time: nothing to ask
    assert "already stopped" in ana.text and "Yes, stop them" not in ana.buttons()
    [checkin] = _one(engine, lambda: select(Checkin))  # type: ignore[misc]
    assert checkin.status == "stopped"
    assert campaign.run_reminders(engine, SETTINGS, datetime(2026, 10, 20, 9, tzinfo=UTC)).sent == 0
    assert campaign.run_checkins(engine, SETTINGS, OCT_2027).sent == 0
    granted = _one(engine, lambda: select(Consent.granted).order_by(col(Consent.id)))
    assert granted == [True, False]


def test_destination_is_for_alumni_and_bad_answers_lose_nothing(engine: Engine, world: dict) -> None:
    pupil = seed.pupil(engine, world["school"].id, "Pip", "Young")
    seed.link(engine, pupil, "web", "w-pip")
    pip = Chat(world["dispatcher"], "w-pip", "web")
    pip.say("/destination")
    assert pip.text == texts.NOT_FOR_YOU
    pip.press_data("dest:apprenticeship")  # forged button data outside any conversation
    assert "Saved" not in pip.text
    ana = Chat(world["dispatcher"], "tg-ana", "telegram")
    ana.press_data("/destination")
    ana.say("on the moon")
    assert "Please tap one of the buttons" in ana.text and "Where are you now?" in ana.text
    ana.press_data("dest:no-such-thing")
    assert "Please tap one of the buttons" in ana.text
    ana.press("Job without training")
    ana.say("x" * 300)
    assert "300 characters" in ana.text
    ana.send_photo()
    ana.say("Corner Café\nBarista")
    assert "Saved: Job without training (Corner Café, Barista)" in ana.text
    assert _one(engine, lambda: select(Destination.nccis_code)) == [330]


# ---- leavers ------------------------------------------------------------------------------------


@pytest.fixture
def leavers(engine: Engine) -> dict[str, object]:
    school = seed.school(engine)
    leader = seed.staff(engine, school.id, "Lee", "Leader", role=StaffRole.leader)
    seed.link(engine, leader, "console", "leader")
    sam = seed.pupil(
        engine, school.id, "Sam", "Reed", year_group=13, form="13B", dob=date(2008, 1, 5), leaving_date=LEFT
    )
    seed.link(engine, sam, "telegram", "tg-sam")
    kit = seed.pupil(
        engine, school.id, "Kit", "Moss", year_group=11, form="11C", dob=date(2010, 9, 1), leaving_date=LEFT
    )
    seed.link(engine, kit, "web", "w-kit")
    nell = seed.pupil(engine, school.id, "Nell", "Gray", year_group=13, form="13B", leaving_date=LEFT)
    may = datetime(2026, 5, 5, 9, tzinfo=UTC)
    dispatcher = Dispatcher(engine, SETTINGS, clock=lambda: may)
    return {"sam": sam, "kit": kit, "nell": nell, "dispatcher": dispatcher, "may": may}


def test_leavers_are_invited_once_in_the_summer_term(engine: Engine, leavers: dict) -> None:
    assert campaign.run_leaver_invitations(engine, SETTINGS, datetime(2026, 2, 2, 10, tzinfo=UTC)) == 0  # too early
    assert campaign.run_leaver_invitations(engine, SETTINGS, leavers["may"]) == 2  # Sam and Kit; Nell has no chat
    assert campaign.run_leaver_invitations(engine, SETTINGS, leavers["may"]) == 0
    rows = _one(engine, lambda: select(OutboxMessage.key, OutboxMessage.buttons))
    assert {k for k, _ in rows} == {  # type: ignore[misc]
        f"leaving:{leavers['sam'].id}:telegram:tg-sam",
        f"leaving:{leavers['kit'].id}:web:w-kit",
    }
    assert all("/leaving" in b for _, b in rows)  # type: ignore[misc]


def test_leaver_consents_on_telegram_and_the_leader_sees_who_has_not(engine: Engine, leavers: dict) -> None:
    sam = Chat(leavers["dispatcher"], "tg-sam", "telegram")
    sam.say("/leaving")
    assert "once a year" in sam.text.lower()
    sam.press("Yes, that's fine")
    assert "Telegram" in sam.buttons() and "Email" in sam.buttons()
    sam.press_data("ch:slack")  # not an account of his: refused
    assert "Please tap one of the buttons" in sam.text
    sam.press("Telegram")
    sam.press("Yes, happy to")
    assert "/stop" in sam.text
    with transaction(engine, write=False) as s:
        assert leavers["sam"].id is not None
        yearly = consents.latest(s, leavers["sam"].id, ConsentKind.yearly_checkin)
        helping = consents.latest(s, leavers["sam"].id, ConsentKind.help_pupils)
    assert yearly is not None and yearly.granted and yearly.channel == "telegram"
    assert helping is not None and helping.granted
    lead = Chat(leavers["dispatcher"], "leader", "console")
    lead.say("/leavers")
    assert "Kit Moss (11C)" in lead.text and "Nell Gray (13B)" in lead.text and "Sam Reed" not in lead.text
    assert "Nell Gray (13B), leaving 17 Jul 2026 - no chat linked" in lead.text
    Chat(leavers["dispatcher"], "w-kit", "web").say("/leavers")
    assert Chat(leavers["dispatcher"], "w-kit", "web").say("/leavers")[0].text == texts.NOT_FOR_YOU


def test_young_leaver_on_the_web_gives_an_email_address(engine: Engine, leavers: dict) -> None:
    kit = Chat(leavers["dispatcher"], "w-kit", "web")
    kit.say("/leaving")
    kit.press("Yes, that's fine")
    assert kit.buttons() == ["Email"]  # 15: no Telegram, and the web chat can't be messaged first
    kit.press("Email")
    kit.say("not an address")
    assert "doesn't look like an email address" in kit.text
    kit.say("Kit.Moss@Example.org")
    assert "kit.moss@example.org" in kit.text
    kit.press("No thanks")
    with transaction(engine, write=False) as s:
        person = s.get(Person, leavers["kit"].id)
        assert person is not None and person.email == "kit.moss@example.org"
    # Kit leaves; the yearly message goes by email.
    result = campaign.run_checkins(engine, SETTINGS, OCT_2026)
    assert result.sent == 1
    [row] = _one(engine, lambda: select(OutboxMessage).where(col(OutboxMessage.key).like("checkin:%")))
    assert (row.platform, row.chat_id) == ("email", "kit.moss@example.org")  # type: ignore[attr-defined]


def test_leaver_can_say_no_and_is_never_messaged(engine: Engine, leavers: dict) -> None:
    sam = Chat(leavers["dispatcher"], "tg-sam", "telegram")
    sam.say("/leaving")
    sam.say("no")
    assert "won't send you yearly messages" in sam.text
    sam.press("No thanks")
    assert campaign.run_checkins(engine, SETTINGS, OCT_2026).sent == 0


def test_a_willing_alumnus_is_asked_their_sector_and_the_alumni_report_uses_it(engine: Engine, world: dict) -> None:
    from reports.alumni import by_sector
    from storage.willing_alumni import willing_alumni

    alum = world["alum"]
    with transaction(engine) as s:
        consents.record(s, alum.id, ConsentKind.help_pupils, True, OCT_2026)
    ana = Chat(world["dispatcher"], "tg-ana", "telegram")
    ana.press_data("/destination")
    ana.press("Job without training")
    ana.say("Greggs, shop floor")  # nothing in it names a sector
    assert "Which sector is that in?" in ana.text and "Skip" in ana.buttons()
    ana.say("food")  # typed, not a button: asked again, nothing lost
    assert "Please tap one of the buttons" in ana.text and "Hospitality & sport" in ana.buttons()
    ana.press("Hospitality & sport")
    assert "Saved: Hospitality & sport" in ana.text
    [dest] = _one(engine, lambda: select(Destination))  # type: ignore[misc]
    assert (dest.nccis_code, dest.sector) == (330, "hospitality")
    school = world["school"]
    with transaction(engine, write=False) as s:
        groups = by_sector(willing_alumni(s, school.id))
    assert [(sector, [h.name for h in helpers]) for sector, helpers in groups] == [
        ("Hospitality, travel and sport", ["Ana Ortiz"])
    ]


def test_an_alumnus_who_would_not_help_is_not_asked_their_sector(engine: Engine, world: dict) -> None:
    ana = Chat(world["dispatcher"], "tg-ana", "telegram")
    ana.press_data("/destination")
    ana.press("Apprenticeship")
    ana.say("Acme, Electrician")
    assert "Saved: Apprenticeship" in ana.text and "Which sector" not in ana.text
