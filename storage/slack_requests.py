"""Signed Slack requests already handled, shared by every process: the same request sent again (a
replay: the same timestamp and signature) is recognised whichever process it reaches.

Slack signs every delivery afresh (its retries included) and a signature is accepted only within 5
minutes of its timestamp, so a row need outlive its timestamp by those 5 minutes and no more (a
minute more for clocks). Only requests with a valid signature reach this table, so it holds at most
about 10 minutes of the workspace's real traffic; housekeeping deletes rows past `expires_at`.
Nothing here is about anyone: a hash of the timestamp and signature.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlmodel import Session, col

from storage import expiring
from storage.models import SlackRequestSeen

ACCEPTED_FOR = timedelta(minutes=5)  # slack_sdk's SignatureVerifier refuses older (or later) timestamps
CLOCK_MARGIN = timedelta(minutes=1)


def request_hash(timestamp: str, signature: str) -> str:
    return hashlib.sha256(f"{timestamp}:{signature}".encode()).hexdigest()


def first_time(session: Session, timestamp: int, signature: str, now: datetime) -> bool:
    """Record this signed request; False when it was recorded before (by any process)."""
    # Kept until its timestamp is too old to be accepted; a timestamp ahead of our clock (Slack's
    # clock, within the 5 minutes the signature check allows) keeps it that much longer.
    ahead = min(max(timestamp - now.timestamp(), 0.0), ACCEPTED_FOR.total_seconds())
    expires = now + timedelta(seconds=ahead) + ACCEPTED_FOR + CLOCK_MARGIN
    statement = (
        expiring.insert(session, SlackRequestSeen)
        .values(request_hash=request_hash(str(timestamp), signature), expires_at=expires)
        .on_conflict_do_nothing(index_elements=["request_hash"])
        .returning(col(SlackRequestSeen.id))
    )
    return session.execute(statement).first() is not None


def prune(session: Session, now: datetime, batch: int = expiring.BATCH) -> int:
    return expiring.prune(session, SlackRequestSeen, now, batch)
