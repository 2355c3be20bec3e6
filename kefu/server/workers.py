"""`kefu serve --workers N`: N processes on one port, each a full instance on the same Redis.

Each worker listens with SO_REUSEPORT, so the kernel spreads new connections over them; they
share nothing but Redis, exactly as instances on several machines do. The supervisor (the
process `kefu serve` started in) starts them, restarts one that dies (its sockets reconnect
and land on the others meanwhile), and on SIGTERM or Ctrl-C stops them all gracefully. Their
Prometheus metrics are written to a shared directory (prometheus_client's multiprocess mode),
so /metrics on any worker reports the whole server.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path

import structlog

from kefu.settings import Settings

__all__ = ["METRICS_DIR_ENV", "Supervisor", "exit_with_parent"]

log = structlog.get_logger(__name__)

# prometheus_client reads it when it is imported: set before a worker starts.
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
# A worker that dies this soon after it was ready is restarted after a growing delay.
STABLE_S = 10.0
MAX_BACKOFF_S = 30.0
# How long a worker has to become ready, and to stop after SIGTERM (sockets close, tasks end).
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0


def exit_with_parent() -> None:
    """In a worker: stop gracefully when the supervisor is gone (killed without a chance to stop
    its workers), instead of serving on as an orphan nobody restarts or stops."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        log.warning("supervisor_gone", parent=parent)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="kefu-parent-watch", daemon=True).start()


@dataclass
class _Worker:
    index: int
    process: BaseProcess
    ready: multiprocessing.synchronize.Event
    started: float = field(default_factory=time.monotonic)
    was_ready: bool = False


WorkerMain = Callable[[Settings, int, multiprocessing.synchronize.Event], None]


class Supervisor:
    """Start `count` workers running `main(settings, index, ready)`, keep them running, stop
    them on a signal. `main` sets `ready` once it listens."""

    def __init__(self, settings: Settings, count: int, main: WorkerMain) -> None:
        self.settings = settings
        self.count = count
        self.main = main
        self.context = multiprocessing.get_context("spawn")  # no inherited loop, threads or locks
        self.workers: list[_Worker] = []
        self.stopping = False
        self.backoff = dict.fromkeys(range(count), 1.0)
        self.restarts = 0

    def metrics_dir(self) -> Path:
        return self.settings.data_dir.resolve() / f"metrics-{os.getpid()}"

    def run(self, on_ready: Callable[[], None]) -> int:
        """Run until a signal; 1 when a worker could not start at all."""
        directory = self.metrics_dir()
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        os.environ[METRICS_DIR_ENV] = str(directory)
        previous = {s: signal.signal(s, self._stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.workers = [self._start(i) for i in range(self.count)]
            if not self._wait_ready():
                return 1
            on_ready()
            while not self.stopping:
                time.sleep(0.2)
                self._watch()
            return 0
        finally:
            self._stop_all()
            for s, handler in previous.items():
                signal.signal(s, handler)
            os.environ.pop(METRICS_DIR_ENV, None)
            shutil.rmtree(directory, ignore_errors=True)

    def _start(self, index: int) -> _Worker:
        ready = self.context.Event()
        process = self.context.Process(
            target=self.main, args=(self.settings, index, ready), name=f"kefu-worker-{index}", daemon=False
        )
        process.start()
        log.info("worker_started", worker=index, pid=process.pid)
        return _Worker(index, process, ready)

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_S
        for worker in self.workers:
            while not worker.ready.wait(0.2):
                if self.stopping:
                    return True
                if not worker.process.is_alive() or time.monotonic() > deadline:
                    log.error("worker_failed_to_start", worker=worker.index, exitcode=worker.process.exitcode)
                    return False
            worker.was_ready = True
        return True

    def _watch(self) -> None:
        for n, worker in enumerate(self.workers):
            if not worker.was_ready and worker.ready.is_set():
                worker.was_ready = True
            if worker.process.is_alive() or self.stopping:
                continue
            lived = time.monotonic() - worker.started
            delay = self.backoff[worker.index] if lived < STABLE_S else 0.0
            self.backoff[worker.index] = min(MAX_BACKOFF_S, delay * 2) if delay else 1.0
            log.error(
                "worker_died",
                worker=worker.index,
                pid=worker.process.pid,
                exitcode=worker.process.exitcode,
                restart_in_s=delay,
            )
            self._forget(worker)
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline and not self.stopping:
                time.sleep(0.1)
            if not self.stopping:
                self.workers[n] = self._start(worker.index)
                self.restarts += 1

    def _forget(self, worker: _Worker) -> None:
        """A dead worker's live gauges (open sockets) leave the totals."""
        from prometheus_client import multiprocess

        if worker.process.pid is not None:
            multiprocess.mark_process_dead(worker.process.pid, str(self.metrics_dir()))  # type: ignore[no-untyped-call]

    def _stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _stop_all(self) -> None:
        self.stopping = True
        for worker in self.workers:
            if worker.process.is_alive() and worker.process.pid is not None:
                os.kill(worker.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for worker in self.workers:
            worker.process.join(max(0.1, deadline - time.monotonic()))
            if worker.process.is_alive():
                log.warning("worker_killed", worker=worker.index, pid=worker.process.pid)
                worker.process.kill()
                worker.process.join(5)
        log.info("workers_stopped", restarts=self.restarts)
