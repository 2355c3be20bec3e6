"""The faults, each injected during steady traffic (`Run.traffic` calls one after `steady`)."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.chaos.clients import Sent
from tests.chaos.run import Fault, Run

__all__ = [
    "instance_kill",
    "instance_kill_and_redis_kill",
    "redis_kill",
    "redis_kill_repeatedly",
    "redis_pause",
    "restart",
    "rolling_restart",
]


def redis_kill(downtime_s: float = 0.5, *, window_s: float = 1.0) -> Fault:
    """SIGKILL redis-server the moment a client reads an ack (same event-loop step), start it
    again from its AOF (appendfsync everysec) after `downtime_s`. Everything acked within
    `window_s` before the kill is watched: with everysec, is any of it gone?"""

    async def fault(run: Run) -> None:
        killed = asyncio.Event()

        def kill_on_ack(sent: Sent) -> None:
            if killed.is_set():
                return
            run.cluster.redis_server.kill()
            killed.set()
            run.on_ack = None
            run.mark("redis_killed")
            run.note(f"redis SIGKILLed right after the ack of {sent.cmid} as {sent.ids[-1]}")
            run.watch["acked_last_1s_before_kill"] = [
                s.cmid
                for s in run.sent.values()
                if s.acked_at is not None and s.acked_at >= run.now() - window_s
            ]
            run.watch["acked_just_before_kill"] = [sent.cmid]

        run.on_ack = kill_on_ack
        try:
            await asyncio.wait_for(killed.wait(), 5)
        except TimeoutError:  # no traffic any more: kill all the same
            run.note("no ack within 5 s: killing Redis anyway")
            kill_on_ack(Sent("-", "-", "-", "-", None, None, run.now(), ids=["-"]))
        await asyncio.sleep(downtime_s)
        await run.cluster.start_redis()
        run.mark("redis_restarted")

    return fault


def redis_pause(ms: int = 5000) -> Fault:
    """CLIENT PAUSE ms ALL: every command of every instance waits; then they catch up."""

    async def fault(run: Run) -> None:
        await run.cluster.pause_redis(ms)
        run.watch["sent_during_pause"] = []
        start = run.now()
        await asyncio.sleep(ms / 1000)
        run.watch["sent_during_pause"] = [
            s.cmid for s in run.sent.values() if start <= s.first_sent <= start + ms / 1000
        ]
        run.mark("pause_over")
        await healthy(run)

    return fault


def instance_kill(index: int = 0) -> Fault:
    """SIGKILL one kefu instance; its clients fail over to the other one, which keeps running."""

    async def fault(run: Run) -> None:
        run.cluster.instances[index].kill()
        run.mark(f"{run.cluster.instances[index].name}_killed")
        on_it = [name for name, at in run.instance_at_fault.items() if at == index]
        run.extra["clients_on_killed_instance"] = len(on_it)

    return fault


def restart(index: int = 0) -> Fault:
    """SIGTERM one instance (graceful: sockets closed with 1001), then start it again."""

    async def fault(run: Run) -> None:
        instance = run.cluster.instances[index]
        await asyncio.to_thread(instance.terminate)
        run.mark(f"{instance.name}_stopped")
        instance.spawn()
        await instance.wait_ready()
        run.mark(f"{instance.name}_ready")

    return fault


async def healthy(run: Run) -> None:
    """Every instance still running and answering /healthz."""
    for instance in run.cluster.instances:
        if not instance.running:
            run.note(f"{instance.name} is not running any more")
            continue
        async with run.http.get(instance.base + "/healthz", timeout=aiohttp.ClientTimeout(total=10)) as resp:
            run.note(f"{instance.name} /healthz {resp.status} {await resp.text()}")


def redis_kill_repeatedly(times: int = 5, every_s: float = 2.0, downtime_s: float = 0.3) -> Fault:
    """`redis_kill` again and again (each right after an ack) while the chats go on."""

    async def fault(run: Run) -> None:
        last_second: list[str] = []
        just_before: list[str] = []
        for n in range(times):
            await redis_kill(downtime_s)(run)
            last_second += run.watch.pop("acked_last_1s_before_kill")
            just_before += run.watch.pop("acked_just_before_kill")
            run.note(f"kill {n + 1} of {times} done")
            if n + 1 < times:
                await asyncio.sleep(every_s)
        run.watch["acked_last_1s_before_kill"] = last_second
        run.watch["acked_just_before_kill"] = just_before
        run.extra["redis_kills"] = times

    return fault


def rolling_restart() -> Fault:
    """SIGTERM and start again every instance, one after the other (a deploy)."""

    async def fault(run: Run) -> None:
        for index in range(len(run.cluster.instances)):
            await restart(index)(run)

    return fault


def instance_kill_and_redis_kill() -> Fault:
    """SIGKILL an instance; while its clients move over, SIGKILL Redis too."""

    async def fault(run: Run) -> None:
        await instance_kill(0)(run)
        await asyncio.sleep(0.2)
        await redis_kill()(run)

    return fault
