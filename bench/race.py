"""The race run: ≥100k claims for few agent slots from several claimers at once, then the
Redis event log replayed to count double assignments, capacity overruns and FIFO inversions.

  python bench/race.py [--claims 100000] [--claimers 4] [--cluster]

Each claimer is its own Redis connection pool, as a kefu instance is (tests/store/test_race.py
runs the same with 1000 claims in the suite). With --cluster the shop lives on a local
three-master Redis Cluster instead of one redis-server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kefu.redisserver import RedisServer, free_port  # noqa: E402
from kefu.store.client import connect  # noqa: E402
from tests.redis_cluster import LocalCluster  # noqa: E402
from tests.store.test_race import race  # noqa: E402


async def run(url: str, claims: int, claimers: int) -> dict[str, float]:
    redis = connect(url)
    started = time.perf_counter()
    figures: dict[str, float] = dict(await race(redis, url, total=claims, claimers=claimers, spread_s=5.0))
    figures["seconds"] = round(time.perf_counter() - started, 1)
    figures["claims_per_s"] = round(claims / figures["seconds"])
    await redis.aclose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--claimers", type=int, default=4)
    parser.add_argument("--cluster", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kefu-race-") as tmp:
        server: RedisServer | LocalCluster
        if args.cluster:
            server = LocalCluster(Path(tmp)).start()
        else:
            server = RedisServer(Path(tmp), port=free_port(), appendonly=False).start()
        try:
            figures = asyncio.run(run(server.url, args.claims, args.claimers))
        finally:
            server.stop()
    print(json.dumps({"backend": "cluster" if args.cluster else "single", **figures}))
    broken = sum(figures[k] for k in ("double_assignments", "capacity_overruns", "fifo_inversions"))
    sys.exit(1 if broken or figures["assigned_once"] != args.claims else 0)


if __name__ == "__main__":
    main()
