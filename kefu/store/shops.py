"""Shops: their settings (greeting, hours, groups, origins…) and FAQ corpus, stored in Redis."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import zoneinfo
from typing import Annotated

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError
from redis.asyncio import Redis

from kefu.errors import NotFound
from kefu.faq.calibration import Confidence
from kefu.faq.corpus import Corpus
from kefu.ids import DisplayName, GroupName, valid_shop_id
from kefu.store.events import ConfigChanged, FaqChanged, publish
from kefu.store.keys import SHOPS, ShopKeys
from kefu.store.stored import read_stored, stored_corpus

__all__ = [
    "BusinessHours",
    "CommerceSettings",
    "Localized",
    "OrderReplies",
    "OrderReply",
    "QaRules",
    "ShopConfig",
    "ShopStore",
    "all_shops",
    "corpus_versions",
    "shop_exists",
]


class Localized(BaseModel):
    """A text the bot says, in Chinese and English."""

    model_config = ConfigDict(extra="forbid")

    zh: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
    en: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]

    def get(self, language: str) -> str:
        return self.en if language == "en" else self.zh


class DayHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # ISO weekdays, 1 = Monday … 7 = Sunday.
    days: list[Annotated[int, Field(ge=1, le=7)]] = Field(min_length=1)
    open: dt.time
    close: dt.time


class BusinessHours(BaseModel):
    """When humans answer. Outside these hours a transfer gets the offline notice."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = "Asia/Shanghai"
    ranges: list[DayHours] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError(
                "unknown_time_zone", "unknown time zone {zone}", {"zone": value}
            ) from None
        return value

    def is_open(self, at: dt.datetime) -> bool:
        local = at.astimezone(zoneinfo.ZoneInfo(self.timezone))
        now = local.time()
        for r in self.ranges:
            if local.isoweekday() in r.days:
                if r.open <= r.close and r.open <= now < r.close:
                    return True
                if r.open > r.close and (now >= r.open or now < r.close):  # past midnight
                    return True
        return False


Pattern = Annotated[str, StringConstraints(min_length=1, max_length=60)]


class QaRules(BaseModel):
    """Each rule's threshold; 0 (or an empty pattern list) switches a rule off."""

    model_config = ConfigDict(extra="forbid")

    # The agent's first message more than this after taking the chat.
    slow_first_response_s: Annotated[int, Field(ge=0, le=3600)] = 20
    # A shopper message left unanswered by the agent for longer than this.
    slow_reply_s: Annotated[int, Field(ge=0, le=86400)] = 60
    # Agent sentences per shopper sentence within a window, above which the agent floods.
    over_messaging_ratio: Annotated[float, Field(ge=0, le=1000)] = 10
    over_messaging_window_s: Annotated[int, Field(ge=10, le=3600)] = 300
    # A sales conversation (the shopper asks what to buy) where the agent recommended before
    # asking about the need: patterns are plain substrings, case-insensitive.
    sales_patterns: list[Pattern] = Field(
        default_factory=lambda: [
            "推荐",
            "哪个好",
            "哪款",
            "买哪",
            "选哪",
            "适合我",
            "有什么好",
            "想买",
            "送人",
            "送给",
            "recommend",
            "which one",
            "what should i buy",
            "looking for",
            "suggest",
        ]
    )
    recommend_patterns: list[Pattern] = Field(
        default_factory=lambda: [
            "推荐",
            "建议您",
            "建议你",
            "可以买",
            "可以选",
            "就选",
            "这款",
            "那款",
            "试试",
            "入手",
            "recommend",
            "i suggest",
            "go for",
            "you should get",
            "try the",
        ]
    )
    needs_patterns: list[Pattern] = Field(
        default_factory=lambda: [
            "需要什么",
            "为什么",
            "什么用途",
            "用途",
            "做什么用",
            "用来",
            "预算",
            "平时",
            "喜欢",
            "也",
            "还",
            "给谁",
            "什么场合",
            "多大",
            "身高",
            "体重",
            "肤质",
            "what do you need",
            "what for",
            "why",
            "budget",
            "usually",
            "prefer",
            "who is it for",
            "what will you use",
        ]
    )
    # Queued longer than this, or left the queue before an agent came.
    left_waiting_s: Annotated[int, Field(ge=0, le=86400)] = 120
    # 催付: an order its customer placed during a chat with an agent (or this many minutes after
    # it) and left unpaid this many minutes, without the agent writing any of the reminder
    # patterns meanwhile, is flagged (and the agent nudged when it becomes due). 0: off.
    payment_reminder_after_min: Annotated[int, Field(ge=0, le=1440)] = 15
    payment_reminder_chat_window_min: Annotated[int, Field(ge=0, le=1440)] = 30
    payment_reminder_patterns: list[Pattern] = Field(
        default_factory=lambda: [
            "付款",
            "拍下",
            "未付",
            "支付",
            "下单",
            "付款哦",
            "優惠",
            "pay",
            "payment",
            "checkout",
            "complete your order",
        ]
    )


_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# What an order reply template may name: the order's own fields, and the shop's promise.
ORDER_PLACEHOLDERS = frozenset(
    {
        "order",
        "amount",
        "items",
        "created",
        "paid",
        "shipped",
        "delivered",
        "courier",
        "tracking",
        "since",
        "promise",
    }
)


class OrderReply(Localized):
    """An order reply template: `{order}`, `{amount}`, `{courier}`… are filled in from the order."""

    @field_validator("zh", "en")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        unknown = sorted(set(_PLACEHOLDER.findall(value)) - ORDER_PLACEHOLDERS)
        if unknown:
            raise PydanticCustomError(
                "unknown_placeholder",
                "unknown placeholder {names}; use any of {known}",
                {"names": ", ".join(unknown), "known": ", ".join(sorted(ORDER_PLACEHOLDERS))},
            )
        return value

    def fill(self, language: str, values: dict[str, str]) -> str:
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), self.get(language))


class OrderReplies(BaseModel):
    """What the bot says about a signed-in customer's order, per state."""

    model_config = ConfigDict(extra="forbid")

    created: OrderReply = OrderReply(
        zh="您的订单 {order}（{items}，{amount}）已于 {created} 下单，还没有付款哦，付款后我们会尽快发货。",
        en="Your order {order} ({items}, {amount}) was placed on {created} and is not paid yet; "
        "we ship as soon as it is.",
    )
    paid: OrderReply = OrderReply(
        zh="您的订单 {order}（{items}）已于 {paid} 付款，{since}，正在为您备货。{promise}",
        en="Your order {order} ({items}) was paid on {paid}, {since}; we are preparing it. {promise}",
    )
    shipped: OrderReply = OrderReply(
        zh="您的订单 {order} 已于 {shipped} 发货：{courier}，运单号 {tracking}。",
        en="Your order {order} shipped on {shipped}: {courier}, tracking number {tracking}.",
    )
    delivered: OrderReply = OrderReply(
        zh="您的订单 {order} 已于 {delivered} 签收。如有问题可以点击「转人工」联系客服。",
        en="Your order {order} was delivered on {delivered}. Anything wrong? Tap “Talk to a human”.",
    )
    refund_requested: OrderReply = OrderReply(
        zh="您的订单 {order} 的退款申请已收到，正在处理中。",
        en="We have your refund request for order {order} and are processing it.",
    )
    refunded: OrderReply = OrderReply(
        zh="您的订单 {order} 已退款 {amount}。", en="Order {order} was refunded ({amount})."
    )
    cancelled: OrderReply = OrderReply(zh="您的订单 {order} 已取消。", en="Order {order} was cancelled.")
    # Several orders in flight: the bot lists them for the shopper to pick one.
    several: Localized = Localized(
        zh="您有几笔订单，想问哪一笔呢？", en="You have several orders. Which one do you mean?"
    )


class CommerceSettings(BaseModel):
    """Signed-in customers, orders and sales numbers (docs/api.md, docs/metrics.md)."""

    model_config = ConfigDict(extra="forbid")

    # Refuse a shopper socket whose customer hash does not verify (else: treated as anonymous).
    refuse_unverified: bool = False
    # Accept only claims that carry an expiry (`exp`, signed with the id): a claim copied out
    # of a page then stops working when it expires, instead of vouching for the customer for
    # as long as the identity secret lasts. Claims without one count as not verifying.
    require_claim_expiry: bool = False
    # What the bot says a paid order waits for, in the paid-order reply's {promise}.
    dispatch_promise: Localized = Localized(
        zh="我们承诺付款后 48 小时内发货。", en="We ship within 48 hours of payment."
    )
    order_replies: OrderReplies = Field(default_factory=OrderReplies)
    # A signed-in customer with a delivered or refund-requested order who asks for a human goes
    # to this group (after-sale) instead of the default one; None: no such rule.
    after_sale_group: GroupName | None = None
    # An order placed this many hours after its customer's last chat is attributed to whoever
    # (an agent, or the bot) handled that chat; 0: orders are never attributed.
    attribution_window_h: Annotated[int, Field(ge=0, le=24 * 30)] = 24
    # Orders are kept this many days after their last change.
    order_retention_days: Annotated[int, Field(ge=1, le=3650)] = 180


class ShopConfig(BaseModel):
    """Everything a shop owner can set. Stored as JSON; the janitor script reads queue_timeout_s."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)] = ""
    greeting: Localized = Localized(
        zh="您好，我是店铺智能助手，请问有什么可以帮您？发货、物流、退换货都可以问我哦。",
        en="Hi! I'm the shop's assistant. Ask me about shipping, delivery, returns and more.",
    )
    greeting_reply: Localized = Localized(zh="您好，请问有什么可以帮您？", en="Hello! How can I help you?")
    fallback: Localized = Localized(
        zh="抱歉，我没有完全理解您的问题。您可以换个说法，或者点击「转人工」联系客服。",
        en="Sorry, I didn't quite get that. Try rephrasing, or tap “Talk to a human”.",
    )
    suggest: Localized = Localized(zh="您是不是想问：", en="Did you mean:")
    offer_transfer: Localized = Localized(
        zh="看起来我没能帮到您，需要为您转接人工客服吗？",
        en="It seems I couldn't help. Shall I get you a human agent?",
    )
    transfer_label: Localized = Localized(zh="转人工", en="Talk to a human")
    offline: Localized = Localized(
        zh="现在没有在线的人工客服。您可以留言，客服上线后会尽快联系您。",
        en="No agent is online right now. Leave a message and we'll get back to you soon.",
    )
    queued: Localized = Localized(
        zh="正在为您转接人工客服，请稍候。", en="Connecting you to an agent, please wait."
    )
    left_queue: Localized = Localized(
        zh="排队已取消，您可以继续向我提问，或再次点击「转人工」。",
        en="You left the queue. Keep asking me, or tap “Talk to a human” again.",
    )
    requeued: Localized = Localized(
        zh="客服暂时离开了，已为您优先排队，请稍候。",
        en="Your agent had to leave; you're first in line for the next one.",
    )
    message_left: Localized = Localized(
        zh="留言已收到，客服会尽快联系您。", en="Thanks, we got your message and will get back to you soon."
    )
    rated: Localized = Localized(zh="感谢您的评价！", en="Thanks for your rating!")
    closed: Localized = Localized(zh="本次会话已结束。", en="This conversation has ended.")

    default_group: GroupName = "general"
    groups: list[GroupName] = Field(default_factory=lambda: ["general"], min_length=1, max_length=50)
    # What agents and admins read for a group ("售前" for presale); the id stays ASCII.
    group_names: dict[GroupName, DisplayName] = Field(default_factory=dict)
    business_hours: BusinessHours | None = None
    queue_timeout_s: Annotated[int, Field(ge=0, le=86400)] = 900
    # A chat with an agent where nobody wrote for this long closes "by timeout"; 0 never.
    idle_close_s: Annotated[int, Field(ge=0, le=7 * 86400)] = 1800
    # Offer a human after this many misses (fallback or suggest) in a row; 0 never offers.
    auto_offer_after: Annotated[int, Field(ge=0, le=20)] = 2
    # Approve a learned phrasing by itself once this many distinct shoppers picked the same
    # suggestion for the same question; 0 (the default): an admin approves each one.
    learn_auto_approve: Annotated[int, Field(ge=0, le=100)] = 0
    # How sure the bot must be to answer rather than suggest: "cautious" (≥ 0.90 calibrated
    # probability: fewer answers, fewer wrong ones), "balanced" (the calibration's threshold) or
    # "bold" (≥ 0.65: more answers, more of them wrong). See kefu.faq.calibration.Confidence.
    bot_confidence: Confidence = "balanced"
    # Origins whose pages may open this shop's shopper socket (e.g. "https://shop.example.com");
    # empty: the instance's KEFU_ALLOWED_ORIGINS.
    allowed_origins: list[Annotated[str, StringConstraints(max_length=200)]] = Field(default_factory=list)
    # Quality inspection rules (thresholds, patterns) for this shop's agents.
    qa: QaRules = Field(default_factory=QaRules)
    commerce: CommerceSettings = Field(default_factory=CommerceSettings)

    @property
    def timezone(self) -> str:
        """The shop's clock: its business hours' time zone, else China's."""
        return self.business_hours.timezone if self.business_hours else "Asia/Shanghai"

    @field_validator("groups")
    @classmethod
    def _unique_groups(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    def model_post_init(self, context: object) -> None:
        if self.default_group not in self.groups:
            self.groups.insert(0, self.default_group)
        self.group_names = {g: n for g, n in self.group_names.items() if g in self.groups and n != g}
        after_sale = self.commerce.after_sale_group
        if after_sale is not None and after_sale not in self.groups:
            self.groups.append(after_sale)


async def all_shops(redis: Redis) -> list[str]:
    """Every shop id, sorted."""
    return sorted(str(s) for s in await redis.smembers(SHOPS))


async def shop_exists(redis: Redis, shop: str) -> bool:
    return valid_shop_id(shop) and bool(await redis.sismember(SHOPS, shop))


class ShopStore:
    """Read and write one shop's settings and corpus. The corpus version bumps on every change."""

    def __init__(self, redis: Redis, shop: str) -> None:
        self.redis = redis
        self.shop = shop
        self.keys = ShopKeys(shop)

    async def create(self, config: ShopConfig | None = None) -> bool:
        """Register the shop (idempotent). Returns True when it did not exist before."""
        # Two steps, not one transaction: the registry and the shop live in different Cluster
        # slots. The config first, so a registered shop always has one.
        await self.redis.set(self.keys.config, (config or ShopConfig()).model_dump_json(), nx=True)
        return bool(await self.redis.sadd(SHOPS, self.shop))

    async def config(self) -> ShopConfig:
        raw = await self.redis.get(self.keys.config)
        if raw is None:
            raise NotFound(f"shop {self.shop!r} does not exist")
        return read_stored(ShopConfig, raw, "shop config")

    async def save_config(self, config: ShopConfig) -> None:
        await self.redis.set(self.keys.config, config.model_dump_json())
        await publish(self.redis, self.shop, ConfigChanged())

    async def corpus(self) -> Corpus:
        raw = await self.redis.get(self.keys.faq)
        if raw is None:
            return Corpus(shop=self.shop, faqs=())
        # Off the event loop: a corpus at its caps (2,000 entries, 2,000,000 characters) takes
        # most of a second to validate, and every instance reads it after every edit.
        return await asyncio.to_thread(stored_corpus, raw, self.shop)

    async def quick_replies(self) -> str | None:
        """The shop's canned agent replies as stored (JSON), or None."""
        raw = await self.redis.get(self.keys.quick_replies)
        return None if raw is None else str(raw)

    async def save_quick_replies(self, data: bytes) -> None:
        await self.redis.set(self.keys.quick_replies, data)

    async def corpus_version(self) -> int:
        return int(await self.redis.get(self.keys.faq_version) or 0)

    async def save_corpus(self, corpus: Corpus) -> int:
        """Replace the corpus; every instance reloads it (published now, polled as a backstop)."""
        data = corpus.model_dump(mode="json", exclude_defaults=True)
        data["shop"] = self.shop
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.faq, orjson.dumps(data))
            pipe.incr(self.keys.faq_version)
            _, version = await pipe.execute()
        await publish(self.redis, self.shop, FaqChanged(version=int(version)))
        return int(version)


async def corpus_versions(redis: Redis, shops: list[str]) -> list[int]:
    """The corpus version of each shop (one GET per shop in a pipeline, not MGET: on Redis
    Cluster the shops live in different slots)."""
    async with redis.pipeline(transaction=False) as pipe:
        for shop in shops:
            pipe.get(ShopKeys(shop).faq_version)
        return [int(v or 0) for v in await pipe.execute()]
