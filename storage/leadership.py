"""Which process runs the scheduler: a PostgreSQL advisory lock, or a lease row on SQLite.

APScheduler's own FAQ says two schedulers must never share one job store, and Waymark keeps none:
the jobs are defined in code. What must be single is the scheduling itself, so exactly one process
at a time holds the leadership; the others keep trying, and take over when it goes.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, text
from sqlmodel import Session, select

from storage.models import SchedulerLease

# An arbitrary 64-bit key for pg_try_advisory_lock ("waymark" + 1); the same in every process.
ADVISORY_KEY = 0x7761796D61726B01


class AdvisoryLock:
    """Held as long as its own connection lives: a process that dies loses it at once."""

    def __init__(self, engine: Engine, key: int = ADVISORY_KEY) -> None:
        self.engine = engine
        self.key = key
        self.connection: Connection | None = None

    def try_acquire(self) -> bool:
        if self.connection is None:
            self.connection = self.engine.connect()
        got = bool(self.connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar())
        self.connection.commit()  # no transaction left open on the lock's connection
        if not got:
            self.close()
        return got

    def still_held(self) -> bool:
        """False when the lock's connection broke (the server restarted, the network went)."""
        if self.connection is None:
            return False
        try:
            held = self.connection.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                    "AND objid = (:key & 4294967295) AND classid = ((:key >> 32) & 4294967295)"
                ),
                {"key": self.key},
            ).scalar()
            self.connection.commit()
            return bool(held)
        except Exception:
            self.close()
            return False

    def release(self) -> None:
        if self.connection is not None:
            try:
                self.connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                self.connection.commit()
            except Exception:
                pass  # closing the connection releases it anyway
            self.close()

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                self.connection.close()
            self.connection = None


def take_lease(session: Session, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take or renew the named lease; True when `holder` has it until now + ttl.

    Run in a writing transaction (BEGIN IMMEDIATE on SQLite), so two processes cannot both see
    the lease free.
    """
    lease = session.exec(select(SchedulerLease).where(SchedulerLease.name == name)).first()
    if lease is None:
        session.add(SchedulerLease(name=name, holder=holder, expires_at=now + ttl))
        return True
    if lease.holder != holder and lease.expires_at > now:
        return False
    lease.holder = holder
    lease.expires_at = now + ttl
    session.add(lease)
    return True


def drop_lease(session: Session, name: str, holder: str) -> None:
    lease = session.exec(
        select(SchedulerLease).where(SchedulerLease.name == name, SchedulerLease.holder == holder)
    ).first()
    if lease is not None:
        session.delete(lease)
