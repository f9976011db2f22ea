"""`waymark import-roster` on a real MIS export and `waymark staff import`, through the real
console script: what it says it understood, --strict, --dry-run, --map, grouped problems."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli import people, run

SIMS = (
    "UPN,Legal Surname,Forename,Reg Group,Year,DOB,SEN Need Type,Form Tutor\r\n"
    "Y123456789001,Khan,Amira,10A,Year 10,14/03/2011,Support,Sam Patel\r\n"
    "M123456789002,Smith,Oliver,10A,Year 10,01/05/2011,,Sam Patel\r\n"
)


def test_staff_import_then_a_sims_roster_dry_run_strict_and_map(tmp_path: Path) -> None:
    (tmp_path / "staff.csv").write_text("Email,Name,Role\r\nsam.patel@hillside.example,Sam Patel,Form Tutor\r\n")
    staff = run(tmp_path, "staff", "import", "staff.csv")
    assert staff.returncode == 0, staff.stderr
    assert "Staff imported for Hillside Academy: 1 added, 0 updated, 0 unchanged." in staff.stdout
    assert "0 added, 0 updated, 1 unchanged" in run(tmp_path, "staff", "import", "staff.csv").stdout

    (tmp_path / "sims.csv").write_bytes(b"\xef\xbb\xbf" + SIMS.encode())
    strict = run(tmp_path, "import-roster", "sims.csv", "--strict")
    assert strict.returncode == 1 and "--strict" in strict.stderr and "Nothing was imported" in strict.stderr
    assert "Layout recognised: SIMS report. Encoding: UTF-8 with BOM." in strict.stdout
    # Every equality column not understood has its line, the look-alike named.
    assert "send: column 'SEN Need Type' looks like it but is not understood" in strict.stdout
    for name in ("fsm", "pupil_premium", "gender", "ethnicity"):
        assert f"  {name}: no column in this file" in strict.stdout

    dry = run(tmp_path, "import-roster", "sims.csv", "--dry-run", "--map", "SEN Need Type=send")
    assert dry.returncode == 1 and "line 2, column send: 'Support' is not a SEND code" in dry.stderr
    (tmp_path / "sims.csv").write_bytes(SIMS.replace(",Support,", ",SEN Support,").encode())
    dry = run(tmp_path, "import-roster", "sims.csv", "--dry-run", "--map", "SEN Need Type=send")
    assert dry.returncode == 0, dry.stderr
    assert "send <- 'SEN Need Type'" in dry.stdout and "tutor <- 'Form Tutor'" in dry.stdout
    assert "nothing was written. The import would give: 2 added, 0 updated, 0 unchanged, 0 missing." in dry.stdout
    assert [p.role for p in people(tmp_path)] == ["staff"]  # the dry run wrote nothing

    done = run(tmp_path, "import-roster", "sims.csv", "--map", "SEN Need Type=send")
    assert done.returncode == 0, done.stderr
    amira = next(p for p in people(tmp_path) if p.given_name == "Amira")
    assert (amira.send, amira.form, amira.year_group) == ("K", "10A", 10)
    assert amira.tutor_id == people(tmp_path)[0].id


def test_a_bad_check_letter_and_an_unknown_tutor_on_many_rows(tmp_path: Path) -> None:
    rows = [
        "M123456789002,Oliver,Smith,10,nobody@hillside.example",
        "A123456789001,Amira,Khan,10,nobody@hillside.example",  # the right check letter is Y
    ]
    (tmp_path / "r.csv").write_text("UPN,Forename,Surname,Year,Tutor Email\n" + "\n".join(rows) + "\n")
    refused = run(tmp_path, "import-roster", "r.csv")
    assert refused.returncode == 1
    assert "line 3, column upn: A123456789001 has the wrong check letter" in refused.stderr
    assert "lines 2\u20133, column tutor: nobody@hillside.example is not a member of staff" in refused.stderr
    assert "Nothing was imported: 2 row(s) with problems" in refused.stderr
