"""`kefu orders import` from a shop's CSV or JSON-lines export, `kefu qa sales`, and the demo
customer `kefu serve --demo` sets up — run as an owner runs them."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest

from kefu.errors import KefuError
from kefu.redisserver import RedisServer
from kefu.server.cli import _setup_demo
from kefu.server.orders_cli import read_orders
from kefu.settings import Settings
from kefu.store.client import connect
from kefu.store.commerce import Commerce, identity_hash
from kefu.store.scripts import Scripts
from tests.server.test_cli import empty_redis, run

__all__ = ["empty_redis"]

NOW = dt.datetime.now(dt.UTC).isoformat()


async def stored(url: str, shop: str, order_id: str) -> str | None:
    redis = connect(url)
    try:
        found = await Commerce(redis, Scripts(redis), shop).order(order_id)
        return None if found is None else found.order.status
    finally:
        await redis.aclose()


def test_import_csv_then_jsonl_newer_versions_only(
    empty_redis: RedisServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(capsys, "shop", "add", "tea")[0] == 0
    export = tmp_path / "orders.csv"
    export.write_text(
        "id,customer_id,version,status,amount,created_at,paid_at,courier,tracking_number,items\n"
        f"T-1,c1,1,paid,88.00,{NOW},{NOW},,,龙井 250g\n"
        f'T-2,c2,1,created,12.50,{NOW},,,,"[{{""title"": ""杯子"", ""quantity"": 2}}]"\n',
        encoding="utf-8",
    )
    code, out, err = run(capsys, "orders", "import", "tea", str(export))
    assert code == 0, err
    assert "2 order versions read: 2 created" in out
    assert asyncio.run(stored(empty_redis.url, "tea", "T-2")) == "created"

    update = tmp_path / "orders.jsonl"
    lines = [
        {
            "id": "T-1",
            "customer_id": "c1",
            "version": 2,
            "status": "shipped",
            "amount": "88.00",
            "created_at": NOW,
            "courier": "顺丰",
            "tracking_number": "SF1",
        },
        {
            "id": "T-2",
            "customer_id": "c2",
            "version": 1,
            "status": "paid",
            "amount": "12.50",
            "created_at": NOW,
        },
    ]
    update.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines), encoding="utf-8")
    code, out, _ = run(capsys, "orders", "import", "tea", str(update))
    assert code == 0 and "1 updated, 1 stale" in out
    assert asyncio.run(stored(empty_redis.url, "tea", "T-1")) == "shipped"
    assert asyncio.run(stored(empty_redis.url, "tea", "T-2")) == "created"  # same version: unchanged
    # Nobody chatted: the team sold nothing, the shop sold T-1 (T-2 is not paid).
    # The shop's day of the orders' own time (NOW is read at import: a run that crosses
    # midnight in UTC+8 must not look for them on the next day).
    today = dt.datetime.fromisoformat(NOW).astimezone(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    code, out, _ = run(capsys, "qa", "sales", "--shop", "tea", "--since", today)
    assert code == 0
    assert "team" in out and "shop: 1 orders sold, 88.00 CNY" in out
    code, out, _ = run(capsys, "qa", "sales", "--shop", "tea", "--since", today, "--format", "json")
    assert json.loads(out)["shop_orders"] == 1
    # The quality report can carry them too.
    code, out, _ = run(capsys, "qa", "report", "--shop", "tea", "--since", today, "--sales")
    assert code == 0 and "no flags" in out and "shop: 1 orders sold" in out
    code, out, _ = run(
        capsys, "qa", "report", "--shop", "tea", "--since", today, "--sales", "--format", "json"
    )
    assert json.loads(out)["flags"] == [] and json.loads(out)["sales"]["shop_orders"] == 1
    code, _, err = run(
        capsys, "qa", "report", "--shop", "tea", "--since", today, "--sales", "--format", "csv"
    )
    assert code == 1 and "--sales" in err


def test_a_bad_export_names_each_bad_line_and_imports_nothing(
    empty_redis: RedisServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(capsys, "shop", "add", "tea")[0] == 0
    export = tmp_path / "orders.csv"
    export.write_text(
        "id,customer_id,version,status,amount,created_at\n"
        f"T-1,c1,1,paid,88.00,{NOW}\n"
        f"T-2,c2,1,teleported,12.50,{NOW}\n"
        "T-3,c3,1,paid,-1,yesterday\n",
        encoding="utf-8",
    )
    code, _, err = run(capsys, "orders", "import", "tea", str(export))
    assert code == 1 and "Traceback" not in err
    assert "line 3: status" in err and "line 4: amount" in err and "created_at" in err
    assert asyncio.run(stored(empty_redis.url, "tea", "T-1")) is None


@pytest.mark.parametrize(
    ("header", "cells", "said"),
    [
        ("amount,amount", "88.00,99.00", "line 1: column amount appears 2 times"),
        ("amount,items", "88.00," + "x" * 140_000, "line 2: not readable as CSV"),
    ],
    ids=["column-twice", "huge-field"],
)
def test_an_export_that_cannot_be_read_as_meant_imports_nothing(
    empty_redis: RedisServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    header: str,
    cells: str,
    said: str,
) -> None:
    assert run(capsys, "shop", "add", "tea")[0] == 0
    export = tmp_path / "orders.csv"
    export.write_text(
        f"id,customer_id,version,status,created_at,{header}\nT-1,c1,1,paid,{NOW},{cells}\n", encoding="utf-8"
    )
    code, _, err = run(capsys, "orders", "import", "tea", str(export))
    assert code == 1 and "Traceback" not in err and said in err, err
    assert asyncio.run(stored(empty_redis.url, "tea", "T-1")) is None


def test_problems_name_the_line_a_row_begins_on_and_blank_trailing_columns_are_fine() -> None:
    """Spreadsheets write blank trailing columns (a header ending ",,"); a quoted cell may span
    lines and blank lines are skipped: the line named is the one to open in an editor."""
    text = (
        "id,customer_id,version,status,amount,created_at,items,,\n\n"
        f'T-1,c1,1,paid,88.00,{NOW},"two\nlines",,\n\n'
        f"T-2,c2,1,paid,-1,{NOW},mug,,\n"
    )
    with pytest.raises(KefuError) as refused:
        read_orders(text, name="orders.csv")
    assert str(refused.value).splitlines()[1:] == [
        "  line 6: amount: Input should be greater than or equal to 0"
    ]
    fine = read_orders(text.replace(",-1,", ",12.50,"), name="orders.csv")
    assert [o.id for o in fine] == ["T-1", "T-2"] and fine[0].items[0].title == "two\nlines"


def test_demo_sets_up_a_customer_with_orders_and_a_valid_hash(empty_redis: RedisServer) -> None:
    settings = Settings(redis_url=empty_redis.url)

    async def check() -> None:
        await _setup_demo(settings)
        redis = connect(empty_redis.url)
        try:
            commerce = Commerce(redis, Scripts(redis), "demo")
            claim = await commerce.demo_claim(1_900_000_000)
            assert claim is not None
            customer, _, digest = claim
            assert digest == identity_hash(await commerce.identity_secret(), customer, 1_900_000_000)
            assert await commerce.verify_customer(customer, digest, 1_900_000_000)
            assert not await commerce.verify_customer(customer, digest)
            statuses = {o.order.status for o in await commerce.orders_of(customer)}
            assert {"shipped", "paid", "delivered"} <= statuses
        finally:
            await redis.aclose()

    asyncio.run(check())
