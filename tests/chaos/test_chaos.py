"""Chaos: real redis-server and `kefu serve` processes, 24 shoppers and 3 agents talking while
Redis is killed or paused and kefu instances are killed or restarted. After each fault every
chat must finish with nothing acked lost, nothing shown twice, nothing out of order, the queue
served in the same order, and every dropped shopper resumed.

The figures of each run are printed and written to test-artifacts/chaos/<scenario>.txt;
bench/chaos.py runs heavier and repeated variants.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.chaos import faults
from tests.chaos.run import Fault, Plan, execute
from tests.chaos.verdict import report

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).parent.parent.parent / "test-artifacts" / "chaos"

# The guarantees: each figure and the value it must have.
GUARANTEES = {
    "acked_lost": 0,
    "duplicates_shown": 0,
    "duplicate_ids": 0,
    "duplicates_stored": 0,
    "order_violations": 0,
    "queue_order_inversions": 0,
    "queued_never_assigned": 0,
    "shoppers_not_resumed": 0,
    "shoppers_not_reconnected": 0,
    "never_acked": 0,
}
# Also reported, but checked by test_reconnect_storm where the race is reliable:
# protocol_violations (frames before `session`/`hello`) and replayed_on_resume.


async def chaos(tmp_path: Path, name: str, plan: Plan, fault: Fault) -> dict[str, Any]:
    _, verdict = await execute(tmp_path, plan, fault, name)
    text = report(verdict)
    print(text)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.txt").write_text(text + "\n")
    figures: dict[str, Any] = verdict["figures"]
    return figures


def check(figures: dict[str, Any], **more: Any) -> None:
    expected = {**GUARANTEES, "shoppers_done": figures["shoppers"], **more}
    got = {k: figures.get(k) for k in expected}
    assert got == expected, (
        f"see the report above; differing: { {k: v for k, v in got.items() if v != expected[k]} }"
    )


@pytest.mark.timeout(90)
async def test_redis_sigkill_and_restart_from_aof(tmp_path: Path) -> None:
    figures = await chaos(tmp_path, "redis-kill", Plan(), faults.redis_kill())
    check(figures, acked_just_before_kill_lost=0, acked_last_1s_before_kill_lost=0)


@pytest.mark.timeout(90)
async def test_redis_paused_for_5_seconds(tmp_path: Path) -> None:
    figures = await chaos(tmp_path, "redis-pause", Plan(), faults.redis_pause(5000))
    check(figures, sent_during_pause_lost=0)
    assert figures["ack_latency_max_s"] >= 3, "the pause did not delay anything: was it applied?"


@pytest.mark.timeout(90)
async def test_instance_sigkill_clients_fail_over(tmp_path: Path) -> None:
    figures = await chaos(tmp_path, "instance-kill", Plan(instances=2), faults.instance_kill(0))
    check(figures)
    assert figures["shoppers_dropped"] > 0 and figures["agents_reconnected"] > 0


@pytest.mark.timeout(90)
async def test_instance_restart_sigterm(tmp_path: Path) -> None:
    figures = await chaos(tmp_path, "restart", Plan(), faults.restart(0))
    check(figures)
    assert figures["shoppers_dropped"] > 0 and figures["agents_reconnected"] == figures["agents"]
