"""Settings: a wrong value stops start-up with one line naming the variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import SettingsError, load_settings

WAYMARK = Path(sys.executable).with_name("waymark")


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("WAYMARK_DATABASE_URL", "not a url", "WAYMARK_DATABASE_URL"),
        ("WAYMARK_DATABASE_URL", "mysql://localhost/x", "use a sqlite:/// or postgresql+psycopg:// URL"),
        ("WAYMARK_TIMEZONE", "Mars/Olympus_Mons", "unknown time zone 'Mars/Olympus_Mons'"),
        ("WAYMARK_PUBLIC_URL", "localhost", "not a URL"),
        ("WAYMARK_HTTP_PORT", "eighty", "WAYMARK_HTTP_PORT"),
    ],
)
def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str, words: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"{variable}: ")
    assert words in message
    assert "\n" not in message


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    settings = load_settings()
    assert settings.database_url == "sqlite:///waymark.db"
    assert settings.timezone == "Europe/London"
    assert settings.http_port == 8080
    assert settings.min_age("telegram") == 16 and settings.min_age("web") == 0


@pytest.mark.parametrize(("variable", "value"), [("WAYMARK_TIMEZONE", "Europe/Londn"), ("WAYMARK_DATABASE_URL", "::")])
def test_cli_prints_one_line_and_exits_2(tmp_path: Path, variable: str, value: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), variable: value}
    done = subprocess.run([str(WAYMARK), "init"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Configuration error: {variable}: "), done.stderr
    assert not (tmp_path / ".env").exists() and not (tmp_path / "waymark.db").exists()


DEVELOPERS_ENV = "WAYMARK_CAMPAIGN_START_MONTH=11\nWAYMARK_TIMEZONE=America/New_York\nWAYMARK_MIN_AGE_TELEGRAM=18\n"


def test_a_test_never_reads_the_developers_env_file() -> None:
    """The autouse fixture (tests/conftest.py) runs every test in an empty directory of its own."""
    assert not Path(".env").exists()
    assert Path.cwd() != Path(__file__).resolve().parent.parent
    settings = load_settings()
    assert (settings.campaign_start_month, settings.timezone, settings.min_age("telegram")) == (10, "Europe/London", 16)


def test_settings_ignore_an_env_file_in_the_repository_root(pytester: pytest.Pytester) -> None:
    """A `.env` beside the tests' conftest (where a developer keeps theirs) and the same variables in
    the shell: a test run there still sees the defaults."""
    conftest = Path(__file__).with_name("conftest.py").read_text()
    pytester.makeconftest(conftest)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    (pytester.path / ".env").write_text(DEVELOPERS_ENV)
    pytester.makepyfile(
        test_sees_defaults="""
        from core.settings import get_settings, load_settings

        AT_IMPORT = load_settings()  # as some test modules build theirs

        def test_defaults():
            for settings in (AT_IMPORT, load_settings(), get_settings()):
                assert settings.campaign_start_month == 10
                assert settings.timezone == "Europe/London"
                assert settings.min_age("telegram") == 16
        """
    )
    pytester.chdir()
    with pytest.MonkeyPatch.context() as shell:
        for line in DEVELOPERS_ENV.splitlines():
            name, value = line.split("=", 1)
            shell.setenv(name, value)
        assert load_settings().timezone == "America/New_York"  # as the developer's shell would have it
        outcome = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    outcome.assert_outcomes(passed=1)
