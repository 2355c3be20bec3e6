"""The session log's lines: written by `Sessions.append` and the queue's Lua scripts (agent
joined, closed…), read back by delivery, transcripts, statistics and inspection."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel

__all__ = ["Entry", "Speaker", "id_after", "is_stream_id"]

Speaker = Literal["shopper", "bot", "agent", "system"]


def is_stream_id(value: str) -> bool:
    """`ms-seq` as Redis reads it: ASCII digits (str.isdigit and regex \\d also take '²' and
    '١'), each part an unsigned 64-bit number; anything else Redis refuses with an error."""
    left, _, right = value.partition("-")
    return all(
        part.isascii() and part.isdigit() and len(part) <= 20 and int(part) < 2**64 for part in (left, right)
    )


def id_after(entry_id: str, other: str | None) -> bool:
    """Whether stream id `entry_id` comes after `other` (anything comes after None)."""
    if other is None:
        return True
    ms, _, seq = entry_id.partition("-")
    other_ms, _, other_seq = other.partition("-")
    return (int(ms), int(seq or 0)) > (int(other_ms), int(other_seq or 0))


class Entry(BaseModel):
    """One line of the log as clients see it (`id` is the Redis stream id)."""

    id: str
    conversation_id: str
    sender: Speaker
    text: str
    ts: int
    # Bot lines: the decision, the FAQ answered and the suggestions offered.
    decision: str | None = None
    faq_id: str | None = None
    suggestions: list[dict[str, Any]] | None = None
    # Agent lines: who wrote it.
    agent_id: str | None = None
    agent_name: str | None = None
    client_msg_id: str | None = None
    # Bot lines written while the conversation was with the bot carry the transfer action.
    transfer: bool = False
    # System lines: a state change (agent_joined, queued, requeued, transferred, left_queue,
    # closed, offline, rated, message_left) and its details.
    event: str | None = None
    by: str | None = None
    reason: str | None = None
    group: str | None = None
    # A `product` line: what the shopper's page shows (id, title, price, image, url).
    product: dict[str, Any] | None = None

    @classmethod
    def from_stream(cls, entry_id: str, fields: dict[str, str]) -> Entry:
        extra = orjson.loads(fields["x"]) if fields.get("x") else {}
        return cls(
            id=entry_id,
            conversation_id=fields.get("c", ""),
            sender=fields.get("f", "system"),
            text=fields.get("t", ""),
            ts=int(fields.get("ts", 0)),
            client_msg_id=fields.get("m") or None,
            **extra,
        )
