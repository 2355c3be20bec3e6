"""`kefu qa report` in its three formats, against conversations recorded in Redis."""

import csv
import io
import json
import time

import pytest
import redis as sync_redis

from kefu.cli import main
from kefu.redisserver import RedisServer
from kefu.store.keys import SHOPS, ShopKeys
from kefu.store.shops import ShopConfig

# Two days ago at midnight UTC: inside the retention of any janitor sharing this Redis.
T0 = (int(time.time()) // 86_400 - 2) * 86_400_000


@pytest.fixture
def recorded(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Shop "cli" with one slow-to-answer chat (agent 小王) and one good one."""
    client = sync_redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.flushall()
    keys = ShopKeys("cli")
    client.sadd(SHOPS, "cli")
    client.set(keys.config, ShopConfig().model_dump_json())
    client.hset(
        keys.users,
        "wang",
        json.dumps({"id": "a1", "username": "wang", "role": "agent", "name": "小王", "password_hash": "x"}),
    )
    for cid, reply_after in (("slow", 40), ("fine", 5)):
        created = T0 if cid == "slow" else T0 + 3_600_000
        client.hset(
            keys.conversation(cid),
            mapping={
                "id": cid,
                "session": f"s-{cid}",
                "state": "closed",
                "created": created,
                "n_shopper": 1,
                "first_assigned_at": created,
                "agent": "a1",
            },
        )
        client.zadd(keys.conversations, {cid: created})
        log = keys.log(f"s-{cid}")
        client.xadd(log, {"c": cid, "f": "shopper", "t": "在吗", "ts": created}, id=f"{created}-0")
        client.xadd(
            log,
            {
                "c": cid,
                "f": "system",
                "t": "",
                "ts": created + 1,
                "x": json.dumps({"event": "agent_joined", "agent_id": "a1", "agent_name": "小王"}),
            },
            id=f"{created + 1}-0",
        )
        client.xadd(
            log,
            {
                "c": cid,
                "f": "agent",
                "t": "您好",
                "ts": created + reply_after * 1000,
                "x": json.dumps({"agent_id": "a1", "agent_name": "小王"}),
            },
            id=f"{created + reply_after * 1000}-0",
        )
        client.xadd(
            log,
            {
                "c": cid,
                "f": "system",
                "t": "",
                "ts": created + 60_000,
                "x": json.dumps({"event": "closed", "by": "agent"}),
            },
            id=f"{created + 60_000}-0",
        )
    client.close()
    monkeypatch.setenv("KEFU_REDIS_URL", redis_server.url)
    return "cli"


ARGS = ["qa", "report", "--shop", "cli", "--since", str(T0), "--until", str(T0 + 86_400_000)]


def test_table(recorded: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ARGS, "--format", "table"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["time", "rule", "agent", "conversation", "detail"]
    assert "slow_first_response" in out[1] and "小王" in out[1] and "slow" in out[1]
    assert out[-1] == "1 flag(s)"


def test_json(recorded: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ARGS, "--format", "json"]) == 0
    (flag,) = json.loads(capsys.readouterr().out)
    assert flag["rule"] == "slow_first_response" and flag["conversation_id"] == "slow"
    assert flag["agent_name"] == "小王" and [e["sender"] for e in flag["evidence"]] == ["system", "agent"]


def test_csv(recorded: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ARGS, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["conversation"] for r in rows] == ["slow"]
    assert set(rows[0]) == {"time", "rule", "agent", "conversation", "detail", "evidence"}


def test_unknown_shop_and_bad_dates(recorded: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["qa", "report", "--shop", "nope", "--since", "2026-01-01"]) == 1
    assert main(["qa", "report", "--shop", "cli", "--since", "yesterday"]) == 1
    err = capsys.readouterr().err
    assert "no shop 'nope'" in err and "since is a date" in err


def test_a_payment_reminder_flag_found_after_the_chat_is_in_the_report(
    recorded: str, redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """催付 is checked after the chat, not when the report inspects afresh: the stored flag is
    listed, and survives the re-inspection."""
    from kefu.reports.qa import Flag

    flag = Flag(
        id="fine:no_payment_reminder:SO-1",
        conversation_id="fine",
        rule="no_payment_reminder",
        agent_id="a1",
        at=T0 + 3_700_000,
        detail="order SO-1 placed during the chat is unpaid after 15 min, no payment reminder",
        evidence=[],
    )
    client = sync_redis.Redis.from_url(redis_server.url, decode_responses=True)
    keys = ShopKeys("cli")
    client.hset(keys.qa_flags, flag.id, flag.model_dump_json())
    client.zadd(keys.qa_index, {flag.id: flag.at})
    for _ in range(2):  # the second run re-inspects "fine" again
        assert main([*ARGS, "--format", "json"]) == 0
        flags = json.loads(capsys.readouterr().out)
        assert sorted(f["rule"] for f in flags) == ["no_payment_reminder", "slow_first_response"]
