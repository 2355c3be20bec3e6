"""Real processes for the chaos tests: a private redis-server with AOF, and `python -m kefu serve`
instances on it, each on a free port, each logging JSON to its own file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from redis.asyncio import Redis

from kefu.faq.corpus import default_corpus
from kefu.redisserver import RedisServer, free_port
from kefu.store.accounts import Accounts
from kefu.store.shops import ShopConfig, ShopStore
from tests.limits import loose_env

__all__ = ["PASSWORD", "SHOP", "Cluster", "KefuProcess"]

SHOP = "chaos"
PASSWORD = "chaos-agent-password"
SECRET = "chaos-test-secret-key-0123456789-0123456789"

# Short timers so that a fault plays out in seconds. The grace periods are longer than any
# outage the scenarios cause (a 5 s pause, a ~4 s restart), so a place in the queue or an
# agent's chats are kept: what the tests check is delivery, not the grace period.
DEFAULT_ENV = {
    # One process per instance: a SIGKILL is the instance's crash.
    "KEFU_WORKERS": "1",
    "KEFU_PRESENCE_INTERVAL_S": "0.5",
    "KEFU_JANITOR_INTERVAL_S": "0.5",
    "KEFU_AGENT_GRACE_S": "10",
    "KEFU_SHOPPER_GRACE_S": "10",
    "KEFU_CATCH_UP_S": "1.0",
    "KEFU_FAQ_POLL_S": "1.0",
    "KEFU_LOG_JSON": "true",
    "KEFU_LOG_LEVEL": "INFO",
    **loose_env(),
}


class KefuProcess:
    """One `python -m kefu serve` subprocess; `spawn` again after `kill`/`terminate` restarts it
    on the same port (its log file goes on)."""

    def __init__(self, name: str, redis_url: str, workdir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.port = free_port()
        self.redis_url = redis_url
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.exit_codes: list[int] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def spawn(self) -> None:
        env = {
            **os.environ,
            **DEFAULT_ENV,
            "KEFU_REDIS_URL": self.redis_url,
            "KEFU_HOST": "127.0.0.1",
            "KEFU_PORT": str(self.port),
            "KEFU_SECRET_KEY": SECRET,
            "KEFU_DATA_DIR": str(self.workdir / f"{self.name}-data"),
            "KEFU_INSTANCE_ID": self.name,
            **self.env,
        }
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f'{{"event": "chaos_spawn", "start": {self.starts}}}\n'.encode())
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kefu", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
            )

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Until /healthz answers 200 with the event subscription up."""
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                if not self.running:
                    raise RuntimeError(f"{self.name} exited: {self.tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    async with http.get(self.base + "/healthz") as resp:
                        if resp.status == 200 and (await resp.json()).get("events"):
                            return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become ready: {self.tail()}")

    def kill(self) -> None:
        """SIGKILL: the process vanishes, its sockets drop without a close frame."""
        self._signal(signal.SIGKILL, 5.0)

    def terminate(self, timeout: float = 20.0) -> None:
        """SIGTERM: graceful shutdown (every socket closed with 1001)."""
        self._signal(signal.SIGTERM, timeout)

    def _signal(self, sig: int, timeout: float) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.exit_codes.append(self.proc.returncode)
        self.proc = None

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON log lines (anything else, like a raw traceback, as {"raw": line})."""
        if not self.log_path.exists():
            return []
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                parsed = json.loads(line)
            except json.JSONDecodeError:
                parsed = {"raw": line}
            out.append(parsed if isinstance(parsed, dict) else {"raw": line})
        return out

    def tail(self, n: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])


class Cluster:
    """A redis-server (AOF, appendfsync everysec) on a free port, and `instances` kefu processes."""

    def __init__(self, workdir: Path, *, instances: int = 1, env: dict[str, str] | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.redis_server = RedisServer(workdir / "redis", port=free_port(), appendonly=True)
        self.instances = [
            KefuProcess(f"kefu{i + 1}", self.redis_server.url, workdir, env or {}) for i in range(instances)
        ]
        self.redis: Redis | None = None

    @property
    def client(self) -> Redis:
        assert self.redis is not None
        return self.redis

    async def start(self) -> None:
        await asyncio.to_thread(self.redis_server.start)
        self.redis = Redis.from_url(self.redis_server.url, decode_responses=True)
        for instance in self.instances:
            instance.spawn()
        await asyncio.gather(*(i.wait_ready() for i in self.instances))

    async def setup_shop(self, agents: list[str], *, capacity: int) -> None:
        store = ShopStore(self.client, SHOP)
        # No automatic transfer offers: the test texts are gibberish to the bot.
        await store.create(ShopConfig(name="chaos", auto_offer_after=0))
        await store.save_corpus(default_corpus())
        accounts = Accounts(self.client, SHOP)
        for username in agents:
            await accounts.add(username, PASSWORD, role="agent", name=username.title(), capacity=capacity)

    async def kill_redis(self) -> None:
        self.redis_server.kill()

    async def start_redis(self) -> None:
        await asyncio.to_thread(self.redis_server.start)
        # The old client's pooled connections are dead (redis-py fails the first command on
        # each); the harness starts afresh.
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()
        self.redis = Redis.from_url(self.redis_server.url, decode_responses=True)

    async def pause_redis(self, ms: int) -> None:
        """CLIENT PAUSE ms ALL from a connection of its own."""
        async with Redis.from_url(self.redis_server.url, decode_responses=True) as pauser:
            await pauser.execute_command("CLIENT", "PAUSE", ms, "ALL")

    async def stop(self) -> None:
        for instance in self.instances:
            await asyncio.to_thread(instance.terminate)
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()
            self.redis = None
        await asyncio.to_thread(self.redis_server.stop)

    def redis_log(self) -> str:
        path = self.redis_server.data_dir / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""
