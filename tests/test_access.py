"""Every forbidden combination refused: the pure rules, and the same through `dispatch`."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from handlers import Dispatcher, Incoming, texts
from handlers import access as rules
from handlers.pupils import NOT_AVAILABLE
from storage import audit, caseload, identities, seed
from storage.db import transaction
from storage.models import AdviceRecord, AuditEvent, CaseloadAssignment, Person, Role, StaffRole
from tests.conftest import MakeChat

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def person(
    pid: int, role: Role, staff_role: StaffRole | None = None, school: int = 1, tutor: int | None = None
) -> Person:
    return Person(
        id=pid, school_id=school, role=role, staff_role=staff_role, tutor_id=tutor, given_name="A", family_name="B"
    )


TUTOR = person(1, Role.staff, StaffRole.tutor)
LEADER = person(2, Role.staff, StaffRole.leader)
DSL = person(3, Role.staff, StaffRole.dsl)
MINE = person(10, Role.pupil, tutor=1)
OTHERS = person(11, Role.pupil, tutor=99)
ASSIGNED = person(12, Role.pupil, tutor=99)
ALUMNUS = person(20, Role.alumnus)
OTHER_ALUMNUS = person(21, Role.alumnus)
OTHER_SCHOOL_LEADER = person(30, Role.staff, StaffRole.leader, school=2)
OTHER_SCHOOL_DSL = person(31, Role.staff, StaffRole.dsl, school=2)
LEADER_AND_DSL = person(4, Role.staff, StaffRole.leader)
LEADER_AND_DSL.other_staff_roles = "dsl"


class TestPureRules:
    def test_pupil_sees_only_their_own_record(self) -> None:
        assert rules.may_view_record(MINE, MINE)
        assert not rules.may_view_record(MINE, OTHERS)
        assert not rules.may_log_advice(MINE, MINE)
        assert not rules.may_see_staff_notes(MINE, MINE)  # not even about themselves

    def test_tutor_sees_tutor_group_and_assigned_pupils_only(self) -> None:
        assert rules.may_view_record(TUTOR, MINE)
        assert rules.may_log_advice(TUTOR, MINE)
        assert rules.may_see_staff_notes(TUTOR, MINE)
        assert not rules.may_view_record(TUTOR, OTHERS)
        assert not rules.may_log_advice(TUTOR, OTHERS)
        assert not rules.may_see_staff_notes(TUTOR, OTHERS)
        assert rules.may_view_record(TUTOR, ASSIGNED, assigned={12})
        assert not rules.may_view_record(TUTOR, ASSIGNED, assigned={13})

    def test_leader_sees_every_pupil_in_their_school_and_no_other_school(self) -> None:
        for pupil in (MINE, OTHERS, ASSIGNED):
            assert rules.may_view_record(LEADER, pupil) and rules.may_log_advice(LEADER, pupil)
        assert not rules.may_view_record(OTHER_SCHOOL_LEADER, MINE)
        assert not rules.may_log_advice(OTHER_SCHOOL_LEADER, MINE)
        assert rules.may_see_attention(LEADER) and not rules.may_see_attention(TUTOR)

    def test_a_dsl_alone_keeps_no_records_but_may_open_any_pupils_record(self) -> None:
        # Issue 10: a DSL opens any pupil's record at their school; logging advice stays with tutors and leaders.
        assert not rules.may_log_advice(DSL, MINE) and not rules.may_log_advice(DSL, OTHERS)
        assert rules.may_view_record(DSL, MINE) and rules.may_view_record(DSL, OTHERS)
        assert rules.may_see_staff_notes(DSL, OTHERS)
        assert not rules.may_view_record(DSL, ALUMNUS)  # any pupil, not every person
        assert not rules.may_view_record(OTHER_SCHOOL_DSL, MINE) and not rules.may_see_staff_notes(
            OTHER_SCHOOL_DSL, MINE
        )
        assert not rules.may_view_record(DSL, MINE, chat_type="group")

    def test_only_dsls_see_concerns_and_only_their_own_schools(self) -> None:
        for viewer in (TUTOR, LEADER, MINE, ALUMNUS, None):
            assert not rules.may_see_concerns(viewer) and not rules.may_open_concern(viewer, 1)
        assert rules.may_see_concerns(DSL) and rules.may_open_concern(DSL, 1)
        assert not rules.may_open_concern(DSL, 2)  # another school's concern
        assert not rules.may_see_concerns(DSL, chat_type="group")
        assert rules.may_open_concern(LEADER_AND_DSL, 1) and rules.may_see_attention(LEADER_AND_DSL)

    def test_every_staff_role_counts_not_only_the_main_one(self) -> None:
        assert rules.is_leader(LEADER_AND_DSL) and rules.is_dsl(LEADER_AND_DSL)
        assert rules.may_log_advice(LEADER_AND_DSL, OTHERS)
        tutor_and_dsl = person(1, Role.staff, StaffRole.tutor)  # MINE's tutor
        tutor_and_dsl.other_staff_roles = "dsl"
        assert rules.may_log_advice(tutor_and_dsl, MINE) and not rules.may_log_advice(tutor_and_dsl, OTHERS)
        assert rules.may_view_record(tutor_and_dsl, OTHERS)  # as the DSL
        pupil_with_a_stray_role = person(13, Role.pupil)
        pupil_with_a_stray_role.other_staff_roles = "dsl,leader"
        assert not rules.is_dsl(pupil_with_a_stray_role) and not rules.is_leader(pupil_with_a_stray_role)

    def test_alumnus_sees_only_their_own_destinations_and_no_pupil(self) -> None:
        assert rules.may_view_destinations(ALUMNUS, ALUMNUS)
        assert not rules.may_view_destinations(ALUMNUS, OTHER_ALUMNUS)
        assert not rules.may_view_record(ALUMNUS, MINE)
        assert not rules.may_log_advice(ALUMNUS, MINE)
        assert not rules.may_view_destinations(MINE, ALUMNUS)
        assert not rules.may_view_destinations(TUTOR, ALUMNUS)
        assert rules.may_view_destinations(LEADER, ALUMNUS)

    def test_unlinked_sees_nothing(self) -> None:
        for subject in (MINE, OTHERS, ALUMNUS):
            assert not rules.may_view_record(None, subject)
            assert not rules.may_log_advice(None, subject)
            assert not rules.may_see_staff_notes(None, subject)
            assert not rules.may_view_destinations(None, subject)
        assert not rules.may_see_attention(None)

    @pytest.mark.parametrize("chat_type", ["group", "supergroup", "channel"])
    def test_group_chat_sees_nothing(self, chat_type: str) -> None:
        assert not rules.may_view_record(MINE, MINE, chat_type=chat_type)
        assert not rules.may_view_record(LEADER, MINE, chat_type=chat_type)
        assert not rules.may_log_advice(TUTOR, MINE, chat_type=chat_type)
        assert not rules.may_see_staff_notes(LEADER, MINE, chat_type=chat_type)
        assert not rules.may_view_destinations(ALUMNUS, ALUMNUS, chat_type=chat_type)
        assert not rules.may_see_attention(LEADER, chat_type=chat_type)

    def test_age_gate(self) -> None:
        fourteen = Person(school_id=1, role=Role.pupil, given_name="L", family_name="W", date_of_birth=date(2012, 5, 1))
        assert rules.too_young_for(fourteen, 16, date(2026, 11, 23))
        assert not rules.too_young_for(fourteen, 0, date(2026, 11, 23))  # the web chat has no minimum


# --- the same rules through dispatch ----------------------------------------------------------


@pytest.fixture
def world(engine: Engine) -> dict[str, Person]:
    s = seed.school(engine)
    elsewhere = seed.school(engine, "Other School")
    assert s.id is not None and elsewhere.id is not None
    tutor = seed.staff(engine, s.id, "Sam", "Patel")
    other_tutor = seed.staff(engine, s.id, "Olu", "Adeyemi")
    far_leader = seed.staff(engine, elsewhere.id, "Fay", "Far", role=StaffRole.leader)
    amira = seed.pupil(engine, s.id, "Amira", "Khan", tutor_id=tutor.id)
    cara = seed.pupil(engine, s.id, "Cara", "Smith", form="11B", tutor_id=other_tutor.id)
    with transaction(engine) as session:
        alumnus = Person(school_id=s.id, role=Role.alumnus, given_name="Alex", family_name="Old", upn="A1")
        session.add(alumnus)
        session.add(AdviceRecord(pupil_id=cara.id, staff_id=other_tutor.id, kind="other", summary="CARA-SECRET"))
        session.flush()
    for who, uid, platform in [
        (tutor, "sam", "slack"),
        (far_leader, "fay", "slack"),
        (amira, "amira", "web"),
        (alumnus, "alex", "telegram"),
    ]:
        seed.link(engine, who, platform, uid)
    return {"tutor": tutor, "amira": amira, "cara": cara, "alumnus": alumnus, "far": far_leader}


STAFF_COMMANDS = ["/pupil Cara", "/log Cara", "/caseload", "/attention"]


def no_audit(engine: Engine) -> None:
    with transaction(engine) as s:
        assert s.exec(select(AuditEvent)).all() == []


def test_pupil_cannot_reach_another_pupil(engine: Engine, chat: MakeChat, world: dict[str, Person]) -> None:
    amira = chat("amira", platform="web")
    for command in [*STAFF_COMMANDS, f"/pupil #{world['cara'].id}", f"/log #{world['cara'].id}"]:
        amira.say(command)
        assert amira.text == texts.NOT_FOR_YOU
    amira.press_data(f"pick:{world['cara'].id}")  # forged data from the staff flow
    assert "Cara" not in amira.text and "CARA-SECRET" not in amira.text
    no_audit(engine)


def test_tutor_cannot_reach_a_pupil_outside_the_caseload(
    engine: Engine, chat: MakeChat, world: dict[str, Person]
) -> None:
    sam = chat("sam", platform="slack")
    cara_id = world["cara"].id
    sam.say(f"/pupil #{cara_id}")
    assert sam.text == NOT_AVAILABLE
    sam.say(f"/log #{cara_id}")
    assert sam.text == NOT_AVAILABLE
    sam.say("/log Cara")
    assert "couldn't find" in sam.text and sam.buttons() == []
    sam.press_data(f"pick:{cara_id}")  # forged button data with another tutor's pupil
    assert sam.text == NOT_AVAILABLE
    sam.say("/caseload")
    assert "Cara" not in sam.text
    with transaction(engine) as s:
        # Only Sam's own pupil was read (listed on the caseload page); nothing about Cara.
        assert [(e.action, e.subject_id) for e in s.exec(select(AuditEvent)).all()] == [
            (audit.LIST_PUPILS, world["amira"].id)
        ]


def test_forged_data_later_in_the_flow_and_access_lost_mid_log(
    engine: Engine, chat: MakeChat, world: dict[str, Person]
) -> None:
    sam = chat("sam", platform="slack")
    sam.say("/log Amira")
    sam.press("Amira Khan (11A)")
    sam.press_data("kind:no-such-kind")
    assert "tap one of the buttons" in sam.text
    sam.press_data("kind:other")
    sam.say("Talked it through")
    sam.say("Do a thing by 12/12")
    sam.press("Done")
    sam.press("No staff note")
    # Amira moves to another tutor before Sam presses Save: the save is refused.
    with transaction(engine) as s:
        amira = s.get(Person, world["amira"].id)
        assert amira is not None
        amira.tutor_id = None
        s.add(amira)
    sam.press("Save")
    assert "no longer log advice" in sam.text
    with transaction(engine) as s:
        assert [r.summary for r in s.exec(select(AdviceRecord)).all()] == ["CARA-SECRET"]


def test_assignment_grants_and_removal_revokes(engine: Engine, chat: MakeChat, world: dict[str, Person]) -> None:
    sam = chat("sam", platform="slack")
    with transaction(engine) as s:
        caseload.assign(s, world["tutor"].id, world["cara"].id)  # type: ignore[arg-type]
    sam.say(f"/pupil #{world['cara'].id}")
    assert "CARA-SECRET" in sam.text
    with transaction(engine) as s:
        for row in s.exec(select(CaseloadAssignment)).all():
            s.delete(row)
    sam.say(f"/pupil #{world['cara'].id}")
    assert sam.text == NOT_AVAILABLE


def test_alumnus_cannot_reach_a_pupil(engine: Engine, chat: MakeChat, world: dict[str, Person]) -> None:
    alex = chat("alex", platform="telegram")
    for command in [*STAFF_COMMANDS, f"/pupil #{world['amira'].id}"]:
        alex.say(command)
        assert alex.text == texts.NOT_FOR_YOU
    alex.press_data(f"pick:{world['amira'].id}")
    assert "Amira" not in alex.text
    no_audit(engine)


def test_leader_of_another_school_sees_nothing_here(engine: Engine, chat: MakeChat, world: dict[str, Person]) -> None:
    fay = chat("fay", platform="slack")
    fay.say(f"/pupil #{world['cara'].id}")
    assert fay.text == NOT_AVAILABLE
    fay.say("/pupil Cara")
    assert "couldn't find" in fay.text
    fay.say("/caseload")
    assert "Cara" not in fay.text and "Amira" not in fay.text
    fay.say("/attention")
    assert "Cara" not in fay.text and "Amira" not in fay.text
    no_audit(engine)


def test_unlinked_account_gets_nothing(engine: Engine, chat: MakeChat, world: dict[str, Person]) -> None:
    stranger = chat("stranger", platform="telegram")
    for command in [*STAFF_COMMANDS, "/record", "/actions", f"/pupil #{world['cara'].id}"]:
        stranger.say(command)
        assert stranger.text == texts.NOT_LINKED
    stranger.press_data(f"pick:{world['cara'].id}")
    assert stranger.text == texts.NOT_LINKED
    stranger.say("Cara")
    assert stranger.text == texts.NOT_LINKED
    no_audit(engine)


def test_group_chat_gets_nothing_even_from_staff(
    engine: Engine, dispatcher: Dispatcher, world: dict[str, Person]
) -> None:
    for i, command in enumerate([*STAFF_COMMANDS, f"/pupil #{world['amira'].id}", "/help"]):
        replies = dispatcher.dispatch(
            Incoming("slack", "C-group", "sam", text=command, update_id=f"g{i}", chat_type="group")
        )
        assert [r.text for r in replies] == [texts.PRIVATE_ONLY]
    replies = dispatcher.dispatch(
        Incoming("slack", "C-group", "sam", button=f"pick:{world['amira'].id}", update_id="gb", chat_type="group")
    )
    assert [r.text for r in replies] == [texts.PRIVATE_ONLY]
    no_audit(engine)


def test_fourteen_year_old_is_not_linked_on_a_platform_with_minimum_age_16(
    engine: Engine, chat: MakeChat, world: dict[str, Person]
) -> None:
    s_id = world["amira"].school_id
    young = seed.pupil(engine, s_id, "Leo", "Ward", year_group=9, form="9A", dob=date(2012, 5, 1))
    code = seed.code_for(engine, young)
    tg = chat("leo-tg", platform="telegram")
    tg.say(f"/start {code}")
    assert "16" in tg.text and "web chat" in tg.text
    tg.say("/record")
    assert tg.text == texts.NOT_LINKED
    with transaction(engine) as s:
        assert identities.person_for(s, "telegram", "leo-tg") is None
