"""The process's collection policy: survivors of a full collection are frozen (the next one
does not walk them again), a sweep reclaims cycles among frozen objects, and an app that stops
leaves the interpreter as it found it."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from kefu.server.app import create_app
from kefu.server.collector import THRESHOLDS, Collector
from kefu.settings import Settings


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


async def test_a_collection_in_another_thread_freezes_on_the_loop(collector: Collector) -> None:
    """The collector runs its callbacks in whichever thread allocated (a matcher thread)."""
    collector.install()
    held = [Node() for _ in range(3)]
    await asyncio.to_thread(gc.collect)
    for _ in range(100):
        if not tracked(held):
            break
        await asyncio.sleep(0.01)
    assert not tracked(held)


async def test_a_freeze_queued_before_the_app_stops_does_nothing_after(collector: Collector) -> None:
    collector.install()
    gc.collect()  # queues a freeze on the loop
    collector.uninstall()
    await asyncio.sleep(0)
    assert gc.get_freeze_count() == 0


async def test_the_frozen_growing_by_half_brings_the_sweep_forward() -> None:
    collector = Collector(asyncio.get_running_loop(), sweep_s=3600, growth=0.5)
    collector.install()
    try:
        await collector.maybe_sweep()
        assert collector.last_sweep == {}  # not due, nothing grew
        held = [Node() for _ in range(gc.get_freeze_count() // 2 + 10_000)]
        gc.collect()
        await asyncio.sleep(0)
        assert not tracked(held)
        await collector.maybe_sweep()
        assert collector.last_sweep["frozen"] > len(held)
    finally:
        collector.uninstall()


async def test_a_serving_app_freezes_its_resources_and_gives_them_back(settings: Settings, shop: str) -> None:
    """While the app serves, the language resources are out of the collector's way and the
    sweep loop is healthy; once it stops, the interpreter is as it was."""
    before = gc.get_threshold()
    async with TestClient(TestServer(create_app(settings))) as client:
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == THRESHOLDS
        for _ in range(50):
            loops = (await (await client.get("/healthz")).json())["loops"]
            if loops.get("gc-sweep", {}).get("ok"):
                break
            await asyncio.sleep(0.05)
        assert loops["gc-sweep"]["ok"]
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
