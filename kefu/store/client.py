"""Redis clients for kefu: one bounded pool per instance; bursts wait for a connection.

URLs:
  redis://host:6379/0, rediss://…, unix:///path/redis.sock   one Redis (or a proxy)
  redis+cluster://host:7000                                  Redis Cluster (any node as seed)
  redis+sentinel://[:pw@]host1:26379,host2:26379/mymaster[/db]   the master Sentinel points to
A scheme added here goes into kefu.settings.REDIS_SCHEMES too (the settings check it).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, cast
from urllib.parse import unquote

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError

from kefu.store.keys import HEALTH_PROBE

__all__ = ["redacted", "StreamEntry", "connect", "probe_writes", "stream_range"]

# (entry id, fields): a stream entry with the client's decode_responses=True.
StreamEntry = tuple[str, dict[str, str]]


async def stream_range(
    redis: Redis,
    key: str,
    *,
    start: str = "-",
    end: str = "+",
    count: int | None = None,
    reverse: bool = False,
) -> list[StreamEntry]:
    """XRANGE (or XREVRANGE) with plain str types."""
    if reverse:
        raw = await redis.xrevrange(key, max=end, min=start, count=count)
    else:
        raw = await redis.xrange(key, min=start, max=end, count=count)
    return [
        (str(entry_id), {str(k): str(v) for k, v in (fields or {}).items()}) for entry_id, fields in raw or []
    ]


async def probe_writes(redis: Redis) -> None:
    """Raise unless Redis takes a write now (a full Redis answers PING but refuses writes)."""
    await redis.set(HEALTH_PROBE, "1", px=10_000)


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def connect(url: str, *, max_connections: int = 64, timeout_s: float = 10.0) -> Redis:
    """A client for `url`. Every key of a shop shares one hash slot, so kefu's scripts and
    transactions work the same on one Redis, behind Sentinel, or on Redis Cluster."""
    if url.startswith(("redis+cluster://", "rediss+cluster://")):
        cluster = BoundedCluster.from_url(
            url.replace("+cluster", "", 1), decode_responses=True, in_flight=max_connections
        )
        # RedisCluster speaks the same commands for keys of one slot; kefu never needs more.
        return cast(Redis, cluster)
    if url.startswith("redis+sentinel://"):
        return _sentinel(url, max_connections, timeout_s)
    tcp = {} if url.startswith("unix:") else {"socket_keepalive": True}
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout_s,
        decode_responses=True,
        health_check_interval=30,
        **_resilience(timeout_s),
        **tcp,
    )
    # from_pool: closing the client closes the pool it owns.
    return Redis.from_pool(pool)


def _resilience(timeout_s: float) -> dict[str, Any]:
    """Ride out short outages: a command waits up to 30 s for a paused Redis (CLIENT PAUSE, a
    slow fsync) instead of redis-py's 5 s, and a connection that died with a restarted Redis is
    replaced and the command retried instead of failing. kefu's writes are safe to repeat:
    messages are deduplicated by client_msg_id inside the scripts."""
    return {
        "socket_timeout": 30.0,
        "socket_connect_timeout": timeout_s,
        "retry": Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=3),
        "retry_on_error": [ConnectionError],
    }


class BoundedCluster(RedisCluster):
    """RedisCluster whose bursts wait for a connection, as BlockingConnectionPool does for one
    Redis: redis-py's cluster nodes raise MaxConnectionsError instead of waiting.

    At most `in_flight` commands and pipelines are in flight; each uses at most one connection per
    node, so a node never needs more than `in_flight` (plus a few held by WATCH, which kefu uses
    only for admin corpus edits).
    """

    def __init__(self, *args: Any, in_flight: int = 64, watch_headroom: int = 16, **kwargs: Any) -> None:
        kwargs["max_connections"] = in_flight + watch_headroom
        super().__init__(*args, **kwargs)
        self._in_flight = asyncio.Semaphore(in_flight)
        self._warm = False
        self._warming = asyncio.Lock()

    async def warm_up(self) -> None:
        """Discover the cluster with one command before any burst: redis-py 8.1 loses commands
        (AttributeError on a half-open connection) when many start while it maps the slots."""
        if self._warm:
            return
        async with self._warming:
            if not self._warm:
                await super().execute_command("PING")
                self._warm = True

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        await self.warm_up()
        async with self._in_flight:
            return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        if shard_hint:
            raise ValueError("shard_hint is not supported on Redis Cluster")
        # ClusterPipeline declares _event_dispatcher abstract-ish in its stubs; it is set at runtime.
        return _BoundedPipeline(self, transaction)  # type: ignore[abstract]


class _BoundedPipeline(ClusterPipeline):
    cluster_client: BoundedCluster

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        await self.cluster_client.warm_up()
        async with self.cluster_client._in_flight:
            return await super().execute(raise_on_error, allow_redirections)


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel's pool (finds the master, follows a failover) with BlockingConnectionPool's
    waiting for a free connection instead of raising on a burst."""


class _SentinelRedis(Redis):
    """The master's client; closing it closes the connections to the Sentinels too."""

    sentinel_manager: Sentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        for client in self.sentinel_manager.sentinels if self.sentinel_manager else ():
            await client.aclose()


def _sentinel(url: str, max_connections: int, timeout_s: float) -> Redis:
    """`redis+sentinel://[[user]:password@]host1:26379,host2:26379/service[/db]`; the password
    is the Redis master's (the Sentinels themselves are asked without one)."""
    rest = url.removeprefix("redis+sentinel://")
    auth, _, rest = rest.rpartition("@")
    hosts, _, path = rest.partition("/")
    service, _, db = path.partition("/")
    username, _, password = auth.partition(":")
    nodes = []
    for host in hosts.split(","):
        name, _, port = host.rpartition(":")
        nodes.append((name or host, int(port or 26379)))
    sentinel = Sentinel(nodes, socket_timeout=timeout_s)
    master = sentinel.master_for(
        service or "mymaster",
        redis_class=_SentinelRedis,
        connection_pool_class=_BlockingSentinelPool,
        db=int(db or 0),
        username=unquote(username) or None,
        password=unquote(password) or None,
        max_connections=max_connections,
        timeout=timeout_s,
        decode_responses=True,
        health_check_interval=30,
        **_resilience(timeout_s),
    )
    master.sentinel_manager = sentinel
    return cast(Redis, master)
