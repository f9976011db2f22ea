"""Enrolment codes: easy to type, unguessable, single-use, expiring, revocable, stored only as a hash."""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import Engine, text
from sqlmodel import select

from storage import codes, seed
from storage.db import transaction
from storage.models import EnrolmentCode, utcnow

CONFUSABLE = set("0O1Il")


def test_alphabet_has_no_confusable_characters_and_enough_entropy() -> None:
    assert not CONFUSABLE & set(codes.ALPHABET)
    assert len(set(codes.ALPHABET)) == len(codes.ALPHABET)
    assert codes.CODE_LENGTH * math.log2(len(codes.ALPHABET)) >= 40


def test_many_codes_are_unique_and_use_only_the_alphabet() -> None:
    many = [codes.new_code() for _ in range(20_000)]
    assert len(set(many)) == len(many)
    assert all(len(c) == codes.CODE_LENGTH and set(c) <= set(codes.ALPHABET) for c in many)
    # Every symbol turns up in every position: nothing is fixed or predictable.
    for position in range(codes.CODE_LENGTH):
        assert {c[position] for c in many} == set(codes.ALPHABET)


SECRET = "s" * 43


def test_typed_forms_match() -> None:
    code = "ABCDE23456"
    keyed = codes.code_hash(code, SECRET)
    assert keyed == codes.code_hash(" abcde-23456 ", SECRET) == codes.code_hash(codes.pretty(code), SECRET)
    # Keyed: the same code under another secret, or unkeyed, is another hash.
    assert keyed.startswith(codes.KEYED_PREFIX)
    assert keyed != codes.code_hash(code, "t" * 43) and keyed.removeprefix(codes.KEYED_PREFIX) != codes.legacy_hash(
        code
    )


def test_keyed_codes_need_the_secret_and_old_sha256_codes_work_until_they_expire(engine: Engine) -> None:
    school = seed.school(engine)
    pupil = seed.pupil(engine, school.id or 0)
    other = seed.pupil(engine, school.id or 0, upn="B100000000002")
    now = utcnow()
    with transaction(engine) as session:
        keyed = codes.issue(session, pupil, days=30, now=now, secret=SECRET)
        # A code issued by an older Waymark: plain SHA-256, as `issue` wrote before WAYMARK_CODE_SECRET.
        old = codes.issue(session, other, days=30, now=now, secret=None)
    with engine.connect() as conn:
        stored = {row[0] for row in conn.execute(text("SELECT code_hash FROM enrolmentcode"))}
    assert stored == {codes.code_hash(keyed.code, SECRET), codes.legacy_hash(old.code)}
    with transaction(engine) as session:
        assert codes.find_valid(session, keyed.code, now=now, secret=SECRET) is not None
        assert codes.find_valid(session, keyed.code, now=now, secret="t" * 43) is None
        assert codes.find_valid(session, old.code, now=now, secret=SECRET) is not None
        assert codes.find_valid(session, old.code, now=now + timedelta(days=30), secret=SECRET) is None


def test_stored_only_as_hash(engine: Engine) -> None:
    school = seed.school(engine)
    pupil = seed.pupil(engine, school.id or 0)
    code = seed.code_for(engine, pupil)
    with engine.connect() as conn:
        dumped = " ".join(str(v) for row in conn.execute(text("SELECT * FROM enrolmentcode")) for v in row)
    assert code not in dumped and codes.pretty(code) not in dumped
    assert codes.code_hash(code, None) in dumped


def test_expiry_single_use_and_revocation(engine: Engine) -> None:
    school = seed.school(engine)
    pupil = seed.pupil(engine, school.id or 0)
    now = utcnow()
    with transaction(engine) as session:
        issued = codes.issue(session, pupil, days=30, now=now)
    assert issued.expires_at == now + timedelta(days=30)
    with transaction(engine) as session:
        assert codes.find_valid(session, issued.code, now=now + timedelta(days=29)) is not None
        assert codes.find_valid(session, issued.code, now=now + timedelta(days=30)) is None  # expired
        assert codes.find_valid(session, "WRONGCODE2", now=now) is None
        assert codes.find_valid(session, "", now=now) is None

    # Single use.
    with transaction(engine) as session:
        row = codes.find_valid(session, issued.code, now=now)
        assert row is not None
        assert codes.claim(session, row, now=now)
        assert not codes.claim(session, row, now=now)  # a second claim of the same row finds it used
    with transaction(engine) as session:
        assert codes.find_valid(session, issued.code, now=now) is None

    # Re-issuing revokes the old unused code; the new one works.
    with transaction(engine) as session:
        old = codes.issue(session, pupil, now=now)
    with transaction(engine) as session:
        new = codes.issue(session, pupil, now=now)
    with transaction(engine) as session:
        assert codes.find_valid(session, old.code, now=now) is None
        assert codes.find_valid(session, new.code, now=now) is not None
        rows = session.exec(select(EnrolmentCode).where(EnrolmentCode.person_id == pupil.id)).all()
        assert sorted((r.used_at is not None, r.revoked_at is not None) for r in rows) == [
            (False, False),
            (False, True),
            (True, False),  # a used code is not "revoked" afterwards
        ]
