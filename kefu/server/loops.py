"""Background loops, supervised: a loop that fails logs why (with the traceback when it is not
Redis being away), waits, and goes on; `/healthz` reports every loop's last outcome, so a loop
that keeps failing shows there instead of dying silently."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from kefu.store.events import Event, parse
from kefu.store.keys import EVENTS_PATTERN

__all__ = ["LoopHealth", "Loops", "listen", "stop"]

log = structlog.get_logger(__name__)

# host:port, IPv4 or bracketed IPv6 addresses, as error messages of Redis clients and sockets
# name them ("Error 111 connecting to 10.0.0.5:6379", "('10.0.0.5', 6379)").
_ADDRESS = re.compile(
    r"\[[0-9a-fA-F:.]+\](:\d+)?"  # [::1]:6379
    r"|\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b"  # 10.0.0.5, 10.0.0.5:6379
    r"|\b[\w.-]+:\d{2,5}\b"  # redis.internal:6379
    r"|(?<=, )\d{2,5}(?=\))"  # the port in ('10.0.0.5', 6379)
)

# A loop that just failed waits this long before its next run (doubling up to the maximum).
_RETRY_S = 0.1
_RETRY_MAX_S = 2.0


@dataclass
class LoopHealth:
    """What one loop did last: when it last completed a run, and its failures since."""

    name: str
    ok: bool = False
    runs: int = 0
    failures: int = 0
    last_ok: float | None = None
    # When it last succeeded again after failing (None: it never failed).
    recovered_at: float | None = None
    last_error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def succeeded(self) -> None:
        if self.failures:
            self.recovered_at = time.time()
        self.ok, self.failures, self.last_error = True, 0, None
        self.runs += 1
        self.last_ok = time.time()

    def failed(self, exc: BaseException) -> None:
        self.ok = False
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]
        if isinstance(exc, RedisError | OSError):
            log.warning("loop_failed", loop=self.name, error=self.last_error, failures=self.failures)
        else:
            log.error("loop_failed", loop=self.name, failures=self.failures, exc_info=exc)

    def view(self) -> dict[str, Any]:
        # /healthz is public: the error without the addresses it may name (the log has them).
        error = _ADDRESS.sub("<address>", self.last_error) if self.last_error else None
        return {"ok": self.ok, "failures": self.failures, "last_error": error, **self.extra}


class Loops:
    """The instance's loops by name, and their health."""

    def __init__(self) -> None:
        self.health: dict[str, LoopHealth] = {}

    def every(self, name: str, interval_s: float, run: Callable[[], Awaitable[object]]) -> asyncio.Task[None]:
        """Run `run` now and then every `interval_s` after it ends, forever, whatever it raises."""
        health = self.health.setdefault(name, LoopHealth(name))

        async def loop() -> None:
            pause = _RETRY_S
            while True:
                try:
                    await run()
                except Exception as exc:
                    health.failed(exc)
                    await asyncio.sleep(min(pause, interval_s))
                    pause = min(pause * 2, _RETRY_MAX_S)
                    continue
                health.succeeded()
                pause = _RETRY_S
                await asyncio.sleep(interval_s)

        return asyncio.create_task(loop(), name=name)

    def context(
        self, name: str, interval_s: float, run: Callable[[], Awaitable[object]]
    ) -> Callable[[web.Application], AsyncIterator[None]]:
        """A cleanup context (for `app.cleanup_ctx`) that runs the loop while the app runs."""

        async def ctx(app: web.Application) -> AsyncIterator[None]:
            task = self.every(name, interval_s, run)
            try:
                yield
            finally:
                await stop(task)

        return ctx

    def report(self) -> dict[str, dict[str, Any]]:
        return {name: h.view() for name, h in sorted(self.health.items())}

    def failing(self) -> list[str]:
        return [name for name, h in self.health.items() if h.runs and not h.ok]


async def stop(*tasks: asyncio.Task[Any], timeout_s: float = 5.0) -> None:
    """Cancel `tasks` and wait for them, within `timeout_s`.

    A cancellation can get lost: on Python 3.11 `asyncio.wait_for` (redis-py writes under it)
    returns normally when the inner call finished in the same turn as the cancel, and the loop
    goes on. So whatever still runs after a second (time to clean up) is cancelled again, every
    0.1 s; what has not stopped after `timeout_s` is logged and left behind rather than hanging
    the shutdown."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    pending: set[asyncio.Task[Any]] = set(tasks)
    cancelled_again: set[str] = set()
    for task in pending:
        task.cancel()
    wait_s = 1.0
    while pending and (left := deadline - loop.time()) > 0:
        done, pending = await asyncio.wait(pending, timeout=min(wait_s, left))
        wait_s = 0.1
        for task in done:
            if not task.cancelled():
                task.exception()  # retrieved, so asyncio does not log it as never retrieved
        for task in pending:
            cancelled_again.add(task.get_name())
            task.cancel()
    if cancelled_again:
        log.warning("cancellation_lost", tasks=sorted(cancelled_again))
    if pending:
        log.error("tasks_not_stopped", tasks=sorted(t.get_name() for t in pending), timeout_s=timeout_s)


async def listen(
    redis: Redis,
    health: LoopHealth,
    dispatch: Callable[[str, Event], Awaitable[None]],
    on_reconnect: Callable[[], None],
    subscribed: asyncio.Event,
) -> None:
    """Follow every shop's event channel; after a reconnect, `on_reconnect` (events may have been
    missed meanwhile). An event this version cannot read is skipped; one whose handling fails is
    logged and the stream goes on."""
    backoff = _RETRY_S
    while True:
        pubsub = redis.pubsub()
        try:
            await pubsub.psubscribe(EVENTS_PATTERN)
            if subscribed.is_set():
                on_reconnect()
            subscribed.set()
            health.succeeded()
            backoff = _RETRY_S
            async for message in pubsub.listen():
                if message["type"] != "pmessage":
                    continue
                event = parse(message["data"])
                if event is None:
                    continue
                channel = str(message["channel"])
                try:
                    await dispatch(channel[channel.index("{") + 1 : channel.index("}")], event)
                except Exception as exc:  # one bad event must not end the stream
                    log.error("event_failed", event=event.event, exc_info=exc)
        except Exception as exc:
            health.failed(exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _RETRY_MAX_S)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
