"""The bot learns from its shop: a shopper who clicks a suggestion (and then neither asks for a
human nor says it was wrong) votes that their question means that FAQ; an admin approves the
learned phrasing (or a shop setting does after N distinct shoppers) and the bot answers it
directly from then on, on every instance."""

from __future__ import annotations

import structlog
from redis.asyncio import Redis

from kefu.errors import InvalidInput, NotFound
from kefu.faq.corpus import FAQ
from kefu.server.bot import miss_key
from kefu.server.frames import Pick
from kefu.server.metrics import Metrics
from kefu.store.faqs import add_phrasing
from kefu.store.learned import LearnedPhrasing, LearnedPhrasings
from kefu.store.log import is_stream_id
from kefu.store.scripts import Scripts
from kefu.store.sessions import Conversation, Sessions, now_ms

__all__ = ["WATCH_TURNS", "Learning"]

log = structlog.get_logger(__name__)

# After a pick, this many more shopper messages are watched for "that was wrong" or a request
# for a human, which take the vote back; after them the vote stands.
WATCH_TURNS = 2
# How far back from the bot's suggestion the shopper's question is looked for.
_LOOKBACK = 6


class Learning:
    """Learned phrasings of one shop, as the shopper socket and the admin pages use them."""

    def __init__(self, redis: Redis, scripts: Scripts, shop: str, metrics: Metrics) -> None:
        self.redis = redis
        self.shop = shop
        self.store = LearnedPhrasings(redis, scripts, shop)
        self.metrics = metrics

    async def picked(
        self, sessions: Sessions, conversation: Conversation, pick: Pick, *, auto_approve: int
    ) -> str | None:
        """A shopper clicked suggestion `pick.faq_id` offered by bot line `pick.message_id`.

        Counted only when that line is this conversation's bot line offering that FAQ, and the
        shopper's question before it is not already answered by it. Returns the candidate id.
        """
        if not is_stream_id(pick.message_id):
            raise InvalidInput("message_id is not a message id", code="invalid_pick")
        offered = await sessions.entry(conversation.session, pick.message_id)
        if (
            offered is None
            or offered.sender != "bot"
            or offered.conversation_id != conversation.id
            or not any(s.get("faq_id") == pick.faq_id for s in offered.suggestions or [])
        ):
            raise InvalidInput("that suggestion was not offered here", code="invalid_pick")
        self.metrics.suggestion_clicks.labels(self.shop).inc()
        earlier = await sessions.before(conversation.session, pick.message_id, count=_LOOKBACK)
        question = next(
            (e for e in earlier if e.sender == "shopper" and e.conversation_id == conversation.id), None
        )
        if question is None or not miss_key(question.text):
            return None
        cid, shoppers = await self.store.vote(
            faq_id=pick.faq_id,
            text=question.text,
            key=miss_key(question.text),
            session_id=conversation.session,
            now=now_ms(),
        )
        if shoppers < 0:
            return None
        self.metrics.learned.labels(self.shop, "proposed").inc()
        log.info("phrasing_learned", faq_id=pick.faq_id, candidate=cid, shoppers=shoppers)
        if auto_approve and shoppers >= auto_approve:
            await self.approve(cid, auto=True)
            return None
        return cid

    async def settle(self, cid: str, session_id: str, *, retract: bool) -> None:
        """The shopper asked for a human or said the answer was wrong: take the vote back."""
        if retract:
            left = await self.store.retract(cid, session_id)
            self.metrics.learned.labels(self.shop, "retracted").inc()
            log.info("phrasing_vote_retracted", candidate=cid, shoppers=left)

    async def list(self) -> list[LearnedPhrasing]:
        return await self.store.list()

    async def approve(self, cid: str, *, auto: bool = False) -> FAQ:
        """Add the learned question as a phrasing of its FAQ (every instance answers it within a
        second) and drop it from the learned and the unanswered lists."""
        candidate = await self.store.get(cid)
        if candidate is None:
            raise NotFound("no such learned phrasing")
        try:
            faq = await add_phrasing(self.redis, self.shop, candidate.faq_id, candidate.text)
        except NotFound:
            # The FAQ was deleted since: nothing left to learn.
            await self.store.forget(cid)
            raise
        await self.store.forget(cid)
        self.metrics.learned.labels(self.shop, "auto_approved" if auto else "approved").inc()
        log.info("phrasing_approved", candidate=cid, faq_id=candidate.faq_id, auto=auto)
        return faq

    async def reject(self, cid: str) -> None:
        if await self.store.get(cid) is None:
            raise NotFound("no such learned phrasing")
        await self.store.forget(cid, rejected_at=now_ms())
        self.metrics.learned.labels(self.shop, "rejected").inc()
