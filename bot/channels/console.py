"""The terminal chat: the same conversations as every other channel, typed at a prompt.

Buttons are shown as numbered choices: typing the number presses the button, several numbers
("8, 2") press each in turn where several may be picked, and a number with no such choice is
answered here, not sent. Nothing here says "tap": the words are the terminal's. Messages from the
outbox for this chat account (e.g. "something new is in your record") appear as they arrive. Used by
`waymark chat --as UPN|EMAIL` and `waymark demo --terminal`, where `/switch` changes persona.

The administrator at the terminal is trusted, so the console account is linked to the chosen person
directly, without an enrolment code. Rich adds colour on a terminal; piped output is plain text.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from rich.console import Console as RichConsole
from rich.text import Text

from core.messages import DANGER, PRIMARY
from core.numbers import whole_number
from core.platforms import Platform
from handlers import Button, Dispatcher, Incoming, Reply
from storage import identities, outbox
from storage.db import transaction
from storage.models import Person

PLATFORM = Platform.console.value
QUIT = {"/quit", "/exit", "/q"}
POLL_SECONDS = 1.5
_NUMBERS = re.compile(r"^\d{1,6}(?:\s*[,;]?\s+\d{1,6}|\s*[,;]\s*\d{1,6})*$", re.ASCII)  # "3", "8, 2", "8 2", "1,4,5"
_TAP = re.compile(r"\b([Tt])ap(s|ped|ping)?\b")
_BUTTON = re.compile(r"\b([Bb])utton(s?)\b")
# The colours a terminal gives the choices the other channels style as buttons: "Discard" in red is
# never mistaken for "Keep editing". Piped output has no colour, and the labels say it in words.
CHOICE_STYLES = {PRIMARY: "bold green", DANGER: "bold red"}


def terminal_words(text: str) -> str:
    """A reply as the terminal says it: there is nothing to tap, and choices are numbered, not buttons."""
    text = _TAP.sub(
        lambda m: ("P" if m[1] == "T" else "p") + "ick" + {"ped": "ed", "ping": "ing"}.get(m[2] or "", m[2] or ""), text
    )
    return _BUTTON.sub(lambda m: ("C" if m[1] == "B" else "c") + "hoice" + m[2], text)


def chosen_numbers(text: str) -> list[int] | None:
    """The numbers a typed line picks ("8, 2" -> [8, 2]); None when the line is not only numbers."""
    if not _NUMBERS.match(text):
        return None
    return [int(n) for n in re.findall(r"\d+", text)]


@dataclass(frozen=True)
class Persona:
    key: str  # pupil, tutor, leader, alumnus
    title: str  # what the menu shows, e.g. "careers leader"
    person_id: int
    name: str


def external_id(person_id: int) -> str:
    return f"console:{person_id}"


def link_console(dispatcher: Dispatcher, person_id: int) -> Person:
    """Link the terminal account for this person (trusted: no code needed); harmless when linked."""
    key = external_id(person_id)
    with transaction(dispatcher.engine) as session:
        person = session.get(Person, person_id)
        if person is None:
            raise LookupError(f"no person with id {person_id}")
        if identities.find(session, PLATFORM, key) is None:
            identities.link(session, person, PLATFORM, key, key, dispatcher.clock())
        session.expunge(person)
        return person


class ConsoleChat:
    """One terminal session; `run()` reads lines until /quit or end of input."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        person_id: int,
        *,
        personas: Sequence[Persona] = (),
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        downloads: Path | None = None,
        read_line: Callable[[str], str] | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.personas = list(personas)
        self.out = RichConsole(file=stdout, highlight=False, soft_wrap=True, emoji=False)
        self._read_line = read_line or self._default_reader(stdin)
        self.downloads = downloads or Path.cwd() / "waymark-files"
        self._choices: list[Button] = []
        self._offered_before: list[str] = []  # the choices a number was pressed among, to press the next
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.person = link_console(dispatcher, person_id)

    @staticmethod
    def _default_reader(stdin: TextIO | None) -> Callable[[str], str]:
        if stdin is None:
            return input  # readline editing on a terminal

        def read(prompt: str) -> str:
            print(prompt, end="", flush=True)
            line = stdin.readline()
            if not line:
                raise EOFError
            return line.rstrip("\r\n")

        return read

    @property
    def key(self) -> str:
        assert self.person.id is not None
        return external_id(self.person.id)

    # --- talking to the dispatcher ----------------------------------------------------------

    def send(self, text: str | None = None, button: str | None = None) -> list[Reply]:
        incoming = Incoming(
            platform=PLATFORM,
            chat_id=self.key,
            user_id=self.key,
            text=text,
            button=button,
            update_id=uuid.uuid4().hex,  # unique across runs: a counter would collide with old ids
        )
        return self.dispatcher.dispatch(incoming)

    def pull_outbox(self) -> None:
        """Show messages queued for this account (advice logged, reminders...)."""
        with transaction(self.dispatcher.engine) as session:
            rows = outbox.take_for_identity(session, PLATFORM, self.key, self.dispatcher.clock())
            messages = [Reply(row.text, buttons=outbox.decode_buttons(row)) for row in rows]
        for message in messages:
            self.show([message], notice=True)

    # --- showing replies ----------------------------------------------------------------------

    def show(self, replies: list[Reply], *, notice: bool = False) -> None:
        with self._lock:
            if not notice:
                self._choices = []  # a number answers only the choices shown last, never older ones
            for reply in replies:
                if notice:
                    self.out.print(Text("* new message *", style="bold magenta"))
                if reply.text:
                    # Text(), never markup: whatever anyone typed is shown exactly as typed.
                    self.out.print(Text("bot> ", style="bold cyan") + Text(terminal_words(reply.text)))
                if reply.image is not None:
                    self.out.print(
                        Text(f"      [picture saved to {self._save(reply.image_name, reply.image)}]", style="dim")
                    )
                if reply.file is not None:
                    self.out.print(
                        Text(f"      [file saved to {self._save(reply.file_name, reply.file)}]", style="dim")
                    )
                if reply.buttons:
                    self._choices = [b for row in reply.buttons for b in row]
                    for number, button in enumerate(self._choices, start=1):
                        label = Text(button.label, style=CHOICE_STYLES.get(button.style, ""))
                        self.out.print(Text(f"  {number:>2}. ", style="bold yellow") + label)

    def _save(self, name: str, data: bytes) -> Path:
        self.downloads.mkdir(parents=True, exist_ok=True)
        safe = "".join(ch for ch in Path(name).name if ch.isalnum() or ch in "._-") or "file"
        path = self.downloads / safe
        path.write_bytes(data)
        return path

    def info(self, text: str) -> None:
        with self._lock:
            self.out.print(Text(text, style="green"))

    # --- the loop -----------------------------------------------------------------------------

    def handle(self, line: str) -> bool:
        """One line typed; False when the chat should end."""
        text = line.strip()
        if text.lower() in QUIT:
            return False
        if self.personas and text.lower().split(" ", 1)[0] == "/switch":
            self.switch(text[len("/switch") :].strip())
            return True
        numbers = chosen_numbers(text) if self._choices else None
        if numbers is None:
            self.show(self.send(text=line))
        else:
            self.press_numbers(numbers)
        self.pull_outbox()
        return True

    def press_numbers(self, numbers: list[int]) -> None:
        """Press each chosen number in turn, while the same choices stay on offer (a list where several
        may be picked, like skills); a number with no such choice is answered here and nothing is sent."""
        wrong = [n for n in numbers if not 1 <= n <= len(self._choices)]
        if wrong:
            self.info(
                f"There's no choice {wrong[0]} here. Type a number from 1 to {len(self._choices)}, "
                "or type your answer in words."
            )
            return
        for done, number in enumerate(numbers):
            offered = [b.data for b in self._choices]
            if done and offered != self._offered_before:
                used = ", ".join(str(n) for n in numbers[:done])
                self.info(f"(only one choice could be picked there, so I used {used})")
                return
            button = self._choices[number - 1]
            self._offered_before = offered
            self.info(f"(pressed: {button.label})")
            self.show(self.send(button=button.data))

    def switch(self, wanted: str) -> None:
        """Change persona: `/switch tutor`, or `/switch` and pick a number."""
        chosen = self._persona_named(wanted) if wanted else None
        if chosen is None:
            lines = ["Switch to:"] + [f"  {i}. {p.name} ({p.title})" for i, p in enumerate(self.personas, 1)]
            self.info("\n".join(lines))
            try:
                answer = self._read_line("number> ").strip()
            except EOFError:
                return
            chosen = self._persona_named(answer)
            if chosen is None:
                self.info(f"No persona {answer!r}; still {self.person.given_name}. Try /switch again.")
                return
        self.person = link_console(self.dispatcher, chosen.person_id)
        self._choices = []
        self.info(f"You are now {chosen.name}, {chosen.title}.")
        self.show(self.send(text="/start"))
        self.pull_outbox()

    def _persona_named(self, wanted: str) -> Persona | None:
        low = wanted.strip().lower()
        if (number := whole_number(low, low=1, high=len(self.personas))) is not None:
            return self.personas[number - 1]
        for persona in self.personas:
            if low in {persona.key, persona.title, persona.name.lower(), persona.name.split()[0].lower()}:
                return persona
        return None

    def _poll(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self.pull_outbox()
            except Exception:  # a locked or unreachable database: try again at the next tick
                continue

    def run(self) -> None:
        hint = "Type a message, a command (/help) or the number of a choice. /quit to leave."
        if self.personas:
            hint += " /switch changes who you are."
        self.info(f"Chatting as {self.person.full_name} ({self.person.role}). {hint}")
        self.show(self.send(text="/start"))
        self.pull_outbox()
        poller = threading.Thread(target=self._poll, name="console-outbox", daemon=True)
        poller.start()
        try:
            while True:
                try:
                    line = self._read_line("you> ")
                except EOFError:
                    break
                if not self.handle(line):
                    break
        except KeyboardInterrupt:
            pass
        finally:
            self._stop.set()
            poller.join(timeout=POLL_SECONDS * 2)
        self.info("Bye!")
