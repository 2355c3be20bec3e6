"""Frames to an agent's socket (the console)."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from kefu.server.wire.common import Line
from kefu.store.log import Entry

__all__ = [
    "Assigned",
    "ConversationClosed",
    "Hello",
    "Queue",
    "Status",
    "Transferred",
    "assigned",
    "conversation",
    "conversation_closed",
    "hello",
    "payment_due",
    "queue",
    "shopper_message",
    "status",
    "transferred",
    "typing_to_agent",
    "viewing",
]


class Hello(TypedDict):
    type: Literal["hello"]
    agent: dict[str, Any]
    conversations: list[dict[str, Any]]
    queue: dict[str, Any]
    groups: list[str]
    # Display names of the groups that have one ({"presale": "售前"}); the others show their id.
    group_names: dict[str, str]
    # The shop's IANA time zone: the console shows times on the shop's clock.
    timezone: str


class Status(TypedDict):
    type: Literal["status"]
    status: str
    capacity: int
    active: int


class Assigned(TypedDict):
    type: Literal["assigned"]
    conversation: dict[str, Any]


class ConversationClosed(TypedDict):
    type: Literal["conversation_closed"]
    conversation_id: str
    by: str


class Transferred(TypedDict):
    type: Literal["transferred"]
    conversation_id: str
    group: str
    status: str


class Queue(TypedDict):
    type: Literal["queue"]
    waiting: int
    groups: dict[str, int]


def conversation(
    conversation_id: str,
    group: str,
    waited_s: int,
    session_id: str,
    lang: str,
    transcript: list[Line],
    *,
    earlier: int = 0,
    customer: dict[str, str] | None = None,
    product: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An agent's view of a conversation it holds (in `hello` and `assigned`): the latest lines
    of its transcript, and how many `earlier` ones are left out (the REST view has them all);
    the signed-in customer (None: anonymous) and the product the shopper last looked at."""
    return {
        "id": conversation_id,
        "group": group,
        "waited_s": waited_s,
        "shopper": {"session_id": session_id, "lang": lang, "customer": customer},
        "product": product,
        "transcript": transcript,
        "earlier": earlier,
    }


def hello(
    agent: dict[str, Any],
    conversations: list[dict[str, Any]],
    queue: Queue,
    *,
    groups: list[str],
    group_names: dict[str, str],
    timezone: str,
) -> Hello:
    return {
        "type": "hello",
        "agent": agent,
        "conversations": conversations,
        "queue": {"waiting": queue["waiting"], "groups": queue["groups"]},
        "groups": groups,
        "group_names": group_names,
        "timezone": timezone,
    }


def status(status: str, capacity: int, active: int) -> Status:
    return {"type": "status", "status": status, "capacity": capacity, "active": active}


def assigned(conversation: dict[str, Any]) -> Assigned:
    return {"type": "assigned", "conversation": conversation}


def conversation_closed(conversation_id: str, by: str) -> ConversationClosed:
    return {"type": "conversation_closed", "conversation_id": conversation_id, "by": by}


def transferred(conversation_id: str, group: str, status: str) -> Transferred:
    return {"type": "transferred", "conversation_id": conversation_id, "group": group, "status": status}


def queue(groups: dict[str, int]) -> Queue:
    return {"type": "queue", "waiting": sum(groups.values()), "groups": groups}


def shopper_message(conversation_id: str, entry: Entry) -> dict[str, Any]:
    """A shopper's line, live, to the agent holding the conversation."""
    return {
        "type": "message",
        "conversation_id": conversation_id,
        "id": entry.id,
        "from": "shopper",
        "text": entry.text,
        "ts": entry.ts,
    }


class PaymentNudge(TypedDict):
    type: Literal["payment_due"]
    conversation_id: str
    order_id: str
    amount: str
    currency: str


def payment_due(conversation_id: str, order_id: str, amount: str, currency: str) -> PaymentNudge:
    """催付: remind the customer of `conversation_id` to pay order `order_id` (still unpaid)."""
    return {
        "type": "payment_due",
        "conversation_id": conversation_id,
        "order_id": order_id,
        "amount": amount,
        "currency": currency,
    }


class Viewing(TypedDict):
    type: Literal["viewing"]
    conversation_id: str
    id: str
    product: dict[str, Any]


def viewing(conversation_id: str, entry_id: str, product: dict[str, Any]) -> Viewing:
    """The shopper moved to another product's page (the console's product card follows)."""
    return {"type": "viewing", "conversation_id": conversation_id, "id": entry_id, "product": product}


def typing_to_agent(conversation_id: str) -> dict[str, str]:
    return {"type": "typing", "conversation_id": conversation_id}
