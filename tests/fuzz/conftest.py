"""Fixtures of the fuzz and security tests.

`client` is the same app as tests/server's (shop "demo" with the default FAQ), built here so that
its teardown cannot hang: kefu's background loops stop only if their cancellation arrives, and on
Python 3.11 redis-py's `asyncio.wait_for` around socket writes sometimes swallows it: in a few
percent of shutdowns (more when the app stops right after starting) the janitor or the QA worker
keeps looping. `Hub.stop` cancels such a loop again itself (test_shutdown.py pins that); the
teardown below does too, so that a regression there fails that test rather than hanging all.

`server_log` collects what the server logs (structlog events and stdlib records) so tests can
assert that no input made it log an unhandled exception.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

from kefu.server.app import create_app
from kefu.settings import Settings
from kefu.store import accounts
from tests.server.conftest import settings, shop  # noqa: F401  (fixtures used by `client`)

Client = TestClient[web.Request, web.Application]

# The names app.py gives its background tasks.
BACKGROUND_TASKS = frozenset(
    {"events", "backstop", "presence", "logins", "janitor", "faq-watch", "match-cache", "qa"}
)
# Server events that mean an input was not handled.
FAILURE_EVENTS = frozenset({"request_failed", "delivery_failed"})


async def close_client(client: Client) -> None:
    """`client.close()`, cancelling again any background loop that swallowed its cancellation."""
    closing = asyncio.ensure_future(client.close())
    while True:
        done, _ = await asyncio.wait({closing}, timeout=0.5)
        if done:
            break
        for task in asyncio.all_tasks():
            if task.get_name() in BACKGROUND_TASKS and task.cancelling() and not task.done():
                task.cancel()
    closing.result()


async def start_client(app: web.Application) -> Client:
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def client(settings: Settings, shop: str) -> AsyncIterator[Client]:  # noqa: F811
    client = await start_client(create_app(settings))
    try:
        yield client
    finally:
        await close_client(client)


class ServerLog:
    """structlog events and stdlib log records of the test so far. (Not a dataclass: hypothesis
    would print every event when it reports a failing example.)"""

    def __init__(self, events: list[dict[str, Any]], caplog: pytest.LogCaptureFixture) -> None:
        self.events = events
        self.caplog = caplog

    def __repr__(self) -> str:  # hypothesis prints the fixtures of a failing example
        return f"ServerLog({len(self.events)} events, {len(self.caplog.records)} records)"

    def mark(self) -> tuple[int, int]:
        return len(self.events), len(self.caplog.records)

    def problems(self, since: tuple[int, int] = (0, 0)) -> list[str]:
        """Unhandled exceptions and failed deliveries logged since `since` (a `mark()`)."""
        found = [
            f"{e.get('event')}: {e.get('path', '')} {e.get('error', '')}".strip()
            for e in self.events[since[0] :]
            if e.get("event") in FAILURE_EVENTS or e.get("log_level") in ("error", "critical", "exception")
        ]
        found += [
            f"{r.name}: {r.getMessage()}"
            for r in self.caplog.records[since[1] :]
            if r.levelno >= logging.ERROR
        ]
        return found

    def seen(self, event: str) -> bool:
        return any(e.get("event") == event for e in self.events)


@pytest.fixture
def server_log(caplog: pytest.LogCaptureFixture) -> Iterator[ServerLog]:
    caplog.set_level(logging.WARNING)
    with structlog.testing.capture_logs() as events:
        yield ServerLog(events, caplog)


@pytest.fixture
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters: fuzzing logins and password changes would otherwise spend
    half a second per hash. Verification reads the parameters from each stored hash."""
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
