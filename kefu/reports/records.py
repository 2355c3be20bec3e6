"""Conversation records and transcripts read back from Redis for statistics and inspection."""

from __future__ import annotations

from pydantic import BaseModel
from redis.asyncio import Redis

from kefu.store.keys import ShopKeys
from kefu.store.log import Entry
from kefu.store.sessions import conversation_lines

__all__ = ["ConversationRecord", "load_records", "load_transcript"]


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value not in (None, "") else None
    except ValueError:
        return None


class ConversationRecord(BaseModel):
    """What a conversation's hash says about it (times are epoch milliseconds)."""

    id: str
    session: str
    state: str
    group: str = ""
    agent: str | None = None
    lang: str = "zh"
    created: int
    first_queued_at: int | None = None
    first_assigned_at: int | None = None
    first_reply_at: int | None = None
    closed_at: int | None = None
    closed_by: str | None = None
    rating: int | None = None
    rating_comment: str | None = None
    n_shopper: int = 0
    n_shopper_live: int = 0
    n_bot: int = 0
    n_agent: int = 0
    transfers: int = 0
    offline_notices: int = 0
    abandoned: int = 0
    left_queue_reason: str | None = None

    @classmethod
    def from_hash(cls, data: dict[str, str]) -> ConversationRecord:
        ints = {
            name: _int(data.get(name))
            for name in (
                "created",
                "first_queued_at",
                "first_assigned_at",
                "first_reply_at",
                "closed_at",
                "rating",
            )
        }
        counts = {
            name: _int(data.get(name)) or 0
            for name in (
                "n_shopper",
                "n_shopper_live",
                "n_bot",
                "n_agent",
                "transfers",
                "offline_notices",
                "abandoned",
            )
        }
        return cls(
            id=data["id"],
            session=data.get("session", ""),
            state=data.get("state", "bot"),
            group=data.get("group", ""),
            agent=data.get("agent") or None,
            lang=data.get("lang", "zh"),
            closed_by=data.get("closed_by") or None,
            rating_comment=data.get("rating_comment") or None,
            left_queue_reason=data.get("left_queue_reason") or None,
            **{k: v for k, v in ints.items() if k != "created"},
            created=ints["created"] or 0,
            **counts,
        )

    @property
    def reached_agent(self) -> bool:
        return self.first_assigned_at is not None

    @property
    def asked_for_human(self) -> bool:
        return self.transfers > 0 or self.offline_notices > 0


async def load_records(redis: Redis, shop: str, since_ms: int, until_ms: int) -> list[ConversationRecord]:
    """Conversations created in [since, until), oldest first (those past retention are gone)."""
    keys = ShopKeys(shop)
    ids = [str(i) for i in await redis.zrangebyscore(keys.conversations, since_ms, f"({until_ms}")]
    records: list[ConversationRecord] = []
    for start in range(0, len(ids), 500):
        batch = ids[start : start + 500]
        async with redis.pipeline(transaction=False) as pipe:
            for conversation_id in batch:
                pipe.hgetall(keys.conversation(conversation_id))
            rows = await pipe.execute()
        for row in rows:
            if row and "id" in row:
                records.append(ConversationRecord.from_hash({str(k): str(v) for k, v in row.items()}))
    return records


async def load_transcript(redis: Redis, shop: str, record: ConversationRecord) -> list[Entry]:
    """The log lines of one conversation, oldest first."""
    return (await conversation_lines(redis, ShopKeys(shop).log(record.session), record.id))[0]
