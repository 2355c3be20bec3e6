"""Run kefu's benchmarks end to end and print the figures (docs/benchmarks.md records them).

  python bench/run.py [--quick] [--repeat 3] [--out bench/results/latest.json]

Starts a private redis-server (AOF, everysec), one or two `kefu serve` processes pinned to
core 0, and the load generator (bench/loadgen.py) pinned to core 1, then measures:

  sockets     N shopper sockets held by one server process; RSS per socket
  chat        bot reply latency p50/p99 at S sockets and R questions/s; server CPU per message
  assign      slot freed → next shopper told, same instance and across two instances
  chat-2      the chat run against two instances (half the sockets each)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kefu.faq.corpus import default_corpus  # noqa: E402
from kefu.redisserver import RedisServer, free_port  # noqa: E402
from kefu.store.accounts import Accounts  # noqa: E402
from kefu.store.client import connect  # noqa: E402
from kefu.store.shops import ShopConfig, ShopStore  # noqa: E402
from tests.limits import loose_env  # noqa: E402

TASKSET = shutil.which("taskset")
NODE = shutil.which("node")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def pinned(core: int, cmd: list[str]) -> list[str]:
    return [TASKSET, "-c", str(core), *cmd] if TASKSET and (os.cpu_count() or 1) > 1 else cmd


def cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and of its descendants (`kefu serve --workers N`): the live
    ones, and those that ended (a restarted worker) through their parents' children times."""
    stats: dict[int, tuple[int, float]] = {}  # pid → (parent, CPU seconds)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        # utime + stime + cutime + cstime (children waited for)
        stats[int(entry.name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]) / CLK_TCK)
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += stats.get(current, (0, 0.0))[1]
        todo.extend(child for child, (parent, _) in stats.items() if parent == current)
    return total


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


class Server:
    """`loose`: per-client limits out of the way (every simulated shopper is 127.0.0.1);
    bench/abuse.py runs with the defaults instead."""

    def __init__(
        self,
        redis_url: str,
        data: Path,
        core: int,
        *,
        loose: bool = True,
        root: Path = ROOT,
        command: list[str] | None = None,
        port: int | None = None,
    ) -> None:
        """`core` -1: not pinned (a server with several workers); `command` with `port`: another
        server than kefu (bench/floor.py) on that port."""
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "KEFU_REDIS_URL": redis_url,
            "KEFU_PORT": str(self.port),
            "KEFU_HOST": "127.0.0.1",
            "KEFU_SECRET_KEY": "bench-secret-0123456789-0123456789-0123",
            "KEFU_DATA_DIR": str(data),
            "KEFU_LOG_LEVEL": "WARNING",
            "KEFU_LOG_JSON": "true",
            "KEFU_WORKERS": "1",  # `--workers` on the command line overrides it
        }
        if loose:
            # Every simulated shopper comes from 127.0.0.1: one client to the per-client limits,
            # and the load generator is one host: no per-socket rate limit in the way.
            env.update(loose_env(), KEFU_RATE_BURST="1000", KEFU_RATE_PER_S="1000")
        self.log = (data / f"kefu-{self.port}.log").open("w")
        cmd = command or [sys.executable, "-m", "kefu", "serve"]
        self.proc = subprocess.Popen(
            pinned(core, cmd) if core >= 0 else cmd,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=root,  # `python -m kefu` runs the kefu of this checkout
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"kefu did not start; see {self.log.name}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def add_loadgen_option(parser: argparse.ArgumentParser) -> None:
    """`--loadgen python|node`, for every runner that drives the chat mode."""
    parser.add_argument(
        "--loadgen",
        choices=["python", "node"],
        default="python",
        help="the chat mode's generator; node: bench/node/loadgen.mjs (npm ci --prefix bench/node), "
        "which offers ≈ 2,450 questions/s where the Python one stops at ≈ 1,150 on its core, so "
        "that the servers keep the cores (--workers on a 2-core machine)",
    )


def loadgen(
    args: list[str], *, server_pid: int | None = None, node: bool = False, core: int | None = 1
) -> dict[str, Any]:
    """Run the load generator; with server_pid, read the server's CPU (its workers' too) at
    each event the generator reports (`cpu_at`), and between "chatting" and "chat_done"
    (`server_cpu_s`: connecting sockets is not counted). `node`: the chat mode in Node.js
    (bench/node/loadgen.mjs, a fraction of the CPU per message); `core` None: not pinned."""
    if node:
        command = [NODE or "node", str(ROOT / "bench" / "node" / "loadgen.mjs"), *args]
    else:
        command = [sys.executable, str(ROOT / "bench" / "loadgen.py"), *args]
    cmd = pinned(core, command) if core is not None else command
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stderr is not None and proc.stdout is not None
    cpu: dict[str, float] = {}
    errors = []
    for line in proc.stderr:
        if server_pid is not None and line.startswith("{"):
            event = json.loads(line).get("event")
            if event:
                cpu[event] = cpu_seconds(server_pid)
        else:
            errors.append(line)
    stdout = proc.stdout.read().strip()
    if proc.wait() != 0 or not stdout:
        raise RuntimeError(f"loadgen failed: {args}\n{''.join(errors[-30:])}")
    out = json.loads(stdout.splitlines()[-1])
    out["cpu_at"] = cpu
    if "chatting" in cpu and "chat_done" in cpu:
        out["server_cpu_s"] = round(cpu["chat_done"] - cpu["chatting"], 3)
    return out


async def setup_shop(redis_url: str) -> None:
    redis = connect(redis_url)
    store = ShopStore(redis, "bench")
    await store.create(ShopConfig(auto_offer_after=0))
    await store.save_corpus(default_corpus())
    accounts = Accounts(redis, "bench")
    if not await redis.hexists(accounts.keys.users, "bench-agent"):
        await accounts.add("bench-agent", "bench-password", role="agent", capacity=1)
    await redis.aclose()


def median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 3) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the harness")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sockets", type=int, default=15000)
    parser.add_argument("--chat-sockets", type=int, default=10000)
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--only", nargs="*", default=["sockets", "chat", "assign", "chat-2"])
    parser.add_argument("--out", type=Path)
    add_loadgen_option(parser)
    args = parser.parse_args()
    if args.quick:
        args.sockets, args.chat_sockets, args.rate, args.duration, args.repeat = 1000, 500, 200, 10, 1

    tmp = Path(tempfile.mkdtemp(prefix="kefu-bench-"))
    redis = RedisServer(tmp / "redis", port=free_port(), appendonly=True).start()
    if TASKSET:
        subprocess.run([TASKSET, "-p", "-c", "1", str(redis.process.pid)], capture_output=True)  # type: ignore[union-attr]
    asyncio.run(setup_shop(redis.url))
    results: dict[str, Any] = {"machine": machine(), "args": vars(args) | {"out": str(args.out)}}
    try:
        if "sockets" in args.only:
            runs = []
            for _ in range(args.repeat):
                server = Server(redis.url, tmp, core=0)
                time.sleep(1)
                base = rss_bytes(server.pid)
                proc = subprocess.Popen(
                    pinned(
                        1,
                        [
                            sys.executable,
                            str(ROOT / "bench/loadgen.py"),
                            "hold",
                            "--url",
                            server.url,
                            "--shop",
                            "bench",
                            "--sockets",
                            str(args.sockets),
                            "--duration",
                            "15",
                            "--connect-rate",
                            "1500",
                        ],
                    ),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    cwd=ROOT,
                )
                peak = base
                while proc.poll() is None:
                    peak = max(peak, rss_bytes(server.pid))
                    time.sleep(0.5)
                out = json.loads(proc.stdout.read().strip().splitlines()[-1]) if proc.stdout else {}
                out.update(
                    rss_base_mib=round(base / 2**20, 1),
                    rss_peak_mib=round(peak / 2**20, 1),
                    kib_per_socket=round((peak - base) / 1024 / max(1, out.get("opened", 1)), 1),
                )
                runs.append(out)
                server.stop()
            results["sockets"] = {
                "runs": runs,
                "opened": median(runs, "opened"),
                "kib_per_socket": median(runs, "kib_per_socket"),
            }
            print(json.dumps({"sockets": results["sockets"]}), flush=True)
        if "chat" in args.only:
            runs = []
            for _ in range(args.repeat):
                server = Server(redis.url, tmp, core=0)
                out = loadgen(
                    [
                        "chat",
                        "--url",
                        server.url,
                        "--sockets",
                        str(args.chat_sockets),
                        "--rate",
                        str(args.rate),
                        "--duration",
                        str(args.duration),
                        "--connect-rate",
                        "1500",
                    ],
                    server_pid=server.pid,
                    node=args.loadgen == "node",
                )
                # Server CPU while chatting (plus 2 s of tail), per question answered.
                out["cpu_us_per_message"] = round(out["server_cpu_s"] / max(1, out["answered"]) * 1e6, 1)
                runs.append(out)
                server.stop()
            results["chat"] = {
                "runs": runs,
                **{k: median(runs, k) for k in ("rate", "p50_ms", "p99_ms", "cpu_us_per_message")},
            }
            print(json.dumps({"chat": results["chat"]}), flush=True)
        if "assign" in args.only:
            one, two = Server(redis.url, tmp, core=0), Server(redis.url, tmp, core=0)
            try:
                same = [loadgen(["assign", "--url", one.url, "--rounds", "200"]) for _ in range(args.repeat)]
                cross = [
                    loadgen(["assign", "--url", one.url, "--agent-url", two.url, "--rounds", "200"])
                    for _ in range(args.repeat)
                ]
            finally:
                one.stop()
                two.stop()
            results["assign"] = {
                "same": {"runs": same, "p50_ms": median(same, "p50_ms"), "p99_ms": median(same, "p99_ms")},
                "cross": {
                    "runs": cross,
                    "p50_ms": median(cross, "p50_ms"),
                    "p99_ms": median(cross, "p99_ms"),
                },
            }
            print(json.dumps({"assign": results["assign"]}), flush=True)
        if "chat-2" in args.only:
            runs = []
            for _ in range(args.repeat):
                one, two = Server(redis.url, tmp, core=0), Server(redis.url, tmp, core=0)
                cmd = [
                    "chat",
                    "--sockets",
                    str(args.chat_sockets // 2),
                    "--rate",
                    str(args.rate / 2),
                    "--duration",
                    str(args.duration),
                    "--connect-rate",
                    "750",
                ]
                procs = [
                    subprocess.Popen(
                        pinned(1, [sys.executable, str(ROOT / "bench/loadgen.py"), *cmd, "--url", s.url]),
                        stdout=subprocess.PIPE,
                        text=True,
                        cwd=ROOT,
                    )
                    for s in (one, two)
                ]
                outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
                runs.append(
                    {
                        "rate": sum(o["rate"] for o in outs),
                        "p50_ms": max(o["p50_ms"] for o in outs),
                        "p99_ms": max(o["p99_ms"] for o in outs),
                        "answered": sum(o["answered"] for o in outs),
                    }
                )
                one.stop()
                two.stop()
            results["chat_two_instances"] = {
                "runs": runs,
                **{k: median(runs, k) for k in ("rate", "p50_ms", "p99_ms")},
            }
            print(json.dumps({"chat_two_instances": results["chat_two_instances"]}), flush=True)
    finally:
        redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False))


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "mem_gib": round(os.sysconf("SC_PHYS_PAGES") * PAGE / 2**30, 1),
    }


if __name__ == "__main__":
    main()
