"""Orders API: server CPU and latency per order received, kefu against the floor.

  python bench/orders.py [--orders 2000] [--repeat 3] [--concurrency 16] [--out FILE]

A shop's system sends N new orders, then a second version of each (paid → shipped), over HTTP
with the shop's API key, `--concurrency` requests at a time. kefu (one worker, pinned to core
0) and bench/floor.py's orders endpoint (the key checked, the JSON read, a version stored only
if newer and indexed under its customer, in one script — no schema, attribution, caps or
metrics) run on the same private Redis, interleaved `--repeat` times. Reported: server CPU per
order version and client p50/p99, and kefu ÷ floor per pair (median).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
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

from bench.run import TASKSET, Server, cpu_seconds, machine, setup_shop  # noqa: E402
from kefu.redisserver import RedisServer, free_port  # noqa: E402
from kefu.store.client import connect  # noqa: E402
from kefu.store.commerce import Commerce  # noqa: E402
from kefu.store.scripts import Scripts  # noqa: E402


def order(n: int, version: int, status: str) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    data: dict[str, Any] = {
        "id": f"SO-{n}",
        "customer_id": f"c-{n % 500}",
        "version": version,
        "status": status,
        "amount": "199.00",
        "items": [{"title": "保温杯 500ml", "quantity": 2, "price": "99.50"}],
        "created_at": now.isoformat(),
        "paid_at": now.isoformat(),
    }
    if status == "shipped":
        data |= {"shipped_at": now.isoformat(), "courier": "顺丰速运", "tracking_number": f"SF{n:010d}"}
    return data


async def send(url: str, key: str, count: int, concurrency: int, tag: int) -> list[float]:
    """Every order twice (two versions); the latency of each request."""
    latencies: list[float] = []
    bodies = [order(tag * 1_000_000 + n, 1, "paid") for n in range(count)]
    bodies += [order(tag * 1_000_000 + n, 2, "shipped") for n in range(count)]
    gate = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession() as http:

        async def one(body: dict[str, Any]) -> None:
            async with gate:
                started = time.perf_counter()
                async with http.post(url + "/api/shops/bench/orders", json=body, headers=headers) as resp:
                    assert resp.status == 200, (resp.status, await resp.text())
                    await resp.read()
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(one(b) for b in bodies[:count]))
        await asyncio.gather(*(one(b) for b in bodies[count:]))
    return latencies


def measure(server: Server, key: str, args: argparse.Namespace, tag: int) -> dict[str, float]:
    before = cpu_seconds(server.pid)
    latencies = asyncio.run(send(server.url, key, args.orders, args.concurrency, tag))
    cpu = cpu_seconds(server.pid) - before
    ms = sorted(x * 1000 for x in latencies)
    return {
        "cpu_us_per_order": round(1e6 * cpu / len(ms), 1),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[int(len(ms) * 0.99) - 1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        RedisServer(Path(tmp) / "redis", port=free_port(), appendonly=False) as redis,
    ):
        if TASKSET and redis.process is not None:  # Redis and the client on core 1, the server on 0
            subprocess.run([TASKSET, "-p", "-c", "1", str(redis.process.pid)], capture_output=True)
        asyncio.run(setup_shop(redis.url))

        async def api_key() -> str:
            client = connect(redis.url)
            try:
                return await Commerce(client, Scripts(client), "bench").rotate_api_key()
            finally:
                await client.aclose()

        key = asyncio.run(api_key())
        runs: dict[str, list[dict[str, float]]] = {"kefu": [], "floor": []}
        for r in range(args.repeat):
            kefu = Server(redis.url, Path(tmp), core=0)
            try:
                runs["kefu"].append(measure(kefu, key, args, tag=2 * r))
            finally:
                kefu.stop()
            port = free_port()
            floor_cmd = [
                sys.executable,
                str(ROOT / "bench" / "floor.py"),
                "--port",
                str(port),
                "--redis-url",
                redis.url,
            ]
            os.environ["FLOOR_ORDERS_KEY"] = key
            floor = Server(redis.url, Path(tmp), core=0, command=floor_cmd, port=port)
            try:
                runs["floor"].append(measure(floor, key, args, tag=2 * r + 1))
            finally:
                floor.stop()
            print(json.dumps({"repeat": r, "kefu": runs["kefu"][-1], "floor": runs["floor"][-1]}), flush=True)
    ratios = [
        k["cpu_us_per_order"] / f["cpu_us_per_order"]
        for k, f in zip(runs["kefu"], runs["floor"], strict=True)
    ]
    result = {
        "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "cpu_us_per_order": {n: statistics.median(x["cpu_us_per_order"] for x in v) for n, v in runs.items()},
        "p99_ms": {n: statistics.median(x["p99_ms"] for x in v) for n, v in runs.items()},
        "ratio": round(statistics.median(ratios), 2),
        "ratios": [round(x, 2) for x in ratios],
        "runs": runs,
    }
    print(json.dumps(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
