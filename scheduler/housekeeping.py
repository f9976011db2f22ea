"""Housekeeping jobs: keep tables that grow with every message from growing for ever."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from core.settings import Settings
from storage import conversations, signin_limits, slack_requests
from storage.db import transaction

# Telegram re-sends an update for up to 24 hours, Slack retries for minutes: a month is ample.
KEEP_PROCESSED_UPDATES = timedelta(days=30)
BATCH = 5000


def _in_batches(engine: Engine, prune: Callable[[Session, int], int]) -> int:
    """Call `prune(session, BATCH)` a transaction at a time until a batch comes back short."""
    removed = 0
    while True:
        with transaction(engine) as session:
            gone = prune(session, BATCH)
        removed += gone
        if gone < BATCH:
            return removed


def run_prune_processed_updates(engine: Engine, settings: Settings, now: datetime) -> int:
    """Delete processed-update ids older than KEEP_PROCESSED_UPDATES, a batch per transaction."""
    before = now - KEEP_PROCESSED_UPDATES
    return _in_batches(engine, lambda session, batch: conversations.prune_processed(session, before, batch))


def run_prune_expired_limits(engine: Engine, settings: Settings, now: datetime) -> int:
    """Delete the rows of the limits shared by every process once they no longer matter: wrong-code
    counts of network addresses (hashed), and the Slack requests seen (kept only while a replay of
    one could still be accepted). Both tables hold minutes' worth, so this keeps them small."""
    return _in_batches(engine, lambda session, batch: signin_limits.prune(session, now, batch)) + _in_batches(
        engine, lambda session, batch: slack_requests.prune(session, now, batch)
    )
