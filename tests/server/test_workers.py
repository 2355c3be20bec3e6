"""`kefu serve --workers 2`: two processes on one port, a killed worker restarted while the
other keeps serving, metrics summed over the workers, a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from kefu.redisserver import free_port

TOKEN = "workers-test-metrics-token-0123456789"


def _children(pid: int) -> set[int]:
    """The supervisor's worker processes (not its redis-server or resource tracker)."""
    out = set()
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"spawn_main" in cmdline:
            out.add(int(child))
    return out


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("KEFU_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(
        KEFU_PORT=str(port),
        KEFU_DATA_DIR=str(tmp_path / "data"),  # no KEFU_REDIS_URL: the embedded Redis
        KEFU_METRICS_TOKEN=TOKEN,
        KEFU_LOG_JSON="true",
    )
    log = tmp_path / "kefu.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kefu", "serve", "--demo", "--workers", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc, f"http://127.0.0.1:{port}", log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


async def _healthy(http: aiohttp.ClientSession, base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with http.get(base + "/healthz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError("kefu did not answer /healthz")


async def _shopper(http: aiohttp.ClientSession, base: str) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(
        base.replace("http", "ws") + "/ws/shopper?shop=demo&lang=zh",
        protocols=("kefu.v1",),
        headers={"Origin": base},
    )
    seen: set[str] = set()
    while "bot" not in seen:  # the session, then the greeting
        frame = json.loads((await ws.receive(timeout=10)).data)
        seen.update(f["type"] for f in (frame["frames"] if frame["type"] == "batch" else [frame]))
    return ws


async def _answer(ws: aiohttp.ClientWebSocketResponse, text: str) -> str:
    await ws.send_json({"type": "message", "text": text, "client_msg_id": f"m{time.monotonic_ns()}"})
    while True:
        frame = json.loads((await ws.receive(timeout=10)).data)
        frames = frame["frames"] if frame["type"] == "batch" else [frame]
        for f in frames:
            if f["type"] == "bot":
                return str(f["text"])


async def _open_sockets(http: aiohttp.ClientSession, base: str) -> float:
    async with http.get(base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
        assert resp.status == 200
        text = await resp.text()
    match = re.search(r'^kefu_sockets_open\{role="shopper"\} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


async def test_workers_share_the_port_restart_and_stop(
    served: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    proc, base, log = served
    async with aiohttp.ClientSession() as http:
        await _healthy(http, base)
        # Both workers ready (the supervisor says it listens only then): a worker killed before
        # it ever was is a start that failed, and ends the server by design.
        deadline = time.monotonic() + 30
        while '"kefu_listening"' not in log.read_text() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        workers = _children(proc.pid)
        assert len(workers) == 2

        sockets = [await _shopper(http, base) for _ in range(6)]
        # Every worker loaded the shop's FAQ: the same question gets the same answer on each.
        answers = {await _answer(ws, "包邮吗") for ws in sockets}
        assert len(answers) == 1 and answers != {""}
        # Whichever worker answers the scrape, it counts the sockets of both.
        for _ in range(4):
            assert await _open_sockets(http, base) == 6

        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = _children(proc.pid)
            if len(now) == 2 and victim not in now:
                workers |= now
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"the killed worker was not replaced: {log.read_text()[-2000:]}")
        await _healthy(http, base)
        # The sockets the dead worker held closed; the others still chat.
        await asyncio.sleep(0.5)
        alive = []
        for ws in sockets:
            try:
                await _answer(ws, "什么时候发货")
                alive.append(ws)
            except (TimeoutError, aiohttp.ClientError, TypeError, json.JSONDecodeError):
                pass
        fresh = await _shopper(http, base)
        assert await _answer(fresh, "可以退货吗")
        deadline = time.monotonic() + 10
        while await _open_sockets(http, base) != len(alive) + 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        assert await _open_sockets(http, base) == len(alive) + 1
        for ws in [*sockets, fresh]:
            await ws.close()

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    events = [json.loads(line)["event"] for line in log.read_text().splitlines() if line.startswith("{")]
    assert "worker_died" in events and events.count("worker_started") == 3
