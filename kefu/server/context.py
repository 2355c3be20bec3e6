"""What every handler of this instance works with: the stores of a shop (built per call, cheap),
the shop's settings (cached a few seconds), the bots, the metrics and the socket registry."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from kefu.faq.matcher import Suggestion
from kefu.server.bot import Bots
from kefu.server.conns import Registry
from kefu.server.guard import Guard
from kefu.server.learning import Learning
from kefu.server.matching import MatchPool, ResultCache
from kefu.server.metrics import Metrics
from kefu.settings import Settings
from kefu.store.commerce import Commerce
from kefu.store.limits import Limits
from kefu.store.scripts import Scripts
from kefu.store.sessions import Sessions
from kefu.store.shops import ShopConfig, ShopStore, shop_exists
from kefu.store.tickets import Tickets
from kefu.store.transfer import Queue

if TYPE_CHECKING:
    from kefu.server.delivery import Delivery

__all__ = ["Context"]

# Shop settings are read again after this long (a `config` event drops them at once).
_CONFIG_TTL_S = 5.0


class Context:
    def __init__(
        self,
        redis: Redis,
        scripts: Scripts,
        settings: Settings,
        bots: Bots,
        metrics: Metrics,
        guard: Guard,
        matching: MatchPool,
    ) -> None:
        self.redis = redis
        self.scripts = scripts
        self.settings = settings
        self.bots = bots
        self.metrics = metrics
        self.guard = guard
        self.matching = matching
        # The admin's suggestion for an unanswered question, by (shop, corpus version, text).
        self.suggestions: ResultCache[tuple[Suggestion | None]] = ResultCache(20_000)
        self.registry = Registry(metrics)
        # Set by the delivery itself (it needs the context to be built first).
        self.delivery: Delivery
        self._configs: dict[str, tuple[float, ShopConfig]] = {}
        self._shops: dict[str, float] = {}
        self._api_keys: dict[str, tuple[float, str | None]] = {}

    # ---- stores of one shop ----

    def sessions(self, shop: str) -> Sessions:
        return Sessions(
            self.redis,
            self.scripts,
            shop,
            token_ttl_s=self.settings.shopper_token_ttl_s,
            retention_s=self.settings.retention_days * 86400,
            silent_ttl_s=self.settings.silent_session_ttl_s,
        )

    def queue(self, shop: str) -> Queue:
        return Queue(self.redis, self.scripts, shop)

    def shop(self, shop: str) -> ShopStore:
        return ShopStore(self.redis, shop)

    def limits(self, shop: str) -> Limits:
        return Limits(self.redis, shop)

    def tickets(self, shop: str) -> Tickets:
        return Tickets(self.redis, shop)

    def commerce(self, shop: str) -> Commerce:
        return Commerce(self.redis, self.scripts, shop)

    def learning(self, shop: str) -> Learning:
        return Learning(self.redis, self.scripts, shop, self.metrics)

    # ---- settings ----

    async def config(self, shop: str) -> ShopConfig:
        """Shop settings, cached for a few seconds (a 'config' event drops the cache)."""
        cached = self._configs.get(shop)
        if cached is not None and time.monotonic() - cached[0] < _CONFIG_TTL_S:
            return cached[1]
        config = await ShopStore(self.redis, shop).config()
        self._configs[shop] = (time.monotonic(), config)
        return config

    async def shop_exists(self, shop: str) -> bool:
        """Whether the shop exists; a yes is remembered for a minute (shops are not removed
        while kefu runs), a no is asked again every time."""
        seen = self._shops.get(shop)
        if seen is not None and time.monotonic() - seen < 60:
            return True
        if not await shop_exists(self.redis, shop):
            return False
        if len(self._shops) > 10_000:
            self._shops.clear()
        self._shops[shop] = time.monotonic()
        return True

    async def api_key_hash(self, shop: str) -> str | None:
        """The hash of the shop's orders API key, remembered as the settings are (a rotation
        publishes the same `config` event, so every instance forgets it at once)."""
        cached = self._api_keys.get(shop)
        if cached is not None and time.monotonic() - cached[0] < _CONFIG_TTL_S:
            return cached[1]
        stored = await self.commerce(shop).api_key_hash()
        self._api_keys[shop] = (time.monotonic(), stored)
        return stored

    def forget_config(self, shop: str) -> None:
        self._configs.pop(shop, None)
        self._api_keys.pop(shop, None)
