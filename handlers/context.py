"""What a conversation step is given: the message, who sent it, their state, and the open transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from core.messages import Incoming
from core.settings import Settings
from storage.models import Person, School


@dataclass
class Context:
    session: Session  # one transaction for the whole step
    settings: Settings
    incoming: Incoming
    person: Person | None
    school: School | None
    now: datetime  # aware UTC
    state: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    args: str = ""  # what followed a command: "/reflect Helped at the open evening" -> "Helped at..."

    @property
    def text(self) -> str:
        """The typed text (not a button), stripped; empty for buttons and attachments."""
        return (self.incoming.text or "").strip() if self.incoming.button is None else ""

    @property
    def button(self) -> str | None:
        return self.incoming.button

    @property
    def roles(self) -> set[str]:
        """The person's role and staff role, e.g. {"staff", "tutor"}; empty when unlinked."""
        if self.person is None:
            return set()
        return {r for r in (self.person.role, self.person.staff_role) if r}

    @property
    def identity_key(self) -> str:
        return f"{self.incoming.platform}:{self.incoming.user_id}"

    def goto(self, state: str, **data: Any) -> None:
        """Move to a step; `data` is merged into what the conversation has gathered so far."""
        self.state = state
        self.data.update(data)

    def end(self) -> None:
        self.state = ""
        self.data = {}
