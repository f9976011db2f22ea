"""How long `waymark rotate-key` takes, against the floor of Fernet alone (not a test).

    .venv/bin/python bench/rotate_key_bench.py [--notes 20000] [--batch 500]

A fresh SQLite database in a temporary directory with NOTES advice records, each with a staff-only
note of about 200 characters under the old key, and NOTES/10 sealed transcript lines. Timed:
(a) `storage.rekey.rotate_all` with the new key and the old one as previous, in batches of BATCH
rows, and (b) the floor, the same number of `MultiFernet.rotate` calls on the same tokens in
memory, with no database. Both in this process, one after the other, wall clock; the load average
is printed beside each figure (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.keyring import Keyring  # noqa: E402
from storage import crypto, keycheck, rekey, seed, transcript  # noqa: E402
from storage.db import make_engine, transaction  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import AdviceRecord, utcnow  # noqa: E402

NOTE = "Mum mentioned money worries at home; follow up after the parents' evening. " * 3


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def build(path: Path, notes: int, old: str) -> list[bytes]:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    school = seed.school(engine)
    pupil = seed.pupil(engine, school.id)
    tutor = seed.staff(engine, school.id)
    tokens = []
    with transaction(engine) as session:
        keycheck.verify(session, Keyring(old))
        for i in range(notes):
            token = crypto.encrypt(old, f"{NOTE} {i}")
            tokens.append(token)
            session.add(
                AdviceRecord(
                    pupil_id=pupil.id or 0, staff_id=tutor.id or 0, kind="other", summary="s", staff_note=token
                )
            )
        for i in range(notes // 10):
            transcript.record(session, "web:x", tutor.id, "out", f"{NOTE} {i}", utcnow(), sealed_with=old)
    engine.dispose()
    return tokens


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notes", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=rekey.BATCH)
    args = parser.parse_args()
    old, new = crypto.new_key(), crypto.new_key()
    keys = Keyring(new, (old,))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        tokens = build(path, args.notes, old)
        print(f"{args.notes:,} staff-only notes and {args.notes // 10:,} sealed transcript lines under the old key")

        started = time.perf_counter()
        for token in tokens:
            crypto.rotate(keys, token)
        floor = time.perf_counter() - started
        print(f"floor (Fernet rotate in memory, {len(tokens):,} tokens): {floor:.2f} s   [{load()}]")

        engine = make_engine(f"sqlite:///{path}")
        started = time.perf_counter()
        results = rekey.rotate_all(engine, keys, batch=args.batch)
        took = time.perf_counter() - started
        rotated = sum(r.rotated for r in results)
        print(
            f"rotate-key ({rotated:,} values, batches of {args.batch}): {took:.2f} s, "
            f"{rotated / took:,.0f} values/s, {took / floor:.1f}x the floor   [{load()}]"
        )
        started = time.perf_counter()
        again = sum(r.rotated for r in rekey.rotate_all(engine, keys, batch=args.batch))
        print(f"run again (nothing left to do, {again} values): {time.perf_counter() - started:.2f} s   [{load()}]")
        engine.dispose()


if __name__ == "__main__":
    main()
