"""Statistics computed from recorded conversations equal the hand-computed values."""

from redis.asyncio import Redis

from kefu.reports import ConversationRecord, compute_stats, load_records, percentile
from kefu.store.keys import ShopKeys

T0 = 1_780_000_000_000  # a period start (epoch ms)
MIN = 60_000
DAY = 86_400_000


def rec(i: int, **fields: object) -> ConversationRecord:
    base: dict[str, object] = {
        "id": f"c{i}",
        "session": f"s{i}",
        "state": "closed",
        "created": T0 + i * MIN,
        "n_shopper": 1,
    }
    return ConversationRecord(**{**base, **fields})  # type: ignore[arg-type]


def conversations() -> list[ConversationRecord]:
    return [
        # 1, 2: the bot handled them alone
        rec(1, n_bot=2),
        rec(2, n_bot=1, rating=5),
        # 3: asked for a human, nobody online
        rec(3, offline_notices=1),
        # 4: queued 10 s, agent a answered after 4 s, handled 100 s, 3 agent lines to 2 shopper lines, rated 4
        rec(
            4,
            transfers=1,
            agent="a",
            first_queued_at=T0 + 4 * MIN,
            first_assigned_at=T0 + 4 * MIN + 10_000,
            first_reply_at=T0 + 4 * MIN + 14_000,
            closed_at=T0 + 4 * MIN + 110_000,
            n_agent=3,
            n_shopper_live=2,
            rating=4,
        ),
        # 5: queued 30 s, agent a answered after 20 s, handled 200 s, 1 agent line to 2 shopper lines, rated 2
        rec(
            5,
            transfers=1,
            agent="a",
            first_queued_at=T0 + 5 * MIN,
            first_assigned_at=T0 + 5 * MIN + 30_000,
            first_reply_at=T0 + 5 * MIN + 50_000,
            closed_at=T0 + 5 * MIN + 230_000,
            n_agent=1,
            n_shopper_live=2,
            rating=2,
        ),
        # 6: straight to agent b (no wait), answered after 6 s, still open, on the second day
        rec(
            6,
            transfers=1,
            agent="b",
            state="assigned",
            created=T0 + DAY + MIN,
            first_queued_at=T0 + DAY + MIN,
            first_assigned_at=T0 + DAY + MIN,
            first_reply_at=T0 + DAY + MIN + 6_000,
            n_agent=2,
            n_shopper_live=1,
        ),
        # 7: the greeting only — the shopper never wrote: not a conversation
        rec(7, n_shopper=0),
        # 8: outside the period
        rec(8, created=T0 - 1),
    ]


def test_rates_percentiles_and_csat_match_the_hand_computed_values() -> None:
    s = compute_stats(
        "shop", conversations(), since=T0, until=T0 + 2 * DAY, agent_names={"a": "小王", "b": "小李"}
    )
    assert s.conversations == 6
    assert s.bot_containment_rate == round(2 / 6, 4)
    assert s.transfer_rate == round(4 / 6, 4)
    assert s.offline_notice_rate == round(1 / 6, 4)
    assert (s.queue_wait_s.count, s.queue_wait_s.p50, s.queue_wait_s.p90) == (3, 10.0, 30.0)  # [0, 10, 30]
    assert s.queue_wait_s.avg == round(40 / 3, 3)
    assert (s.first_response_s.p50, s.first_response_s.p90) == (6.0, 20.0)  # [4, 6, 20]
    assert (s.handling_time_s.count, s.handling_time_s.avg) == (2, 150.0)  # [100, 200]
    assert s.csat_avg == round(11 / 3, 3) and s.ratings == 3
    assert s.csat_distribution == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    a, b = s.agents
    assert (a.name, a.conversations, a.first_response_s.p50, a.first_response_s.p90) == ("小王", 2, 4.0, 20.0)
    assert a.replies_per_shopper_message == 1.0  # (3 + 1) / (2 + 2)
    assert (a.csat_avg, a.ratings) == (3.0, 2)
    assert (b.name, b.conversations, b.replies_per_shopper_message, b.csat_avg) == ("小李", 1, 2.0, None)
    day1, day2 = s.series
    assert (day1.start, day1.conversations, day1.bot_only, day1.with_agent, day1.wanted_human) == (
        T0,
        5,
        2,
        2,
        1,
    )
    assert (day2.start, day2.conversations, day2.bot_only, day2.with_agent) == (T0 + DAY, 1, 0, 1)


def test_an_empty_period_has_no_rates() -> None:
    s = compute_stats("shop", [], since=T0, until=T0 + DAY)
    assert s.conversations == 0 and s.bot_containment_rate is None and s.queue_wait_s.p50 is None
    assert len(s.series) == 1 and s.series[0].conversations == 0


def test_nearest_rank_percentiles() -> None:
    assert percentile([1, 2, 3, 4], 0.5) == 2
    assert percentile([1, 2, 3, 4], 0.9) == 4
    assert percentile([7], 0.9) == 7
    assert percentile([], 0.5) is None


async def test_records_round_trip_through_redis(redis: Redis) -> None:
    keys = ShopKeys("s1")
    for r in conversations():
        data = {k: str(v) for k, v in r.model_dump().items() if v is not None}
        await redis.hset(keys.conversation(r.id), mapping=data)
        await redis.zadd(keys.conversations, {r.id: r.created})
    loaded = await load_records(redis, "s1", T0, T0 + 2 * DAY)
    assert [r.id for r in loaded] == ["c1", "c2", "c3", "c4", "c5", "c7", "c6"]
    assert loaded == [
        r for r in sorted(conversations(), key=lambda r: r.created) if T0 <= r.created < T0 + 2 * DAY
    ]
