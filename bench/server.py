"""What every web benchmark needs around the server it measures: a free port, the environment for a
`waymark run` of its own, starting it and waiting until it answers, stopping it, its CPU and memory
from /proc, a database (SQLite in the work folder, or a PostgreSQL schema of its own), the load
average, and the floor: a bare aiohttp WebSocket echo server speaking the chat's frames.

    from bench.server import waymark_run
    async with waymark_run(url, workdir) as server:   # server.base, server.pid
        ...
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from storage import codes, crypto  # noqa: E402
from storage.db import make_engine, normalise_url  # noqa: E402

# The code secret the benchmarks' servers are given, so codes seeded for them are issued under it.
CODE_SECRET = codes.new_secret()


def load_average() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(url: str, port: int) -> dict[str, str]:
    """The environment for a benchmark's own `waymark run` on loopback: a fresh encryption key and the
    code secret (both required since keys are checked), and no chat platforms or mail of the caller's."""
    env = {
        **os.environ,
        "WAYMARK_DATABASE_URL": url,
        "WAYMARK_HTTP_HOST": "127.0.0.1",
        "WAYMARK_HTTP_PORT": str(port),
        "WAYMARK_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "WAYMARK_ENCRYPTION_KEY": crypto.new_key(),
        "WAYMARK_CODE_SECRET": CODE_SECRET,
    }
    for name in ("TELEGRAM_BOT_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "WAYMARK_SMTP_URL"):
        env.pop(name, None)
    return env


def rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used so far (from /proc/PID/stat), in seconds; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"the server exited with {proc.returncode}")
            try:
                async with http.get(f"{base}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("the server did not start in time")


@dataclass(frozen=True)
class Server:
    base: str  # http://127.0.0.1:PORT
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.proc.pid


@asynccontextmanager
async def serving(cmd: list[str], env: dict[str, str], port: int, workdir: Path, name: str) -> AsyncIterator[Server]:
    """`cmd` started in `workdir` (its output in NAME.log there), ready once /healthz answers; stopped after."""
    with open(workdir / f"{name}.log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            server = Server(f"http://127.0.0.1:{port}", port, proc)
            await wait_ready(server.base, proc)
            yield server
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def waymark_command() -> str:
    return shutil.which("waymark", path=str(ROOT / ".venv" / "bin")) or "waymark"


# `waymark run` under cProfile: the profile is written when it stops (SIGTERM ends it normally).
PROFILED = (
    "import cProfile, sys; from bot.cli import app; sys.argv = ['waymark', 'run']; cProfile.run('app()', sys.argv_out)"
)


@asynccontextmanager
async def waymark_run(
    url: str, workdir: Path, profile: Path | None = None, settings: dict[str, str] | None = None
) -> AsyncIterator[Server]:
    """The real `waymark run` on `url`, on a free loopback port; with `profile`, under cProfile into
    that file; `settings`: more WAYMARK_ variables (e.g. a connection limit above the pages opened)."""
    port = free_port()
    cmd = [waymark_command(), "run"]
    if profile is not None:
        script = PROFILED.replace("sys.argv_out", repr(str(profile.resolve())))
        cmd = [sys.executable, "-c", script]
    async with serving(cmd, {**server_env(url, port), **(settings or {})}, port, workdir, "waymark") as server:
        yield server


# The floor: what aiohttp and the machine cost alone. It answers each chat frame as the web chat does
# (an ack, then the message and one answer with two choices), with no database and no conversation.
ECHO_SERVER = """
import json, sys
from aiohttp import web

async def ws(request):
    sock = web.WebSocketResponse()
    await sock.prepare(request)
    n = 0
    async for msg in sock:
        data = json.loads(msg.data)
        n += 2
        said = {"id": n - 1, "dir": "in", "text": data.get("text") or data.get("button") or ""}
        answer = {"id": n, "dir": "out", "text": "ok", "buttons": [[{"label": "Teamwork", "data": "sk:1"},
                  {"label": "Done", "data": "done"}]]}
        await sock.send_json({"type": "ack", "mid": data.get("mid"), "saved": True, "text": ""})
        await sock.send_json({"type": "lines", "lines": [said, answer]})
    return sock

async def healthz(request):
    return web.Response(text="ok")

app = web.Application()
app.router.add_get("/ws", ws)
app.router.add_get("/healthz", healthz)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


@asynccontextmanager
async def echo_server(workdir: Path) -> AsyncIterator[Server]:
    port = free_port()
    async with serving([sys.executable, "-c", ECHO_SERVER, str(port)], dict(os.environ), port, workdir, "echo") as s:
        yield s


@contextmanager
def database(postgres_url: str, workdir: Path, name: str = "bench") -> Iterator[tuple[str, str]]:
    """(URL for Waymark, "SQLite" or "PostgreSQL"): a file in `workdir`, or with `postgres_url` a schema
    of its own there, dropped afterwards."""
    if not postgres_url:
        yield f"sqlite:///{workdir / f'{name}.db'}", "SQLite"
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in postgres_url else "?"
    try:
        yield f"{normalise_url(postgres_url)}{sep}options=-csearch_path%3D{schema}", "PostgreSQL"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
