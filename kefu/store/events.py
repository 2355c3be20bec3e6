"""Pub/sub events: what one kefu instance (or a Lua script) tells every instance about a shop.

Each shop has one channel (`ShopKeys.events`). An event only says *that* something changed and
whom it concerns; sockets then read what changed from the session's log, so a missed event
delays a frame (the backstop catches up) but never loses one. Every event is one model of the
`Event` union, discriminated by `event`; the Lua scripts publish the same shapes (a test runs
every script and parses what it publishes). Unknown kinds and fields — a newer instance during
a rolling deploy — are ignored, never fatal.
"""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
import structlog
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from redis.asyncio import Redis

from kefu.store.keys import ShopKeys

__all__ = [
    "AgentGone",
    "Assigned",
    "Closed",
    "ConfigChanged",
    "Event",
    "FaqChanged",
    "LeftQueue",
    "LogWritten",
    "PaymentDue",
    "QueueMoved",
    "Queued",
    "Requeued",
    "SignedOut",
    "TicketsChanged",
    "Transferred",
    "Typing",
    "encode",
    "parse",
    "publish",
]

log = structlog.get_logger(__name__)


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class LogWritten(_Event):
    """A line was added to a session's log (a message; sockets of the session and of the agent
    holding the conversation catch up)."""

    event: Literal["log"] = "log"
    session_id: str
    conversation_id: str
    agent_id: str | None = None
    entry_id: str | None = None


class Typing(_Event):
    """Someone is typing in an assigned conversation."""

    event: Literal["typing"] = "typing"
    sender: Literal["shopper", "agent"]
    session_id: str
    conversation_id: str
    agent_id: str | None = None


class TicketsChanged(_Event):
    """A message was left for the shop, or one was marked handled."""

    event: Literal["tickets"] = "tickets"


class FaqChanged(_Event):
    """The corpus changed: reload it (the version is what every instance polls as a backstop)."""

    event: Literal["faq"] = "faq"
    version: int


class ConfigChanged(_Event):
    """The shop's settings changed: drop cached copies."""

    event: Literal["config"] = "config"


class AgentGone(_Event):
    """An agent's grace period ran out (janitor): its chats went back to the queue."""

    event: Literal["agent_gone"] = "agent_gone"
    agent_id: str


class SignedOut(_Event):
    """An agent's tokens stopped working (logout, disabled, password reset, deleted): every
    instance closes its sockets; its chats already went back to the queue."""

    event: Literal["signed_out"] = "signed_out"
    agent_id: str
    reason: str


class Assigned(_Event):
    """An agent took a conversation from the queue."""

    event: Literal["assigned"] = "assigned"
    conversation_id: str
    session_id: str
    agent_id: str
    group: str
    waited_ms: int = 0
    at: int = 0  # ms, when the script assigned it (assignment latency is measured from here)
    entry_id: str | None = None


class PaymentDue(_Event):
    """催付: an order placed during an agent's chat is still unpaid and the agent has not
    reminded the customer (the agent's console shows a nudge)."""

    event: Literal["payment_due"] = "payment_due"
    agent_id: str
    conversation_id: str
    order_id: str
    amount: str
    currency: str


class Queued(_Event):
    """A conversation joined a group's queue."""

    event: Literal["queued"] = "queued"
    conversation_id: str
    session_id: str
    group: str
    entry_id: str | None = None


class QueueMoved(_Event):
    """A group's queue changed: the scores that joined and left (served, cancelled, gone) in one
    script, and the group's queue version after it. A waiting socket that knows its own score
    and the version before works out its new position without asking Redis."""

    event: Literal["queue"] = "queue"
    group: str
    version: int = 0
    joined: list[float] = []
    left: list[float] = []


class LeftQueue(_Event):
    """A conversation left the queue without an agent (the shopper cancelled, went away, or the
    wait timed out); it is with the bot again."""

    event: Literal["left_queue"] = "left_queue"
    conversation_id: str
    session_id: str
    group: str | None = None
    reason: str
    entry_id: str | None = None


class Requeued(_Event):
    """An agent's conversation went back to the head of the queue (the agent vanished)."""

    event: Literal["requeued"] = "requeued"
    conversation_id: str
    session_id: str
    group: str
    agent_id: str
    entry_id: str | None = None


class Transferred(_Event):
    """An agent handed a conversation to another skill group."""

    event: Literal["transferred"] = "transferred"
    conversation_id: str
    session_id: str
    agent_id: str
    from_group: str
    group: str
    entry_id: str | None = None


class Closed(_Event):
    """A conversation ended (by the agent, the shopper, or the idle timeout)."""

    event: Literal["closed"] = "closed"
    conversation_id: str
    session_id: str
    agent_id: str = ""
    by: str
    previous_state: str
    entry_id: str | None = None


Event = Annotated[
    LogWritten
    | Typing
    | TicketsChanged
    | FaqChanged
    | ConfigChanged
    | AgentGone
    | SignedOut
    | Assigned
    | Queued
    | QueueMoved
    | LeftQueue
    | Requeued
    | Transferred
    | Closed
    | PaymentDue,
    Field(discriminator="event"),
]
_EVENT: TypeAdapter[Event] = TypeAdapter(Event)


def encode(event: Event) -> str:
    return orjson.dumps(event.model_dump(exclude_none=True)).decode()


def parse(data: str | bytes) -> Event | None:
    """The event, or None for one this version does not know (logged, never raised)."""
    try:
        return _EVENT.validate_json(data)
    except ValidationError as exc:
        log.warning("event_unknown", error=exc.errors(include_url=False)[:1], data=str(data)[:200])
        return None


async def publish(redis: Redis, shop: str, event: Event) -> None:
    await redis.publish(ShopKeys(shop).events, encode(event))
