"""Inbound websocket frames, validated at the edge: one discriminated union per socket (the
outbound ones are wire.py). docs/protocol.md describes both."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from kefu.errors import InvalidInput
from kefu.ids import ExternalId, FaqId, GroupName
from kefu.store.commerce import Money

__all__ = [
    "AgentFrame",
    "Pick",
    "ProductView",
    "ShopperFrame",
    "parse_agent",
    "parse_shopper",
]

ClientMsgId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
# A shopper's has no `:`: an agent's message is remembered as "agent id:client_msg_id" beside
# the shopper's in the session's list of ids already stored, and a shopper's id must never be
# one of those (it would swallow the agent's message as a resend).
ShopperMsgId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
ConversationId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]{1,40}$")]


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- shopper → server ----


class Pick(_Frame):
    """The shopper clicked a suggestion: which FAQ, offered by which bot line."""

    faq_id: FaqId
    message_id: Annotated[str, StringConstraints(max_length=41)]


class ShopperMessage(_Frame):
    type: Literal["message"]
    text: Text
    client_msg_id: ShopperMsgId
    # Sent by a suggestion chip: the text is the suggestion's question (the bot answers it) and
    # the shopper's earlier question may be learned as a phrasing of that FAQ.
    pick: Pick | None = None


class ShopperTransfer(_Frame):
    type: Literal["transfer"]


class ShopperTyping(_Frame):
    type: Literal["typing"]


class LeaveMessage(_Frame):
    type: Literal["leave_message"]
    text: Text
    contact: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Rate(_Frame):
    type: Literal["rate"]
    score: Annotated[int, Field(ge=1, le=5, strict=True)]
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = None


def _web_url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("an http(s) URL")
    return value


WebUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=1000, pattern=r"^\S+$"), AfterValidator(_web_url)
]


class ProductView(_Frame):
    """The product on the page the shopper is looking at (the agent sees it as a card)."""

    id: ExternalId
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    price: Money | None = None
    image: WebUrl | None = None
    url: WebUrl | None = None


class ShopperProduct(_Frame):
    type: Literal["product"]
    product: ProductView


class ShopperClose(_Frame):
    type: Literal["close"]


class Ping(_Frame):
    type: Literal["ping"]


ShopperFrame = Annotated[
    ShopperMessage
    | ShopperTransfer
    | ShopperTyping
    | LeaveMessage
    | Rate
    | ShopperClose
    | ShopperProduct
    | Ping,
    Field(discriminator="type"),
]

# ---- agent → server ----


class AgentStatus(_Frame):
    type: Literal["status"]
    status: Literal["online", "away", "offline"]


class AgentMessage(_Frame):
    type: Literal["message"]
    conversation_id: ConversationId
    text: Text
    client_msg_id: ClientMsgId


class AgentTyping(_Frame):
    type: Literal["typing"]
    conversation_id: ConversationId


class AgentClose(_Frame):
    type: Literal["close"]
    conversation_id: ConversationId


class AgentTransfer(_Frame):
    type: Literal["transfer"]
    conversation_id: ConversationId
    group: GroupName


AgentFrame = Annotated[
    AgentStatus | AgentMessage | AgentTyping | AgentClose | AgentTransfer | Ping, Field(discriminator="type")
]

_shopper_adapter: TypeAdapter[ShopperFrame] = TypeAdapter(ShopperFrame)
_agent_adapter: TypeAdapter[AgentFrame] = TypeAdapter(AgentFrame)
_SHOPPER_TYPES = ("message", "transfer", "typing", "leave_message", "rate", "close", "product", "ping")
_AGENT_TYPES = ("status", "message", "typing", "close", "transfer", "ping")


def _parse(raw: str, adapter: TypeAdapter[Any], known: tuple[str, ...]) -> Any:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidInput("frame is not valid JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise InvalidInput("a frame is a JSON object with a 'type'", code="invalid_frame")
    kind = data.get("type")
    if kind not in known:
        raise InvalidInput(f"{_unknown_type(kind)}; expected one of {', '.join(known)}", code="unknown_type")
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or 'frame'}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidInput(f"invalid {kind} frame: {problems}", code="invalid_frame") from None


def _unknown_type(kind: Any) -> str:
    """What is wrong with a client's `type`: a string is quoted (cut short), anything else named
    by its JSON kind only (the repr of an array nested a thousand deep exceeds the recursion limit)."""
    if isinstance(kind, str):
        return f"unknown frame type {kind if len(kind) <= 40 else kind[:40] + '…'!r}"
    if kind is None:
        return "a frame needs a 'type'"
    kinds = {bool: "a boolean", int: "a number", float: "a number", list: "an array", dict: "an object"}
    return f"a frame's type is a string, not {kinds.get(type(kind), type(kind).__name__)}"


def parse_shopper(raw: str) -> ShopperFrame:
    frame: ShopperFrame = _parse(raw, _shopper_adapter, _SHOPPER_TYPES)
    return frame


def parse_agent(raw: str) -> AgentFrame:
    frame: AgentFrame = _parse(raw, _agent_adapter, _AGENT_TYPES)
    return frame
