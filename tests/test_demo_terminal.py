"""`waymark demo --terminal` driven in a real pseudo-terminal, as a person would use it."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
import urllib.request
from pathlib import Path

from sqlmodel import select as sql_select

from storage.db import make_engine, transaction
from storage.models import AdviceRecord, JournalEntry, Person

WAYMARK = Path(sys.executable).with_name("waymark")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def _controlling_terminal() -> None:
    """In the child: the pty is its terminal, so Ctrl+C sends SIGINT as in a real one.

    SIGINT goes back to its default too: a test runner started in the background may ignore it,
    and a child inherits that."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Terminal:
    """A process on the slave side of a pty; `expect` waits for text on the screen (colours removed)."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
        self.process = subprocess.Popen(
            args,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env=env,
            start_new_session=True,
            # The pty becomes the controlling terminal, so Ctrl+C sends SIGINT as in a real terminal.
            preexec_fn=_controlling_terminal,
            close_fds=True,
        )
        os.close(slave)
        self.master = master
        self.screen = ""
        self.seen = 0  # what earlier `expect` calls already matched

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # the process ended and the pty closed
            return False
        self.screen += ANSI.sub("", chunk.decode("utf-8", "replace"))
        return bool(chunk)

    def expect(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            found = self.screen.find(text, self.seen)
            if found >= 0:
                got = self.screen[self.seen : found + len(text)]
                self.seen = found + len(text)
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not shown; the screen ends with:\n{self.screen[-2500:]}")
            if not self._read(0.2) and self.process.poll() is not None:
                self._read(0)
                if self.screen.find(text, self.seen) < 0:
                    raise AssertionError(f"exited before {text!r}:\n{self.screen[-2500:]}")

    def type(self, line: str) -> None:
        os.write(self.master, (line + "\r").encode())

    def ask(self, line: str) -> str:
        """Type a line at the prompt; everything shown until the next prompt."""
        self.type(line)
        return self.expect("you> ")

    def close(self) -> int | None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=10)
        finally:
            os.close(self.master)


def test_demo_in_a_terminal(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "TERM": "xterm-256color",
        "WAYMARK_DATABASE_URL": f"sqlite:///{tmp_path / 'real.db'}",
    }
    db = tmp_path / "demo" / "waymark-demo.db"
    term = Terminal([str(WAYMARK), "demo", "--terminal", "--db", str(db)], tmp_path, env)
    try:
        term.expect("60 pupils (Years 7-13), 3 tutors, a careers leader, 40 alumni")
        # Linked as the pupil persona without a code, greeted by name, menu as numbered choices.
        term.expect("Chatting as Amira Khan (pupil)")
        menu = term.expect("you> ")
        assert "Hello again, Amira!" in menu and "1. Reflect" in menu

        # A pupil reflects in one message, with emoji and markup characters kept as typed.
        said = term.ask("/reflect Helped run the Year 7 science club [bold]<b>&</b> 🧪")
        assert "Saved to your journal" in said
        assert "Helped run the Year 7 science club [bold]<b>&</b> 🧪" in said.split("Saved to your journal", 1)[1]

        # Switch persona to the tutor and log advice for Amira, pressing buttons by number.
        assert "You are now Sam Patel, tutor." in term.ask("/switch tutor")
        assert "1. Amira Khan (10A)" in term.ask("/log Amira")
        kinds = term.ask("1")
        number = re.search(r"(\d+)\. Personal guidance interview", kinds)
        assert number is not None, kinds
        said = term.ask(number.group(1))
        assert "(pressed: Personal guidance interview)" in said and "What was discussed" in said
        assert "What did you agree?" in term.ask("Talked about nursing degree apprenticeships")
        said = term.ask("Visit the college open day")
        for label in ("No due date", "Done", "No staff note", "Save"):
            choice = re.search(rf"(\d+)\. {label}\n", said)
            if choice is not None:
                said = term.ask(choice.group(1))
        assert "saved" in said.lower(), said

        # Back as the pupil: the outbox message about the new record is shown as it arrives.
        term.type("/switch")
        term.expect("number> ")
        said = term.ask("1")
        assert "You are now Amira Khan, pupil." in said
        assert "* new message *" in said and "Something new is in your careers record" in said

        term.type("/quit")
        term.expect("Bye!")
        assert term.process.wait(timeout=15) == 0
    finally:
        term.close()

    # What was typed is in the demo's own database, and the real database was never created.
    assert not (tmp_path / "real.db").exists()
    engine = make_engine(f"sqlite:///{db}")
    try:
        with transaction(engine, write=False) as session:
            amira = session.exec(sql_select(Person).where(Person.given_name == "Amira")).one()
            texts = [j.text for j in session.exec(sql_select(JournalEntry).where(JournalEntry.person_id == amira.id))]
            assert "Helped run the Year 7 science club [bold]<b>&</b> 🧪" in texts
            summaries = [
                a.summary for a in session.exec(sql_select(AdviceRecord).where(AdviceRecord.pupil_id == amira.id))
            ]
            assert "Talked about nursing degree apprenticeships" in summaries
    finally:
        engine.dispose()


def test_ctrl_d_and_ctrl_c_end_cleanly(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "TERM": "dumb"}
    for key in ("\x04", "\x03"):
        term = Terminal([str(WAYMARK), "demo", "--terminal", "--db", str(tmp_path / "d.db")], tmp_path, env)
        try:
            term.expect("you> ")
            # readline prints the prompt a moment before it waits for keys; a signal in between is
            # only noticed at the next key. A person never types that fast; the test waits too.
            time.sleep(0.5)
            os.write(term.master, key.encode())
            term.expect("Bye!")
            assert term.process.wait(timeout=15) == 0
        finally:
            term.close()


def test_demo_refuses_the_real_database(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "WAYMARK_DATABASE_URL": f"sqlite:///{tmp_path / 'school.db'}",
    }
    done = subprocess.run(
        [str(WAYMARK), "demo", "--terminal", "--db", str(tmp_path / "school.db")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "is the real database" in done.stderr
    assert not (tmp_path / "school.db").exists()


def test_demo_serves_the_web_chat_with_a_sign_in_link_per_persona(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "NO_PROXY": "127.0.0.1,localhost"}
    process = subprocess.Popen(
        [str(WAYMARK), "demo", "--port", "0", "--db", str(tmp_path / "web.db")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while not (lines and lines[-1].startswith("Open http://localhost:")):
            assert time.monotonic() < deadline, lines
            line = process.stdout.readline()
            assert line, f"exited early: {lines}"
            lines.append(line.rstrip("\n"))
        links = dict(re.findall(r"^\s+(pupil|tutor|careers leader|alumnus)\s.*?(http://\S+)$", "\n".join(lines), re.M))
        assert set(links) == {"pupil", "tutor", "careers leader", "alumnus"}
        assert all(re.fullmatch(r"http://localhost:\d+/signin\?code=[A-Z2-9]{10}", link) for link in links.values())

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(links["pupil"].replace("localhost", "127.0.0.1"), timeout=10) as answer:
            assert answer.status == 200
            # The link fills the code in; the pupil presses Sign in (opening it uses nothing up).
            assert "wm_session=" not in (answer.headers.get("Set-Cookie") or "")
            assert f'value="{links["pupil"].rsplit("=", 1)[1]}"' in answer.read().decode()

        # A second browser: fresh links for the demo that is running, on the port it really got.
        port = int(re.search(r"localhost:(\d+)", links["pupil"]).group(1))  # type: ignore[union-attr]
        fresh = subprocess.run(
            [str(WAYMARK), "demo", "--links", "--db", str(tmp_path / "web.db")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        again = dict(re.findall(r"^\s+(pupil|tutor|careers leader|alumnus)\s.*?(http://\S+)$", fresh.stdout, re.M))
        assert fresh.returncode == 0 and set(again) == set(links), fresh.stdout + fresh.stderr
        assert all(again[k] != links[k] and again[k].startswith(f"http://localhost:{port}/") for k in links)
        # A second demo on the same port is refused before it touches any database.
        database = (tmp_path / "web.db").stat().st_ino  # a rebuild deletes the file and makes a new one
        taken = subprocess.run(
            [str(WAYMARK), "demo", "--port", str(port), "--db", str(tmp_path / "web.db")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert taken.returncode == 1 and f'make run DEMO_ARGS="--port {port + 1}"' in taken.stderr
        assert (tmp_path / "web.db").stat().st_ino == database  # not rebuilt under the running demo

        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=20)
        assert process.returncode == 0 and "Demo stopped." in rest
        after = subprocess.run(
            [str(WAYMARK), "demo", "--links", "--db", str(tmp_path / "web.db")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert after.returncode == 1 and "No demo is running" in after.stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
