"""Web sign-in limits per network address, kept in the database so every process shares them.

Wrong codes from one address are counted in a run of WINDOW from the first of them. At
SLOW_AFTER_WRONG_CODES in a run the address is *slowed* until WINDOW has passed without a wrong code
from it: each sign-in from it (right codes too, so the answer's speed gives nothing away) must first
take a turn, and turns are handed out one per `step` (WAYMARK_SIGNIN_SLOW_DOWN_SECONDS) for the
address as a whole, whichever process serves the request. A turn further away than `max_wait` is
not handed out: the sign-in is asked to come back, and no code is tried.

The address is never stored: only an HMAC of it under WAYMARK_CODE_SECRET (an IPv4 address, or an
IPv6 address's /64 network, which one household or phone is given whole). With no secret (tests,
`waymark chat`) the key is this process's own random one, so counts are not shared between processes;
`waymark run` refuses to start without a secret.

Every row carries `expires_at`, after which nothing in it matters; `prune` deletes those rows (the
housekeeping job, every few minutes), so the table holds only addresses that typed a wrong code in
the last WINDOW or so.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from storage import expiring
from storage.models import SignInAddress

SLOW_AFTER_WRONG_CODES = 30
WINDOW = timedelta(minutes=15)
IPV6_NETWORK = 64  # bits of an IPv6 address that name one subscriber (RFC 6177 gives each a /64 or more)

_PROCESS_KEY = secrets.token_bytes(32)  # only without WAYMARK_CODE_SECRET
_LABEL = b"waymark sign-in address v1"  # keeps these hashes apart from the codes' under the same secret


def address_group(address: str) -> str:
    """What one address's wrong codes count against: an IPv4 address as it is (an IPv4 address
    written as IPv6 `::ffff:a.b.c.d` too), an IPv6 address's /64 network, anything else as given."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_NETWORK), strict=False))
    return str(ip)


def address_hash(address: str, secret: str | None) -> str:
    """The keyed hash stored for an address: 256 bits of HMAC-SHA256, hex. An unkeyed hash would
    not do: there are only 2^32 IPv4 addresses, and a copy of the database could try them all."""
    key = hmac.new(secret.encode(), _LABEL, hashlib.sha256).digest() if secret else _PROCESS_KEY
    return hmac.new(key, address_group(address).encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Turn:
    """A slowed address's sign-in: wait `wait` before trying the code; `wait` None when the turns
    already handed out reach past `max_wait` (come back later; no code is tried)."""

    wait: timedelta | None


def _row(session: Session, key: str, *, lock: bool) -> SignInAddress | None:
    query = select(SignInAddress).where(SignInAddress.address_hash == key)
    # FOR UPDATE: two processes counting the same address on PostgreSQL must not both read 29 and
    # write 30. SQLite ignores it; there a writing transaction holds the whole database already.
    return session.exec(query.with_for_update() if lock else query).first()


def _locked_row(session: Session, key: str, now: datetime) -> SignInAddress:
    """The address's row, created if it has none (a race with another process creating it is not
    an error: ON CONFLICT DO NOTHING), and locked for this transaction."""
    session.execute(
        expiring.insert(session, SignInAddress)
        .values(address_hash=key, wrong_codes=0, first_wrong_at=now, expires_at=now + WINDOW)
        .on_conflict_do_nothing(index_elements=["address_hash"])
    )
    row = _row(session, key, lock=True)
    assert row is not None
    return row


def _expires(row: SignInAddress) -> datetime:
    times = [row.first_wrong_at + WINDOW, row.slowed_until, row.next_turn_at]
    return max(t for t in times if t is not None)


def is_slowed(session: Session, key: str, now: datetime) -> bool:
    """Whether sign-ins from this address must take a turn (read only: no lock, no write)."""
    row = _row(session, key, lock=False)
    return row is not None and row.slowed_until is not None and row.slowed_until > now


def record_wrong_code(session: Session, key: str, now: datetime) -> bool:
    """Count a wrong code from this address; True when the address is slowed now."""
    row = _locked_row(session, key, now)
    if now - row.first_wrong_at >= WINDOW:  # a new run: typos spread over the day never add up
        row.wrong_codes, row.first_wrong_at = 0, now
    row.wrong_codes += 1
    slowed = row.slowed_until is not None and row.slowed_until > now
    if slowed or row.wrong_codes >= SLOW_AFTER_WRONG_CODES:
        row.slowed_until = now + WINDOW  # every wrong code while slowed keeps it slowed
    row.expires_at = _expires(row)
    session.add(row)
    return row.slowed_until is not None and row.slowed_until > now


def take_turn(session: Session, key: str, now: datetime, step: timedelta, max_wait: timedelta) -> Turn:
    """The next turn for a sign-in from this (slowed) address: one per `step`, in order of asking,
    across every process; none when it would be more than `max_wait` away."""
    row = _locked_row(session, key, now)
    start = row.next_turn_at if row.next_turn_at is not None and row.next_turn_at > now else now
    turn = start + step
    if turn - now > max_wait:
        return Turn(None)
    row.next_turn_at = turn
    row.expires_at = _expires(row)
    session.add(row)
    return Turn(turn - now)


def prune(session: Session, now: datetime, batch: int = expiring.BATCH) -> int:
    """Delete rows past their `expires_at`, up to `batch`; returns how many went."""
    return expiring.prune(session, SignInAddress, now, batch)


def wrong_codes(session: Session, key: str, now: datetime) -> int:
    """Wrong codes in this address's current run (0 once the run is over): for tests and reports."""
    row = _row(session, key, lock=False)
    if row is None or now - row.first_wrong_at >= WINDOW:
        return 0
    return row.wrong_codes
