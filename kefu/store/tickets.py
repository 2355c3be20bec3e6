"""Messages shoppers left while nobody could help (the console's "left messages")."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel
from redis.asyncio import Redis

from kefu.store.client import stream_range
from kefu.store.events import TicketsChanged, publish
from kefu.store.keys import ShopKeys
from kefu.store.log import id_after, is_stream_id
from kefu.store.sessions import now_ms

__all__ = ["Ticket", "Tickets"]

# The console shows this many, newest first.
LIST_LIMIT = 500
# A shop keeps about this many left messages (older ones are trimmed as new ones come; each
# client may leave only a few an hour, settings.tickets_per_client_per_hour).
TICKETS_MAX = 10_000


class Ticket(BaseModel):
    id: str
    text: str
    contact: str
    ts: int
    session_id: str
    conversation_id: str
    lang: str
    handled: bool = False
    handled_by: dict[str, str] | None = None
    handled_at: int | None = None
    note: str | None = None


def _ticket(entry_id: str, fields: dict[str, str], handled: dict[str, Any] | None) -> Ticket:
    return Ticket(
        id=entry_id,
        text=fields.get("text", ""),
        contact=fields.get("contact", ""),
        ts=int(fields.get("ts", 0)),
        session_id=fields.get("session", ""),
        conversation_id=fields.get("conv", ""),
        lang=fields.get("lang", "zh"),
        handled=handled is not None,
        handled_by=handled.get("by") if handled else None,
        handled_at=handled.get("at") if handled else None,
        note=handled.get("note") if handled else None,
    )


class Tickets:
    def __init__(self, redis: Redis, shop: str) -> None:
        self.redis = redis
        self.shop = shop
        self.keys = ShopKeys(shop)

    async def add(self, *, session_id: str, conversation_id: str, text: str, contact: str, lang: str) -> str:
        entry_id = await self.redis.xadd(
            self.keys.tickets,
            {
                "session": session_id,
                "conv": conversation_id,
                "text": text,
                "contact": contact,
                "lang": lang,
                "ts": now_ms(),
            },
            maxlen=TICKETS_MAX,
            approximate=True,
        )
        await publish(self.redis, self.shop, TicketsChanged())
        return str(entry_id)

    async def list(self) -> list[Ticket]:
        """The newest tickets first."""
        entries = await stream_range(self.redis, self.keys.tickets, count=LIST_LIMIT, reverse=True)
        if not entries:
            return []
        raw = await self.redis.hmget(self.keys.tickets_handled, [entry_id for entry_id, _ in entries])
        return [
            _ticket(entry_id, fields, orjson.loads(r) if r else None)
            for (entry_id, fields), r in zip(entries, raw, strict=True)
        ]

    async def handle(self, ticket_id: str, *, by: dict[str, str], note: str | None) -> Ticket | None:
        """Mark a ticket handled; None when there is no such ticket."""
        found = (
            await stream_range(self.redis, self.keys.tickets, start=ticket_id, end=ticket_id)
            if is_stream_id(ticket_id)
            else []
        )
        if not found:
            return None
        record = {"by": by, "at": now_ms(), "note": note}
        await self.redis.hset(self.keys.tickets_handled, ticket_id, orjson.dumps(record).decode())
        if await self.redis.hlen(self.keys.tickets_handled) > 2 * TICKETS_MAX:
            await self._forget_trimmed()
        await publish(self.redis, self.shop, TicketsChanged())
        entry_id, fields = found[0]
        return _ticket(entry_id, fields, record)

    async def _forget_trimmed(self) -> None:
        """Forget that tickets were handled once the stream no longer holds them (it keeps about
        TICKETS_MAX): now and then, when the record of handled ones has grown to twice that."""
        first = await stream_range(self.redis, self.keys.tickets, count=1)
        handled = [str(k) for k in await self.redis.hkeys(self.keys.tickets_handled)]
        gone = [k for k in handled if not first or id_after(first[0][0], k)]
        if gone:
            await self.redis.hdel(self.keys.tickets_handled, *gone)
