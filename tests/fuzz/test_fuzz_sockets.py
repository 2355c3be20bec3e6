"""Hypothesis against both websockets: whatever a client sends, the socket keeps answering.

For every frame an independent oracle (written from docs/protocol.md, not from kefu's models)
says what must happen: an `error` with one of a few codes, an answer without a syntax error, or
(only above 64 KiB) a close with 1009. Then, unless it closed, the socket must still answer a
`ping` with `pong`, and the server must not have logged an unhandled exception.

tests/server/test_bad_input.py already checks a list of bad shopper frames and a shallow
random frame on the shopper socket; this file adds the agent socket (with a conversation it
really holds and bogus ones), field-by-field wrong types, unicode edge cases, lone surrogates,
deep nesting and sizes around the limits, and checks the codes, not just survival.
"""

from __future__ import annotations

import asyncio
import json
import operator
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context, event
from redis.asyncio import Redis

from kefu.store.keys import ShopKeys
from tests.fuzz.conftest import ServerLog
from tests.server.conftest import SHOP, Socket, add_agent, login, session_protocols, ticket

Client = TestClient[web.Request, web.Application]
KEYS = ShopKeys(SHOP)
Side = Literal["shopper", "agent"]

FRAME_LIMIT = 64 * 1024
TEXT_LIMIT = 2000
SHOPPER_TYPES = ("message", "transfer", "typing", "leave_message", "rate", "close", "ping")
AGENT_TYPES = ("status", "message", "typing", "close", "transfer", "ping")
SYNTAX_CODES = frozenset({"invalid_json", "invalid_frame", "unknown_type", "text_too_long"})
# Errors a well-formed frame may still get, by what the state allows (docs/protocol.md).
SHOPPER_STATE_CODES = {"rate": {"not_closed", "already_rated"}, "close": {"already_closed"}}
AGENT_STATE_CODES = {
    "message": {"not_assigned"},
    "typing": {"not_assigned"},
    "close": {"not_assigned"},
    "transfer": {"not_assigned", "unknown_group", "no_agents"},
}
ALL_STATE_CODES = frozenset().union(*SHOPPER_STATE_CODES.values(), *AGENT_STATE_CODES.values())

# Unicode White_Space: what the server strips from texts (pydantic-core trims in Rust).
# Python's str.strip() also strips \x1c-\x1f; texts made of those alone are left undecided.
WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)

# Replaced, at run time, by the id of a conversation the agent really holds.
REAL = "@@real-conversation@@"

# ---------------------------------------------------------------------------------------------
# The oracle
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """`error`: an error frame with one of `codes`; `ok`: no error except the state `codes`;
    `either`: undecided by the docs, any syntax or state error or none; `close`: 1009."""

    kind: Literal["error", "ok", "either", "close"]
    codes: frozenset[str] = frozenset()
    reply_type: str | None = None
    reply_msg_id: str | None = None
    pongs: int = 1
    ack: str | None = None


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({k for k, _ in pairs}) != len(pairs):
        raise _Duplicate("duplicate key")
    return dict(pairs)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return value


def _integer(text: str) -> int | float:
    # orjson reads integers beyond 64 bits as floats, and refuses those beyond a double.
    value = int(text)
    if -(2**63) <= value < 2**64:
        return value
    return _finite(text)


def nesting_depth(raw: str) -> int:
    depth = deepest = 0
    in_string = escaped = False
    for ch in raw:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in item):
            return True
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
    return False


Verdict = Literal["ok", "bad", "long", "undecided"]


def _text(value: Any, limit: int | None = TEXT_LIMIT, long: Verdict = "long") -> Verdict:
    if not isinstance(value, str):
        return "bad"
    stripped = value.strip(WHITE_SPACE)
    if not stripped:
        return "bad"
    if not stripped.strip():
        return "undecided"
    if limit is not None and len(stripped) > limit:
        return long
    return "ok"


def _pattern(regex: str) -> Any:
    compiled = re.compile(regex)
    return lambda v: "ok" if isinstance(v, str) and compiled.fullmatch(v) else "bad"


def _score(value: Any) -> Verdict:
    return "ok" if type(value) is int and 1 <= value <= 5 else "bad"


def _comment(value: Any) -> Verdict:
    if value is None:
        return "ok"
    if not isinstance(value, str):
        return "bad"
    # The docs give no limit; the server refuses more than 1000 characters. Either is fine.
    return "ok" if len(value.strip(WHITE_SPACE)) <= 1000 else "undecided"


def _status(value: Any) -> Verdict:
    return "ok" if isinstance(value, str) and value in ("online", "away", "offline") else "bad"


CLIENT_MSG_ID = _pattern(r"[A-Za-z0-9_.:-]{1,64}")
CONVERSATION_ID = _pattern(r"[a-z0-9]{1,40}")
GROUP = _pattern(r"[a-z0-9][a-z0-9_-]{0,31}")

# type → {field: (check, required)}
SHOPPER_FIELDS: dict[str, dict[str, tuple[Any, bool]]] = {
    "message": {"text": (_text, True), "client_msg_id": (CLIENT_MSG_ID, True)},
    "transfer": {},
    "typing": {},
    # The docs limit only `contact`; the server also refuses texts over max_text_chars.
    "leave_message": {
        "text": (lambda v: _text(v, long="undecided"), True),
        "contact": (lambda v: _text(v, 200, "bad"), True),
    },
    "rate": {"score": (_score, True), "comment": (_comment, False)},
    "close": {},
    "ping": {},
}
AGENT_FIELDS: dict[str, dict[str, tuple[Any, bool]]] = {
    "status": {"status": (_status, True)},
    "message": {
        "conversation_id": (CONVERSATION_ID, True),
        "text": (_text, True),
        "client_msg_id": (CLIENT_MSG_ID, True),
    },
    "typing": {"conversation_id": (CONVERSATION_ID, True)},
    "close": {"conversation_id": (CONVERSATION_ID, True)},
    "transfer": {"conversation_id": (CONVERSATION_ID, True), "group": (GROUP, True)},
    "ping": {},
}


def classify(raw: str, side: Side, held: frozenset[str] = frozenset()) -> Expect:
    """What the server must do with `raw` on the `side` socket (`held`: the agent's chats)."""
    size = len(raw.encode())
    if size > FRAME_LIMIT:
        return Expect("close")
    return _classify(raw, side, held)


def _classify(raw: str, side: Side, held: frozenset[str]) -> Expect:  # noqa: C901 - a table of cases
    if nesting_depth(raw) > 1000:
        # orjson stops at 1024 levels: invalid_json beyond, an invalid frame below.
        return Expect("error", frozenset({"invalid_json", "invalid_frame", "unknown_type"}))
    try:
        data = json.loads(
            raw,
            parse_constant=_reject_constant,
            parse_float=_finite,
            parse_int=_integer,
            object_pairs_hook=_no_duplicates,
        )
    except _Duplicate:
        return Expect("either", SYNTAX_CODES | ALL_STATE_CODES, pongs=0)
    except RecursionError:
        return Expect("error", frozenset({"invalid_json", "invalid_frame", "unknown_type"}))
    except ValueError:
        return Expect("error", frozenset({"invalid_json"}))
    if _has_lone_surrogate(data):
        # Valid JSON syntax, but no text: refused as invalid JSON.
        return Expect("error", frozenset({"invalid_json", "invalid_frame"}))
    if not isinstance(data, dict):
        return Expect("error", frozenset({"invalid_frame"}))
    kind = data.get("type")
    reply = kind if isinstance(kind, str) and len(kind) <= 64 else None
    msg_id = data.get("client_msg_id")
    reply_msg_id = msg_id if isinstance(msg_id, str) and len(msg_id) <= 64 else None
    spec = SHOPPER_FIELDS if side == "shopper" else AGENT_FIELDS
    if not isinstance(kind, str) or kind not in spec:
        return Expect("error", frozenset({"unknown_type"}), reply, reply_msg_id)
    fields = spec[kind]
    verdicts: list[Verdict] = ["bad" for key in data if key != "type" and key not in fields]
    for name, (check, required) in fields.items():
        if name in data:
            verdicts.append(check(data[name]))
        elif required:
            verdicts.append("bad")
    if "bad" in verdicts:
        return Expect("error", frozenset({"invalid_frame"}), reply, reply_msg_id)
    if side == "shopper":
        state = frozenset(SHOPPER_STATE_CODES.get(kind, ()))
    else:
        state = frozenset(AGENT_STATE_CODES.get(kind, ()))
        if data.get("conversation_id") in held and kind != "transfer":  # a valid id: a str
            state = frozenset()  # a chat the agent holds: message, typing and close just work
    if "undecided" in verdicts:
        return Expect("either", state | {"invalid_frame", "text_too_long"}, reply, reply_msg_id)
    if "long" in verdicts:
        return Expect("error", frozenset({"text_too_long"}), reply, reply_msg_id)
    acked = kind == "message" and (side == "shopper" or data["conversation_id"] in held)
    return Expect(
        "ok",
        state,
        reply,
        reply_msg_id,
        pongs=2 if kind == "ping" else 1,
        ack=data["client_msg_id"] if acked else None,
    )


def test_the_oracle_agrees_with_the_documented_examples() -> None:
    """The oracle itself, on the cases docs/protocol.md and test_bad_input.py spell out."""
    bad = {
        "not json{": "invalid_json",
        "[1, 2]": "invalid_frame",
        '"message"': "invalid_frame",
        '{"text": "hi"}': "unknown_type",
        '{"type": "message", "text": "   ", "client_msg_id": "x"}': "invalid_frame",
        '{"type": "message", "text": "hi", "client_msg_id": "x\\n"}': "invalid_frame",
        '{"type": "rate", "score": 5.0}': "invalid_frame",
        '{"type": "rate", "score": true}': "invalid_frame",
        '{"type": "transfer", "extra": true}': "invalid_frame",
        '{"type": "message", "text": "\\ud800", "client_msg_id": "x"}': "invalid_json",
        '{"type": "ping", "n": NaN}': "invalid_json",
        '{"type": "ping", "n": 1e999}': "invalid_json",
    }
    for raw, code in bad.items():
        expect = classify(raw, "shopper")
        assert expect.kind == "error" and code in expect.codes, raw
    assert classify(
        json.dumps({"type": "message", "text": "字" * 2001, "client_msg_id": "a"}), "shopper"
    ).codes == {"text_too_long"}
    assert classify('{"type": "ping"}', "shopper") == Expect("ok", reply_type="ping", pongs=2)
    assert classify('{"type": "close", "conversation_id": "abc"}', "agent").codes == {"not_assigned"}
    assert classify('{"type": "close", "conversation_id": "abc"}', "agent", frozenset({"abc"})).codes == set()
    assert classify("[" * 10_000 + "]" * 10_000, "agent").kind == "error"
    assert classify('{"type": "message", "text": "' + "x" * FRAME_LIMIT + '"}', "shopper").kind == "close"


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

EDGE_STRINGS = [
    "",
    " ",
    "\t\r\n",
    "\u3000",  # ideographic space
    "\u200b",  # zero-width space
    "\u200b\u200c\u200d\u2060\ufeff",  # zero-width joiners, word joiner, BOM
    "\u202eRTL override\u202c",
    "\u200fمرحبا بالعالم\u200e",
    "שלום עולם",
    "😀",
    "👨\u200d👩\u200d👧\u200d👦",  # one grapheme, seven code points
    "🏳️\u200d🌈",
    "e\u0301\u0301\u0301",  # stacked combining marks
    "Z̴̧̛̗͎̈́a̸̢̛̭̓l̷̨̛̰̈́g̶̢̛̖̾ỏ̵̢̧̙",
    "\x00",
    "a\x00b",
    "\x1c\x1d",  # whitespace to Python, not to Unicode
    "\x7f\x80\x9f",
    "\ud800",  # lone high surrogate (sent as \ud800 in JSON)
    "x\udc00y",  # lone low surrogate
    "\udbff\udfff",  # a valid pair written as two escapes: U+10FFFF
    "\ufffd\ufffe\uffff",
    "\U0010ffff",
    "包邮吗",
    "什麼時候發貨",
    "<script>alert(1)</script>",
    "'; DROP TABLE users; --",
    "${jndi:ldap://x/a}",
    "%s%n%x{0}",
    "../../../../etc/passwd",
    "null",
    "true",
    "-0",
    "1e999",
    "ping",
    "message",
]
LENGTHS = [1, 63, 64, 65, 199, 200, 201, 1000, 1001, 1999, 2000, 2001, 5000]
texts = st.one_of(
    st.text(max_size=30),
    st.sampled_from(EDGE_STRINGS),
    st.builds(
        operator.mul,
        st.sampled_from(["a", "字", "😀", "\u200b", " ", "e\u0301", "\u202e"]),
        st.sampled_from(LENGTHS),
    ),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 5, 6, -1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1.0, 5.0, 0.5, 1e308, -0.0, float("nan"), float("inf")]),  # NaN, Infinity: not JSON
    texts,
)
junk = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)
numbers_as_strings = st.one_of(st.integers(-10, 10).map(str), st.sampled_from(["5", "1.0", "0x5", " 3", "١"]))

FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "text": texts,
    "client_msg_id": st.one_of(
        st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True),
        st.sampled_from(["", "a" * 64, "a" * 65, "has space", "ü", "x\n", "\x00", "a/b", "m1"]),
    ),
    "contact": texts,
    "score": st.one_of(st.integers(-1, 7), st.sampled_from([1.0, 5.0, "5", True, 2**64, None])),
    "comment": st.one_of(st.none(), texts),
    "status": st.sampled_from(["online", "away", "offline", "ONLINE", "busy", "", " online"]),
    "conversation_id": st.one_of(
        st.just(REAL),
        st.just(REAL),
        st.from_regex(r"[a-z0-9]{1,40}", fullmatch=True),
        st.sampled_from(["../x", "A1", "x" * 40, "x" * 41, "", "0", "*", "1 OR 1=1", "conv:x"]),
    ),
    "group": st.one_of(
        st.sampled_from(["general", "general", "sales", "Bad Group", "-x", "g" * 32, "g" * 33, ""]),
        st.from_regex(r"[a-z0-9][a-z0-9_-]{0,31}", fullmatch=True),
    ),
}
ALIEN_TYPES = [
    "bogus",
    "",
    "PING",
    "Ping",
    "ping ",
    " ping",
    "ping\x00",
    "message\u200b",
    "hello",
    "session",
    "pong",
]


@st.composite
def frame_objects(draw: st.DrawFn, side: Side) -> Any:
    """Mostly well-formed frames of the side's types, each field valid, of a wrong type,
    null, a number as a string, or missing; sometimes an extra field or no type at all."""
    spec = SHOPPER_FIELDS if side == "shopper" else AGENT_FIELDS
    types = list(spec)
    pick = draw(st.integers(0, 7))
    kind: Any = draw(
        st.sampled_from(types) if pick < 6 else st.sampled_from(ALIEN_TYPES) if pick < 7 else scalars
    )
    fields = spec.get(kind, {}) if isinstance(kind, str) else {}
    if not fields and draw(st.booleans()):
        fields = dict.fromkeys(
            draw(st.sets(st.sampled_from(sorted(FIELD_VALUES)), max_size=3)), (None, False)
        )
    frame: dict[str, Any] = {}
    if draw(st.integers(0, 30)):
        frame["type"] = kind
    for name in fields:
        how = draw(st.sampled_from(["valid"] * 12 + ["wrong", "null", "number-string", "missing"]))
        if how == "valid":
            frame[name] = draw(FIELD_VALUES[name])
        elif how == "wrong":
            frame[name] = draw(junk)
        elif how == "null":
            frame[name] = None
        elif how == "number-string":
            frame[name] = draw(numbers_as_strings)
    if not draw(st.integers(0, 11)):
        frame[draw(st.sampled_from(["extra", "__proto__", "type ", "Type", "id", "agent"]))] = draw(junk)
    return frame


class Wire:
    """A frame to send: a JSON object (rendered at run time, when REAL is known) or raw text.
    (Not a dataclass: hypothesis would print every field of one in full, 300 kB frames too.)"""

    __slots__ = ("ascii_only", "obj", "raw")

    def __init__(self, obj: Any = None, raw: str | None = None, ascii_only: bool = False) -> None:
        self.obj = obj
        self.raw = raw
        self.ascii_only = ascii_only

    def __repr__(self) -> str:  # huge frames: keep hypothesis' reports readable
        shown = repr(self.obj) if self.raw is None else repr(self.raw)
        if len(shown) > 300:
            shown = f"{shown[:150]}…{shown[-100:]} ({len(shown)} chars)"
        return f"Wire({'obj' if self.raw is None else 'raw'}={shown}, ascii_only={self.ascii_only})"

    def render(self, real: str) -> str:
        if self.raw is not None:
            return self.raw
        text = json.dumps(self.obj, ensure_ascii=self.ascii_only, allow_nan=True)
        try:
            text.encode()
        except UnicodeEncodeError:  # lone surrogates travel as \\uXXXX escapes
            text = json.dumps(self.obj, ensure_ascii=True, allow_nan=True)
        return text.replace(json.dumps(REAL), json.dumps(real))


def deep(shape: str, depth: int) -> str:
    if shape == "arrays":
        return "[" * depth + "]" * depth
    if shape == "objects":
        return '{"a":' * depth + "1" + "}" * depth
    if shape == "mixed":
        return '[{"a":' * (depth // 2) + "null" + "}]" * (depth // 2)
    nested = "[" * depth + "]" * depth
    if shape == "in_type":
        # Deeper than ~900 crashes the socket: test_deeply_nested_type_is_an_error_not_a_crash.
        nested = "[" * min(depth, 500) + "]" * min(depth, 500)
        return '{"type":' + nested + "}"
    if shape == "in_text":
        return '{"type":"message","client_msg_id":"d","text":' + nested + "}"
    return '{"type":"ping","extra":' + nested + "}"


deep_frames = st.builds(
    deep,
    st.sampled_from(["arrays", "objects", "mixed", "in_type", "in_text", "in_extra"]),
    st.sampled_from([2, 64, 255, 256, 500, 1000, 1023, 1024, 1025, 5000, 10_000, 30_000]),
).map(lambda raw: Wire(raw=raw))


def near_limit(side: Side, size: int, filler: str) -> str:
    """A message frame of exactly `size` bytes of UTF-8."""
    head = '{"type":"message",' + ('"conversation_id":"abc",' if side == "agent" else "")
    head += '"client_msg_id":"big","text":"'
    tail = '"}'
    room = size - len(head) - len(tail)
    count = room // len(filler.encode())
    return head + filler * count + "a" * (room - count * len(filler.encode())) + tail


def huge_frames(side: Side) -> st.SearchStrategy[Wire]:
    return st.builds(
        near_limit,
        st.just(side),
        st.sampled_from([TEXT_LIMIT * 3, FRAME_LIMIT - 1, FRAME_LIMIT, FRAME_LIMIT + 1, 70_000, 300_000]),
        st.sampled_from(["a", "字", "😀", "\\u00e9"]),
    ).map(lambda raw: Wire(raw=raw))


GARBAGE = [
    "",
    " ",
    "{",
    "}",
    "{}",
    "[]",
    "null",
    "0",
    '"ping"',
    "{'type': 'ping'}",
    '{"type": "ping"} trailing',
    ' \r\n{"type":"ping"}\n ',
    '{"type": "ping",}',
    '{"type": "ping" "x": 1}',
    '{"type": pong}',
    "\x00",
    "\ufeff{}",  # a BOM is not JSON whitespace
    '{"type": "\\u0070ing"}',  # "ping", escaped
    '{"type": "ping", "type": "message"}',
]
garbage = st.one_of(
    st.sampled_from(GARBAGE),
    st.text(max_size=80),
    st.text(alphabet='{}[]":,\\/ abtrueflsn01-.eE\t\n', max_size=60),
).map(lambda raw: Wire(raw=raw))


def wires(side: Side) -> st.SearchStrategy[Wire]:
    structured = st.builds(Wire, obj=frame_objects(side), ascii_only=st.booleans())
    others = [garbage, deep_frames, huge_frames(side)]
    # Mostly frames of the protocol's shape; one in ten each garbage, deep nesting, near the limit.
    return st.integers(0, 9).flatmap(lambda n: structured if n < 7 else others[n - 7])


# ---------------------------------------------------------------------------------------------
# Checking one exchange
# ---------------------------------------------------------------------------------------------


async def exchange(sock: Socket, raw: str, expect: Expect) -> list[dict[str, Any]] | None:
    """Send `raw`, then a ping; every frame the server sent until the pong(s), or None when
    the socket closed (which `expect` must allow, with 1009)."""
    await sock.ws.send_str(raw)
    if expect.kind != "close":
        await sock.send({"type": "ping"})
    got: list[dict[str, Any]] = []
    pongs = 0
    while expect.kind == "close" or pongs < max(expect.pongs, 1):
        msg = await sock.ws.receive(timeout=5)
        if msg.type != WSMsgType.TEXT:
            assert expect.kind == "close", f"the socket closed: {msg} after {got}"
            assert msg.type == WSMsgType.CLOSE and msg.data == WSCloseCode.MESSAGE_TOO_BIG, msg
            return None
        frame = msg.json()
        inner = frame["frames"] if frame.get("type") == "batch" else [frame]
        got += inner
        pongs += sum(f.get("type") == "pong" for f in inner)
    if expect.pongs == 0:  # undecided whether the frame was a ping: take a second pong if it comes
        got += await sock.silent(0.05)
    return got


def check(expect: Expect, got: list[dict[str, Any]] | None) -> None:
    # `--hypothesis-show-statistics` shows how the examples spread over the outcomes.
    if got is None:  # closed with 1009, as allowed
        if currently_in_test_context():
            event("closed with 1009")
        return
    if currently_in_test_context():
        event(f"{expect.kind}: {' '.join(sorted(f['code'] for f in got if f['type'] == 'error')) or '-'}")
    assert all(isinstance(f, dict) and isinstance(f.get("type"), str) for f in got), got
    errors = [f for f in got if f["type"] == "error"]
    for error in errors:
        assert isinstance(error.get("code"), str) and error["code"], error
        assert isinstance(error.get("message"), str) and error["message"].strip(), error
    codes = [e["code"] for e in errors]
    if expect.kind == "error":
        assert codes and codes[0] in expect.codes, f"expected an error in {set(expect.codes)}, got {got}"
        reply_to = errors[0].get("in_reply_to", {})
        if expect.reply_type is not None:
            assert reply_to.get("type") == expect.reply_type, errors[0]
        if expect.reply_msg_id is not None:
            assert reply_to.get("client_msg_id") == expect.reply_msg_id, errors[0]
    elif expect.kind == "ok":
        assert set(codes) <= expect.codes, f"a valid frame was refused: {errors}"
        if expect.ack is not None and not codes:
            assert any(f["type"] == "ack" and f.get("client_msg_id") == expect.ack for f in got), got
    else:
        assert set(codes) <= expect.codes, errors


FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# ---------------------------------------------------------------------------------------------
# Shopper socket
# ---------------------------------------------------------------------------------------------


async def greeted(client: Client) -> Socket:
    sock = Socket(await client.ws_connect("/ws/shopper", params={"shop": SHOP}))
    await sock.expect("session")
    await sock.expect("bot", decision="greeting")
    return sock


@FUZZ
@given(wire=wires("shopper"))
async def test_shopper_socket_survives_any_frame(client: Client, server_log: ServerLog, wire: Wire) -> None:
    mark = server_log.mark()
    raw = wire.render(REAL)
    expect = classify(raw, "shopper")
    sock = await greeted(client)
    try:
        check(expect, await exchange(sock, raw, expect))
    finally:
        await sock.close()
    assert server_log.problems(mark) == []
    assert server_log.seen("shopper_connected")  # the capture works


# ---------------------------------------------------------------------------------------------
# Agent socket, holding a real conversation
# ---------------------------------------------------------------------------------------------


class Desk:
    """Alice online with a live socket (`console`), and a shopper (`chat`) she talks to."""

    def __init__(
        self, client: Client, redis: Redis, token: str, agent_id: str, console: Socket, chat: Socket
    ) -> None:
        self.client = client
        self.redis = redis
        self.token = token
        self.agent_id = agent_id
        self.console = console
        self.chat = chat
        self.chat_token = str(chat.frames[0]["token"])

    def __repr__(self) -> str:
        return f"Desk(agent={self.agent_id})"

    async def drain(self) -> None:
        # Keep both sockets read, so the server never blocks writing to them.
        await self.console.silent(0.005)
        await self.chat.silent(0.005)

    async def held(self) -> list[str]:
        held = []
        for conversation_id in sorted(await self.redis.smembers(KEYS.agent_conversations(self.agent_id))):
            state, agent = await self.redis.hmget(KEYS.conversation(conversation_id), "state", "agent")
            if state == "assigned" and agent == self.agent_id:
                held.append(conversation_id)
        return held

    async def conversation(self) -> str:
        """A conversation Alice holds; after the fuzz closed or moved hers, a new one."""
        for attempt in range(100):
            held = await self.held()
            if held:
                return held[0]
            if attempt % 20 == 0:
                await self.repair()
            await self.drain()
            await asyncio.sleep(0.02)
        raise AssertionError("Alice could not get a conversation again")

    async def repair(self) -> None:
        # Fresh sockets each time: the long-lived ones must not hit the rate limit.
        desk = Socket(await self.client.ws_connect("/ws/agent", params=await ticket(self.client, self.token)))
        await desk.expect("hello")
        await desk.send({"type": "status", "status": "online"})
        await desk.expect("status")
        await desk.close()
        tab = Socket(
            await self.client.ws_connect(
                "/ws/shopper", params={"shop": SHOP}, protocols=session_protocols(self.chat_token)
            )
        )
        await tab.expect("session", resumed=True)
        await tab.send({"type": "transfer"})
        await tab.silent(0.1)
        await tab.close()


@pytest.fixture
async def desk(client: Client, redis: Redis) -> AsyncIterator[Desk]:
    agent_id = await add_agent(redis, "alice", capacity=3)
    token = await login(client, "alice")
    console = Socket(await client.ws_connect("/ws/agent", params=await ticket(client, token)))
    await console.expect("hello")
    await console.send({"type": "status", "status": "online"})
    await console.expect("status", status="online")
    chat = await greeted(client)
    await chat.send({"type": "transfer"})
    await chat.expect("agent_joined")
    await console.expect("assigned")
    desk = Desk(client, redis, token, agent_id, console, chat)
    yield desk
    await console.close()
    await chat.close()


async def agent_socket(desk: Desk) -> Socket:
    sock = Socket(await desk.client.ws_connect("/ws/agent", params=await ticket(desk.client, desk.token)))
    await sock.expect("hello")
    return sock


@settings(FUZZ, max_examples=150)
@given(wire=wires("agent"))
async def test_agent_socket_survives_any_frame(
    client: Client, server_log: ServerLog, desk: Desk, wire: Wire
) -> None:
    mark = server_log.mark()
    real = await desk.conversation()
    raw = wire.render(real)
    expect = classify(raw, "agent", frozenset({real}))
    sock = await agent_socket(desk)
    try:
        check(expect, await exchange(sock, raw, expect))
    finally:
        await sock.close()
        await desk.drain()
    assert server_log.problems(mark) == []


async def test_an_agent_frame_for_a_held_conversation_reaches_the_shopper(client: Client, desk: Desk) -> None:
    """The oracle's "ok" for REAL is not vacuous: the frame really works end to end."""
    real = await desk.conversation()
    sock = await agent_socket(desk)
    text = "\u202e👨\u200d👩\u200d👧 <b>x</b> \u200b"
    await sock.send({"type": "message", "conversation_id": real, "text": text, "client_msg_id": "e2e"})
    await sock.expect("ack", client_msg_id="e2e")
    assert (await desk.chat.expect("agent"))["text"] == text.strip()
    await sock.close()


# ---------------------------------------------------------------------------------------------
# Fixed cases: the boundaries, spelled out
# ---------------------------------------------------------------------------------------------


async def open_socket(client: Client, side: Side) -> Socket:
    if side == "shopper":
        return await greeted(client)
    token = await login(client, "alice")
    sock = Socket(await client.ws_connect("/ws/agent", params=await ticket(client, token)))
    await sock.expect("hello")
    return sock


@pytest.mark.parametrize("side", ["shopper", "agent"])
async def test_frames_around_the_size_limit(
    client: Client, redis: Redis, server_log: ServerLog, side: Side
) -> None:
    await add_agent(redis, "alice")
    for size, filler in [
        (FRAME_LIMIT - 1, "字"),
        (FRAME_LIMIT - 1, "a"),
        (FRAME_LIMIT + 1, "a"),
        (FRAME_LIMIT + 1, "😀"),
        (1 << 20, "a"),
    ]:
        raw = near_limit(side, size, filler)
        assert len(raw.encode()) == size
        sock = await open_socket(client, side)
        expect = classify(raw, side)
        got = await exchange(sock, raw, expect)
        if size < FRAME_LIMIT:
            assert got is not None and [f["code"] for f in got if f["type"] == "error"] == ["text_too_long"]
        else:
            assert got is None  # closed with 1009
        await sock.close()
    assert server_log.problems() == []


@pytest.mark.parametrize("side", ["shopper", "agent"])
async def test_a_frame_of_exactly_64_kib_is_not_too_big(client: Client, redis: Redis, side: Side) -> None:
    await add_agent(redis, "alice")
    sock = await open_socket(client, side)
    raw = near_limit(side, FRAME_LIMIT, "a")
    try:
        got = await exchange(sock, raw, Expect("error"))
        assert got is not None, "closed with 1009"
        assert [f["code"] for f in got if f["type"] == "error"] == ["text_too_long"]
    finally:
        await sock.close()


@pytest.mark.parametrize("side", ["shopper", "agent"])
@pytest.mark.parametrize(
    "raw",
    [
        "[" * 10_000 + "]" * 10_000,
        '{"a":' * 10_000 + "1" + "}" * 10_000,
        '{"type":"message","client_msg_id":"x","text":' + "[" * 20_000 + "]" * 20_000 + "}",
        '{"type": "message", "text": "\\ud800", "client_msg_id": "s1"}',
        '{"type": "message", "text": "\\udfff\\ud800", "client_msg_id": "s2"}',
        '{"\\ud800": 1, "type": "ping"}',
    ],
    ids=["10k-arrays", "10k-objects", "20k-in-text", "lone-high", "reversed-pair", "surrogate-key"],
)
async def test_nesting_and_surrogates(
    client: Client, redis: Redis, server_log: ServerLog, side: Side, raw: str
) -> None:
    await add_agent(redis, "alice")
    sock = await open_socket(client, side)
    expect = classify(raw, side)
    assert expect.kind == "error"
    check(expect, await exchange(sock, raw, expect))
    await sock.close()
    assert server_log.problems() == []


@pytest.mark.parametrize("side", ["shopper", "agent"])
@pytest.mark.parametrize("shape", ["[", '{"a":'], ids=["arrays", "objects"])
async def test_deeply_nested_type_is_an_error_not_a_crash(
    client: Client, redis: Redis, server_log: ServerLog, side: Side, shape: str
) -> None:
    await add_agent(redis, "alice")
    sock = await open_socket(client, side)
    if shape == "[":
        raw = '{"type":' + "[" * 1000 + "]" * 1000 + "}"
    else:
        raw = '{"type":' + '{"a":' * 1000 + "1" + "}" * 1000 + "}"
    expect = Expect("error", frozenset({"unknown_type", "invalid_frame", "invalid_json"}))
    try:
        check(expect, await exchange(sock, raw, expect))
    finally:
        await sock.close()
    assert server_log.problems() == []
