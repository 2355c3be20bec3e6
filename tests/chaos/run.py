"""One chaos run: start the processes, set up the shop, drive agents and shoppers, inject a
fault during steady traffic, wait until every chat is done, then judge what everybody saw."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.chaos.clients import AgentClient, Observation, Sent, ShopperClient
from tests.chaos.cluster import Cluster

__all__ = ["Fault", "Plan", "Run", "execute"]


@dataclass
class Plan:
    """How much traffic, and how the clients pace it."""

    shoppers: int = 24
    agents: int = 3
    capacity: int = 3
    instances: int = 1
    # Lines a shopper writes while queued, then while with an agent (the last one ends the chat).
    queued_msgs: int = 2
    queued_every_s: float = 0.8
    shopper_msgs: int = 5
    shopper_every_s: float = 0.4
    max_in_flight: int = 3
    # Lines an agent writes per chat; one frame per tick at most (the rate limit is 5/s).
    agent_msgs: int = 4
    agent_every_s: float = 0.6
    agent_tick_s: float = 0.25
    stagger_s: float = 0.04
    # The fault comes once this many shoppers wait in the queue.
    min_waiting: int = 5
    deadline_s: float = 35.0
    env: dict[str, str] = field(default_factory=dict)


Fault = Callable[["Run"], Awaitable[None]]


class Run:
    """Shared state of one run: what was sent, what was shown, what the fault did."""

    def __init__(self, cluster: Cluster, plan: Plan, http: aiohttp.ClientSession) -> None:
        self.cluster = cluster
        self.plan = plan
        self.http = http
        self.loop = asyncio.get_running_loop()
        self.t0 = self.loop.time()
        self.sent: dict[str, Sent] = {}
        self.observations: list[Observation] = []
        self.errors: Counter[str] = Counter()
        self.notes: list[str] = []
        self.shopper_of: dict[str, ShopperClient] = {}
        # Per conversation, across agents (a chat may move): last seq used, lines started, acked.
        self.agent_seq: defaultdict[str, int] = defaultdict(int)
        self.agent_started: defaultdict[str, int] = defaultdict(int)
        self.agent_acked: defaultdict[str, int] = defaultdict(int)
        self.stopping = False
        self.all_done = asyncio.Event()
        self.on_ack: Callable[[Sent], None] | None = None
        self.shoppers: list[ShopperClient] = []
        self.agents: list[AgentClient] = []
        self.marks: dict[str, float] = {}
        self.queue_before: list[str] = []
        self.instance_at_fault: dict[str, int | None] = {}
        self.client_crashes: list[str] = []
        # Named groups of client_msg_ids the verdict counts separately (acked just before a kill…).
        self.watch: dict[str, list[str]] = {}
        self.extra: dict[str, Any] = {}
        # Protocol violations seen by the clients: frames before `session`/`hello`, messages
        # of conversations the socket was never told of.
        self.early: list[str] = []

    def now(self) -> float:
        return self.loop.time() - self.t0

    def note(self, text: str) -> None:
        self.notes.append(f"{self.now():7.2f} {text}")

    def mark(self, name: str) -> None:
        self.marks[name] = round(self.now(), 3)
        self.note(f"-- {name}")

    def acked(self, sent: Sent) -> None:
        if self.on_ack is not None:
            self.on_ack(sent)

    def finished(self, shopper: ShopperClient) -> None:
        if self.shoppers and all(s.done for s in self.shoppers):
            self.all_done.set()

    async def waiting_in_queue(self) -> list[str]:
        from tests.chaos.verdict import KEYS

        return [str(c) for c in await self.cluster.client.zrange(KEYS.queue("general"), 0, -1)]

    # ---- the run ----

    async def traffic(self, fault: Fault) -> None:
        plan = self.plan
        n = len(self.cluster.instances)
        self.agents = [AgentClient(self, f"agent{i + 1}", i % n) for i in range(plan.agents)]
        tasks = [asyncio.create_task(a.main(), name=a.name) for a in self.agents]
        try:
            await asyncio.wait_for(asyncio.gather(*(a.online.wait() for a in self.agents)), 20)
            self.mark("agents_online")
            self.shoppers = [ShopperClient(self, i + 1, i % n) for i in range(plan.shoppers)]
            for shopper in self.shoppers:
                tasks.append(asyncio.create_task(shopper.main(), name=shopper.name))
                await asyncio.sleep(plan.stagger_s)
            await self.steady()
            self.queue_before = await self.waiting_in_queue()
            self.instance_at_fault = {
                c.name: (c.instance if c.ws is not None else None) for c in [*self.shoppers, *self.agents]
            }
            self.mark("fault_start")
            await fault(self)
            self.mark("fault_end")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.all_done.wait(), plan.deadline_s)
            self.mark("all_done" if self.all_done.is_set() else "deadline")
        finally:
            await self.stop_clients(tasks)

    async def steady(self, timeout: float = 20.0) -> None:
        """Every shopper queued or with an agent, enough of them waiting, traffic flowing."""
        deadline = self.now() + timeout
        while self.now() < deadline:
            states = Counter(s.state for s in self.shoppers)
            acks = sum(1 for s in self.sent.values() if s.ids)
            settled = states["queued"] + states["assigned"] + states["closed"] == len(self.shoppers)
            if settled and states["queued"] >= self.plan.min_waiting and acks >= 10:
                self.note(f"steady: {dict(states)}, {acks} acks")
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"no steady traffic: {Counter(s.state for s in self.shoppers)}")

    async def stop_clients(self, tasks: list[asyncio.Task[None]]) -> None:
        self.stopping = True
        _, pending = await asyncio.wait(tasks, timeout=10)
        for task in pending:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                self.note(f"client {task.get_name()} did not stop by itself")
            except Exception as exc:  # a bug of the harness itself: shown in the verdict
                self.client_crashes.append(f"{task.get_name()}: {exc!r}")


async def execute(workdir: Path, plan: Plan, fault: Fault, name: str) -> tuple[Run, dict[str, Any]]:
    """Run one scenario from scratch; returns the run and its verdict (figures and problems)."""
    from tests.chaos.verdict import judge, server_logs

    cluster = Cluster(workdir, instances=plan.instances, env=plan.env)
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, connect=5, sock_connect=5, sock_read=None)
    try:
        await cluster.start()
        await cluster.setup_shop([f"agent{i + 1}" for i in range(plan.agents)], capacity=plan.capacity)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            run = Run(cluster, plan, http)
            await run.traffic(fault)
        verdict = await judge(run)
    finally:
        await cluster.stop()
    verdict["server"] = server_logs(cluster)
    verdict["figures"] = {"scenario": name, **verdict["figures"]}
    out = workdir / "verdict.json"
    out.write_text(json.dumps(verdict, indent=2, default=str))
    return run, verdict
