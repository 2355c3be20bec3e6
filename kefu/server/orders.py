"""Orders in the chat: the bot's answers about a signed-in customer's own orders ("发货了吗",
"where is my parcel") — the real state of the order asked about, from the shop's templates,
never another customer's, never for a shopper whose identity did not verify — and the 催付
check (`check_payments`, run by the `payments` loop): an order placed in an agent's chat and
left unpaid without a reminder flags and nudges the agent holding the chat."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from decimal import Decimal
from typing import Any

import structlog

from kefu.reports.flags import FlagStore
from kefu.reports.qa import payment_reminder
from kefu.server.context import Context
from kefu.store.commerce import OPEN_STATUSES, Order, StoredOrder
from kefu.store.events import PaymentDue, publish
from kefu.store.sessions import now_ms
from kefu.store.shops import ShopConfig, all_shops

log = structlog.get_logger(__name__)

__all__ = ["LIST_MAX", "check_payments", "order_lines", "pick_orders"]

# Orders listed when several are open and the question names none.
LIST_MAX = 5
_SYMBOLS = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "HKD": "HK$", "TWD": "NT$"}
_STATUS_NAMES = {
    "created": ("待付款", "awaiting payment"),
    "paid": ("已付款，待发货", "paid, not shipped yet"),
    "shipped": ("已发货", "shipped"),
    "delivered": ("已签收", "delivered"),
    "refund_requested": ("退款中", "refund requested"),
    "refunded": ("已退款", "refunded"),
    "cancelled": ("已取消", "cancelled"),
}


def pick_orders(orders: list[StoredOrder], text: str) -> list[StoredOrder]:
    """The orders a question is about: the one it names (by id), else the open ones (several:
    the shopper picks), else the latest."""
    # An id counts only as a whole word ("SO-12" does not name "SO-1"); the longest first.
    named = sorted(
        (
            o
            for o in orders
            if re.search(rf"(?<![A-Za-z0-9]){re.escape(o.order.id)}(?![A-Za-z0-9])", text, re.I)
        ),
        key=lambda o: -len(o.order.id),
    )
    if named:
        return named[:1]
    open_orders = [o for o in orders if o.order.status in OPEN_STATUSES]
    if open_orders:
        return open_orders[:LIST_MAX]
    return orders[:1]


def _money(amount: Decimal, currency: str) -> str:
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{amount:.2f}" if symbol else f"{amount:.2f} {currency}"


def _when(at: dt.datetime | None, zone: zoneinfo.ZoneInfo, lang: str) -> str:
    if at is None:
        return ""
    local = at.astimezone(zone)
    return local.strftime("%b %-d, %H:%M") if lang == "en" else f"{local.month}月{local.day}日 {local:%H:%M}"


def _since(at: dt.datetime | None, now: dt.datetime, lang: str) -> str:
    if at is None:
        return ""
    hours = max(0, int((now - at).total_seconds() // 3600))
    if hours < 1:
        return "just now" if lang == "en" else "刚刚付款"
    if hours < 48:
        return f"{hours} hours ago" if lang == "en" else f"已经过去 {hours} 小时"
    return f"{hours // 24} days ago" if lang == "en" else f"已经过去 {hours // 24} 天"


def _items(order: Order, lang: str) -> str:
    parts = [f"{i.title}×{i.quantity}" if i.quantity > 1 else i.title for i in order.items[:3]]
    if len(order.items) > 3:
        parts.append(f"+{len(order.items) - 3}" if lang == "en" else f"等 {len(order.items)} 件")
    return ("、" if lang != "en" else ", ").join(parts) or order.id


def _values(order: Order, config: ShopConfig, lang: str, now: dt.datetime) -> dict[str, str]:
    zone = zoneinfo.ZoneInfo(config.timezone)
    return {
        "order": order.id,
        "amount": _money(order.amount, order.currency),
        "items": _items(order, lang),
        "created": _when(order.created_at, zone, lang),
        "paid": _when(order.paid_at or order.created_at, zone, lang),
        "shipped": _when(order.shipped_at, zone, lang),
        "delivered": _when(order.delivered_at, zone, lang),
        "courier": order.courier or "",
        "tracking": order.tracking_number or "",
        "since": _since(order.paid_at or order.created_at, now, lang),
        "promise": config.commerce.dispatch_promise.get(lang),
    }


def order_lines(
    orders: list[StoredOrder], config: ShopConfig, lang: str, *, now: dt.datetime | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """The bot's lines for the orders a question is about (from `pick_orders`): one order's
    state, or the list to pick from."""
    now = now or dt.datetime.now(dt.UTC)
    replies = config.commerce.order_replies
    if len(orders) == 1:
        order = orders[0].order
        text = getattr(replies, order.status).fill(lang, _values(order, config, lang, now))
        return [(text, {"decision": "order", "transfer": True, "order_id": order.id})]
    listed = []
    for stored in orders:
        order = stored.order
        name = _STATUS_NAMES[order.status][1 if lang == "en" else 0]
        listed.append(f"• {order.id} — {_items(order, lang)}, {_money(order.amount, order.currency)}, {name}")
    text = replies.several.get(lang) + "\n" + "\n".join(listed)
    hint = "Reply with the order number." if lang == "en" else "回复订单号即可查看详情。"
    return [(text + "\n" + hint, {"decision": "order", "transfer": True})]


async def check_payments(ctx: Context, *, now: int | None = None) -> int:
    """催付 checks that are due, every shop: an order placed during an agent's chat and still
    unpaid, with no reminder from the agent since, is flagged and the agent nudged. Each due
    check is claimed by one instance. Returns how many were flagged."""
    flagged = 0
    now = now or now_ms()
    for shop in await all_shops(ctx.redis):
        commerce = ctx.commerce(shop)
        due = await commerce.due_payment_checks(now)
        if not due:
            continue
        config = await ctx.config(shop)
        sessions = ctx.sessions(shop)
        for order_id in due:
            stored = await commerce.order(order_id)
            if stored is None or stored.order.status != "created" or not stored.conversation_id:
                continue
            conversation = await sessions.conversation(stored.conversation_id)
            if conversation is None or stored.attributed_to in (None, "bot"):
                continue
            # Whoever holds the chat now is nudged (an after-sale colleague after a transfer).
            agent = conversation.agent if conversation.state == "assigned" and conversation.agent else None
            agent = agent or str(stored.attributed_to)
            transcript = await sessions.transcript(conversation.session, conversation.id)
            flag = payment_reminder(
                conversation.id, agent, order_id, stored.order.created_ms, now, transcript, config.qa
            )
            if flag is None:
                continue
            await FlagStore(ctx.redis, shop).add(flag)
            order = stored.order
            event = PaymentDue(
                agent_id=agent,
                conversation_id=conversation.id,
                order_id=order_id,
                amount=f"{order.amount:.2f}",
                currency=order.currency,
            )
            await publish(ctx.redis, shop, event)
            log.info("payment_reminder_due", shop=shop, order_id=order_id, agent_id=agent)
            flagged += 1
    return flagged
