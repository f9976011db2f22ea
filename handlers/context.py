"""What a conversation step is given: the message, who sent it, their state, and the open transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from core import platforms
from core.messages import Incoming
from core.settings import Settings
from storage.models import Person, Role, School

if TYPE_CHECKING:
    from handlers.registry import Command, Step


class UndeclaredMove(Exception):
    """A step moved somewhere its declaration does not list: the flow's diagram would be wrong."""


@dataclass
class Context:
    session: Session  # one transaction for the whole step
    settings: Settings
    incoming: Incoming
    person: Person | None
    school: School | None
    now: datetime  # aware UTC
    state: str = ""
    draft: Any = None  # what the running flow has gathered: its draft dataclass (`Flow.draft`)
    question: dict[str, Any] | None = None  # the question the current step asked, to ask it again
    running: Step | Command | None = None  # what the engine is running, so `goto` can check the move
    args: str = ""  # what followed a command: "/reflect Helped at the open evening" -> "Helped at..."
    concern_raised: bool = False  # this step already raised a safeguarding concern (/worried): not screened again
    # What the transcript keeps of the message: encrypted (a staff-only note, safeguarding words), or
    # another text instead (a sign-in code is no use to anyone afterwards).
    sealed_input: bool = False
    shown_input: str | None = None
    seal_draft: bool = False  # the draft came back encrypted: it stays so until the flow ends
    discarding: bool = False  # "Discard this log?" is showing over the step in hand (handlers/discard.py)

    @property
    def text(self) -> str:
        """The typed text (not a button), stripped; empty for buttons and attachments."""
        return (self.incoming.text or "").strip() if self.incoming.button is None else ""

    @property
    def button(self) -> str | None:
        return self.incoming.button

    @property
    def roles(self) -> set[str]:
        """The person's role and every staff role they hold, e.g. {"staff", "leader", "dsl"}; empty when unlinked."""
        if self.person is None:
            return set()
        staff_roles = self.person.staff_roles if self.person.role == Role.staff else frozenset()
        return {self.person.role, *staff_roles}

    @property
    def is_transcribed(self) -> bool:
        """The school's own channels (web chat, terminal) keep a transcript; Telegram and Slack do not."""
        return platforms.is_transcribed(self.incoming.platform)

    @property
    def identity_key(self) -> str:
        return f"{self.incoming.platform}:{self.incoming.user_id}"

    def goto(self, state: str) -> None:
        """Move to a step the running step or command declared (`moves_to`); staying put is always allowed.

        The draft carries on within one flow and starts empty when a flow starts."""
        running = self.running
        if running is not None:
            if state != running.name and state not in running.moves_to:
                raise UndeclaredMove(f"{running.name} moved to {state!r}, which it does not declare")
            if running.flow is not None and not isinstance(self.draft, running.flow.draft_type):
                self.draft = running.flow.draft_type()
        self.state = state

    def end(self) -> None:
        self.state = ""
        self.draft = None
        self.question = None
        self.discarding = False
