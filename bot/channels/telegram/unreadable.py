"""Updates python-telegram-bot cannot read: skipped, logged once, kept for review, never retried.

python-telegram-bot reads a getUpdates answer as a whole, so one update it cannot read (a field a
newer Bot API made required, missing) fails the whole call on the same offset, again and again,
and no one is answered. `UpdatesRequest` reads each update of an answer on its own first and puts
a bare `{"update_id": N}` in place of one that fails: the library then reads the batch, hands the
bare update to the adapter (which finds nothing to answer) and moves the offset past it. The
webhook does the same for its one update and answers 200, so Telegram does not hold its queue.
The log line has the update's id and type, never its content; the raw form goes to the
`unreadableupdate` table (`storage.unreadable`, the latest 1,000).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from telegram import Update
from telegram._utils.types import ODVInput
from telegram.request import BaseRequest, RequestData

from bot.channels.telegram.rendering import PLATFORM
from bot.channels.telegram.request import AiohttpRequest
from storage import unreadable
from storage.db import transaction
from storage.models import utcnow

log = logging.getLogger("waymark.telegram")


@dataclass(frozen=True)
class Unreadable:
    update_id: int
    kind: str  # the update's type: its first field after update_id
    raw: str
    error: str  # the exception's type only: its message may quote the content
    sender: int | None = None  # the Telegram user it came from, where the update says


def check(update: object) -> Unreadable | None:
    """None when python-telegram-bot reads this update; what to keep of it when it does not."""
    try:
        Update.de_json(update, None)  # type: ignore[arg-type]
        return None
    except Exception as exc:  # the library raises TypeError, ValueError, KeyError... for bad shapes
        return unreadable_of(update, exc)


def unreadable_of(update: object, exc: Exception) -> Unreadable | None:
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        return None  # no id to move past: not an update at all
    kind = next((str(k) for k in update if k != "update_id"), "empty")
    raw = json.dumps(update, ensure_ascii=False)
    return Unreadable(update["update_id"], kind, raw, type(exc).__name__, sender_of(update.get(kind)))


def sender_of(body: object) -> int | None:
    """The user an update's body names as its sender ("from", or "user" in answers and reactions)."""
    if not isinstance(body, dict):
        return None
    for field in ("from", "user"):
        who = body.get(field)
        if isinstance(who, dict) and isinstance(who.get("id"), int) and not isinstance(who.get("id"), bool):
            return int(who["id"])
    return None


def screen_batch(payload: bytes) -> tuple[bytes, list[Unreadable]]:
    """getUpdates' answer with each unreadable update replaced by a bare one, and those it replaced."""
    try:
        answer = json.loads(payload)
    except (ValueError, RecursionError):
        return payload, []  # not ours to judge: the library reports a bad answer as it always does
    result = answer.get("result") if isinstance(answer, dict) and answer.get("ok") else None
    if not isinstance(result, list):
        return payload, []
    found: list[Unreadable] = []
    screened: list[Any] = []
    for update in result:
        bad = check(update)
        if bad is None:
            screened.append(update)
        else:
            found.append(bad)
            screened.append({"update_id": bad.update_id})
    if not found:
        return payload, []
    return json.dumps({**answer, "result": screened}).encode("utf-8"), found


class Keeper:
    """Logs each unreadable update once and keeps its raw form, in a thread (a database write)."""

    def __init__(self, engine: Engine, key: str | None) -> None:
        self.engine = engine
        self.key = key

    async def __call__(self, found: Sequence[Unreadable]) -> None:
        if found:
            await asyncio.to_thread(self._keep, found)

    def _keep(self, found: Sequence[Unreadable]) -> None:
        for bad in found:
            try:
                with transaction(self.engine) as session:
                    new = unreadable.keep(
                        session,
                        PLATFORM,
                        str(bad.update_id),
                        bad.kind,
                        bad.raw,
                        utcnow(),
                        key=self.key,
                        identity_key=None if bad.sender is None else f"{PLATFORM}:{bad.sender}",
                    )
            except Exception:  # the database is away: still skip it, and say so once here
                log.warning("telegram update %s (%s) could not be read nor kept: skipped", bad.update_id, bad.kind)
                continue
            if new:
                log.warning(
                    "telegram update %s (%s) could not be read by python-telegram-bot (%s): skipped, kept for review",
                    bad.update_id,
                    bad.kind,
                    bad.error,
                )


class UpdatesRequest(AiohttpRequest):
    """The getUpdates connection: each answer screened by `screen_batch` before the library reads it."""

    def __init__(self, keeper: Keeper, pool_size: int = 1) -> None:
        super().__init__(pool_size)
        self.keeper = keeper

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        status, payload = await super().do_request(
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
        )
        if status != 200 or not url.endswith("/getUpdates"):
            return status, payload
        screened, found = screen_batch(payload)
        await self.keeper(found)
        return status, screened
