"""Careers-lesson burst: a class-load of pupils sign in to the web chat at once and each completes a
guided reflection at human pace, against one `waymark run` process; beside it, the same clients
against a bare aiohttp WebSocket echo server (the floor: what the machine and aiohttp cost alone).

    .venv/bin/python bench/lesson_bench.py                                  # 300 pupils, 60 s sign-in, 5 min
    .venv/bin/python bench/lesson_bench.py --pupils 100 --minutes 1 --signin-seconds 20
    .venv/bin/python bench/lesson_bench.py --database-url postgresql://postgres@127.0.0.1:5432/test

Each pupil signs in with their own code through the real sign-in form (GET, then POST with the form's
CSRF token, in a browser-like cookie jar), opens the chat's WebSocket, and takes the reflection's five
steps (Reflect, what they did, a skill, Done, what they learned), each after a pause spread so the
five fit in the lesson. A step's latency is from sending it to the bot's answer arriving. The
reflection is driven by the choices the bot offers, so a reworded flow still runs; a step whose
choice is missing is typed instead.

Prints steps answered, latency percentiles, and the server's CPU and memory, for Waymark and for the
floor, with the load average beside each (the machine may be shared). Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.web_bench import CODE_SECRET, cpu_seconds, free_port, rss_mb, server_env, wait_ready  # noqa: E402
from storage import codes, seed  # noqa: E402
from storage.db import make_engine, normalise_url, transaction  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

STEPS = 5
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


def load_average() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def pupils_with_codes(url: str, count: int) -> list[str]:
    engine = make_engine(url)
    upgrade(engine)
    with transaction(engine) as s:
        school = seed.school(s, "Lesson Academy")
        assert school.id is not None
        people = seed.numbered_pupils(s, school.id, count, year_group=9)
        issued = [codes.issue(s, person, days=1, secret=CODE_SECRET).code for person in people]
    engine.dispose()
    return issued


@dataclass
class Pupil:
    code: str
    latencies: list[float] = field(default_factory=list)
    answered: int = 0
    buttons: list[dict[str, str]] = field(default_factory=list)
    problem: str = ""


async def take_lesson(pupil: Pupil, base: str, signin_at: float, step_gap: float, waymark: bool) -> None:
    """Sign in (Waymark only), open the chat, and take the five steps at human pace."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        await asyncio.sleep(max(0.0, signin_at - time.perf_counter()))
        csrf = ""
        if waymark:
            async with http.get(f"{base}/signin") as r:
                form = await r.text()
            token = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            async with http.post(f"{base}/signin", data={"code": pupil.code, "csrf": token}) as r:
                page = await r.text()
            if 'name="csrf" value="' not in page or "/signout" not in page:
                pupil.problem = "sign-in failed"
                return
            csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        ws = await http.ws_connect(f"{base.replace('http', 'ws', 1)}/ws?csrf={csrf}&after=0", origin=base)
        answer: asyncio.Queue[float] = asyncio.Queue()

        async def listen() -> None:
            async for msg in ws:
                data = msg.json()
                if data.get("type") != "lines":
                    continue
                outs = [line for line in data["lines"] if line["dir"] == "out"]
                if outs:
                    for line in outs:
                        if line.get("buttons"):
                            pupil.buttons = [b for row in line["buttons"] for b in row]
                    answer.put_nowait(time.perf_counter())

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0.5)
        while not answer.empty():  # the welcome and anything else before the first step
            answer.get_nowait()
        plan: list[dict[str, Any]] = [
            {"button": "/reflect"},
            {"text": "Helped run the Year 9 careers stall at lunchtime"},
            {"choose": "first"},
            {"choose": "Done"},
            {"text": "I can talk to adults I don't know"},
        ]
        for step in plan:
            await asyncio.sleep(step_gap * random.uniform(0.7, 1.3))
            if "choose" in step:
                offered = (
                    [b for b in pupil.buttons if b["label"] != "Done"]
                    if step["choose"] == "first"
                    else [b for b in pupil.buttons if b["label"] == "Done"]
                )
                step = {"button": offered[0]["data"]} if offered else {"text": step["choose"]}
            sent = time.perf_counter()
            await ws.send_json({**step, "mid": secrets.token_hex(6)})
            try:
                arrived = await asyncio.wait_for(answer.get(), timeout=30)
            except TimeoutError:
                continue
            pupil.latencies.append(arrived - sent)
            pupil.answered += 1
            await asyncio.sleep(0.2)
            while not answer.empty():  # further lines of the same answer
                answer.get_nowait()
        await ws.close()
        listener.cancel()


async def lesson(base: str, pid: int, pupil_codes: list[str], args: argparse.Namespace, waymark: bool) -> str:
    pupils = [Pupil(code) for code in pupil_codes]
    step_gap = (args.minutes * 60 - args.signin_seconds) / STEPS
    start = time.perf_counter() + 0.5
    cpu_before, rss_before = cpu_seconds(pid), rss_mb(pid)
    peak = [rss_before]

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], rss_mb(pid))
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample())
    await asyncio.gather(
        *(
            take_lesson(p, base, start + args.signin_seconds * i / len(pupils), step_gap, waymark)
            for i, p in enumerate(pupils)
        )
    )
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds(pid) - cpu_before
    sampler.cancel()
    lat = sorted(x for p in pupils for x in p.latencies)
    answered = sum(p.answered for p in pupils)

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

    failed = sum(1 for p in pupils if p.problem)
    per_message = 1000 * cpu / answered if answered else float("nan")
    return (
        f"{answered} of {len(pupils) * STEPS} steps answered ({failed} sign-ins failed); "
        f"p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms, max {lat[-1] * 1000 if lat else float('nan'):.1f} ms; "
        f"server CPU {cpu:.1f} s in {elapsed:.0f} s ({per_message:.2f} ms per step, sign-ins included); "
        f"memory {rss_before:.0f} -> {peak[0]:.0f} MB peak; {load_average()}"
    )


def start(cmd: list[str], env: dict[str, str], workdir: Path, name: str) -> subprocess.Popen[bytes]:
    log = open(workdir / f"{name}.log", "wb")  # noqa: SIM115
    return subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def database(args: argparse.Namespace, workdir: Path) -> tuple[str, str, str | None]:
    """(URL for Waymark, what it is, a PostgreSQL schema to drop after)."""
    if not args.database_url:
        return f"sqlite:///{workdir / 'lesson.db'}", "SQLite", None
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(args.database_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in args.database_url else "?"
    return f"{normalise_url(args.database_url)}{sep}options=-csearch_path%3D{schema}", "PostgreSQL", schema


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="waymark-lesson-"))
    url, kind, schema = database(args, workdir)
    print(f"seeding {args.pupils} pupils with sign-in codes ({kind}) ...  {load_average()}")
    pupil_codes = pupils_with_codes(url, args.pupils)
    port = free_port()
    env = server_env(url, port)
    waymark = shutil.which("waymark", path=str(ROOT / ".venv" / "bin")) or "waymark"
    base = f"http://127.0.0.1:{port}"
    how = (
        f"{args.pupils} pupils signing in over {args.signin_seconds:.0f} s, five steps each over "
        f"{args.minutes:g} min, one process"
    )
    try:
        proc = start([waymark, "run"], env, workdir, "waymark")
        try:
            await wait_ready(base, proc)
            print(f"Waymark ({kind}), {how}: {await lesson(base, proc.pid, pupil_codes, args, True)}")
        finally:
            stop(proc)
        echo_port = free_port()
        echo = start([sys.executable, "-c", ECHO_SERVER, str(echo_port)], env, workdir, "echo")
        try:
            echo_base = f"http://127.0.0.1:{echo_port}"
            await wait_ready(echo_base, echo)
            print(
                f"floor: bare aiohttp echo, same clients: {await lesson(echo_base, echo.pid, pupil_codes, args, False)}"
            )
        finally:
            stop(echo)
    finally:
        if schema is not None:
            admin = make_engine(args.database_url)
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pupils", type=int, default=300)
    parser.add_argument("--signin-seconds", type=float, default=60)
    parser.add_argument("--minutes", type=float, default=5, help="the lesson: sign-in and all five steps")
    parser.add_argument("--database-url", default="", help="a PostgreSQL database (a schema of its own is made)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and the servers' logs")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
