"""Chaos runs too long for the test suite: more shoppers, two instances, repeated and combined
faults. Prints the figures of every run (the same as tests/chaos) and a summary.

  python bench/chaos.py [--scenario NAME|all] [--repeat N] [--shoppers 50] [--agents 4]
                        [--capacity 4] [--instances 2] [--out DIR]

Scenarios: redis-kill, redis-kill-x5 (five kills, each right after an ack), redis-pause,
instance-kill, restart, rolling-restart, instance-and-redis-kill. Every run starts from
scratch: its own redis-server (AOF, everysec) and `python -m kefu serve` processes.
Exit status 1 when any run broke a guarantee (see tests/chaos/test_chaos.py GUARANTEES).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.chaos import faults  # noqa: E402
from tests.chaos.run import Fault, Plan, execute  # noqa: E402
from tests.chaos.test_chaos import GUARANTEES  # noqa: E402
from tests.chaos.verdict import report  # noqa: E402


def scenarios(instances: int) -> dict[str, tuple[Fault, int]]:
    """name → (fault, instances it needs)."""
    return {
        "redis-kill": (faults.redis_kill(), instances),
        "redis-kill-x5": (faults.redis_kill_repeatedly(times=5, every_s=2.0), instances),
        "redis-pause": (faults.redis_pause(5000), instances),
        "instance-kill": (faults.instance_kill(0), max(2, instances)),
        "restart": (faults.restart(0), instances),
        "rolling-restart": (faults.rolling_restart(), max(2, instances)),
        "instance-and-redis-kill": (faults.instance_kill_and_redis_kill(), max(2, instances)),
    }


# Figures worth a column in the summary.
SUMMARY = [
    "messages_acked",
    "acked_lost",
    "duplicates_shown",
    "duplicate_ids",
    "order_violations",
    "queue_order_inversions",
    "shoppers_not_resumed",
    "shoppers_done",
    "replayed_on_resume",
    "protocol_violations",
    "agent_lines_only_before_hello",
    "acked_last_1s_before_kill_lost",
    "ack_latency_max_s",
]


def broken(figures: dict[str, Any]) -> dict[str, Any]:
    expected = {**GUARANTEES, "shoppers_done": figures["shoppers"]}
    return {k: figures.get(k) for k, v in expected.items() if figures.get(k) != v}


async def one(name: str, fault: Fault, plan: Plan, out: Path) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"kefu-chaos-{name}-"))
    started = time.monotonic()
    try:
        _, verdict = await execute(workdir, plan, fault, name)
    finally:
        shutil.copytree(workdir, out / f"{name}-{int(time.time())}", dirs_exist_ok=True, ignore=_big)
        shutil.rmtree(workdir, ignore_errors=True)
    text = report(verdict)
    print(text, flush=True)
    figures: dict[str, Any] = verdict["figures"]
    figures["run_s"] = round(time.monotonic() - started, 1)
    figures["broken"] = broken(figures)
    return figures


def _big(directory: str, names: list[str]) -> list[str]:
    return [n for n in names if n.startswith("appendonly") or n == "appendonlydir"]


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", default="all")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--shoppers", type=int, default=50)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--capacity", type=int, default=4)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds after the fault")
    parser.add_argument("--out", type=Path, default=ROOT / "test-artifacts" / "chaos-bench")
    args = parser.parse_args()
    table = scenarios(args.instances)
    names = list(table) if args.scenario == "all" else args.scenario.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for round_ in range(args.repeat):
        for name in names:
            fault, instances = table[name]
            plan = Plan(
                shoppers=args.shoppers,
                agents=args.agents,
                capacity=args.capacity,
                instances=instances,
                min_waiting=max(5, args.shoppers // 3),
                deadline_s=args.deadline,
            )
            figures = await one(name, fault, plan, args.out)
            figures["round"] = round_ + 1
            results.append(figures)
    (args.out / "summary.json").write_text(json.dumps(results, indent=2, default=str))
    print("\n== summary")
    print(f"{'scenario':<26}" + "".join(f"{k[:14]:>15}" for k in SUMMARY) + f"{'run_s':>8}  broken")
    for f in results:
        cells = "".join(f"{str(f.get(k, '-'))[:14]:>15}" for k in SUMMARY)
        print(f"{f['scenario']:<26}{cells}{f['run_s']:>8}  {f['broken'] or ''}")
    return 1 if any(f["broken"] for f in results) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
