"""A `waymark` command timed as a person runs it: a new process, start-up included.

Wall and CPU seconds and the peak resident memory (RSS) of that one process, read from the kernel
(os.wait4, in a small launcher), median of several runs. Beside it, the start-up floor measured the same way: a Python
process that only imports SQLModel and our table definitions, which every command that reads the
database must load before it does anything.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

WAYMARK = Path(sys.executable).with_name("waymark")
FLOOR = [sys.executable, "-c", "import sqlmodel, storage.models"]


@dataclass(frozen=True)
class Run:
    wall: float  # seconds
    cpu: float  # seconds, user + system, of the process itself
    peak_mb: float  # peak resident memory


# A small launcher between this process and the command: the kernel starts a child's peak RSS at
# the size of the process it was forked from (and keeps it across exec), so the command is forked
# from a bare interpreter (a few MB), never from this benchmark (over 100 MB with its database).
LAUNCH = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{time.perf_counter() - started} {usage.ru_utime + usage.ru_stime} {usage.ru_maxrss} {status}")
"""


def run_once(args: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[Run, str]:
    """One run; its figures and its standard output. A failed run stops the benchmark."""
    with tempfile.TemporaryDirectory() as tmp:
        figures = Path(tmp) / "figures"
        ran = subprocess.run(
            [sys.executable, "-S", "-c", LAUNCH, str(figures), *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        wall, cpu, peak_kb, status = figures.read_text().split()
    if ran.returncode != 0 or os.waitstatus_to_exitcode(int(status)) != 0:
        raise SystemExit(f"{' '.join(args)} failed: {ran.stderr}")
    # ru_maxrss is in kilobytes on Linux.
    return Run(float(wall), float(cpu), int(peak_kb) / 1024), ran.stdout


def median_run(runs: int, args: list[str], env: dict[str, str], cwd: Path | None = None) -> Run:
    return median([run_once(args, env, cwd)[0] for _ in range(runs)])


def describe(run: Run) -> str:
    return f"{run.wall * 1000:6.0f} ms wall {run.cpu * 1000:6.0f} ms CPU {run.peak_mb:6.1f} MB peak RSS"


def startup_floor(runs: int) -> Run:
    root = Path(__file__).resolve().parent.parent
    return median_run(runs, FLOOR, {**os.environ, "PYTHONPATH": str(root)})


def median(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.wall for r in runs),
        statistics.median(r.cpu for r in runs),
        statistics.median(r.peak_mb for r in runs),
    )
