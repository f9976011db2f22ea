"""The daily retention job: every school's schedule applied (storage.retention), counted in the log."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import col, select

from core.settings import Settings
from storage import retention
from storage.db import transaction
from storage.models import School

log = logging.getLogger(__name__)


def run_retention(engine: Engine, settings: Settings, now: datetime) -> int:
    """Remove what every school's schedule says is past its time; how many rows went."""
    with transaction(engine, write=False) as session:
        school_ids = [i for i in session.exec(select(col(School.id))).all() if i is not None]
    removed: Counter[str] = Counter()
    for item in retention.run(engine, school_ids, now=now, campaign_years=settings.campaign_years):
        removed[item.kind] += 1  # counts only: the log never names a person
    if removed:
        log.info("retention removed %s", ", ".join(f"{n} {kind}" for kind, n in sorted(removed.items())))
    return sum(removed.values())
