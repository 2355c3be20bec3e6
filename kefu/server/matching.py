"""The bot's questions matched off the event loop, fairly between shops.

A match costs a few milliseconds of CPU (tens for a long text); on the event loop, a handful of
shoppers sending long messages would delay every socket of every shop on the instance. Here the
work runs on a few worker threads (jieba, rapidfuzz and the encoder's numpy release the loop
between slices of Python), questions wait in one queue per shop, and the workers take the
shops in turn — a flood from one shop's page waits behind itself, not in front of others.
Each match reports the thread CPU it used, which the caller charges to the client's budget.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from kefu.errors import RateLimited

__all__ = ["MatchPool", "ResultCache", "admin_lane"]

T = TypeVar("T")


def _future() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()


@dataclass
class _Job(Generic[T]):
    work: Callable[[], T]
    done: asyncio.Future[tuple[T, float]] = field(default_factory=_future)


class MatchPool:
    """`await pool.run(shop, fn)` → (fn's result, CPU seconds it took), on a worker thread."""

    def __init__(self, workers: int, queue_per_shop: int) -> None:
        self.workers = workers
        self.queue_per_shop = queue_per_shop
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="match")
        self._waiting: dict[str, deque[_Job[object]]] = {}
        self._turns: deque[str] = deque()  # shops with questions waiting, in serving order
        self._running = 0

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    async def run(self, shop: str, work: Callable[[], T]) -> tuple[T, float]:
        queue = self._waiting.get(shop)
        if queue is not None and len(queue) >= self.queue_per_shop:
            raise RateLimited("the bot has too many questions waiting; ask again soon", retry_after=1.0)
        job: _Job[T] = _Job(work)
        if queue is None:
            queue = self._waiting[shop] = deque()
            self._turns.append(shop)
        queue.append(job)  # type: ignore[arg-type]
        self._pump()
        return await job.done

    def _pump(self) -> None:
        while self._running < self.workers and self._turns:
            shop = self._turns.popleft()
            queue = self._waiting[shop]
            job = queue.popleft()
            if queue:
                self._turns.append(shop)  # its next question waits for the other shops' turns
            else:
                del self._waiting[shop]
            if job.done.cancelled():
                continue  # the socket went away while it waited
            self._running += 1
            future = asyncio.get_running_loop().run_in_executor(self._executor, _timed, job.work)
            future.add_done_callback(functools.partial(self._finished, job))

    def _finished(self, job: _Job[object], future: asyncio.Future[tuple[object, float]]) -> None:
        self._running -= 1
        if not job.done.done():
            if future.cancelled():
                job.done.cancel()
            elif (exc := future.exception()) is not None:
                job.done.set_exception(exc)
            else:
                job.done.set_result(future.result())
        self._pump()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def admin_lane(shop: str) -> str:
    """The queue an admin's matching work for `shop` waits in: a turn of its own beside the
    shop's shoppers, so a page of suggestions never stands in front of their questions."""
    return "admin:" + shop


class ResultCache(Generic[T]):
    """The last `size` results by key (least recently used first out)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, T] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> T | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: Hashable, value: T) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


def _timed(work: Callable[[], T]) -> tuple[T, float]:
    started = time.thread_time()
    result = work()
    return result, time.thread_time() - started
