"""Unlinking: the one way a chat account stops being someone's, whoever asks.

`/unlink` in a chat, the web chat's Sign out and an administrator's `waymark unlink` all call
`unlink` inside their own one transaction; they differ only in which accounts they pick.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from core.platforms import Platform
from storage import conversations, identities, websessions
from storage.models import ChatIdentity


@dataclass(frozen=True)
class Unlinked:
    """What an unlink took away: the platform of each account, and the web chat sessions it ended."""

    platforms: tuple[str, ...]
    web_sessions_ended: int


def unlink(session: Session, accounts: Sequence[ChatIdentity], now: datetime) -> Unlinked:
    """Disconnect these chat accounts from their person.

    A web chat account's sessions end at once, so no open page or copied cookie reaches it again;
    every account's half-finished conversation goes too, so nothing of theirs is waiting if the same
    account is later linked with a new code.
    """
    ended = 0
    for account in accounts:
        conversations.forget(session, account.platform, account.external_id, now)
        if account.platform == Platform.web.value:
            ended += websessions.revoke_for_identity(session, account.external_id, now)
        identities.delete(session, account)
    return Unlinked(tuple(a.platform for a in accounts), ended)
