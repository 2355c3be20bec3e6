"""Load generator for kefu: many shopper sockets asking the bot, agents that accept and answer.

Runs in its own process (pin it to another core than the server with taskset). Modes:

  hold     open N shopper sockets and keep them open; report how many got their session
  chat     N sockets, R questions per second in total for D seconds; bot reply latency
  assign   slot freed → next shopper assigned: agents close chats while shoppers wait

Results are one JSON object on stdout; bench/run.py drives the modes and writes the table.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

QUESTIONS = [
    "什么时候发货",
    "物流三天没动了",
    "退货运费谁出",
    "包邮吗",
    "可以开发票吗",
    "怎么退货",
    "尺码偏大吗",
    "有没有优惠券",
    "when will my order ship?",
    "how long does delivery take",
    "請問可以換貨嗎",
    "質量有問題怎麼辦",
    "衣服起球了",
    "多久能退款",
    "能不能便宜点",
    "支持货到付款吗",
    "快递丢了怎么办",
    "保修多久",
]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered))) - 1))]


@dataclass
class Shopper:
    ws: aiohttp.ClientWebSocketResponse
    pending: dict[str, float] = field(default_factory=dict)  # client_msg_id → sent at
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    joined: asyncio.Event = field(default_factory=asyncio.Event)
    # Set on `queued` or `agent_joined`: the server has taken the transfer request.
    placed: asyncio.Event = field(default_factory=asyncio.Event)
    joined_at: float = 0.0
    waiting_reply: str | None = None


class Load:
    def __init__(self, url: str, shop: str, *, origin: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.shop = shop
        self.origin = origin
        self.session: aiohttp.ClientSession | None = None
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.counter = itertools.count()
        self.received = 0
        self.transfers = 0

    async def __aenter__(self) -> Load:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.session is not None
        await self.session.close()

    def ws_url(self, path: str) -> str:
        return self.url.replace("http://", "ws://").replace("https://", "wss://") + path

    async def shopper(self) -> Shopper:
        assert self.session is not None
        headers = {"Origin": self.origin} if self.origin else {}
        ws = await self.session.ws_connect(
            self.ws_url(f"/ws/shopper?shop={self.shop}&lang=zh"), headers=headers, heartbeat=None, compress=0
        )
        shopper = Shopper(ws)
        asyncio.get_running_loop().create_task(self._read(shopper))
        return shopper

    async def _read(self, s: Shopper) -> None:
        async for msg in s.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            self.received += 1
            outer = json.loads(msg.data)
            for frame in outer["frames"] if outer.get("type") == "batch" else [outer]:
                self._frame(s, frame)

    def _frame(self, s: Shopper, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        # A reply first: the bot answers small talk (你好, thanks) as a greeting too.
        if kind == "bot" and s.waiting_reply is not None:
            sent = s.pending.pop(s.waiting_reply, None)
            if sent is not None:
                self.latencies.append(time.perf_counter() - sent)
            s.waiting_reply = None
        elif kind == "bot" and frame.get("decision") == "greeting":
            s.ready.set()
        elif kind in ("offline", "queued") and s.waiting_reply is not None and not s.placed.is_set():
            # Read as a request for a human (nobody online): no answer to time; it may ask again.
            s.pending.pop(s.waiting_reply, None)
            s.waiting_reply = None
            self.transfers += 1
        elif kind == "agent_joined":
            s.joined_at = time.perf_counter()
            s.joined.set()
            s.placed.set()
        elif kind == "queued":
            s.placed.set()
        elif kind == "error":
            code = str(frame.get("code"))
            self.errors[code] = self.errors.get(code, 0) + 1

    async def ask(self, s: Shopper, text: str) -> None:
        cid = f"q{next(self.counter)}"
        s.pending[cid] = time.perf_counter()
        s.waiting_reply = cid
        await s.ws.send_str(json.dumps({"type": "message", "text": text, "client_msg_id": cid}))

    async def agent(
        self, username: str, password: str
    ) -> tuple[aiohttp.ClientWebSocketResponse, asyncio.Queue[Any]]:
        assert self.session is not None
        async with self.session.post(
            self.url + "/api/login", json={"shop": self.shop, "username": username, "password": password}
        ) as r:
            token = (await r.json())["token"]
        async with self.session.post(
            self.url + "/api/socket-ticket", headers={"Authorization": f"Bearer {token}"}
        ) as r:
            ticket = (await r.json())["ticket"]
        ws = await self.session.ws_connect(
            self.ws_url(f"/ws/agent?ticket={ticket}"), heartbeat=None, compress=0
        )
        frames: asyncio.Queue[Any] = asyncio.Queue()

        async def read() -> None:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                await frames.put(json.loads(msg.data))

        asyncio.get_running_loop().create_task(read())
        await ws.send_str(json.dumps({"type": "status", "status": "online"}))
        while (await asyncio.wait_for(frames.get(), 10)).get("type") != "status":
            pass
        return ws, frames


async def open_many(load: Load, n: int, connect_rate: float) -> list[Shopper]:
    """Open n sockets at about connect_rate per second; wait for every greeting."""
    shoppers: list[Shopper] = []
    sem = asyncio.Semaphore(200)

    async def one() -> None:
        async with sem:
            s = await load.shopper()
            await asyncio.wait_for(s.ready.wait(), 60)
            shoppers.append(s)

    tasks = []
    for _ in range(n):
        tasks.append(asyncio.create_task(one()))
        await asyncio.sleep(1 / connect_rate)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        load.errors["connect"] = len(failures)
    return shoppers


async def mode_hold(args: argparse.Namespace) -> dict[str, Any]:
    async with Load(args.url, args.shop) as load:
        print(json.dumps({"event": "connecting"}), file=sys.stderr, flush=True)
        started = time.perf_counter()
        shoppers = await open_many(load, args.sockets, args.connect_rate)
        opened = time.perf_counter() - started
        print(json.dumps({"event": "holding", "sockets": len(shoppers)}), file=sys.stderr, flush=True)
        await asyncio.sleep(args.duration)
        alive = sum(1 for s in shoppers if not s.ws.closed)
        for s in shoppers:
            await s.ws.close()
        return {
            "mode": "hold",
            "requested": args.sockets,
            "opened": len(shoppers),
            "alive_after": alive,
            "open_seconds": round(opened, 1),
            "errors": load.errors,
        }


async def mode_chat(args: argparse.Namespace) -> dict[str, Any]:
    async with Load(args.url, args.shop) as load:
        print(json.dumps({"event": "connecting"}), file=sys.stderr, flush=True)
        shoppers = await open_many(load, args.sockets, args.connect_rate)
        print(json.dumps({"event": "connected"}), file=sys.stderr, flush=True)
        rng = random.Random(7)
        questions = QUESTIONS
        if args.questions:
            # Requests for a human (`@transfer`) leave the bot: the assign mode measures those.
            cases = [json.loads(line) for line in args.questions.read_text().splitlines() if line]
            questions = [c["q"] for c in cases if c.get("expect") != "@transfer"]
        # Warm-up: the server builds the shop's matcher on the first question. With --warm-all
        # every distinct question is asked once first (100 a second), so the measured part is
        # the server's own cost with the bot's result cache warm, not the first sight of each.
        warm = questions if args.warm_all else [rng.choice(questions) for _ in range(20)]
        for n, question in enumerate(warm):
            await load.ask(shoppers[n % len(shoppers)], question)
            await asyncio.sleep(0.01)
        await asyncio.sleep(3)
        load.latencies.clear()
        print(json.dumps({"event": "chatting", "sockets": len(shoppers)}), file=sys.stderr, flush=True)
        interval = 1 / args.rate
        sent = 0
        started = time.perf_counter()
        next_at = started
        while time.perf_counter() - started < args.duration:
            s = rng.choice(shoppers)
            if s.waiting_reply is None:
                await load.ask(s, rng.choice(questions))
                sent += 1
            next_at += interval
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        elapsed = time.perf_counter() - started
        await asyncio.sleep(2)  # let the last replies arrive
        answered = len(load.latencies)
        print(json.dumps({"event": "chat_done", "answered": answered}), file=sys.stderr, flush=True)
        for s in shoppers:
            await s.ws.close()
        ms = [x * 1000 for x in load.latencies]
        return {
            "mode": "chat",
            "sockets": len(shoppers),
            "sent": sent,
            "answered": answered,
            "transfers": load.transfers,
            "rate": round(sent / elapsed, 1),
            "p50_ms": pct(ms, 0.5),
            "p99_ms": pct(ms, 0.99),
            "mean_ms": round(statistics.fmean(ms), 3) if ms else None,
            "errors": load.errors,
        }


async def mode_assign(args: argparse.Namespace) -> dict[str, Any]:
    """Agents (capacity 1) on --agent-url, shoppers on --url: each round an agent closes its
    chat and we time how long until the next waiting shopper hears agent_joined."""
    async with (
        Load(args.url, args.shop) as shoppers_load,
        Load(args.agent_url or args.url, args.shop) as agents_load,
    ):
        ws, frames = await agents_load.agent(args.agent_user, args.agent_password)
        assigned: asyncio.Queue[str] = asyncio.Queue()

        async def watch() -> None:
            while True:
                frame = await frames.get()
                if frame.get("type") == "assigned":
                    await assigned.put(frame["conversation"]["id"])

        watcher = asyncio.create_task(watch())
        latencies: list[float] = []
        waiting = await open_many(shoppers_load, args.rounds + 1, 200)
        for s in waiting:  # one by one, so the queue's order is this list's order
            await s.ws.send_str(json.dumps({"type": "transfer"}))
            await asyncio.wait_for(s.placed.wait(), 10)
        await asyncio.wait_for(waiting[0].joined.wait(), 10)
        current = await asyncio.wait_for(assigned.get(), 10)
        for n in range(1, args.rounds + 1):
            nxt = waiting[n]
            freed = time.perf_counter()
            await ws.send_str(json.dumps({"type": "close", "conversation_id": current}))
            await asyncio.wait_for(nxt.joined.wait(), 10)
            latencies.append(nxt.joined_at - freed)
            current = await asyncio.wait_for(assigned.get(), 10)
        watcher.cancel()
        await ws.close()
        for s in waiting:
            await s.ws.close()
        ms = [x * 1000 for x in latencies]
        return {
            "mode": "assign",
            "rounds": len(ms),
            "p50_ms": pct(ms, 0.5),
            "p99_ms": pct(ms, 0.99),
            "max_ms": max(ms) if ms else None,
            "cross_instance": bool(args.agent_url and args.agent_url != args.url),
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["hold", "chat", "assign"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--agent-url")
    parser.add_argument("--shop", default="bench")
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--connect-rate", type=float, default=1000)
    parser.add_argument("--warm-all", action="store_true", help="ask every question once before measuring")
    parser.add_argument("--questions", type=Path, help="JSONL with a `q` per line (default: a fixed few)")
    parser.add_argument("--rate", type=float, default=200, help="questions per second, all sockets together")
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--agent-user", default="bench-agent")
    parser.add_argument("--agent-password", default="bench-password")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    runner = {"hold": mode_hold, "chat": mode_chat, "assign": mode_assign}[args.mode]
    print(json.dumps(asyncio.run(runner(args))))


if __name__ == "__main__":
    main()
