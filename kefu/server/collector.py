"""Garbage collection for a process that holds thousands of sockets: short pauses.

A full collection walks every tracked object that is not frozen. With 2,000 open sockets a
process holds ≈ 190,000 of them (each socket's handler, reader, session, the coroutines that
wait for its next message) and a full collection held the event loop 120–200 ms — every
reply due in that time waited (docs/benchmarks.md, "Against the floor"). So:

- what lives when the collector is installed — the language resources, loaded just before
  (`app._resources`) — is collected once and frozen;
- after every automatic full collection, the objects that survived it are frozen too: the
  next full collection walks only what arrived since (sockets opened since, not all of them);
- a full collection is considered after 100 collections of the middle generation, not 10:
  the objects each reply leaves waiting (the next read of every socket) no longer trigger a
  full walk every few seconds at a few hundred replies a second;
- once per `sweep_s` (an hour; each process at its own moment, so workers do not pause
  together), or sooner when the frozen objects grew by half since the last sweep (sockets
  come and go: a closed socket's objects are reference cycles, and those frozen wait for a
  sweep), everything is unfrozen and collected in one go: one pause of the old length per
  hour instead of one every half minute. `/healthz` reports the last sweep (objects
  collected, pause, frozen after).

Objects that die by reference count are freed at once, frozen or not; only cyclic garbage
waits for the sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import time
from typing import Any

import structlog

__all__ = ["THRESHOLDS", "Collector"]

log = structlog.get_logger(__name__)

# gc.set_threshold: young collections every 700 net allocations (the default), the middle
# generation every 10 of them (the default), a full collection considered every 100 of those
# (the default 10) — and, as always, only when a quarter more objects reached the oldest
# generation since the last one.
THRESHOLDS = (700, 10, 100)

# How many collectors are installed in this process, and the thresholds from before the first.
_installed = 0
_previous = gc.get_threshold()


class Collector:
    """The process's collection policy while one event loop serves (one per process)."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, *, sweep_s: float = 3600.0, growth: float = 0.5
    ) -> None:
        self._loop = loop
        self._sweep_s = sweep_s
        self._growth = growth
        # The first sweep of each process at its own moment (workers start together).
        self._swept_at = time.monotonic() - random.uniform(0, sweep_s / 4)
        self._frozen_after_sweep = gc.get_freeze_count()
        self._active = False
        self.full_collections = 0
        self.last_sweep: dict[str, Any] = {}

    def install(self) -> None:
        global _installed, _previous
        if not _installed:
            _previous = gc.get_threshold()
            gc.set_threshold(*THRESHOLDS)
        _installed += 1
        self._active = True
        gc.collect()
        gc.freeze()
        self._frozen_after_sweep = gc.get_freeze_count()
        gc.callbacks.append(self._collected)

    def uninstall(self) -> None:
        """Back to the interpreter's policy once no app in the process has one (tests run
        many apps in one process): its thresholds, and nothing frozen."""
        global _installed
        if self._collected not in gc.callbacks:
            return
        self._active = False  # a freeze already queued on the loop does nothing now
        gc.callbacks.remove(self._collected)
        _installed -= 1
        if not _installed:
            gc.set_threshold(*_previous)
            gc.unfreeze()

    def _collected(self, phase: str, info: dict[str, int]) -> None:
        # Called by the collector, from whichever thread allocated last (a matcher thread,
        # say): freezing is left to the loop, after the collection has finished.
        if phase != "stop" or info["generation"] != 2:
            return
        self.full_collections += 1
        # The loop may close meanwhile (shutdown): then there is nothing left to keep fast.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._freeze)

    def _freeze(self) -> None:
        if self._active:
            gc.freeze()

    async def maybe_sweep(self) -> None:
        """Every `sweep_s`, or once the frozen objects grew by `growth` since the last sweep:
        unfreeze, collect everything, freeze what lives (a loop calls this every minute; it
        does the work when due)."""
        due = time.monotonic() - self._swept_at >= self._sweep_s
        if not due and gc.get_freeze_count() <= self._frozen_after_sweep * (1 + self._growth):
            return
        self._swept_at = time.monotonic()
        started = time.perf_counter()
        gc.unfreeze()
        collected = gc.collect()
        gc.freeze()
        self._frozen_after_sweep = gc.get_freeze_count()
        self.last_sweep = {
            "collected": collected,
            "pause_ms": round((time.perf_counter() - started) * 1000, 1),
            "frozen": self._frozen_after_sweep,
        }
        log.info("gc_swept", **self.last_sweep)
