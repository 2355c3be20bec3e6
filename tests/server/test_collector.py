"""The process's collection policy: survivors of a full collection are frozen (the next one
does not walk them again), a sweep reclaims cycles among frozen objects, and an app that stops
leaves the interpreter as it found it."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from kefu.server.collector import THRESHOLDS, Collector


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    before = gc.get_threshold()
    collector = Collector(asyncio.get_running_loop(), sweep_s=0)
    yield collector
    collector.uninstall()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def tracked(obj: object) -> bool:
    """Whether a full collection would walk `obj` (frozen objects are in no generation)."""
    return any(o is obj for o in gc.get_objects())


async def test_survivors_of_a_full_collection_are_not_walked_again(collector: Collector) -> None:
    collector.install()
    assert gc.get_threshold() == THRESHOLDS
    held = [Node() for _ in range(3)]
    assert tracked(held)
    gc.collect()
    await asyncio.sleep(0)  # the freeze runs on the loop, after the collection
    assert collector.full_collections >= 1
    assert not tracked(held)
    assert gc.get_freeze_count() > 0


async def test_a_sweep_reclaims_a_cycle_that_died_frozen(collector: Collector) -> None:
    collector.install()
    a, b = Node(), Node()
    a.other, b.other = b, a
    alive = weakref.ref(a)
    gc.collect()
    await asyncio.sleep(0)
    del a, b
    gc.collect()
    await asyncio.sleep(0)
    assert alive() is not None  # frozen: no collection looks at it
    await collector.maybe_sweep()
    assert alive() is None
    assert collector.last_sweep["collected"] >= 2
    assert collector.last_sweep["frozen"] > 0


async def test_a_serving_app_freezes_its_resources_and_gives_them_back(
    client: TestClient[web.Request, web.Application],
) -> None:
    """While the app serves, the language resources are out of the collector's way and the
    sweep loop is healthy; the client fixture's teardown stops the app."""
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == THRESHOLDS
    for _ in range(50):
        loops = (await (await client.get("/healthz")).json())["loops"]
        if loops.get("gc-sweep", {}).get("ok"):
            break
        await asyncio.sleep(0.05)
    assert loops["gc-sweep"]["ok"]
