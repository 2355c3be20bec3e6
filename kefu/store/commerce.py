"""Commerce records of a shop: the secrets its own servers use (the identity key that signs a
signed-in customer's id, the orders API key), its customers and their orders.

Orders arrive from the shop's systems (the orders API, `kefu orders import`) as versions of one
record; the `order` script stores a version only if it is newer than the stored one, so retries
and late deliveries never move an order backwards.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from redis.asyncio import Redis

from kefu.ids import CustomerId, ExternalId
from kefu.store.events import ConfigChanged, publish
from kefu.store.keys import ShopKeys
from kefu.store.scripts import Scripts
from kefu.store.shops import ShopConfig

__all__ = [
    "ORDER_STATUSES",
    "OPEN_STATUSES",
    "Commerce",
    "Customer",
    "Order",
    "OrderItem",
    "OrderStatus",
    "Put",
    "StoredOrder",
    "Money",
    "identity_hash",
    "key_matches",
]

OrderStatus = Literal["created", "paid", "shipped", "delivered", "refund_requested", "refunded", "cancelled"]
ORDER_STATUSES: tuple[OrderStatus, ...] = (
    "created",
    "paid",
    "shipped",
    "delivered",
    "refund_requested",
    "refunded",
    "cancelled",
)
# What a shopper may still be waiting on (the bot lists these first).
OPEN_STATUSES: frozenset[str] = frozenset({"created", "paid", "shipped", "refund_requested"})

Money = Annotated[Decimal, Field(ge=0, le=Decimal("1e10"), max_digits=14, decimal_places=2)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class OrderItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: ExternalId | None = None
    title: Short
    quantity: Annotated[int, Field(ge=1, le=100_000)] = 1
    price: Money | None = None


class Order(BaseModel):
    """One version of an order as the shop's system sends it. `version` grows with every change
    (an update counter, or the change's time in ms): a higher one replaces a lower one."""

    model_config = ConfigDict(extra="forbid")

    id: ExternalId
    customer_id: CustomerId
    version: Annotated[int, Field(ge=0, le=2**53)]
    status: OrderStatus
    amount: Money
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "CNY"
    items: list[OrderItem] = Field(default_factory=list, max_length=100)
    created_at: AwareDatetime
    paid_at: AwareDatetime | None = None
    shipped_at: AwareDatetime | None = None
    delivered_at: AwareDatetime | None = None
    courier: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] | None = (
        None
    )
    tracking_number: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _-]{0,63}$")] | None
    ) = None

    @property
    def created_ms(self) -> int:
        return int(self.created_at.timestamp() * 1000)


class StoredOrder(BaseModel):
    """An order as kefu keeps it: the latest version, and who (agent id or "bot") it is
    attributed to — the last chat of its customer before it was placed, within the shop's
    attribution window."""

    order: Order
    attributed_to: str | None = None
    conversation_id: str | None = None


class Customer(BaseModel):
    """A signed-in customer of the shop, as the shop's site named them."""

    id: str
    name: str = ""
    session_id: str | None = None
    first_seen: int = 0
    last_seen: int = 0


@dataclass(frozen=True, slots=True)
class Put:
    """What storing an order version did: `result` is created, updated, stale (an equal or
    older version: nothing changed) or conflict (the id belongs to another customer)."""

    result: Literal["created", "updated", "stale", "conflict"]
    previous_status: str | None = None
    # Who the order is attributed to (an agent id, "bot"), if anyone.
    attributed_to: str | None = None


def identity_hash(secret: str, customer_id: str, expires: int | None = None) -> str:
    """HMAC-SHA256 of the customer id under the shop's identity secret, hex: what the shop's
    server computes and puts in the page beside the id. A claim that expires signs
    `id|exp` (exp in Unix seconds; `|` is not in an id's alphabet, so no claim with an expiry
    reads as another without one)."""
    message = customer_id if expires is None else f"{customer_id}|{expires}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_matches(stored_hash: str | None, key: str) -> bool:
    """Whether `key` is the one whose hash is stored (compared in constant time)."""
    return stored_hash is not None and hmac.compare_digest(stored_hash, _key_hash(key))


class Commerce:
    """Secrets, customers and orders of one shop."""

    # Orders kept per customer (the newest) and per shop; the retention comes from settings.
    PER_CUSTOMER = 100
    PER_SHOP = 500_000

    def __init__(self, redis: Redis, scripts: Scripts, shop: str) -> None:
        self.redis = redis
        self.scripts = scripts
        self.shop = shop
        self.keys = ShopKeys(shop)

    # ---- secrets ----

    async def identity_secret(self) -> str:
        """The key the shop's server signs customer ids with (made on first use)."""
        secret = await self.redis.hget(self.keys.secrets, "identity")
        if secret is None:
            await self.redis.hsetnx(self.keys.secrets, "identity", secrets.token_hex(32))
            secret = await self.redis.hget(self.keys.secrets, "identity")
        return str(secret)

    async def rotate_identity_secret(self) -> str:
        """A new identity secret: every hash made with the old one stops verifying."""
        secret = secrets.token_hex(32)
        await self.redis.hset(self.keys.secrets, "identity", secret)
        return secret

    async def verify_customer(self, customer_id: str, claimed_hash: str, expires: int | None = None) -> bool:
        """Whether the hash is the shop's signature of the id (and of its expiry, if it has
        one). Whether the expiry has passed is the caller's to check."""
        secret = await self.redis.hget(self.keys.secrets, "identity")
        if secret is None:
            return False
        return hmac.compare_digest(identity_hash(str(secret), customer_id, expires), claimed_hash.lower())

    async def rotate_api_key(self) -> str:
        """A new orders API key, shown once (only its hash is kept); the old one stops working
        (every instance drops what it remembered of the shop's settings and key at once)."""
        key = f"kefu_{self.shop}.{secrets.token_urlsafe(32)}"
        await self.redis.hset(self.keys.secrets, "api_key", _key_hash(key))
        await publish(self.redis, self.shop, ConfigChanged())
        return key

    async def api_key_hash(self) -> str | None:
        """The sha256 of the shop's orders API key (None: there is none)."""
        stored = await self.redis.hget(self.keys.secrets, "api_key")
        return None if stored is None else str(stored)

    async def check_api_key(self, key: str) -> bool:
        return key_matches(await self.api_key_hash(), key)

    async def set_demo_customer(self, customer_id: str, name: str) -> None:
        """`kefu serve --demo`: the customer the demo shop page may sign in as."""
        await self.redis.hset(self.keys.secrets, "demo_customer", orjson.dumps([customer_id, name]))

    async def demo_claim(self, expires: int) -> tuple[str, str, str] | None:
        """The demo customer's (id, name, hash) signed to expire at `expires` (Unix seconds),
        if this shop was set up as the demo."""
        raw = await self.redis.hget(self.keys.secrets, "demo_customer")
        if raw is None:
            return None
        customer_id, name = orjson.loads(raw)
        return customer_id, name, identity_hash(await self.identity_secret(), customer_id, expires)

    # ---- customers ----

    async def customer(self, customer_id: str) -> Customer | None:
        data = await self.redis.hgetall(self.keys.customer(customer_id))
        if not data:
            return None
        return Customer(
            id=customer_id,
            name=str(data.get("name", "")),
            session_id=str(data["session"]) if data.get("session") else None,
            first_seen=int(data.get("first", 0)),
            last_seen=int(data.get("last", 0)),
        )

    # ---- orders ----

    async def put_order(self, order: Order, config: ShopConfig) -> Put:
        """Store an order version by the shop's settings (retention, attribution window, the
        催付 rule); attribution and the 催付 schedule happen in the same step (order.lua)."""
        now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        qa = config.qa
        out = await self.scripts.raw(
            "order",
            self.keys.orders,
            self.keys.prefix,
            order.id,
            order.customer_id,
            order.version,
            order.status,
            order.model_dump_json(exclude_none=True),
            order.created_ms,
            now,
            config.commerce.order_retention_days * 86400,
            self.PER_CUSTOMER,
            self.PER_SHOP,
            config.commerce.attribution_window_h * 3_600_000,
            qa.payment_reminder_after_min * 60_000,
            qa.payment_reminder_chat_window_min * 60_000,
        )
        if out[0] == "conflict":
            return Put("conflict")
        if out[0] == "stale":
            return Put("stale", str(out[2]))
        previous = str(out[1]) or None
        return Put("created" if previous is None else "updated", previous, str(out[2]) or None)

    async def due_payment_checks(self, now_ms: int, limit: int = 100) -> list[str]:
        """Orders whose 催付 check is due, each handed to exactly one caller (ZREM claims it)."""
        due = [
            str(o) for o in await self.redis.zrangebyscore(self.keys.payment_checks, "-inf", now_ms, 0, limit)
        ]
        claimed = []
        for order_id in due:
            if await self.redis.zrem(self.keys.payment_checks, order_id):
                claimed.append(order_id)
        return claimed

    async def orders_between(self, since_ms: int, until_ms: int, limit: int = 200_000) -> list[StoredOrder]:
        """Orders placed in [since, until) still on record, oldest first (read off the event
        loop's thread: a long period is many orders)."""
        ids = await self.redis.zrangebyscore(self.keys.orders, since_ms, f"({until_ms}", 0, limit)
        rows: list[Sequence[object]] = []
        for start in range(0, len(ids), 500):
            async with self.redis.pipeline(transaction=False) as pipe:
                for oid in ids[start : start + 500]:
                    pipe.hmget(self.keys.order(str(oid)), ["json", "by", "by_conv"])
                rows += await pipe.execute()
        return await asyncio.to_thread(lambda: [s for row in rows if (s := _stored(row)) is not None])

    async def order(self, order_id: str) -> StoredOrder | None:
        data = await self.redis.hmget(self.keys.order(order_id), ["json", "by", "by_conv"])
        return _stored(data)

    async def orders_of(self, customer_id: str, limit: int = 20) -> list[StoredOrder]:
        """The customer's orders, newest first (records past retention left out)."""
        ids = await self.redis.zrevrange(self.keys.customer_orders(customer_id), 0, limit - 1)
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for oid in ids:
                pipe.hmget(self.keys.order(str(oid)), ["json", "by", "by_conv"])
            rows = await pipe.execute()
        return [s for row in rows if (s := _stored(row)) is not None]


def _stored(row: Sequence[object]) -> StoredOrder | None:
    raw, by, conv = row
    if raw is None:
        return None
    return StoredOrder(
        order=Order.model_validate(orjson.loads(str(raw))),
        attributed_to=str(by) if by else None,
        conversation_id=str(conv) if conv else None,
    )
