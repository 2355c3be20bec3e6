"""Sales numbers of a support team (the team lead's view, as 千牛 reports them): per agent and
for the bot, over a period —

- inquiries (询单人数): distinct shoppers who chatted in the period (a conversation where they
  said something), counted for whoever handled it: the agent who took it, or the bot;
- orders attributed: orders placed in the period that the shop's system reports as paid (paid,
  shipped, delivered or with a refund only requested), attributed at placing to the last chat
  of their customer within the shop's attribution window (last touch: its agent, else the bot);
- buyers: distinct customers of those orders; conversion (询单转化率) = buyers ÷ inquiries;
- sales (客服销售额): their amounts; average order value (客单价) = sales ÷ buyers, beside the
  shop's average over every sold order of the period, attributed or not.
docs/metrics.md defines each one.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from pydantic import BaseModel
from redis.asyncio import Redis

from kefu.reports.records import ConversationRecord, load_records
from kefu.store.commerce import Commerce, StoredOrder
from kefu.store.scripts import Scripts

__all__ = ["SOLD", "Sales", "SalesRow", "compute_sales", "load_sales", "sold"]

SOLD = frozenset({"paid", "shipped", "delivered", "refund_requested"})
BOT = "bot"


def sold(status: str | None) -> bool:
    return status in SOLD


class SalesRow(BaseModel):
    by: str  # an agent id, "bot", or "all" (the team together)
    name: str
    inquiries: int
    buyers: int
    orders: int
    conversion: float  # buyers ÷ inquiries, 0 when nobody asked
    sales: str  # decimal, two places
    average_order: str  # sales ÷ buyers


class Sales(BaseModel):
    since: int
    until: int
    currency: str
    rows: list[SalesRow]  # agents, then the bot; by sales, highest first
    team: SalesRow  # every attributed order and every inquiry
    shop_orders: int  # every sold order placed in the period, attributed or not
    shop_sales: str
    shop_average_order: str


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}"


def _row(by: str, name: str, asked: set[str], orders: list[StoredOrder]) -> SalesRow:
    buyers = {o.order.customer_id for o in orders}
    total = sum((o.order.amount for o in orders), Decimal(0))
    return SalesRow(
        by=by,
        name=name,
        inquiries=len(asked),
        buyers=len(buyers),
        orders=len(orders),
        conversion=round(len(buyers) / len(asked), 4) if asked else 0.0,
        sales=_money(total),
        average_order=_money(total / len(buyers)) if buyers else "0.00",
    )


def compute_sales(
    since: int,
    until: int,
    records: Iterable[ConversationRecord],
    orders: Iterable[StoredOrder],
    names: dict[str, str],
) -> Sales:
    """The period's numbers from its conversation records and the orders placed in it."""
    asked: dict[str, set[str]] = defaultdict(set)
    for record in records:
        if record.n_shopper > 0:  # a chat where the shopper said something
            asked[record.agent or BOT].add(record.session)
    every = [o for o in orders if sold(o.order.status)]
    attributed: dict[str, list[StoredOrder]] = defaultdict(list)
    for o in every:
        if o.attributed_to:
            attributed[o.attributed_to].append(o)
    handlers = (set(asked) | set(attributed)) - {BOT}
    rows = [_row(a, names.get(a, a), asked[a], attributed[a]) for a in handlers]
    rows.sort(key=lambda r: (-Decimal(r.sales), -r.inquiries, r.name))
    rows.append(_row(BOT, names.get(BOT, BOT), asked[BOT], attributed[BOT]))
    everyone = set().union(*asked.values()) if asked else set()
    team = _row("all", names.get("all", "all"), everyone, [o for os in attributed.values() for o in os])
    shop_total = sum((o.order.amount for o in every), Decimal(0))
    shop_buyers = {o.order.customer_id for o in every}
    currencies = [o.order.currency for o in every]
    return Sales(
        since=since,
        until=until,
        currency=max(set(currencies), key=currencies.count) if currencies else "CNY",
        rows=rows,
        team=team,
        shop_orders=len(every),
        shop_sales=_money(shop_total),
        shop_average_order=_money(shop_total / len(shop_buyers)) if shop_buyers else "0.00",
    )


async def load_sales(redis: Redis, shop: str, since: int, until: int, names: dict[str, str]) -> Sales:
    """The numbers of [since, until): the conversations created and the orders placed in it."""
    records = await load_records(redis, shop, since, until)
    orders = await Commerce(redis, Scripts(redis), shop).orders_between(since, until)
    return await asyncio.to_thread(compute_sales, since, until, records, orders, names)
