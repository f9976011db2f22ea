"""The encryption keys a process holds: the current one and, during a rotation, the previous ones."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keyring:
    """The current key (encrypts) and, during `waymark rotate-key`, the previous ones (still decrypt)."""

    current: str | None
    previous: tuple[str, ...] = ()

    @property
    def all(self) -> tuple[str, ...]:
        return tuple(k for k in (self.current, *self.previous) if k)
