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
