"""What a queue costs as it grows: N shoppers join one group's queue, then a capacity-1 agent
serves them one by one (each round: the agent closes its chat, the next shopper is told).

  python bench/queues.py [--sizes 20 200 2000] [--baseline DIR] [--out bench/results/queue.json]

One `kefu serve` (core 0) with the loose test limits, the load generator (bench/loadgen.py
assign) on core 1. Reported per N: slot freed → next shopper told (p50/p99), and the server's
CPU for the whole run (N sockets opened, N transfers, N assignments) divided by N — flat when
every step is O(1) per waiting shopper, growing with N when each assignment touches everyone
With --baseline, another checkout (the code before a change) runs each N up to
--baseline-max right after this one on the same Redis, and the table gives the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import TASKSET, Server, cpu_seconds, loadgen, machine, setup_shop  # noqa: E402
from kefu.redisserver import RedisServer, free_port  # noqa: E402


def run_once(redis: RedisServer, tmp: Path, n: int, root: Path, *, cross: bool = False) -> dict[str, Any]:
    """`cross`: the agent on a second instance, so each assignment crosses Redis pub/sub."""
    # A clean Redis per run: the last run's chat still holds the agent's slot.
    flush = f"import redis; redis.Redis.from_url({redis.url!r}).flushall()"
    subprocess.run([sys.executable, "-c", flush], check=True)
    asyncio.run(setup_shop(redis.url))
    server = Server(redis.url, tmp, core=0, root=root)
    agents = Server(redis.url, tmp, core=0, root=root) if cross else None
    try:
        before = cpu_seconds(server.pid)
        extra = ["--agent-url", agents.url] if agents else []
        got = loadgen(["assign", "--url", server.url, "--rounds", str(n), *extra])
        cpu = cpu_seconds(server.pid) - before
    finally:
        server.stop()
        if agents:
            agents.stop()
    return {"queued": n, **got, "server_cpu_s": round(cpu, 2), "cpu_ms_per_shopper": round(1000 * cpu / n, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 200, 2000])
    parser.add_argument("--baseline", type=Path, help="another kefu checkout, run interleaved with this one")
    parser.add_argument("--baseline-max", type=int, default=200, help="largest N the baseline is given")
    parser.add_argument("--cross", type=int, nargs="*", default=[], help="sizes also run cross-instance")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kefu-queue-"))
    redis = RedisServer(tmp / "redis", port=free_port(), appendonly=False).start()
    if TASKSET:
        subprocess.run([TASKSET, "-p", "-c", "1", str(redis.process.pid)], capture_output=True)  # type: ignore[union-attr]
    rows = []
    try:
        for n in args.sizes:
            row = run_once(redis, tmp, n, ROOT)
            if args.baseline and n <= args.baseline_max:
                row["baseline"] = run_once(redis, tmp, n, args.baseline)
            if n in args.cross:
                row["cross"] = run_once(redis, tmp, n, ROOT, cross=True)
            print(json.dumps(row), file=sys.stderr)
            rows.append(row)
    finally:
        redis.stop()
    if args.out:
        args.out.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))
    first = rows[0]
    print(
        "| queued N | told p50 ms | told p99 ms | CPU per shopper "
        f"| ÷ same at N={first['queued']} | ÷ baseline, p99 / CPU |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        scale = r["cpu_ms_per_shopper"] / first["cpu_ms_per_shopper"]
        base = r.get("baseline")
        vs = "–"
        if base:
            cpu = r["cpu_ms_per_shopper"] / base["cpu_ms_per_shopper"]
            vs = f"{r['p99_ms'] / base['p99_ms']:.2f} / {cpu:.2f}"
        print(
            f"| {r['queued']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['cpu_ms_per_shopper']} ms "
            f"| {scale:.2f} | {vs} |"
        )
    for r in rows:
        if "cross" in r:
            c = r["cross"]
            told = f"told p50 {c['p50_ms']:.1f} ms, p99 {c['p99_ms']:.1f} ms"
            print(f"cross-instance, {r['queued']} queued: {told}")


if __name__ == "__main__":
    main()
