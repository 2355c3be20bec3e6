"""Per-shop statistics over a period, computed from conversation records.

Definitions (docs/metrics.md says the same for shop owners):

- a *conversation* counts when the shopper wrote at least one message;
- *bot containment*: the conversation never reached a human and the shopper never asked for
  one; *transfer rate*: the shopper asked for a human (button or words), whatever happened
  next; *offline-notice rate*: the shopper was told nobody is online;
- *queue wait*: first time queued → first agent; *first response*: first agent → the agent's
  first message; *handling time*: first agent → closed;
- percentiles are nearest-rank: p50 of [1, 2, 3, 4] is 2, p90 is 4.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from pydantic import BaseModel

from kefu.reports.records import ConversationRecord

__all__ = ["AgentRow", "Bucket", "Percentiles", "ShopStats", "compute_stats", "percentile"]


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


class Percentiles(BaseModel):
    count: int
    p50: float | None
    p90: float | None
    avg: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Percentiles:
        return cls(
            count=len(values),
            p50=percentile(values, 0.5),
            p90=percentile(values, 0.9),
            avg=round(sum(values) / len(values), 3) if values else None,
        )


class AgentRow(BaseModel):
    agent_id: str
    name: str
    conversations: int
    first_response_s: Percentiles
    # Agent messages per shopper message written while the agent held the chat.
    replies_per_shopper_message: float | None
    csat_avg: float | None
    ratings: int


class Bucket(BaseModel):
    """conversations = bot_only + with_agent + wanted_human."""

    start: int  # epoch ms
    conversations: int
    bot_only: int
    with_agent: int
    # Asked for a human, none came (offline, left the queue).
    wanted_human: int = 0


class ShopStats(BaseModel):
    shop: str
    since: int
    until: int
    conversations: int
    bot_containment_rate: float | None
    transfer_rate: float | None
    offline_notice_rate: float | None
    queue_wait_s: Percentiles
    first_response_s: Percentiles
    handling_time_s: Percentiles
    csat_avg: float | None
    csat_distribution: dict[str, int]
    ratings: int
    agents: list[AgentRow]
    series: list[Bucket]


def _rate(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def _seconds(later: int | None, earlier: int | None) -> float | None:
    return (
        (later - earlier) / 1000 if later is not None and earlier is not None and later >= earlier else None
    )


def _values(pairs: Iterable[float | None]) -> list[float]:
    return [v for v in pairs if v is not None]


def compute_stats(
    shop: str,
    records: Iterable[ConversationRecord],
    *,
    since: int,
    until: int,
    bucket_ms: int = 86_400_000,
    agent_names: dict[str, str] | None = None,
) -> ShopStats:
    talked = [r for r in records if r.n_shopper > 0 and since <= r.created < until]
    n = len(talked)
    contained = [r for r in talked if not r.reached_agent and not r.asked_for_human]
    rated = [r for r in talked if r.rating is not None]
    distribution = {str(score): 0 for score in range(1, 6)}
    for r in rated:
        distribution[str(r.rating)] = distribution.get(str(r.rating), 0) + 1

    by_agent: dict[str, list[ConversationRecord]] = defaultdict(list)
    for r in talked:
        if r.agent:
            by_agent[r.agent].append(r)
    names = agent_names or {}
    agents = []
    for agent_id, mine in sorted(by_agent.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        shopper_lines = sum(r.n_shopper_live for r in mine)
        agent_ratings = [r.rating for r in mine if r.rating is not None]
        agents.append(
            AgentRow(
                agent_id=agent_id,
                name=names.get(agent_id, agent_id),
                conversations=len(mine),
                first_response_s=Percentiles.of(
                    _values(_seconds(r.first_reply_at, r.first_assigned_at) for r in mine)
                ),
                replies_per_shopper_message=round(sum(r.n_agent for r in mine) / shopper_lines, 3)
                if shopper_lines
                else None,
                csat_avg=round(sum(agent_ratings) / len(agent_ratings), 3) if agent_ratings else None,
                ratings=len(agent_ratings),
            )
        )

    buckets: dict[int, Bucket] = {}
    # Buckets start at `since` (callers pass a local midnight for days), so nothing depends on UTC.
    start = since
    t = start
    while t < until and len(buckets) < 1000:
        buckets[t] = Bucket(start=t, conversations=0, bot_only=0, with_agent=0)
        t += bucket_ms
    for r in talked:
        key = start + (r.created - start) // bucket_ms * bucket_ms
        bucket = buckets.get(key)
        if bucket is None:
            continue
        bucket.conversations += 1
        if r.reached_agent:
            bucket.with_agent += 1
        elif r.asked_for_human:
            bucket.wanted_human += 1
        else:
            bucket.bot_only += 1

    return ShopStats(
        shop=shop,
        since=since,
        until=until,
        conversations=n,
        bot_containment_rate=_rate(len(contained), n),
        transfer_rate=_rate(sum(r.asked_for_human for r in talked), n),
        offline_notice_rate=_rate(sum(r.offline_notices > 0 for r in talked), n),
        queue_wait_s=Percentiles.of(
            _values(_seconds(r.first_assigned_at, r.first_queued_at) for r in talked)
        ),
        first_response_s=Percentiles.of(
            _values(_seconds(r.first_reply_at, r.first_assigned_at) for r in talked)
        ),
        handling_time_s=Percentiles.of(_values(_seconds(r.closed_at, r.first_assigned_at) for r in talked)),
        csat_avg=round(sum(r.rating for r in rated if r.rating) / len(rated), 3) if rated else None,
        csat_distribution=distribution,
        ratings=len(rated),
        agents=agents,
        series=list(buckets.values()),
    )
