"""kefu against the floor server (bench/floor.py), interleaved in one run: CPU per bot turn,
CPU per accepted socket, and saturation (the highest rate answered with p99 ≤ 50 ms).

  python bench/turns.py [--repeat 3] [--workers 2] [--loadgen node] [--out bench/results/turns.json]

One private redis-server; each server in turn pinned to core 0 (all cores with `--workers`),
the load generator on core 1. For every figure kefu and the floor run back to back, repeated,
and the report gives medians and the ratio kefu/floor of each pair: this machine is shared and
noisy, absolute times drift between runs, ratios taken a few seconds apart hold.

  turn        S sockets, R questions/s for D s: server CPU per answered question
  accept      N sockets opened: server CPU per socket (open + session + greeting)
  saturation  rising rates: the highest achieved with p99 ≤ 50 ms
  workers     `kefu serve --workers N` against one worker: saturation on every core
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run import TASKSET, Server, add_loadgen_option, loadgen, setup_shop  # noqa: E402

from kefu.redisserver import RedisServer, free_port  # noqa: E402

P99_LIMIT_MS = 50.0
ANSWERED_SHARE = 0.99
METRICS = "bench-metrics-token-0123456789"
os.environ["KEFU_METRICS_TOKEN"] = METRICS  # the servers inherit it
# The default FAQ's 629 labelled questions, drawn at random: varied, and repeating as a shop's do.
QUESTIONS = ROOT / "tests/data/faq_dev_cases.jsonl"


def start(kind: str, redis_url: str, tmp: Path, *, workers: int = 1) -> Server:
    if kind == "floor":
        port = free_port()
        cmd = [sys.executable, str(ROOT / "bench/floor.py"), "--port", str(port), "--redis-url", redis_url]
        return Server(redis_url, tmp, core=0, command=cmd, port=port)
    cmd = [sys.executable, "-m", "kefu", "serve", "--workers", str(workers)]
    return Server(redis_url, tmp, core=0 if workers == 1 else -1, command=cmd)


def chat(
    server: Server,
    sockets: int,
    rate: float,
    duration: float,
    *,
    warm: bool = False,
    node: bool = False,
    pinned: bool = True,
) -> dict[str, Any]:
    """`pinned` False: the server uses every core, and so may the load generator."""
    out = loadgen(
        [
            "chat",
            "--url",
            server.url,
            "--sockets",
            str(sockets),
            "--rate",
            str(rate),
            "--duration",
            str(duration),
            "--connect-rate",
            "500",
            "--questions",
            str(QUESTIONS),
            *(["--warm-all"] if warm else []),
            # Each worker keeps its own result cache: every question asked on several sockets.
            *(["--warm-rounds", "4"] if warm and node and not pinned else []),
        ],
        server_pid=server.pid,
        node=node,
        core=1 if pinned else None,
    )
    out["cpu_us_per_turn"] = round(out["server_cpu_s"] / max(1, out["answered"]) * 1e6, 1)
    out["cache_hit_rate"] = cache_hit_rate(server)
    cpu = out["cpu_at"]
    if "connecting" in cpu and "connected" in cpu:
        out["cpu_us_per_accept"] = round((cpu["connected"] - cpu["connecting"]) / sockets * 1e6, 1)
    return out


def cache_hit_rate(server: Server) -> float | None:
    """The bot's result-cache hit rate over the run, from kefu's /metrics (None: the floor)."""
    request = urllib.request.Request(server.url + "/metrics", headers={"Authorization": f"Bearer {METRICS}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    counts = dict(re.findall(r'kefu_match_cache\{result="(hit|miss)",shop="bench"\} (\S+)', text))
    hits, misses = float(counts.get("hit", 0)), float(counts.get("miss", 0))
    return round(hits / (hits + misses), 3) if hits + misses else None


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def med(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 1) if values else None


def measure_turns(args: argparse.Namespace, redis_url: str, tmp: Path) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"kefu": [], "floor": []}
    for _ in range(args.repeat):
        for kind in ("kefu", "floor"):
            server = start(kind, redis_url, tmp)
            try:
                runs[kind].append(chat(server, args.sockets, args.rate, args.duration, node=args.node))
            finally:
                server.stop()
    pairs = list(zip(runs["kefu"], runs["floor"], strict=True))
    return {
        "cpu_us_per_turn": {k: med([r["cpu_us_per_turn"] for r in v]) for k, v in runs.items()},
        "ratio": med([ratio(k["cpu_us_per_turn"], f["cpu_us_per_turn"]) for k, f in pairs]),
        "cpu_us_per_accept": {k: med([r.get("cpu_us_per_accept") for r in v]) for k, v in runs.items()},
        "accept_ratio": med(
            [ratio(k.get("cpu_us_per_accept"), f.get("cpu_us_per_accept")) for k, f in pairs]
        ),
        "p99_ms": {k: med([r["p99_ms"] for r in v]) for k, v in runs.items()},
        "kefu_cache_hit_rate": statistics.median([r["cache_hit_rate"] or 0.0 for r in runs["kefu"]]),
        "runs": runs,
    }


def measure_saturation(
    args: argparse.Namespace, kinds: list[str], redis_url: str, tmp: Path
) -> dict[str, Any]:
    """Each kind at rising rates, interleaved, until its p99 passes the limit."""
    best: dict[str, list[float]] = {k: [] for k in kinds}
    steps: list[dict[str, Any]] = []
    for _ in range(args.saturation_repeat):
        found = dict.fromkeys(kinds, 0.0)
        failed: set[str] = set()
        for rate in args.rates:
            for kind in kinds:
                if kind in failed:
                    continue
                workers = int(kind.removeprefix("workers")) if kind.startswith("workers") else 1
                server = start("floor" if kind == "floor" else "kefu", redis_url, tmp, workers=workers)
                try:
                    # The cache warm: the server's own throughput (cold questions: `turn`).
                    out = chat(
                        server,
                        args.saturation_sockets,
                        rate,
                        args.duration,
                        warm=True,
                        node=args.node,
                        pinned=workers == 1,
                    )
                finally:
                    server.stop()
                steps.append(
                    {
                        "kind": kind,
                        "offered": rate,
                        "rate": out["rate"],
                        "p99_ms": out["p99_ms"],
                        "cpu_us_per_turn": out["cpu_us_per_turn"],
                        "sent": out.get("sent"),
                        "answered": out.get("answered"),
                        "errors": out.get("errors"),
                    }
                )
                print(json.dumps(steps[-1]), flush=True)
                # A rate counts only if nearly every question asked was answered: p99 is taken
                # over the answered ones, and a server that drops questions is not keeping up.
                kept_up = out.get("answered", 0) >= ANSWERED_SHARE * out.get("sent", 0)
                if out["p99_ms"] is not None and out["p99_ms"] <= P99_LIMIT_MS and kept_up:
                    found[kind] = max(found[kind], out["rate"])
                else:
                    failed.add(kind)
        for kind, rate in found.items():
            best[kind].append(rate)
    rate = {k: med(v) for k, v in best.items()}
    out: dict[str, Any] = {
        "p99_limit_ms": P99_LIMIT_MS,
        "rate": rate,
        "kefu_over_floor": ratio(rate.get("kefu"), rate.get("floor")),
    }
    for kind in kinds:
        if kind.startswith("workers"):
            out[f"{kind}_over_one"] = ratio(rate.get(kind), rate.get("kefu"))
    return out | {"steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--saturation-sockets", type=int, default=2000)
    parser.add_argument("--saturation-repeat", type=int, default=1)
    parser.add_argument("--rates", type=float, nargs="*", default=[300, 500, 700, 900, 1100, 1300])
    parser.add_argument("--workers", type=int, default=0, help="also measure --workers N (0: skip)")
    parser.add_argument("--only", nargs="*", default=["turn", "saturation", "workers"])
    parser.add_argument("--cold", action="store_true", help="no result cache in either server")
    add_loadgen_option(parser)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.node = args.loadgen == "node"
    if args.cold:
        os.environ["KEFU_MATCH_CACHE"] = "0"  # the servers inherit it

    tmp = Path(tempfile.mkdtemp(prefix="kefu-turns-"))
    redis = RedisServer(tmp / "redis", port=free_port(), appendonly=True).start()
    if TASKSET:
        subprocess.run([TASKSET, "-p", "-c", "1", str(redis.process.pid)], capture_output=True)  # type: ignore[union-attr]
    asyncio.run(setup_shop(redis.url))
    results: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    try:
        if "turn" in args.only:
            results["turn"] = measure_turns(args, redis.url, tmp)
            print(json.dumps({"turn": {k: v for k, v in results["turn"].items() if k != "runs"}}), flush=True)
        kinds = ["kefu", "floor"] if "saturation" in args.only else []
        if "workers" in args.only and args.workers > 1:
            kinds = ["kefu", *kinds[1:], f"workers{args.workers}"]
        if kinds:
            results["saturation"] = measure_saturation(args, kinds, redis.url, tmp)
            summary = {k: v for k, v in results["saturation"].items() if k != "steps"}
            print(json.dumps({"saturation": summary}), flush=True)
    finally:
        redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
