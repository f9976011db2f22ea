"""Roster import benchmark: 10,000 rows through `waymark import-roster` (profiles and value
normalisation on), and the peak memory of reading and validating a 500,000-row file.

    .venv/bin/python bench/roster_bench.py            # 10,000 rows and 500,000 rows
    .venv/bin/python bench/roster_bench.py --big 0     # 10,000 rows only

Each figure is printed with the load average beside it (the machine is shared) and with a floor
measured in the same run: the command's own start-up (`waymark import-roster --help`) for the
import, a bare `csv.reader` pass for the reading, and a Python process that only imports the
reader for memory. BENCHMARKS.md had 1.3-1.4 s for 10,000 new pupils before this work.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BEFORE = "1.3-1.4 s (BENCHMARKS.md, before MIS profiles and normalisation)"
WAYMARK = Path(sys.executable).with_name("waymark")


def _load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}"


def _timed(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """Wall-clock and CPU seconds of one child process, and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def _validate(path: Path) -> None:
    """Child process: read and validate a roster file as the import does, print rows and peak memory."""
    from storage.roster import RosterReader

    started = time.process_time()
    with path.open("rb") as handle:
        source = RosterReader(handle)
        rows = sum(1 for _ in source.rows())
    cpu = time.process_time() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{rows} {source.problems.lines} {cpu:.2f} {peak_mb:.0f}")


def _baseline_memory() -> None:
    import storage.roster  # noqa: F401  (what every reading process loads)

    print(f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


def _child(flag: str, *extra: str) -> str:
    return subprocess.run(
        [sys.executable, __file__, flag, *extra], capture_output=True, text=True, check=True
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=500_000, help="rows of the memory test (0 skips it)")
    parser.add_argument("--validate", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.validate:
        _validate(args.validate)
        return
    if args.baseline:
        _baseline_memory()
        return

    from storage.seed import write_roster

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": tmp_name,
            "WAYMARK_DATABASE_URL": f"sqlite:///{tmp / 'b.db'}",
        }
        small = tmp / "roster-10k.csv"
        write_roster(args.rows, small)
        _timed([str(WAYMARK), "init"], env, tmp)
        floor_wall, floor_cpu, _ = _timed([str(WAYMARK), "import-roster", "--help"], env, tmp)
        print(f"floor: `waymark import-roster --help` {floor_wall:.2f} s wall, {floor_cpu:.2f} s CPU  [{_load()}]")
        for label in ("first import (all new)", "same file again (all unchanged)"):
            wall, cpu, out = _timed([str(WAYMARK), "import-roster", str(small)], env, tmp)
            summary = next(line for line in out.splitlines() if line.startswith("Roster imported"))
            print(f"{args.rows:,} rows, {label}: {wall:.2f} s wall, {cpu:.2f} s CPU  [{_load()}]  ({summary})")
        print(f"before this work: {BEFORE}")

        started = time.process_time()
        with small.open(encoding="utf-8-sig", newline="") as handle:
            rows = sum(1 for _ in csv.reader(handle))
        bare = time.process_time() - started
        line = _child("--validate", str(small)).split()
        print(
            f"reading and validating {args.rows:,} rows: {float(line[2]):.2f} s CPU; "
            f"floor, bare csv.reader: {bare:.3f} s CPU ({rows - 1:,} rows)  [{_load()}]"
        )

        if args.big:
            big = tmp / "roster-big.csv"
            write_roster(args.big, big)
            size_mb = big.stat().st_size / 1e6
            baseline = _child("--baseline")
            small_rows, _bad, _small_cpu, small_peak = _child("--validate", str(small)).split()
            big_rows, bad, big_cpu, big_peak = _child("--validate", str(big)).split()
            print(f"peak memory, Python with the reader imported (floor): {baseline} MB  [{_load()}]")
            print(f"peak memory, {int(small_rows):,} rows ({small.stat().st_size / 1e6:.1f} MB file): {small_peak} MB")
            print(
                f"peak memory, {int(big_rows):,} rows ({size_mb:.0f} MB file): {big_peak} MB; "
                f"{float(big_cpu):.1f} s CPU, {int(bad)} rows with problems  [{_load()}]"
            )


if __name__ == "__main__":
    main()
