"""The real `waymark` console script, run as a subprocess against a temporary SQLite file."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import func, select

from core.calendar import is_school_day, parse_school_holidays
from core.settings import load_settings
from handlers import Dispatcher, texts
from storage import audit, codes, identities, seed, websessions
from storage.db import make_engine, transaction
from storage.migrate import current_revision, head_revision
from storage.mis.upn import with_check_letter
from storage.models import Person, School, StaffRole, WebSession, utcnow
from storage.people import by_upn_or_email
from tests.chat import Chat

WAYMARK = Path(sys.executable).with_name("waymark")
HEADER = "UPN,Given_Name,Family_Name,Year_Group,Form,Tutor_Email,Date_Of_Birth"


def run(tmp: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        "WAYMARK_DATABASE_URL": f"sqlite:///{tmp / 'school.db'}",
        "WAYMARK_SCHOOL_NAME": "Hillside Academy",
        **extra_env,
    }
    return subprocess.run(
        [str(WAYMARK), *args], cwd=tmp, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
    )


def env_value(tmp: Path, name: str) -> str:
    """A value `waymark init` wrote to the .env in `tmp`."""
    lines = (tmp / ".env").read_text(encoding="utf-8").splitlines()
    return next(line.split("=", 1)[1] for line in lines if line.startswith(f"{name}="))


def people(tmp: Path) -> list[Person]:
    engine = make_engine(f"sqlite:///{tmp / 'school.db'}")
    try:
        with transaction(engine, write=False) as session:
            return list(session.exec(select(Person).order_by(Person.id)).all())  # type: ignore[arg-type]
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def school_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One school set up through the CLI, shared by the tests below (each subprocess costs ~1 s)."""
    tmp = tmp_path_factory.mktemp("cli")
    assert run(tmp, "init").returncode == 0
    return tmp


def test_init_twice_is_harmless_and_writes_one_key(tmp_path: Path) -> None:
    first = run(tmp_path, "init")
    assert first.returncode == 0, first.stderr
    assert "BACK IT UP" in first.stdout
    env_text = (tmp_path / ".env").read_text()
    assert env_text.count("WAYMARK_ENCRYPTION_KEY=") == 1
    assert oct((tmp_path / ".env").stat().st_mode & 0o777) == "0o600"

    second = run(tmp_path, "init")
    assert second.returncode == 0, second.stderr
    assert "BACK IT UP" not in second.stdout and "Encryption key for staff-only notes: set." in second.stdout
    assert (tmp_path / ".env").read_text() == env_text  # the key is never replaced
    engine = make_engine(f"sqlite:///{tmp_path / 'school.db'}")
    try:
        assert current_revision(engine) == head_revision()
        with transaction(engine, write=False) as session:
            assert [s.name for s in session.exec(select(School)).all()] == ["Hillside Academy"]
    finally:
        engine.dispose()


def test_key_from_environment_is_used_and_not_written(tmp_path: Path) -> None:
    done = run(tmp_path, "init", WAYMARK_ENCRYPTION_KEY="not-a-fernet-key")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "Configuration error: WAYMARK_ENCRYPTION_KEY: not a valid key: it must be the 44 characters "
        "`waymark init` wrote (check for a cut or extra character)"
    )
    assert not (tmp_path / ".env").exists()


def test_staff_add_then_roster_with_a_bad_line_then_fixed(school_dir: Path) -> None:
    added = run(school_dir, "staff", "add", "Sam.Patel@hillside.example", "Sam Patel", "--role", "tutor")
    assert added.returncode == 0, added.stderr
    assert "Added Sam Patel <sam.patel@hillside.example> as tutor at Hillside Academy." in added.stdout
    wrong_role = run(school_dir, "staff", "add", "x@hillside.example", "X Y", "--role", "head")
    assert wrong_role.returncode == 1 and "use one of tutor, leader, dsl" in wrong_role.stderr

    rows = [
        "Y123456789001,Amira,Khan,10,10A,sam.patel@hillside.example,2011-03-14",
        "M123456789002,Oliver,Smith,10,10A,,2011-13-01",  # line 3: no 13th month
        "B123456789003,Zara,Ali,11,11B,,2010-06-30",
    ]
    (school_dir / "roster.csv").write_bytes(("\ufeff" + "\r\n".join([HEADER, *rows]) + "\r\n").encode())
    refused = run(school_dir, "import-roster", "roster.csv")
    assert refused.returncode == 1
    assert "line 3, column date_of_birth: '2011-13-01' is not a date" in refused.stderr
    assert "Nothing was imported" in refused.stderr
    assert [p.role for p in people(school_dir)] == ["staff"]

    rows[1] = "M123456789002,Oliver,Smith,10,10A,,2011-12-01"
    (school_dir / "roster.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    done = run(school_dir, "import-roster", "roster.csv")
    assert done.returncode == 0, done.stderr
    assert "3 added, 0 updated, 0 unchanged, 0 missing" in done.stdout
    again = run(school_dir, "import-roster", "roster.csv")
    assert "0 added, 0 updated, 3 unchanged, 0 missing" in again.stdout
    tutor = next(p for p in people(school_dir) if p.role == "staff")
    amira = next(p for p in people(school_dir) if p.given_name == "Amira")
    assert amira.tutor_id == tutor.id

    (school_dir / "short.csv").write_text("\n".join([HEADER, rows[0], rows[2]]) + "\n")
    shrunk = run(school_dir, "import-roster", "short.csv")
    assert "1 missing" in shrunk.stdout and "M123456789002 Oliver Smith" in shrunk.stdout
    assert len(people(school_dir)) == 4


def test_codes_csv_has_working_codes_and_links(school_dir: Path) -> None:
    # Runs after the roster test above (same module, file order).
    out = school_dir / "codes-10a.csv"
    done = run(
        school_dir, "codes", "--form", "10a", "--days", "7", "--out", str(out), TELEGRAM_BOT_USERNAME="hillside_bot"
    )
    assert done.returncode == 0, done.stderr
    table = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert [r["name"] for r in table] == ["Amira Khan"]  # Oliver is missing from the last roster: no code
    row = table[0]
    assert set(row) == {"name", "form", "code", "expires", "web_link", "telegram_link"}
    raw = codes.normalise(row["code"])
    assert row["form"] == "10A" and len(raw) == codes.CODE_LENGTH
    assert row["telegram_link"] == f"https://t.me/hillside_bot?start={raw}"
    assert row["web_link"] == f"http://localhost:8080/signin?code={raw}"
    assert oct(out.stat().st_mode & 0o777) == "0o600"

    # `waymark init` wrote a code secret, and `waymark codes` keyed the hashes with it.
    secret = env_value(school_dir, "WAYMARK_CODE_SECRET")
    engine = make_engine(f"sqlite:///{school_dir / 'school.db'}")
    try:
        with transaction(engine, write=False) as session:
            assert codes.find_valid(session, row["code"]) is None
            valid = codes.find_valid(session, row["code"], secret=secret)
            assert valid is not None
            assert valid.expires_at.date().isoformat() <= row["expires"]
            first_code_count = session.exec(select(func.count()).select_from(codes.EnrolmentCode)).one()
    finally:
        engine.dispose()

    # A second run re-issues: the first code stops working.
    assert run(school_dir, "codes", "--form", "10A", "--out", str(out)).returncode == 0
    second = next(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert "telegram_link" not in second  # no bot username configured this time
    engine = make_engine(f"sqlite:///{school_dir / 'school.db'}")
    try:
        with transaction(engine, write=False) as session:
            assert codes.find_valid(session, row["code"], secret=secret) is None
            assert codes.find_valid(session, second["code"], secret=secret) is not None
            assert session.exec(select(func.count()).select_from(codes.EnrolmentCode)).one() == first_code_count + 1
    finally:
        engine.dispose()

    nobody = run(school_dir, "codes", "--form", "13Z", "--out", str(school_dir / "none.csv"))
    assert nobody.returncode == 1 and "No pupils in form 13Z" in nobody.stderr
    staff = run(school_dir, "codes", "--role", "staff", "--out", str(school_dir / "staff.csv"))
    assert staff.returncode == 0 and "Sam Patel" in (school_dir / "staff.csv").read_text(encoding="utf-8-sig")


def test_missing_file_and_missing_column_are_explained(school_dir: Path) -> None:
    gone = run(school_dir, "import-roster", "nope.csv")
    assert gone.returncode == 1 and "Cannot read nope.csv" in gone.stderr
    (school_dir / "bad.csv").write_text("upn,given_name,year_group\nY123456789001,Amira,10\n")
    bad = run(school_dir, "import-roster", "bad.csv")
    assert bad.returncode == 1
    assert "required column missing from the header row: family_name" in bad.stderr


def test_chat_as_a_pupil_and_as_staff(school_dir: Path) -> None:
    # Runs after the roster test above: Amira (Y123456789001) and Sam Patel exist.
    done = subprocess.run(
        [str(WAYMARK), "chat", "--as", "y123456789001"],
        cwd=school_dir,
        env={
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(school_dir),
            "WAYMARK_DATABASE_URL": f"sqlite:///{school_dir / 'school.db'}",
            "WAYMARK_SCHOOL_NAME": "Hillside Academy",
        },
        input="/reflect Practised my interview answers\n1\n/quit\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Chatting as Amira Khan (pupil)" in done.stdout
    assert "Saved to your journal" in done.stdout and "Practised my interview answers" in done.stdout
    assert "(pressed: " in done.stdout  # "1" pressed the first button shown
    assert "\x1b[" not in done.stdout  # piped output is plain text
    assert done.stdout.rstrip().endswith("Bye!")

    staff = run(school_dir, "chat", "--as", "SAM.PATEL@hillside.example")
    assert staff.returncode == 0 and "Chatting as Sam Patel (staff)" in staff.stdout

    nobody = run(school_dir, "chat", "--as", "Z999999999999")
    assert nobody.returncode == 1 and "Nobody has the UPN or email 'Z999999999999'" in nobody.stderr


def test_missing_column_and_skip_invalid_through_the_command(tmp_path: Path) -> None:
    rows = ["Y123456789001,Amira,Khan,10,10A,,2011-03-14", "M123456789002,Oliver,Smith,10,10A,,2011-05-01"]
    (tmp_path / "first.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    assert run(tmp_path, "import-roster", "first.csv").returncode == 0
    before = [(p.upn, p.form, p.status) for p in people(tmp_path)]

    # A file without family_name: refused, and nobody added, changed or marked missing.
    (tmp_path / "nofamily.csv").write_text("upn,given_name,year_group,form\nB123456789003,Zara,11,11B\n")
    refused = run(tmp_path, "import-roster", "nofamily.csv")
    assert refused.returncode == 1 and "family_name" in refused.stderr and "Nothing was imported" in refused.stderr
    assert [(p.upn, p.form, p.status) for p in people(tmp_path)] == before

    # --skip-invalid imports the good rows and lists the bad one by line and column.
    mixed = [
        "Y123456789001,Amira,Khan,10,10C,,2011-03-14",  # moved form
        "M123456789002,Oliver,Smith,10,10A,,2011-13-01",  # line 3: no 13th month
        "B123456789003,Zara,Ali,11,11B,,2010-06-30",  # new
    ]
    (tmp_path / "mixed.csv").write_text("\n".join([HEADER, *mixed]) + "\n")
    without_flag = run(tmp_path, "import-roster", "mixed.csv")
    assert without_flag.returncode == 1 and "--skip-invalid" in without_flag.stderr
    assert [(p.upn, p.form, p.status) for p in people(tmp_path)] == before
    done = run(tmp_path, "import-roster", "mixed.csv", "--skip-invalid")
    assert done.returncode == 0, done.stderr
    assert "1 added, 1 updated, 0 unchanged, 0 missing" in done.stdout
    assert "Skipped 1 row(s) with problems:" in done.stdout and "line 3, column date_of_birth" in done.stdout
    after = {p.upn: (p.form, p.status, p.date_of_birth) for p in people(tmp_path)}
    assert after["Y123456789001"][0] == "10C"
    assert after["M123456789002"] == ("10A", "active", date(2011, 5, 1))  # the bad row changed nothing
    assert after["B123456789003"][1] == "active"


def school_row(tmp: Path) -> School:
    engine = make_engine(f"sqlite:///{tmp / 'school.db'}")
    try:
        with transaction(engine, write=False) as session:
            return session.exec(select(School)).one()
    finally:
        engine.dispose()


def test_school_settings_reach_the_conversations_and_the_quiet_days(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    shown = run(tmp_path, "school", "show")
    assert shown.returncode == 0, shown.stderr
    assert "Skills framework (the default Skills Builder eight): Listening, Speaking" in shown.stdout
    assert "  looked_after=2" in shown.stdout and "Holidays: none set" in shown.stdout

    # Skills framework: set, refused when malformed, back to the default.
    skills = run(tmp_path, "school", "skills", "Teamwork, Digital skills ,Resilience")
    assert skills.returncode == 0 and "Teamwork, Digital skills, Resilience" in skills.stdout
    twice = run(tmp_path, "school", "skills", "Teamwork, teamwork")
    assert twice.returncode == 1 and "Nothing was changed" in twice.stderr and "twice" in twice.stderr
    assert school_row(tmp_path).skills == "Teamwork, Digital skills, Resilience"

    # Holidays: added in date order, refused when malformed, removed, listed; the scheduler reads them.
    assert run(tmp_path, "school", "holidays", "add", "2027-02-15..2027-02-19").returncode == 0
    assert run(tmp_path, "school", "holidays", "add", "2026-12-21..2027-01-01").returncode == 0
    backwards = run(tmp_path, "school", "holidays", "add", "2027-01-01..2026-12-21")
    assert backwards.returncode == 1 and "before the first" in backwards.stderr
    assert run(tmp_path, "school", "holidays", "add", "2027-05-31").returncode == 0
    assert run(tmp_path, "school", "holidays", "remove", "2027-05-31").returncode == 0
    absent = run(tmp_path, "school", "holidays", "remove", "2027-05-31")
    assert absent.returncode == 1 and "no holiday 2027-05-31" in absent.stderr
    listed = run(tmp_path, "school", "holidays", "list")
    assert listed.stdout.split() == ["2026-12-21..2027-01-01", "2027-02-15..2027-02-19"]
    ranges = parse_school_holidays(school_row(tmp_path).holidays)
    assert ranges == [(date(2026, 12, 21), date(2027, 1, 1)), (date(2027, 2, 15), date(2027, 2, 19))]
    assert not is_school_day(date(2026, 12, 23), ranges) and is_school_day(date(2027, 1, 4), ranges)

    # Risk weights: stored per school, refused when unknown or out of range.
    unknown = run(tmp_path, "school", "risk-weights", "shoe_size=2")
    assert unknown.returncode == 1 and "unknown weight 'shoe_size'" in unknown.stderr
    too_big = run(tmp_path, "school", "risk-weights", "young_carer=1000")
    assert too_big.returncode == 1 and "from 0 to 100" in too_big.stderr
    weights = run(tmp_path, "school", "risk-weights", "young_carer=3", "threshold=3")
    assert weights.returncode == 0, weights.stderr
    assert "* young_carer=3" in run(tmp_path, "school", "show").stdout

    # The conversations use them: a young carer is flagged on /pupil, and the new skills are the buttons.
    engine = make_engine(f"sqlite:///{tmp_path / 'school.db'}")
    try:
        school = school_row(tmp_path)
        assert school.id is not None
        leader = seed.staff(engine, school.id, "Lena", "Ortiz", role=StaffRole.leader)
        carer = seed.pupil(engine, school.id, "Maya", "Reid", year_group=9, form="9A", young_carer=True)
        seed.link(engine, leader, "console", "lena")
        seed.link(engine, carer, "console", "maya")
        dispatcher = Dispatcher(engine, load_settings(database_url="sqlite://"))
        lena = Chat(dispatcher, "lena")
        lena.say(f"/pupil #{carer.id}")
        assert "at risk of NEET: young carer" in lena.text
        maya = Chat(dispatcher, "maya")
        maya.say("/reflect")
        maya.say("Helped at the food bank")
        assert maya.buttons()[:3] == ["Teamwork", "Digital skills", "Resilience"]
        assert run(tmp_path, "school", "risk-weights", "--default").returncode == 0
        assert run(tmp_path, "school", "skills", "--default").returncode == 0
        lena.say(f"/pupil #{carer.id}")
        assert "at risk of NEET" not in lena.text  # one factor of weight 1 is a reason, not a flag
    finally:
        engine.dispose()


def test_unlink_disconnects_every_chat_account_and_ends_web_sessions(tmp_path: Path) -> None:
    assert run(tmp_path, "staff", "add", "sam.patel@hillside.example", "Sam Patel", "--role", "tutor").returncode == 0
    assert run(tmp_path, "staff", "add", "kim.lee@hillside.example", "Kim Lee", "--role", "tutor").returncode == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'school.db'}")
    try:
        with transaction(engine) as session:
            sam, kim = (
                by_upn_or_email(session, e)[0] for e in ("sam.patel@hillside.example", "kim.lee@hillside.example")
            )
        seed.link(engine, sam, "slack", "U123")
        seed.link(engine, sam, "web", "web-sam")
        seed.link(engine, kim, "web", "web-kim")
        with transaction(engine) as session:
            now = utcnow()
            sam_token = websessions.create(session, sam.id, "web-sam", now)  # type: ignore[arg-type]
            kim_token = websessions.create(session, kim.id, "web-kim", now)  # type: ignore[arg-type]

        done = run(tmp_path, "unlink", "--as", "Sam.Patel@hillside.example")
        assert done.returncode == 0, done.stderr
        assert "Disconnected 2 chat account(s) of Sam Patel (slack, web); 1 web chat session(s) ended" in done.stdout

        with transaction(engine) as session:
            now = utcnow()
            assert identities.identities_of(session, sam.id) == []  # type: ignore[arg-type]
            assert websessions.find(session, sam_token, now) is None
            sam_sessions = session.exec(select(WebSession).where(WebSession.person_id == sam.id)).all()
            assert [s.revoked_at is not None for s in sam_sessions] == [True]
            assert websessions.find(session, kim_token, now) is not None  # nobody else is touched
            assert [e.action for e in audit.events_about(session, sam.id)] == ["change_roles", "unlink_all"]  # type: ignore[arg-type]
        dispatcher = Dispatcher(engine, load_settings(database_url="sqlite://"))
        slack = Chat(dispatcher, "U123", "slack")
        slack.say("/caseload")
        assert slack.text == texts.NOT_LINKED
    finally:
        engine.dispose()

    again = run(tmp_path, "unlink", "--as", "sam.patel@hillside.example")
    assert again.returncode == 0 and "no chat accounts linked" in again.stdout
    nobody = run(tmp_path, "unlink", "--as", "nobody@hillside.example")
    assert nobody.returncode == 1 and "Nobody has the UPN or email" in nobody.stderr


def test_import_draws_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    rows = [f"{with_check_letter(f'{i:012d}')},Pupil{i},Test,10,10A,,2011-01-01" for i in range(300)]
    (tmp_path / "roster.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    # Rich draws live output only on a terminal: these tell it stderr is one.
    done = run(tmp_path, "import-roster", "roster.csv", TTY_COMPATIBLE="1", TTY_INTERACTIVE="1", COLUMNS="100")
    assert done.returncode == 0, done.stderr
    frames = [line for line in done.stderr.replace("\r", "\n").splitlines() if "Importing" in line]
    assert frames and "300/300" in frames[-1] and "━" in frames[-1], done.stderr
    assert "\x1b[" in done.stderr  # drawn in place with control codes (and cleared when done)
    assert len(people(tmp_path)) == 300
