"""Housekeeping jobs: keep tables that grow with every message from growing for ever."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from core.settings import Settings
from storage import conversations
from storage.db import transaction

# Telegram re-sends an update for up to 24 hours, Slack retries for minutes: a month is ample.
KEEP_PROCESSED_UPDATES = timedelta(days=30)
BATCH = 5000


def run_prune_processed_updates(engine: Engine, settings: Settings, now: datetime) -> int:
    """Delete processed-update ids older than KEEP_PROCESSED_UPDATES, a batch per transaction."""
    before = now - KEEP_PROCESSED_UPDATES
    removed = 0
    while True:
        with transaction(engine) as session:
            gone = conversations.prune_processed(session, before, BATCH)
        removed += gone
        if gone < BATCH:
            return removed
