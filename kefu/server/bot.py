"""Where the bot decides: one matcher per shop, rebuilt when its corpus changes, and what the
bot says for each decision."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from kefu.faq.analyzer import Resources
from kefu.faq.calibration import Confidence
from kefu.faq.matcher import Decision, Matcher, MatcherConfig, MatchResult
from kefu.faq.normalize import normalize
from kefu.faq.semantic import StoredVectors, encoder_model
from kefu.server.guard import Budget
from kefu.store.shops import ShopConfig, ShopStore, corpus_versions
from kefu.store.vectors import FaqVectors

__all__ = ["BotReply", "Bots", "compose_reply", "miss_key"]

log = structlog.get_logger(__name__)


# Rebuild time per shop: a budget of REBUILD_BURST_S seconds, refilled at REBUILD_SHARE of a
# second per second. One shop's admin saving edit after edit to a corpus at its caps (≈ 12 s a
# rebuild, on every instance) gets half a core once the budget is spent, not all of it; edits
# to a small corpus (well under a second a rebuild) never come near it and are live within a
# second. Past it, the previous matcher answers until the budget allows the next rebuild (the
# version poll picks the change up).
REBUILD_BURST_S = 30.0
REBUILD_SHARE = 0.5
# A corpus of at least this many entries keeps the encoder's vectors in Redis (≈ 450 texts, ≈ 0.4 s
# of encoding, ≈ 1.3 MiB kept); a smaller one is encoded again at each start (the default
# corpus's 48 entries: 0.16 s), so that a host of many small shops spends no Redis memory on it.
KEEP_VECTORS_FROM = 100


class Bots:
    """Matchers by shop. Built off the event loop (a big corpus takes a second); until a rebuild
    is ready the previous matcher keeps answering. `refresh()`, run every `poll_s` by a loop,
    picks up a corpus change on every instance (a published event makes it immediate)."""

    def __init__(
        self,
        redis: Redis,
        resources: Resources,
        *,
        poll_s: float,
        config: MatcherConfig | None = None,
        rebuild_burst_s: float = REBUILD_BURST_S,
        rebuild_share: float = REBUILD_SHARE,
        keep_vectors_from: int = KEEP_VECTORS_FROM,
    ) -> None:
        self.redis = redis
        self.keep_vectors_from = keep_vectors_from
        self.resources = resources
        self.poll_s = poll_s
        self.config = config or MatcherConfig()
        self._matchers: dict[str, tuple[int, Matcher]] = {}
        self._rebuilds = Budget("rebuilds", rebuild_burst_s, rebuild_share)
        # A shop's matcher at its chosen confidence, while that matcher is the loaded one.
        self._views: dict[str, tuple[Matcher, Confidence, Matcher]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def version(self, shop: str) -> int | None:
        """The corpus version of the shop's loaded matcher (None before it is loaded)."""
        loaded = self._matchers.get(shop)
        return loaded[0] if loaded else None

    def cache_info(self) -> dict[str, tuple[int, int]]:
        """Per loaded shop: questions answered from its matcher's cache and matched anew."""
        out = {}
        for shop, (_, matcher) in self._matchers.items():
            hits, misses = matcher.cache_info()
            view = self._views.get(shop)
            if view is not None and view[0] is matcher:
                more = view[2].cache_info()
                hits, misses = hits + more[0], misses + more[1]
            out[shop] = (hits, misses)
        return out

    async def matcher(self, shop: str, confidence: Confidence = "balanced") -> Matcher:
        """The shop's matcher, answering at `confidence` (the shop's `bot_confidence`)."""
        loaded = self._matchers.get(shop)
        matcher = loaded[1] if loaded is not None else await self._load(shop)
        if confidence == "balanced":
            self._views.pop(shop, None)  # a view must not keep an old matcher alive
            return matcher
        view = self._views.get(shop)
        if view is None or view[0] is not matcher or view[1] != confidence:
            # The same index; its own result cache (a level change or a reload starts it anew).
            view = (matcher, confidence, matcher.at_confidence(confidence))
            self._views[shop] = view
        return view[2]

    async def _load(self, shop: str) -> Matcher:
        lock = self._locks.setdefault(shop, asyncio.Lock())
        async with lock:
            store = ShopStore(self.redis, shop)
            version = await store.corpus_version()
            loaded = self._matchers.get(shop)
            if loaded is not None and loaded[0] == version:
                return loaded[1]
            corpus = await store.corpus()
            # The previous index lends the encoder's vectors of every unchanged text: an edit
            # re-encodes only what was edited. Without one (a start, a new worker), the vectors
            # kept in Redis by whichever instance encoded them last (a big enough corpus).
            keeps = self.config.semantic and len(corpus.faqs) >= self.keep_vectors_from
            vectors = FaqVectors(self.redis, shop, encoder_model()) if keeps else None
            stored = None
            if vectors is not None:  # lent only to a first build: an edit has the previous index
                stored = StoredVectors(await self._kept(vectors) if loaded is None else None)
            started = time.monotonic()
            matcher = await asyncio.to_thread(
                Matcher.from_corpus,
                corpus,
                self.config,
                resources=self.resources,
                previous=loaded[1] if loaded is not None else None,
                stored=stored,
            )
            self._rebuilds.charge(shop, time.monotonic() - started)
            self._matchers[shop] = (version, matcher)
            self._views.pop(shop, None)  # made again from the new matcher when next asked for
            if vectors is not None and stored is not None:
                stored.known = {}  # a big corpus's kept vectors: megabytes, no longer needed
                await self._keep(vectors, stored, store, version)
            log.info(
                "faq_loaded",
                shop=shop,
                version=version,
                faqs=len(corpus.faqs),
                encoded=len(stored.fresh) if stored else 0,
                from_redis=stored.lent if stored else 0,
            )
            return matcher

    @staticmethod
    async def _kept(vectors: FaqVectors) -> dict[str, str]:
        """The vectors another build kept (none when Redis cannot give them: encoded anew)."""
        try:
            return await vectors.load()
        except RedisError:
            log.warning("faq_vectors_unavailable", key=vectors.key, exc_info=True)
            return {}

    @staticmethod
    async def _keep(vectors: FaqVectors, stored: StoredVectors, store: ShopStore, version: int) -> None:
        """Keep what the build encoded, and drop what the corpus no longer says — unless the
        corpus moved on meanwhile (another instance may already keep the newer texts). At
        worst a race drops vectors still in use: a later build encodes them again."""
        try:
            current = await store.corpus_version() == version
            await vectors.save(stored.fresh, stored.used if current else None)
        except RedisError:  # the next build encodes them again; the matcher is ready
            log.warning("faq_vectors_not_kept", key=vectors.key, exc_info=True)

    async def refresh(self, shop: str | None = None) -> None:
        """Reload every loaded shop (or one) whose corpus version moved. A shop whose stored
        corpus cannot be read keeps its previous matcher and does not hold up the others; the
        first such failure is raised at the end (the loop logs it and health shows it)."""
        shops = [shop] if shop else list(self._matchers)
        if not shops:
            return
        failed: list[tuple[str, Exception]] = []
        for s, version in zip(shops, await corpus_versions(self.redis, shops), strict=True):
            loaded = self._matchers.get(s)
            if loaded is not None and loaded[0] != version and self._rebuilds.available(s) > 0:
                try:
                    await self._load(s)
                except RedisError:
                    raise
                except Exception as exc:
                    failed.append((s, exc))
        if failed:
            names = ", ".join(s for s, _ in failed)
            raise RuntimeError(f"corpus of {len(failed)} shop(s) unreadable ({names})") from failed[0][1]


@dataclass(frozen=True, slots=True)
class BotReply:
    """What the bot writes to the log and sends: text, decision, FAQ and suggestions."""

    text: str
    decision: str
    faq_id: str | None
    suggestions: list[dict[str, Any]]

    def extra(self, *, transfer: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"decision": self.decision, "transfer": transfer}
        if self.faq_id:
            out["faq_id"] = self.faq_id
        if self.suggestions:
            out["suggestions"] = self.suggestions
        return out


def compose_reply(result: MatchResult, config: ShopConfig, lang: str) -> BotReply:
    """The bot's words for a match result (transfers are handled by the caller)."""
    suggestions = [{"faq_id": s.faq_id, "question": s.question} for s in result.suggestions]
    if result.decision == Decision.ANSWER and result.answer:
        return BotReply(result.answer, "answer", result.faq_id, suggestions)
    if result.decision == Decision.GREETING:
        return BotReply(config.greeting_reply.get(lang), "greeting", None, [])
    if result.decision == Decision.SUGGEST and suggestions:
        return BotReply(config.suggest.get(lang), "suggest", None, suggestions)
    return BotReply(config.fallback.get(lang), "fallback", None, [])


def miss_key(text: str) -> str:
    """How an unanswered question is counted for the admin (normalized, so 包邮吗？ = 包邮吗)."""
    return normalize(text)[:200]
