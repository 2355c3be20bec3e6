"""kefu behind Redis Sentinel: a real master, a replica and a Sentinel (redis-server --sentinel);
the client finds the master through the Sentinel and follows it through a failover."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis as redis_sync
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from kefu.redisserver import RedisServer, find_redis_server, free_port
from kefu.store import Queue, Scripts, ShopKeys, connect, register_agent, touch

pytestmark = pytest.mark.slow

SHOP = "sentinel"
KEYS = ShopKeys(SHOP)


class _Replica(RedisServer):
    def __init__(self, data_dir: Path, master_port: int) -> None:
        super().__init__(data_dir, port=free_port(), appendonly=False)
        self.master_port = master_port

    def command(self) -> list[str]:
        return [*super().command(), "--replicaof", "127.0.0.1", str(self.master_port)]


def _wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture
def sentinel_setup(tmp_path: Path) -> Iterator[tuple[RedisServer, _Replica, int]]:
    master = RedisServer(tmp_path / "master", port=free_port(), appendonly=False).start()
    assert master.port is not None
    with redis_sync.Redis(port=master.port) as r:
        r.config_set("repl-diskless-sync-delay", 0)  # the replica syncs at once, not after 5 s
    replica = _Replica(tmp_path / "replica", master.port).start()
    sentinel_port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor mymaster 127.0.0.1 {master.port} 1\n"
        "sentinel down-after-milliseconds mymaster 1000\n"
        "sentinel failover-timeout mymaster 5000\n"
    )
    sentinel = subprocess.Popen(
        [find_redis_server(), str(conf), "--sentinel"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(sentinel_port)
        yield master, replica, sentinel_port
    finally:
        sentinel.terminate()
        sentinel.wait(10)
        replica.stop()
        master.stop()


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_kefu_follows_the_master_through_a_sentinel_failover(
    sentinel_setup: tuple[RedisServer, _Replica, int],
) -> None:
    master, replica, sentinel_port = sentinel_setup
    ask_sentinel = Redis(port=sentinel_port, decode_responses=True)
    ask_replica = Redis(port=replica.port, decode_responses=True)

    async def replica_synced() -> bool:
        return bool((await ask_replica.info("replication"))["master_link_status"] == "up")

    async def sentinel_knows_replica() -> bool:
        return bool(await ask_sentinel.execute_command("SENTINEL", "REPLICAS", "mymaster"))

    await _until(replica_synced, "the replica to sync")
    await _until(sentinel_knows_replica, "the Sentinel to discover the replica")

    redis = connect(f"redis+sentinel://127.0.0.1:{sentinel_port}/mymaster/0")
    queue = Queue(redis, Scripts(redis), SHOP)
    await register_agent(redis, SHOP, "a1", name="Ann", capacity=1, groups=["general"])
    await touch(redis, agents=[(SHOP, "a1")], agent_ttl_s=120, session_ttl_s=120)
    await queue.set_agent("a1", status="online")
    for conv in ("c1", "c2"):
        await redis.hset(KEYS.conversation(conv), mapping={"state": "bot", "session": f"s-{conv}"})
    assert (await queue.request("c1", "general")).status == "assigned"
    assert (await queue.request("c2", "general")).status == "queued"
    await _until(lambda: _same_offset(ask_replica, master), "the replica to have every write", timeout=5)

    async def failover_started() -> bool:
        try:  # NOGOODSLAVE until the Sentinel has heard from the replica itself
            return bool(await ask_sentinel.execute_command("SENTINEL", "FAILOVER", "mymaster"))
        except ResponseError:
            return False

    await _until(failover_started, "the Sentinel to accept a failover")

    async def replica_promoted() -> bool:
        host_port = await ask_sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
        return int(host_port[1]) == replica.port

    await _until(replica_promoted, "the Sentinel to promote the replica")

    # The same client now writes to the promoted replica: the queue state came along, and a
    # freed slot goes to the shopper who was waiting before the failover.
    async def closed_on_new_master() -> bool:
        try:
            return (await queue.close("c1", "agent", owner="a1")).status == "closed"
        except Exception:  # the demoted master's connections are cut; the next try re-asks
            return False

    await _until(closed_on_new_master, "a write to reach the new master")
    assert await redis.smembers(KEYS.agent_conversations("a1")) == {"c2"}
    role = await ask_replica.execute_command("ROLE")
    assert role[0] == "master"
    await redis.aclose()
    await ask_sentinel.aclose()
    await ask_replica.aclose()


async def _same_offset(replica: Redis, master: RedisServer) -> bool:
    ask_master = Redis(port=master.port, decode_responses=True)
    try:
        info_m = await ask_master.info("replication")
        info_r = await replica.info("replication")
        return bool(info_m["master_repl_offset"] == info_r["slave_repl_offset"])
    finally:
        await ask_master.aclose()
