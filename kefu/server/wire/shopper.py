"""Frames to the shopper's socket (the widget)."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from kefu.server.wire.common import UNSERVED, AgentInfo, Line, system_text, transfer_actions
from kefu.store.log import Entry
from kefu.store.shops import ShopConfig

__all__ = [
    "AgentJoined",
    "Batch",
    "Closed",
    "History",
    "Offline",
    "Queued",
    "Session",
    "TypingToShopper",
    "agent_joined",
    "batch",
    "history",
    "offline",
    "queued",
    "session",
    "shopper_frame",
    "typing_to_shopper",
]


class Session(TypedDict):
    type: Literal["session"]
    session_id: str
    token: str
    resumed: bool
    # The signed-in customer the shop's site vouched for (their hash verified), else None.
    customer: dict[str, str] | None


class History(TypedDict):
    type: Literal["history"]
    messages: list[Line]


class Queued(TypedDict):
    type: Literal["queued"]
    position: int
    estimated_wait_s: int
    group: str


class AgentJoined(TypedDict):
    type: Literal["agent_joined"]
    # The log line announcing it; None when the state is told again (a resumed socket).
    id: str | None
    agent: AgentInfo


class Offline(TypedDict):
    type: Literal["offline"]
    # The log line announcing it; None (with `again`) when the shopper asked again and the
    # notice already stands as the last thing said: show the form, add no second notice.
    id: str | None
    text: str
    leave_message: bool
    again: NotRequired[bool]


def offline(entry_id: str | None, config: ShopConfig, lang: str, *, again: bool = False) -> Offline:
    frame: Offline = {
        "type": "offline",
        "id": entry_id,
        "text": config.offline.get(lang),
        "leave_message": True,
    }
    if again:
        frame["again"] = True
    return frame


class Closed(TypedDict):
    type: Literal["closed"]
    id: str
    by: str | None


class TypingToShopper(TypedDict):
    type: Literal["typing"]
    # `from` is a Python keyword: built with the functional form in typing_to_shopper().


class Batch(TypedDict):
    """Several frames in one write (a bot turn's ack and the reply), handled in order."""

    type: Literal["batch"]
    frames: list[Any]


def batch(frames: list[Any]) -> Batch:
    return {"type": "batch", "frames": frames}


def session(
    session_id: str, token: str, *, resumed: bool, customer: tuple[str, str] | None = None
) -> Session:
    return {
        "type": "session",
        "session_id": session_id,
        "token": token,
        "resumed": resumed,
        "customer": {"id": customer[0], "name": customer[1]} if customer else None,
    }


def history(messages: list[Line]) -> History:
    return {"type": "history", "messages": messages}


def queued(position: int, estimated_wait_s: int, group: str) -> Queued:
    return {"type": "queued", "position": position, "estimated_wait_s": estimated_wait_s, "group": group}


def agent_joined(agent_id: str | None, name: str | None, *, entry_id: str | None) -> AgentJoined:
    return {"type": "agent_joined", "id": entry_id, "agent": {"id": agent_id, "name": name}}


def typing_to_shopper() -> dict[str, str]:
    return {"type": "typing", "from": "agent"}


def shopper_frame(entry: Entry, config: ShopConfig, lang: str) -> dict[str, Any] | None:
    """The live frame for a log line (the shopper's own lines come back as `shopper` frames,
    so a second tab of the same chat shows them too); None for lines a shopper never sees."""
    if entry.sender == "shopper":
        return {
            "type": "shopper",
            "id": entry.id,
            "text": entry.text,
            "ts": entry.ts,
            "client_msg_id": entry.client_msg_id,
        }
    if entry.sender == "agent":
        return {
            "type": "agent",
            "id": entry.id,
            "text": entry.text,
            "ts": entry.ts,
            "agent": {"id": entry.agent_id, "name": entry.agent_name},
        }
    if entry.sender == "bot":
        return {
            "type": "bot",
            "id": entry.id,
            "text": entry.text,
            "ts": entry.ts,
            "decision": entry.decision or "notice",
            "faq_id": entry.faq_id,
            "suggestions": [
                {"faq_id": s["faq_id"], "question": s["question"]} for s in entry.suggestions or []
            ],
            "actions": transfer_actions(config, lang) if entry.transfer else [],
        }
    event = entry.event
    if event == "product":
        return None  # for the agent
    if event == "agent_joined":
        return dict(agent_joined(entry.agent_id, entry.agent_name, entry_id=entry.id))
    if event == "closed":
        closed: Closed = {"type": "closed", "id": entry.id, "by": entry.by}
        return dict(closed)
    if event == "offline" or (event == "left_queue" and entry.reason in UNSERVED):
        return dict(offline(entry.id, config, lang))
    text = system_text(entry, config, lang)
    if text is None:
        return None
    return {
        "type": "bot",
        "id": entry.id,
        "text": text,
        "ts": entry.ts,
        "decision": "notice",
        "faq_id": None,
        "suggestions": [],
        "actions": [],
        "event": event,
    }
