"""What hostile clients can do to everyone else: another shop's bot reply latency while they
try, against the same server with nobody hostile (the floor), interleaved in one run.

  python bench/abuse.py [--rounds 3] [--phase-s 6] [--out bench/results/abuse.json]

One `kefu serve` with its default limits (core 0), this script on core 1. Five victim shoppers
of shop `victim` ask in turn (each every 1.2 s, from its own address); each phase adds one kind of
hostile load from other addresses (X-Forwarded-For, trusted from 127.0.0.1 by default):

  quiet     nobody hostile: the floor
  flood     one address: 40 sockets (sessions beyond the per-minute cap are refused) sending
            2,000-character messages as fast as they can
  addresses 20 addresses, 2 sockets each, the same
  admin     an admin reloading the unanswered page of 200 fresh long questions, back to back
  logins    40 logins at a time with made-up usernames from changing addresses

Reported per phase: the victim's reply p50/p99, their ratio to the quiet phase of the same
round (median over rounds), and what the hostile side got through (accepted / refused).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import TASKSET, Server, machine  # noqa: E402
from kefu.faq.corpus import default_corpus  # noqa: E402
from kefu.redisserver import RedisServer, free_port  # noqa: E402
from kefu.store.accounts import Accounts  # noqa: E402
from kefu.store.client import connect  # noqa: E402
from kefu.store.keys import ShopKeys  # noqa: E402
from kefu.store.shops import ShopStore  # noqa: E402

PHASES = ["quiet", "flood", "addresses", "admin", "logins"]
QUESTIONS = ["什么时候发货", "退货运费谁出", "支持七天无理由退货吗", "几天能到", "可以开发票吗"]
WORDS = "我们你的是在有个这那就都要会可以没说好快慢发货退款换颜色尺码质量包装价格优惠地址电话"
_ids = itertools.count()
# Victim shoppers of shop `victim`, each from its own address, asking in turn.
VICTIMS = 5


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def long_text(rng: random.Random, n: int = 2000) -> str:
    return "".join(rng.choices(WORDS, k=n))


async def setup(redis_url: str) -> None:
    redis = connect(redis_url)
    for shop in ("victim", "attack"):
        store = ShopStore(redis, shop)
        await store.create()
        await store.save_corpus(default_corpus().model_copy(update={"shop": shop}))
    accounts = Accounts(redis, "attack")
    if not await redis.hexists(accounts.keys.users, "boss"):
        await accounts.add("boss", "bench-password", role="admin", capacity=0)
    await redis.aclose()


class Shopper:
    """One shopper socket from `address`; counts what the server says to it."""

    def __init__(self, http: aiohttp.ClientSession, url: str, shop: str, address: str) -> None:
        self.http, self.url, self.shop, self.address = http, url, shop, address
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.counts: dict[str, int] = {}
        self.replies: asyncio.Queue[float] = asyncio.Queue()
        self.greeted = asyncio.Event()

    async def open(self) -> bool:
        try:
            self.ws = await self.http.ws_connect(
                self.url.replace("http", "ws") + f"/ws/shopper?shop={self.shop}",
                headers={"X-Forwarded-For": self.address},
                protocols=["kefu.v1"],
                heartbeat=None,
            )
        except aiohttp.WSServerHandshakeError as exc:
            self.counts[f"refused_{exc.status}"] = 1
            return False
        asyncio.get_running_loop().create_task(self._read())
        await asyncio.wait_for(self.greeted.wait(), 10)
        return True

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            outer = json.loads(msg.data)
            for frame in outer["frames"] if outer.get("type") == "batch" else [outer]:
                kind = frame.get("type")
                if kind == "bot" and frame.get("decision") == "greeting":
                    self.greeted.set()
                    continue
                key = f"error_{frame.get('code')}" if kind == "error" else kind
                self.counts[key] = self.counts.get(key, 0) + 1
                if kind == "bot":
                    self.replies.put_nowait(time.perf_counter())

    async def say(self, text: str) -> None:
        assert self.ws is not None
        await self.ws.send_str(
            json.dumps({"type": "message", "text": text, "client_msg_id": f"m{next(_ids)}"})
        )

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


async def victim_latencies(victim: Shopper, stop: asyncio.Event, offset: float) -> list[float]:
    """A question every 1.2 s (within the per-session budget, as a person types), the time
    to its reply; a refusal counts as a 30 s reply."""
    got = []
    await asyncio.sleep(offset)
    for i in itertools.count():
        if stop.is_set():
            break
        while not victim.replies.empty():
            victim.replies.get_nowait()
        sent = time.perf_counter()
        await victim.say(QUESTIONS[i % len(QUESTIONS)])
        try:
            got.append((await asyncio.wait_for(victim.replies.get(), 30)) - sent)
        except TimeoutError:
            got.append(30.0)
        await asyncio.sleep(max(0.0, 1.2 - (time.perf_counter() - sent)))
    return got


async def flood(
    http: aiohttp.ClientSession, url: str, addresses: list[str], per: int, stop: asyncio.Event
) -> dict[str, int]:
    rng = random.Random(1)
    texts = [long_text(rng) for _ in range(500)]  # distinct, made before the clock runs
    socks = [Shopper(http, url, "attack", a) for a in addresses for _ in range(per)]
    opened = [s for s, ok in zip(socks, await asyncio.gather(*(s.open() for s in socks)), strict=True) if ok]

    async def spam(s: Shopper) -> None:
        while not stop.is_set() and s.ws is not None and not s.ws.closed:
            try:
                await s.say(rng.choice(texts))
            except (ConnectionError, RuntimeError):
                break
            await asyncio.sleep(0.01)

    await asyncio.gather(*(spam(s) for s in opened))
    totals: dict[str, int] = {"sockets": len(opened)}
    for s in socks:
        for k, v in s.counts.items():
            totals[k] = totals.get(k, 0) + v
        await s.close()
    return totals


async def admin_pages(
    http: aiohttp.ClientSession, url: str, redis_url: str, stop: asyncio.Event
) -> dict[str, int]:
    async with http.post(
        url + "/api/login", json={"shop": "attack", "username": "boss", "password": "bench-password"}
    ) as r:
        token = (await r.json())["token"]
    redis = connect(redis_url)
    keys = ShopKeys("attack")
    rng = random.Random(2)
    pages = 0
    while not stop.is_set():
        texts = [long_text(rng, 300) for _ in range(200)]  # fresh questions: nothing cached
        await redis.delete(keys.misses, keys.miss_examples)
        await redis.zadd(keys.misses, {t: rng.randint(1, 9) for t in texts})
        await redis.hset(keys.miss_examples, mapping={t: t for t in texts})
        async with http.get(
            url + "/api/admin/unanswered?limit=200", headers={"Authorization": f"Bearer {token}"}
        ) as r:
            await r.read()
            pages += r.status == 200
    await redis.aclose()
    return {"pages": pages}


async def logins(http: aiohttp.ClientSession, url: str, stop: asyncio.Event) -> dict[str, int]:
    counts: dict[str, int] = {}
    n = itertools.count()

    async def one() -> None:
        while not stop.is_set():
            i = next(n)
            body = {"shop": "attack", "username": f"nobody{i}", "password": "guess-guess"}
            async with http.post(
                url + "/api/login",
                json=body,
                headers={"X-Forwarded-For": f"203.0.{i // 250 % 250}.{i % 250}"},
            ) as r:
                key = str(r.status)
                counts[key] = counts.get(key, 0) + 1

    await asyncio.gather(*(one() for _ in range(40)))
    return counts


async def hostile(name: str, url: str, redis_url: str, seconds: float) -> dict[str, Any]:
    """One phase's hostile load, for `seconds` (run in a process of its own)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        if name == "flood":
            return await flood(http, url, ["203.0.113.9"], 40, stop)
        if name == "addresses":
            return await flood(http, url, [f"203.0.113.{i}" for i in range(20, 40)], 2, stop)
        if name == "admin":
            return await admin_pages(http, url, redis_url, stop)
        if name == "logins":
            return await logins(http, url, stop)
        await asyncio.sleep(seconds)
        return {}


def _hostile_process(name: str, url: str, redis_url: str, seconds: float, out: Any) -> None:
    out.put(asyncio.run(hostile(name, url, redis_url, seconds)))


async def phase(name: str, url: str, redis_url: str, seconds: float) -> dict[str, Any]:
    """Victims measured here while the hostile load runs in another process (its own CPU
    use must not show as the victims' latency)."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    proc = context.Process(target=_hostile_process, args=(name, url, redis_url, seconds + 1.5, out))
    proc.start()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        victims = [
            Shopper(http, url, "victim", f"198.51.100.{random.randint(1, 250)}") for _ in range(VICTIMS)
        ]
        await asyncio.gather(*(v.open() for v in victims))
        await asyncio.sleep(1.0)  # the hostile side gets going
        stop = asyncio.Event()
        measuring = [
            asyncio.ensure_future(victim_latencies(v, stop, 1.2 * i / VICTIMS)) for i, v in enumerate(victims)
        ]
        await asyncio.sleep(seconds)
        stop.set()
        latencies = [x for got in await asyncio.gather(*measuring) for x in got]
        for v in victims:
            await v.close()
    got = await asyncio.to_thread(out.get, True, 120)
    proc.join(30)
    return {
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p99_ms": round(1000 * (pct(latencies, 0.99) or 0), 1),
        "replies": len(latencies),
        "hostile": got,
    }


async def warm_up(url: str) -> None:
    """The victim shop's bot is loaded before anything is measured."""
    async with aiohttp.ClientSession() as http:
        victim = Shopper(http, url, "victim", "198.51.100.254")
        await victim.open()
        await victim.say(QUESTIONS[0])
        await asyncio.wait_for(victim.replies.get(), 30)
        await victim.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--phase-s", type=float, default=10.0)
    parser.add_argument("--only", nargs="*", default=PHASES[1:], help="hostile phases to run")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    phases = ["quiet", *[p for p in PHASES[1:] if p in args.only]]

    tmp = Path(tempfile.mkdtemp(prefix="kefu-abuse-"))
    redis = RedisServer(tmp / "redis", port=free_port(), appendonly=False).start()
    if TASKSET:
        subprocess.run([TASKSET, "-p", "-c", "1", str(redis.process.pid)], capture_output=True)  # type: ignore[union-attr]
        subprocess.run([TASKSET, "-p", "-c", "1", str(os.getpid())], capture_output=True)
    asyncio.run(setup(redis.url))
    server = Server(redis.url, tmp, core=0, loose=False)
    asyncio.run(warm_up(server.url))
    rounds: list[dict[str, Any]] = []
    try:
        for r in range(args.rounds):
            done: dict[str, Any] = {}
            for name in phases:
                # A new minute of session budget per phase would need a minute's wait; the flood
                # phases use fresh addresses instead (the quiet victim has its own).
                done[name] = asyncio.run(phase(name, server.url, redis.url, args.phase_s))
                print(json.dumps({"round": r, "phase": name, **done[name]}), file=sys.stderr)
            rounds.append(done)
    finally:
        server.stop()
        redis.stop()
    summary = {}
    for name in phases:
        ratios50 = [rd[name]["p50_ms"] / max(rd["quiet"]["p50_ms"], 0.1) for rd in rounds]
        ratios99 = [rd[name]["p99_ms"] / max(rd["quiet"]["p99_ms"], 0.1) for rd in rounds]
        summary[name] = {
            "p50_ms": statistics.median(rd[name]["p50_ms"] for rd in rounds),
            "p99_ms": statistics.median(rd[name]["p99_ms"] for rd in rounds),
            "p50_ratio": round(statistics.median(ratios50), 2),
            "p99_ratio": round(statistics.median(ratios99), 2),
            "hostile": rounds[-1][name]["hostile"],
        }
    result = {
        "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "summary": summary,
        "rounds": rounds,
    }
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print("| phase | victim p50 ms | victim p99 ms | p50 ÷ quiet | p99 ÷ quiet | hostile side got |")
    print("|---|---|---|---|---|---|")
    for name, s in summary.items():
        print(
            f"| {name} | {s['p50_ms']} | {s['p99_ms']} | {s['p50_ratio']} | {s['p99_ratio']} "
            f"| {s['hostile']} |"
        )


if __name__ == "__main__":
    main()
