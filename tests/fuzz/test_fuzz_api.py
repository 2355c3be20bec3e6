"""Hypothesis against every operation of GET /api/openapi.json.

Each operation gets requests built from its own description: path parameters (real ids and
junk), query strings (the parameters kefu reads, and junk), bodies generated from the request
schema (mostly valid, one field broken, or any JSON at all, or not JSON), text bodies for the
corpus import (YAML and CSV fragments), under every kind of credentials. Properties:

- never a 5xx, and the server logs no unhandled exception;
- every 4xx is JSON `{"error": {"code", "message"}}` (and `details` a list of {field, message});
- a failed request changed nothing: the FAQ version (GET /api/admin/faqs), the corpus itself,
  the settings, the accounts, the quick replies and the handled tickets are as before;
- without a valid token nothing but the public operations answers 2xx, and an agent never
  gets a 2xx from an admin operation.

The bugs the fuzzing found are pinned by the tests at the end of this file.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import functools
import io
import json
import socket
import struct
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.control import event
from redis.asyncio import Redis

from kefu import __version__
from kefu.faq.corpus import default_corpus
from kefu.server.app import ROUTES, create_app
from kefu.server.faqs import CSV_COLUMNS
from kefu.settings import Settings
from kefu.store.keys import ShopKeys
from tests.fuzz.conftest import ServerLog
from tests.server.conftest import PASSWORD, SHOP, Socket, add_agent, login
from tests.server.conftest import ticket as socket_ticket

Client = TestClient[web.Request, web.Application]
KEYS = ShopKeys(SHOP)

# The table the app installs and describes: the operations to fuzz are collected from it, and
# test_the_live_description_lists_exactly_these checks the served document lists the same.
SPEC = ROUTES.openapi(title="kefu", version=__version__)
COMPONENTS: dict[str, Any] = SPEC["components"]["schemas"]
OPERATIONS = sorted((method.upper(), path) for path, ops in SPEC["paths"].items() for method in ops)
PUBLIC = {(m.upper(), p) for p, ops in SPEC["paths"].items() for m, op in ops.items() if "security" not in op}
ADMIN = {
    (m.upper(), p)
    for p, ops in SPEC["paths"].items()
    for m, op in ops.items()
    if "Admins" in op.get("description", "")
}

# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

EDGE_TEXT = [
    "",
    " ",
    "\u200b",
    "\u202eevil",
    "😀",
    "\x00",
    "a\x00b",
    "\ud800",
    "<script>alert(1)</script>",
    "${7*7}",
    "' OR '1'='1",
    "../../etc/passwd",
    "%00",
    "%2e%2e",
    "包邮吗",
    "null",
    "true",
    "0",
    "-1",
    "1e309",
    "9" * 30,
    "x" * 300,
    "字" * 2001,
]
texts = st.one_of(st.text(max_size=24), st.sampled_from(EDGE_TEXT))
# Path and query: kept well under aiohttp's 8190-byte request line (see the xfail test on that).
url_texts = st.one_of(st.text(max_size=24), st.sampled_from([t for t in EDGE_TEXT if len(t) < 1000]))
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 50, 51, 2**63 - 1, 2**63, 2**64]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.5, 1e308, float("nan"), float("inf")]),
    texts,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=10,
)
TIMES = ["09:00", "23:59:59", "00:00", "24:00", "9:00", "25:61", "", "noon", "09:00:00.5+08:00"]
ZONES = ["Asia/Shanghai", "UTC", "Europe/Berlin", "Nope/Zone", "../../etc/passwd", "", "x" * 300, "right/UTC"]


def from_schema(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:  # noqa: C901 - one branch per JSON-schema keyword
    """Values of a (pydantic-made) JSON schema: mostly valid, sometimes just past a limit."""
    if "$ref" in schema:
        return from_schema(COMPONENTS[schema["$ref"].rsplit("/", 1)[1]], depth)
    if "anyOf" in schema:
        return st.one_of([from_schema(s, depth) for s in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if depth > 4:
        return json_scalars
    if kind == "string":
        if schema.get("format") == "time":
            return st.sampled_from(TIMES)
        if schema.get("title") == "Timezone":
            return st.sampled_from(ZONES)
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        sizes = [low, low + 1] + ([high, high + 1] if high is not None else [])
        return st.one_of(
            st.text(min_size=low, max_size=min(high or 30, 30)),
            st.sampled_from(EDGE_TEXT),
            st.builds(lambda n, c: c * n, st.sampled_from(sizes), st.sampled_from(["a", "字", " "])),
        )
    if kind in ("integer", "number"):
        low, high = schema.get("minimum", -(2**31)), schema.get("maximum", 2**31)
        numbers = st.integers(low, high) | st.sampled_from([low - 1, high + 1])
        return numbers | st.floats(low, high) if kind == "number" else numbers
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(
            from_schema(schema.get("items", {}), depth + 1),
            min_size=schema.get("minItems", 0),
            max_size=min(schema.get("maxItems", 3), 3),
        )
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        required = set(schema.get("required", ()))
        if not props:
            patterns = schema.get("patternProperties", {})
            key = st.from_regex(next(iter(patterns)), fullmatch=True) if patterns else texts
            value = from_schema(next(iter(patterns.values())), depth + 1) if patterns else json_values
            return st.dictionaries(key, value, max_size=3)
        return st.fixed_dictionaries(
            {k: from_schema(v, depth + 1) for k, v in props.items() if k in required},
            optional={k: from_schema(v, depth + 1) for k, v in props.items() if k not in required},
        )
    return json_values


@st.composite
def broken(draw: st.DrawFn, schema: dict[str, Any]) -> Any:
    """A schema value with one thing wrong: a field of another type, null, missing, or extra."""
    value = draw(from_schema(schema))
    if not isinstance(value, dict):
        return draw(json_values)
    how = draw(st.sampled_from(["retype", "null", "drop", "extra"]))
    if how == "extra" or not value:
        value[draw(st.sampled_from(["extra", "id ", "__proto__", "password_hash", "role"]))] = draw(
            json_values
        )
    else:
        key = draw(st.sampled_from(sorted(value)))
        if how == "retype":
            value[key] = draw(json_values)
        elif how == "null":
            value[key] = None
        else:
            del value[key]
    return value


class Body:
    """What goes on the wire: a JSON value, or raw bytes."""

    __slots__ = ("raw", "value")

    def __init__(self, value: Any = None, raw: bytes | None = None) -> None:
        self.value = value
        self.raw = raw

    def encode(self) -> bytes | None:
        if self.raw is not None:
            return self.raw
        if self.value is None:
            return None
        text = json.dumps(self.value, ensure_ascii=True, allow_nan=True)
        return text.encode()

    def __repr__(self) -> str:
        shown = repr(self.raw if self.raw is not None else self.value)
        return f"Body({shown[:200]}{'…' if len(shown) > 200 else ''})"


YAML_SCALARS = [
    "q",
    "包邮吗",
    "'quoted: yes'",
    '"double \\u00e9"',
    "~",
    "null",
    "yes",
    "0x1F",
    "1e3",
    ".nan",
    "2024-01-31",
    "2020-02-30",  # a date that does not exist
    "!!int abc",
    "!!float x",
    "!!bool maybe",
    "!!binary aGk=",
    "!!python/object/apply:os.system ['true']",
    "&anchor a",
    "*anchor",
    "[a, b]",
    "{a: 1}",
    "|\n      block",
    "1" + "0" * 5000,  # longer than Python's int parsing limit
    "- - -",
    "'",
]


@st.composite
def yaml_files(draw: st.DrawFn) -> str:
    entries = []
    for _ in range(draw(st.integers(0, 3))):
        fields = draw(
            st.sets(st.sampled_from(["id", "question", "answer", "similar", "keywords", "answers", "x"]))
        )
        parts = [
            f"{k}: {draw(st.sampled_from(YAML_SCALARS) | texts.map(json.dumps))}" for k in sorted(fields)
        ]
        entries.append("  - " + "\n    ".join(parts) if parts else "  - {}")
    head = draw(st.sampled_from(["", "shop: demo\n", "shop: [1]\n", "%YAML 1.1\n---\n", "faqs: []\n"]))
    return head + "faqs:\n" + "\n".join(entries) + "\n"


@st.composite
def csv_files(draw: st.DrawFn) -> str:
    columns = draw(st.lists(st.sampled_from([*CSV_COLUMNS, "extra", ""]), max_size=8))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for _ in range(draw(st.integers(0, 3))):
        writer.writerow(draw(st.lists(texts, max_size=len(columns) + 1)))
    text = out.getvalue()
    return (
        draw(st.sampled_from(["", "\ufeff"]))
        + text
        + draw(st.sampled_from(["", '"unterminated', "a,b\n" * 2]))
    )


DEFAULT_YAML = default_corpus().to_yaml()


@st.composite
def mangled_corpus(draw: st.DrawFn) -> str:
    """The real corpus with a slice cut out or junk spliced in: mostly still almost valid."""
    cut = draw(st.integers(0, len(DEFAULT_YAML)))
    return DEFAULT_YAML[:cut] + draw(texts) + DEFAULT_YAML[cut + draw(st.integers(0, 200)) :]


def file_body(text: str) -> Body:
    return Body(raw=text.encode("utf-8", "surrogatepass"))  # a lone surrogate is not UTF-8: 400


corpus_bodies = st.one_of(
    st.just(file_body(DEFAULT_YAML)),
    yaml_files().map(file_body),
    csv_files().map(file_body),
    mangled_corpus().map(file_body),
    texts.map(file_body),
    st.sampled_from([b"\xff\xfe\x00", b"\xc3\x28", b""]).map(lambda b: Body(raw=b)),
    st.builds(lambda v: Body(value=v), json_values),
)


def body_strategy(body: Any) -> st.SearchStrategy[Body]:
    junk = st.one_of(
        st.builds(lambda v: Body(value=v), json_values),
        st.sampled_from([b"{", b"[1,", b"\xff", b"", b"null", b'{"a":' * 2000]).map(lambda b: Body(raw=b)),
        st.integers(1, 1100).map(lambda n: Body(raw=b"[" * n + b"]" * n)),
    )
    if body is None:
        return st.one_of(st.just(Body()), st.just(Body()), junk)
    if "text/plain" in body["content"]:
        return corpus_bodies
    schema = body["content"]["application/json"]["schema"]
    valid = from_schema(schema).map(lambda v: Body(value=v))
    return st.one_of(valid, valid, broken(schema).map(lambda v: Body(value=v)), junk)


# Placeholders for ids that exist only once the fixture ran.
CONVERSATION, TICKET = "@conversation@", "@ticket@"
PATH_VALUES = {
    "id": [
        CONVERSATION,
        TICKET,
        "invoice",
        "shipping-fee",
        "nope",
        "0-0",
        "1-1",
        "²-1",
        "١-٢",
        "1-" + "9" * 20,
    ],
    "username": ["alice", "nobody", "Alice", "alice.", "boss"],
    "shop": [SHOP, "other", "nope", "DEMO", "-x"],
}
PATH_JUNK = st.one_of(url_texts, st.sampled_from([".", "..", "a/b", "%", "?x=1", "#", "\\", "9" * 50]))
QUERY_NAMES = [
    "since",
    "until",
    "bucket",
    "agent",
    "rule",
    "q",
    "category",
    "format",
    "limit",
    "status",
    "shop",
]
QUERY_VALUES = [
    "",
    "0",
    "1",
    "-5",
    "50",
    "201",
    "2026-01-01",
    "2026-02-30",
    "1999-01-01",
    "9999-12-31",
    "1732290000000",
    "9" * 19,
    "9" * 25,
    "²",
    "١٢٣",
    "1e5",
    " 5",
    "day",
    "hour",
    "open",
    "handled",
    "all",
    "yaml",
    "csv",
    "json",
    "slow_reply",
    "包邮",
]
AUTH = ["admin"] * 6 + ["agent", "none", "garbage", "query-admin", "basic", "lowercase", "alg-none"]


class Request:
    """One generated request (rendered against the live fixture ids)."""

    __slots__ = ("auth", "body", "content_type", "path", "query")

    def __init__(
        self,
        auth: str,
        path: dict[str, str],
        query: list[tuple[str, str]],
        body: Body,
        content_type: str | None,
    ) -> None:
        self.auth = auth
        self.path = path
        self.query = query
        self.body = body
        self.content_type = content_type

    def __repr__(self) -> str:
        return (
            f"Request(auth={self.auth!r}, path={self.path!r}, query={self.query!r}, "
            f"body={self.body!r}, content_type={self.content_type!r})"
        )


@functools.cache
def requests_for(method: str, path: str) -> st.SearchStrategy[Request]:
    op = SPEC["paths"][path][method.lower()]
    names = [p["name"] for p in op.get("parameters", [])]
    params = st.fixed_dictionaries(
        {
            n: st.one_of(
                st.sampled_from(PATH_VALUES.get(n, ["x"])),
                st.sampled_from(PATH_VALUES.get(n, ["x"])),
                PATH_JUNK,
            )
            for n in names
        }
    )
    query = st.lists(
        st.tuples(st.sampled_from(QUERY_NAMES) | url_texts, st.sampled_from(QUERY_VALUES) | url_texts),
        max_size=4,
    )
    content_type = st.sampled_from(
        ["application/json", "application/json", "text/plain", None, "application/x-www-form-urlencoded"]
    )
    return st.builds(
        Request, st.sampled_from(AUTH), params, query, body_strategy(op.get("requestBody")), content_type
    )


# ---------------------------------------------------------------------------------------------
# The shop the requests hit
# ---------------------------------------------------------------------------------------------


class World:
    def __init__(self, admin: str, agent: str, conversation: str, ticket: str) -> None:
        self.admin = admin
        self.agent = agent
        self.conversation = conversation
        self.ticket = ticket

    def __repr__(self) -> str:
        return "World()"


@pytest.fixture
async def world(client: Client, redis: Redis, fast_hashing: None) -> AsyncIterator[World]:
    """An admin (boss), an agent (alice) holding a conversation, a left message, quick replies."""
    await add_agent(redis, "boss", role="admin")
    await add_agent(redis, "alice", capacity=2)
    admin, agent = await login(client, "boss"), await login(client, "alice")
    desk = Socket(await client.ws_connect("/ws/agent", params=await socket_ticket(client, agent)))
    await desk.expect("hello")
    await desk.send({"type": "status", "status": "online"})
    await desk.expect("status")
    chat = Socket(await client.ws_connect("/ws/shopper", params={"shop": SHOP}))
    await chat.expect("session")
    await chat.send({"type": "leave_message", "text": "请回电", "contact": "138 0000 0000"})
    await chat.expect("bot", event="message_left")
    await chat.send({"type": "transfer"})
    await chat.expect("agent_joined")
    conversation = (await desk.expect("assigned"))["conversation"]["id"]
    await chat.close()
    await desk.close()
    ticket = (await redis.xrange(KEYS.tickets))[0][0]
    resp = await client.put(
        "/api/admin/quick-replies",
        json={"items": [{"shortcut": "hi", "text": "您好"}]},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert resp.status == 200
    yield World(admin, agent, conversation, ticket)


def alg_none_token() -> str:
    claims = {"sub": "x", "shop": SHOP, "role": "admin", "ver": 0, "exp": int(time.time()) + 600}
    head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{body}."


def render(
    method: str, template: str, req: Request, world: World
) -> tuple[str, list[tuple[str, str]], dict[str, str]]:
    path = template
    for name, value in req.path.items():
        value = value.replace(CONVERSATION, world.conversation).replace(TICKET, world.ticket)
        if name == "username" and value == "boss" and template.endswith("/password"):
            value = "alice"  # never lock the fuzzing admin out (its token must stay good)
        path = path.replace("{" + name + "}", quote(value.encode("utf-8", "surrogatepass"), safe=""))
    query = [
        (k.encode("utf-8", "replace").decode(), v.encode("utf-8", "replace").decode()) for k, v in req.query
    ]
    headers: dict[str, str] = {}
    tokens = {
        "admin": f"Bearer {world.admin}",
        "agent": f"Bearer {world.agent}",
        "garbage": "Bearer " + quote(repr(req.query))[:80],
        "basic": "Basic " + base64.b64encode(f"boss:{PASSWORD}".encode()).decode(),
        "lowercase": f"bearer {world.admin}",
        "alg-none": f"Bearer {alg_none_token()}",
    }
    if req.auth in tokens:
        headers["Authorization"] = tokens[req.auth]
    if req.auth == "query-admin":
        query.append(("token", world.admin))
    if req.content_type:
        headers["Content-Type"] = req.content_type
    return path, query, headers


async def state(redis: Redis) -> tuple[Any, ...]:
    """Everything a failed request must leave alone."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.get(KEYS.faq)
        pipe.get(KEYS.faq_version)
        pipe.get(KEYS.config)
        pipe.get(KEYS.quick_replies)
        pipe.hgetall(KEYS.users)
        pipe.hgetall(KEYS.tickets_handled)
        pipe.xlen(KEYS.tickets)
        return tuple(await pipe.execute())


async def faq_version(client: Client, world: World) -> int:
    resp = await client.get("/api/admin/faqs", headers={"Authorization": f"Bearer {world.admin}"})
    assert resp.status == 200, await resp.text()
    return int((await resp.json())["version"])


# ---------------------------------------------------------------------------------------------
# The fuzz test
# ---------------------------------------------------------------------------------------------


async def alice_is_admin(redis: Redis) -> bool:
    raw = await redis.hget(KEYS.users, "alice")
    return raw is not None and json.loads(raw)["role"] == "admin"


async def check_one(
    client: Client,
    redis: Redis,
    server_log: ServerLog,
    world: World,
    method: str,
    template: str,
    req: Request,
) -> None:
    mark = server_log.mark()
    path, query, headers = render(method, template, req, world)
    before, version = await state(redis), await faq_version(client, world)
    resp = await client.request(method, path, params=query, data=req.body.encode(), headers=headers)
    raw = await resp.read()
    event(str(resp.status))
    assert resp.status < 500, raw[:500]
    assert server_log.problems(mark) == []
    if resp.status >= 400:
        assert resp.content_type == "application/json", (resp.status, resp.content_type, raw[:200])
        body = orjson.loads(raw)
        error = body["error"]
        assert isinstance(error["code"], str) and error["code"], body
        assert isinstance(error["message"], str) and error["message"], body
        if "details" in error:
            assert isinstance(error["details"], list), body
            for detail in error["details"]:
                assert isinstance(detail["field"], str) and isinstance(detail["message"], str), body
        assert await state(redis) == before, "a failed request changed something"
        assert await faq_version(client, world) == version
    elif resp.status != 204 and resp.content_type == "application/json":
        orjson.loads(raw)
    if (method, template) not in PUBLIC and req.auth in ("none", "garbage", "basic", "alg-none"):
        assert not 200 <= resp.status < 300, f"{req.auth} credentials got {resp.status}"
    if (method, template) in ADMIN and req.auth == "agent" and not await alice_is_admin(redis):
        assert not 200 <= resp.status < 300, f"an agent got {resp.status}"
    if template == "/api/logout" and resp.status == 204:
        # It worked: that account's tokens are over. Sign in again for the next example.
        world.admin, world.agent = await login(client, "boss"), await login(client, "alice")


API_FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
@API_FUZZ
@given(data=st.data())
async def test_every_operation_under_fuzz(
    client: Client,
    redis: Redis,
    server_log: ServerLog,
    world: World,
    method: str,
    path: str,
    data: st.DataObject,
) -> None:
    req = data.draw(requests_for(method, path), label="request")
    await check_one(client, redis, server_log, world, method, path, req)


async def test_the_live_description_lists_exactly_these(client: Client) -> None:
    served = await (await client.get("/api/openapi.json")).json()
    assert sorted((m.upper(), p) for p, ops in served["paths"].items() for m in ops) == OPERATIONS
    assert len(OPERATIONS) > 25 and ADMIN and PUBLIC


async def test_unknown_methods_and_paths_get_json_errors(client: Client, world: World) -> None:
    headers = {"Authorization": f"Bearer {world.admin}"}
    for path in SPEC["paths"]:
        concrete = path.replace("{id}", "invoice").replace("{username}", "alice").replace("{shop}", SHOP)
        for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - {m.upper() for m in SPEC["paths"][path]}:
            resp = await client.request(method, concrete, headers=headers)
            assert resp.status == 405, (method, path, resp.status)
            assert (await resp.json())["error"]["code"] == "method_not_allowed"
    for path in [
        "/api/nope",
        "/api/admin/",
        "/api/admin/faqs/a/b/c",
        "/api/%00",
        "/api/admin/faqs/" + "x" * 5000,
    ]:
        resp = await client.get(path, headers=headers)
        assert 400 <= resp.status < 500 and (await resp.json())["error"]["code"], path


# ---------------------------------------------------------------------------------------------
# The bugs the fuzzing found, spelled out
# ---------------------------------------------------------------------------------------------


REPORTS = ["GET /api/admin/stats", "GET /api/admin/qa", "POST /api/admin/qa/run"]


async def admin_headers(client: Client, redis: Redis) -> dict[str, str]:
    await add_agent(redis, "boss", role="admin")
    return {"Authorization": f"Bearer {await login(client, 'boss')}"}


async def expect_client_error(
    client: Client, server_log: ServerLog, method: str, path: str, **kwargs: Any
) -> None:
    resp = await client.request(method, path, **kwargs)
    assert 400 <= resp.status < 500, f"{method} {path[:80]}: {resp.status} {(await resp.text())[:200]}"
    assert resp.content_type == "application/json", (
        f"{resp.status} {resp.content_type}: {(await resp.text())[:100]}"
    )
    assert (await resp.json())["error"]["code"]
    assert server_log.problems() == []


@pytest.mark.parametrize(
    ("method_path", "query"),
    [
        *[(op, q) for op in REPORTS for q in ("since=²", "until=²&since=1", "since=1" + "0" * 4400)],
        ("GET /api/admin/stats", "until=" + "9" * 20),  # a 200 body orjson cannot write
    ],
    ids=lambda v: v if len(v) < 30 else f"{v[:12]}…({len(v)})",
)
async def test_period_numbers_that_are_not_ascii_or_too_big_are_a_400(
    client: Client, redis: Redis, server_log: ServerLog, method_path: str, query: str
) -> None:
    method, path = method_path.split()
    await expect_client_error(
        client, server_log, method, f"{path}?{query}", headers=await admin_headers(client, redis)
    )


@pytest.mark.parametrize("ticket", ["²-1", "1-١", "18446744073709551616-0", "1-99999999999999999999"])
async def test_ticket_ids_redis_cannot_read_are_a_404(
    client: Client, redis: Redis, server_log: ServerLog, ticket: str
) -> None:
    headers = await admin_headers(client, redis)
    await expect_client_error(
        client, server_log, "POST", f"/api/tickets/{quote(ticket)}/handle", json={}, headers=headers
    )


@pytest.mark.parametrize(
    "text",
    [
        "faqs:\n  - {id: a, question: 问题, answer: 2020-02-30}\n",
        "faqs:\n  - {id: a, question: !!int abc, answer: b}\n",
        "faqs:\n  - {id: a, question: !!bool maybe, answer: b}\n",
        "faqs:\n  - {id: a, question: !!timestamp x, answer: b}\n",
        "faqs:\n  - {id: a, question: !!int '', answer: b}\n",
        "faqs:\n  - {id: a, question: 1" + "0" * 4400 + ", answer: b}\n",
    ],
    ids=["impossible-date", "int-tag", "bool-tag", "timestamp-tag", "empty-int", "long-int"],
)
async def test_every_unreadable_yaml_file_is_a_422(
    client: Client, redis: Redis, server_log: ServerLog, text: str
) -> None:
    headers = await admin_headers(client, redis)
    version = await redis.get(KEYS.faq_version)
    await expect_client_error(
        client, server_log, "PUT", "/api/admin/corpus?format=yaml", data=text.encode(), headers=headers
    )
    assert await redis.get(KEYS.faq_version) == version


async def test_a_csv_file_with_a_huge_field_is_a_422(
    client: Client, redis: Redis, server_log: ServerLog
) -> None:
    headers = await admin_headers(client, redis)
    text = "id,question,answer\nbig,问题," + "答" * 140_000 + "\n"
    await expect_client_error(
        client, server_log, "PUT", "/api/admin/corpus?format=csv", data=text.encode(), headers=headers
    )


async def test_csv_cells_beyond_the_header_are_not_read(
    client: Client, redis: Redis, server_log: ServerLog
) -> None:
    """csv.DictReader lists them under the key None: the blank-row check once called .strip() on
    that list (a 500 for a row whose named cells are blank)."""
    headers = await admin_headers(client, redis)
    text = "id,question,answer\n,,,stray\na,问题,答案,more,cells\n"
    resp = await client.put("/api/admin/corpus?format=csv", data=text.encode(), headers=headers)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["faqs"] == 1
    assert server_log.problems() == []


async def test_a_csv_header_naming_a_column_twice_is_a_422_and_changes_nothing(
    client: Client, redis: Redis, server_log: ServerLog
) -> None:
    """DictReader keeps the last of two same-named columns: the other's text was dropped unsaid."""
    headers = await admin_headers(client, redis)
    before = await client.get("/api/admin/corpus?format=csv", headers=headers)
    text = "id,question,answer,answer\na,包邮吗,满99包邮,全国包邮\n"
    resp = await client.put("/api/admin/corpus?format=csv", data=text.encode(), headers=headers)
    assert resp.status == 422, await resp.text()
    error = (await resp.json())["error"]
    assert "answer" in error["message"] and error["details"] == [
        {"field": "", "message": "column answer appears 2 times"}
    ]
    after = await client.get("/api/admin/corpus?format=csv", headers=headers)
    assert await after.text() == await before.text()
    assert server_log.problems() == []


async def test_over_long_request_lines_and_headers_are_400s_logged_as_one_warning_a_second(
    client: Client, server_log: ServerLog, caplog: pytest.LogCaptureFixture
) -> None:
    """aiohttp's parser refuses them before any handler runs and logged each at ERROR with a
    traceback: an alert per malformed request anyone sends. Now a warning naming why, at most
    one a second, the next one counting those left out."""
    await asyncio.sleep(1.1)  # no such line in the last second (another test may have sent one)
    for kwargs in (
        {"params": {"q": "x" * 9000}},
        {"headers": {"X-Long": "y" * 9000}},
        {"params": {"r": "z" * 9000}},
    ):
        assert (await client.get("/api/me", **kwargs)).status == 400
    assert server_log.problems() == []
    refused = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [r.levelname for r in refused] == ["WARNING"]
    assert "more than 8190 bytes" in refused[0].getMessage() and refused[0].exc_info is None
    await asyncio.sleep(1.1)
    assert (await client.get("/api/me", headers={"X-Long": "y" * 9000})).status == 400
    refused = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [r.levelname for r in refused] == ["WARNING", "WARNING"]
    assert "; 2 more since the last such line" in refused[1].getMessage()
    # A new connection is served as usual.
    assert (await client.get("/healthz")).status == 200


@pytest.mark.parametrize(
    "headers",
    [{"Content-Encoding": "gzip"}, {"Content-Encoding": "deflate"}],
    ids=["gzip", "deflate"],
)
async def test_a_body_that_does_not_read_as_its_headers_say_is_a_400(
    client: Client, server_log: ServerLog, headers: dict[str, str]
) -> None:
    """It was a 500 with kefu's ERROR traceback, and aiohttp's own when it drained the body."""
    resp = await client.post("/api/login", data=b"hello, not what the headers say", headers=headers)
    assert resp.status == 400 and resp.content_type == "application/json", await resp.text()
    assert (await resp.json())["error"]["code"] == "bad_body"
    await asyncio.sleep(0.2)  # aiohttp drains the rest of the body after the response
    assert server_log.problems() == []


@pytest.mark.xfail(
    strict=True,
    reason="a request line or header over 8190 bytes is refused by aiohttp's parser before kefu's "
    "middleware, which cannot shape the answer: a text/plain 400, not kefu's JSON error",
)
async def test_an_over_long_url_gets_a_json_error(client: Client) -> None:
    resp = await client.get("/api/me", params={"q": "x" * 9000})
    assert resp.status == 400 and resp.content_type == "application/json"


# A login whose body announces 100 bytes; the tests send ten.
LOGIN_HEAD = (
    b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
)


async def raw_request(client: Client, head: bytes, body: bytes = b"") -> bytes:
    """Bytes no HTTP client library would send, on a socket of their own; the answer's bytes."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(head + body)
        await writer.drain()
        return await asyncio.wait_for(reader.read(4096), 10)
    finally:
        writer.close()


@pytest.mark.parametrize(
    "header",
    [b"Authorization: Bearer \xff\xfe", b"Origin: http://shop.example\xff", b"X-Anything: caf\xe9"],
    ids=["token", "origin", "other"],
)
async def test_a_header_that_is_not_utf8_is_a_400_not_a_500(
    client: Client, server_log: ServerLog, header: bytes
) -> None:
    """aiohttp hands such bytes on as lone surrogates, which a token check or a hash could not
    encode again: a 500 and an ERROR traceback for anyone who sent one."""
    for path in (b"/api/me", b"/api/widget/" + SHOP.encode()):
        answer = await raw_request(
            client, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n\r\n"
        )
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
        assert b'"bad_header"' in answer
    assert server_log.problems() == []


@pytest.mark.parametrize("origin", ["http://[::1", "http://]", "http://[zz]:80"])
async def test_an_origin_that_is_no_url_is_refused_not_a_500(
    client: Client, server_log: ServerLog, origin: str
) -> None:
    resp = await client.get(f"/api/widget/{SHOP}", headers={"Origin": origin})
    assert resp.status == 200 and (await resp.json())["origin_allowed"] is False
    upgrade = {
        "Origin": origin,
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Protocol": "kefu.v1",
    }
    resp = await client.get("/ws/shopper", params={"shop": SHOP}, headers=upgrade)
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "origin_not_allowed"
    assert server_log.problems() == []


async def test_a_body_that_never_arrives_times_out(
    client: Client, server_log: ServerLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that announces a body and sends nothing more held the request (and its
    socket) forever; now a 408 after BODY_TIMEOUT_S."""
    monkeypatch.setattr("kefu.server.api.BODY_TIMEOUT_S", 0.3)
    answer = await raw_request(client, LOGIN_HEAD, b'{"shop": "')
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"request_timeout"' in answer
    assert server_log.problems() == []


@pytest.fixture
async def served(settings: Settings, shop: str) -> AsyncIterator[tuple[str, int]]:
    """The app served as `kefu serve` serves it (aiohttp's test server cancels a handler whose
    client left; `web.run_app` lets it run on), on a free port."""
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][:2]
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
async def test_a_client_that_leaves_mid_body_is_one_info_line(
    served: tuple[str, int], server_log: ServerLog, reset: bool
) -> None:
    """A client that closes (or resets) its connection before the announced body has arrived
    was an ERROR with a traceback per request: nobody is left to answer, so one info line."""
    host, port = served
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(LOGIN_HEAD + b'{"shop": "')
    await writer.drain()
    await asyncio.sleep(0.1)  # the handler is reading the body
    if reset:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()
    for _ in range(100):
        if server_log.seen("request_abandoned") or server_log.problems():
            break
        await asyncio.sleep(0.05)
    assert server_log.problems() == []
    assert [e["path"] for e in server_log.events if e["event"] == "request_abandoned"] == ["/api/login"]
    # The next client is served as before.
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET /api/widget/{SHOP} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.1 200")
    writer.close()
