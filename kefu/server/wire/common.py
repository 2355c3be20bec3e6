"""Frames and pieces both sockets share: ack, pong, error, and a log line (`Line`)."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

import orjson

from kefu.store.log import Entry
from kefu.store.shops import ShopConfig

__all__ = [
    "Ack",
    "Action",
    "AgentInfo",
    "Error",
    "Line",
    "Pong",
    "ack",
    "dumps",
    "error",
    "line",
    "pong",
    "system_text",
    "transfer_actions",
    "UNSERVED",
]


class AgentInfo(TypedDict):
    id: str | None
    name: str | None


class Action(TypedDict):
    type: Literal["transfer"]
    label: NotRequired[str]


class Line(TypedDict):
    """A log line in `history`, an agent's transcript and the REST conversation view."""

    id: str
    text: str
    ts: int
    conversation_id: str
    # `from` is a Python keyword: set through the functional form below.
    faq_id: NotRequired[str]
    decision: NotRequired[str]
    suggestions: NotRequired[list[dict[str, Any]]]
    agent: NotRequired[AgentInfo]
    client_msg_id: NotRequired[str]
    actions: NotRequired[list[Action]]
    event: NotRequired[str | None]
    by: NotRequired[str]
    reason: NotRequired[str]
    group: NotRequired[str]
    product: NotRequired[dict[str, Any]]


# ---- frames both sockets get ----


class Ack(TypedDict):
    type: Literal["ack"]
    client_msg_id: str
    id: str


class Pong(TypedDict):
    type: Literal["pong"]


class Error(TypedDict):
    type: Literal["error"]
    code: str
    message: str
    retry_after: NotRequired[float]
    in_reply_to: NotRequired[dict[str, str]]


def ack(client_msg_id: str, entry_id: str) -> Ack:
    return {"type": "ack", "client_msg_id": client_msg_id, "id": entry_id}


def pong() -> Pong:
    return {"type": "pong"}


def error(code: str, message: str, *, in_reply_to: dict[str, str] | None = None) -> Error:
    frame: Error = {"type": "error", "code": code, "message": message}
    if in_reply_to:
        frame["in_reply_to"] = in_reply_to
    return frame


# Why a shopper left the queue without choosing to: the wait timed out, or nobody of the group
# is online any more. Both read as the shop being offline, with the leave-a-message form.
UNSERVED = ("timeout", "no_agents")


def system_text(entry: Entry, config: ShopConfig, lang: str) -> str | None:
    """The localized notice for a state change in the log (queued, requeued, closed…)."""
    if entry.event == "agent_joined":
        name = entry.agent_name or ""
        return f"{name} joined the chat" if lang == "en" else f"{name} 已接入"
    if entry.event == "product":
        title = str((entry.product or {}).get("title", ""))
        return f"Viewing: {title}" if lang == "en" else f"正在看：{title}"
    texts = {
        "queued": config.queued,
        "transferred": config.queued,
        "requeued": config.requeued,
        "left_queue": config.left_queue,
        "offline": config.offline,
        "rated": config.rated,
        "message_left": config.message_left,
        "closed": config.closed,
    }
    if entry.event == "left_queue" and entry.reason in UNSERVED:
        return config.offline.get(lang)
    localized = texts.get(entry.event or "")
    return localized.get(lang) if localized else None


def transfer_actions(config: ShopConfig, lang: str) -> list[Action]:
    return [{"type": "transfer", "label": config.transfer_label.get(lang)}]


def line(entry: Entry, config: ShopConfig, lang: str) -> Line:
    """A log line as history and transcripts show it (system lines with their localized text)."""
    out: Line = {"id": entry.id, "text": entry.text, "ts": entry.ts, "conversation_id": entry.conversation_id}
    out["from"] = entry.sender  # type: ignore[typeddict-unknown-key]
    if entry.faq_id:
        out["faq_id"] = entry.faq_id
    if entry.decision:
        out["decision"] = entry.decision
    if entry.suggestions is not None:
        out["suggestions"] = entry.suggestions
    if entry.agent_id:
        out["agent"] = {"id": entry.agent_id, "name": entry.agent_name}
    if entry.client_msg_id:
        out["client_msg_id"] = entry.client_msg_id
    if entry.transfer:
        out["actions"] = transfer_actions(config, lang)
    if entry.sender == "system":
        out["event"] = entry.event
        out["text"] = system_text(entry, config, lang) or ""
        if entry.by:
            out["by"] = entry.by
        if entry.reason:
            out["reason"] = entry.reason
        if entry.group:
            out["group"] = entry.group
        if entry.product:
            out["product"] = entry.product
    return out


def dumps(frame: object) -> str:
    return orjson.dumps(frame).decode()
