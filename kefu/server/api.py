"""The JSON API every signed-in user has (login, me, quick replies, tickets, transcripts), the
health check and the OpenAPI document. Admin endpoints live in admin_api.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
from typing import Annotated, Any, Literal, TypeVar

import orjson
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from redis.exceptions import OutOfMemoryError, RedisError

from kefu import __version__
from kefu.errors import (
    ClientLeft,
    Forbidden,
    InvalidInput,
    NotFound,
    RequestError,
    RequestTimedOut,
    TooLarge,
    Unauthorized,
    Unprocessable,
)
from kefu.server import wire
from kefu.server.appkeys import (
    context_key,
    loops_key,
    metrics_key,
    passwords_key,
    redis_key,
    routes_key,
    scripts_key,
    settings_key,
    signer_key,
)
from kefu.server.openapi import ApiRoutes
from kefu.server.security import check_origin
from kefu.store.accounts import (
    Accounts,
    Claims,
    User,
    UserView,
    add_credential_failure,
    check_credential_failures,
)
from kefu.store.client import probe_writes
from kefu.store.shops import shop_exists
from kefu.store.tickets import Ticket, Tickets

# How long a request body may take to arrive (a corpus upload of a few MiB takes well under).
BODY_TIMEOUT_S = 30.0
# The largest body any route takes (an orders batch).
MAX_BODY_BYTES = 8 << 20

log = structlog.get_logger(__name__)

__all__ = [
    "MAX_BODY_BYTES",
    "QuickReplies",
    "QuickReply",
    "current_user",
    "read_json",
    "require_admin",
    "routes",
]

routes = ApiRoutes()
M = TypeVar("M", bound=BaseModel)


# ---- helpers ----


async def read_json(request: web.Request, model: type[M], *, limit: int = 1 << 20) -> M:
    """The request body as `model`: 400 for a body that is not JSON, 422 naming each invalid field."""
    body = await _body(request, limit)
    if len(body) > _INLINE_JSON_BYTES:
        # A big body (an orders batch: 500 orders, each of up to 100 items) is a good part of a
        # second to validate: off the event loop.
        return await asyncio.to_thread(_parsed, body, model)
    return _parsed(body, model)


# Bodies up to this size are parsed on the event loop (well under a millisecond).
_INLINE_JSON_BYTES = 64 << 10


def _parsed(body: bytes, model: type[M]) -> M:
    try:
        data = orjson.loads(body or b"null")
    except orjson.JSONDecodeError:
        raise InvalidInput("body is not valid JSON", code="invalid_json") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Unprocessable.from_validation(
            exc, "invalid request", field=lambda loc: ".".join(loc) or "body"
        ) from None


async def read_text(request: web.Request, *, limit: int = 4 << 20) -> str:
    body = await _body(request, limit)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("body is not UTF-8 text", code="invalid_encoding") from None


async def _body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"body larger than {limit} bytes")
    try:
        # A client that announces a body and never sends it would hold the request forever. Read
        # as it comes, refused as soon as it passes the route's limit (the app's own limit is
        # the largest route's).
        async with asyncio.timeout(BODY_TIMEOUT_S):
            chunks, size = [], 0
            async for chunk in request.content.iter_any():
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"body larger than {limit} bytes")
                chunks.append(chunk)
            body = b"".join(chunks)
    except TimeoutError:
        if request.transport is None or request.transport.is_closing():
            raise ClientLeft from None  # the connection timed out, not the wait
        raise RequestTimedOut(f"the body did not arrive within {BODY_TIMEOUT_S:g} s") from None
    except OSError:
        # Reset, broken, unreachable: the body read touches nothing but the client's connection.
        raise ClientLeft from None
    return body


async def current_login(request: web.Request) -> tuple[Claims, User]:
    """The verified claims and the user of the bearer token. Only the `Authorization` header
    carries it: a token in a URL ends up in proxy logs and browser history."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not token:
        raise Unauthorized("log in first: no token (send Authorization: Bearer …)", code="token_missing")
    claims = request.app[signer_key].verify(token)
    user = await Accounts(request.app[redis_key], claims.shop).authenticate(claims)
    return claims, user


async def current_user(request: web.Request) -> tuple[str, User]:
    """(shop, user) of the bearer token."""
    claims, user = await current_login(request)
    return claims.shop, user


async def require_admin(request: web.Request) -> tuple[str, User]:
    shop, user = await current_user(request)
    if user.role != "admin":
        raise Forbidden("this needs an admin account", code="admin_only")
    return shop, user


def json_response(data: Any, *, status: int = 200) -> web.Response:
    payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


# ---- models ----


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shop: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class LoginAnswer(BaseModel):
    token: str
    expires_at: int
    shop: str
    user: UserView


class Me(BaseModel):
    shop: str
    user: UserView


class QuickReply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shortcut: Annotated[str, StringConstraints(strip_whitespace=True, max_length=30)] = ""
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class QuickReplies(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[QuickReply] = Field(max_length=200)


class TicketList(BaseModel):
    items: list[Ticket]


class HandleTicket(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = None


class WidgetInfo(BaseModel):
    shop: str
    name: str
    # Whether a human could answer now (an agent online, within business hours).
    agents_online: bool
    # Whether this page's Origin may open the shopper socket (None: the request had no Origin).
    origin_allowed: bool | None
    # Whether a signed-in customer whose hash does not verify is refused (else: anonymous), so
    # that the widget reads a failing socket of a signed-in customer right.
    refuses_unverified: bool = False


class ConversationView(BaseModel):
    conversation: dict[str, Any]
    transcript: list[dict[str, Any]]


# ---- public ----


@routes.route(
    "POST",
    "/api/login",
    summary="Log in; answers a bearer token",
    access="public",
    body=LoginRequest,
    response=LoginAnswer,
)
async def login(request: web.Request) -> web.Response:
    body = await read_json(request, LoginRequest)
    redis = request.app[redis_key]
    settings = request.app[settings_key]
    passwords = request.app[passwords_key]
    client = request.app[context_key].guard.client(request)
    try:
        passwords.check_room()  # before any work: a flood is turned away for the least cost
        if not await shop_exists(redis, body.shop):
            # Same answer, in the same time, as a wrong password: do not reveal which shops exist.
            await check_credential_failures(redis, client, limit=settings.login_client_max_failures)
            await passwords.verify(None, body.password)
            await add_credential_failure(redis, client, lockout_s=settings.login_lockout_s)
            raise Unauthorized("wrong username or password", code="bad_credentials")
        user = await Accounts(redis, body.shop, passwords, request.app[scripts_key]).login(
            body.username,
            body.password,
            client=client,
            max_failures=settings.login_max_failures,
            lockout_s=settings.login_lockout_s,
            client_max_failures=settings.login_client_max_failures,
        )
    except RequestError as exc:
        # Who tried what, for the operator (the client as its keyed hash, like every limit).
        log.warning(
            "login_failed", shop=body.shop[:64], username=body.username[:64], client=client, reason=exc.code
        )
        raise
    token, expires = request.app[signer_key].issue(user, body.shop)
    return json_response(LoginAnswer(token=token, expires_at=expires, shop=body.shop, user=user.view()))


@routes.route("GET", "/healthz", summary="Liveness and Redis reachability", access="public")
async def healthz(request: web.Request) -> web.Response:
    ctx = request.app[context_key]
    loops = request.app[loops_key]
    events = loops.health.get("events")
    body: dict[str, Any] = {
        "status": "ok",
        "sockets": len(ctx.registry.sockets),
        "events": bool(events and events.ok),
        "loops": loops.report(),
    }
    if loops.failing():
        body["status"] = "degraded"
    # A write, not a PING: a full Redis (maxmemory, noeviction) answers PING and refuses writes.
    # The reason is said in a word; addresses and server messages stay in the log.
    try:
        await probe_writes(request.app[redis_key])
    except OutOfMemoryError as exc:
        log.warning("health_redis_full", error=str(exc))
        body.update(status="unavailable", redis="full")
        return json_response(body, status=503)
    except (RedisError, OSError) as exc:
        log.warning("health_redis_failed", error=f"{type(exc).__name__}: {exc}")
        body.update(status="unavailable", redis="unreachable")
        return json_response(body, status=503)
    body["redis"] = "ok"
    return json_response(body)


@routes.route(
    "GET",
    "/metrics",
    summary="Prometheus metrics of this instance (Bearer KEFU_METRICS_TOKEN; off without one)",
    access="public",
    response="text/plain",
)
async def metrics(request: web.Request) -> web.Response:
    settings = request.app[settings_key]
    # Metrics name every shop and its volumes: never public. Without a token they are off.
    if not settings.metrics_token:
        raise Forbidden("metrics are off: set KEFU_METRICS_TOKEN and scrape with it", code="metrics_off")
    given = request.headers.get("Authorization", "").encode()
    if not hmac.compare_digest(given, f"Bearer {settings.metrics_token}".encode()):
        raise Unauthorized("metrics need the KEFU_METRICS_TOKEN bearer token", code="token_missing")
    body = request.app[metrics_key].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@routes.route("GET", "/api/openapi.json", summary="This API, described as OpenAPI 3.1", access="public")
async def openapi(request: web.Request) -> web.Response:
    return json_response(request.app[routes_key].openapi(title="kefu", version=__version__))


@routes.route(
    "GET",
    "/api/widget/{shop}",
    summary="What the widget may show before connecting",
    access="public",
    response=WidgetInfo,
)
async def widget_info(request: web.Request) -> web.Response:
    """Public and harmless: lets the widget say why it cannot connect (unknown shop, origin)."""
    redis = request.app[redis_key]
    shop = request.match_info["shop"]
    if not await shop_exists(redis, shop):
        raise NotFound(f"no shop {shop!r}", code="unknown_shop")
    config = await request.app[context_key].config(shop)
    origin = request.headers.get("Origin")
    allowed = None
    if origin is not None:
        try:
            check_origin(request, config.allowed_origins or request.app[settings_key].allowed_origins)
            allowed = True
        except Forbidden:
            allowed = False
    online = await request.app[context_key].queue(shop).anyone_online()
    if config.business_hours is not None and not config.business_hours.is_open(dt.datetime.now(dt.UTC)):
        online = False
    info = WidgetInfo(
        shop=shop,
        name=config.name,
        agents_online=online,
        origin_allowed=allowed,
        refuses_unverified=config.commerce.refuse_unverified,
    )
    response = json_response(info)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


# ---- every signed-in user ----


@routes.route("GET", "/api/me", summary="Who the token belongs to", response=Me)
async def me(request: web.Request) -> web.Response:
    shop, user = await current_user(request)
    return json_response(Me(shop=shop, user=user.view()))


class SocketTicket(BaseModel):
    ticket: str
    expires_in: int


@routes.route(
    "POST",
    "/api/socket-ticket",
    summary="A single-use ticket (good for 30 s) that opens one agent socket: /ws/agent?ticket=…",
    response=SocketTicket,
)
async def socket_ticket(request: web.Request) -> web.Response:
    claims, _ = await current_login(request)
    signer = request.app[signer_key]
    return json_response(SocketTicket(ticket=signer.ticket(claims), expires_in=signer.TICKET_TTL_S))


@routes.route(
    "POST",
    "/api/logout",
    summary="Log out everywhere: its tokens stop, its sockets close, its chats go back to the queue",
    status=204,
)
async def logout(request: web.Request) -> web.Response:
    shop, user = await current_user(request)
    ctx = request.app[context_key]
    await Accounts(ctx.redis, shop, scripts=ctx.scripts).sign_out(user.username)
    await ctx.queue(shop).leave(user.id, "logout")
    return web.Response(status=204)


@routes.route("GET", "/api/quick-replies", summary="The shop's quick replies (常用语)", response=QuickReplies)
async def quick_replies(request: web.Request) -> web.Response:
    shop, _ = await current_user(request)
    raw = await request.app[context_key].shop(shop).quick_replies()
    return json_response(QuickReplies.model_validate_json(raw) if raw else QuickReplies(items=[]))


@routes.route(
    "GET", "/api/tickets", summary="Messages shoppers left while nobody was online", response=TicketList
)
async def tickets(request: web.Request) -> web.Response:
    shop, _ = await current_user(request)
    status = request.query.get("status", "open")
    if status not in ("open", "handled", "all"):
        raise InvalidInput("status is open, handled or all", code="invalid_status")
    items = await Tickets(request.app[redis_key], shop).list()
    if status != "all":
        items = [t for t in items if t.handled == (status == "handled")]
    return json_response(TicketList(items=items))


@routes.route(
    "POST",
    "/api/tickets/{id}/handle",
    summary="Mark a left message handled",
    body=HandleTicket,
    response=Ticket,
)
async def handle_ticket(request: web.Request) -> web.Response:
    shop, user = await current_user(request)
    body = await read_json(request, HandleTicket)
    ticket_id = request.match_info["id"]
    by = {"id": user.id, "name": user.name}
    ticket = await Tickets(request.app[redis_key], shop).handle(ticket_id, by=by, note=body.note)
    if ticket is None:
        raise NotFound(f"no ticket {ticket_id!r}")
    return json_response(ticket)


@routes.route(
    "GET",
    "/api/conversations/{id}",
    summary="A conversation's record and transcript",
    response=ConversationView,
)
async def conversation(request: web.Request) -> web.Response:
    shop, user = await current_user(request)
    conversation_id = request.match_info["id"]
    ctx = request.app[context_key]
    data = await ctx.sessions(shop).record(conversation_id)
    if not data:
        raise NotFound(f"no conversation {conversation_id!r}")
    if user.role != "admin" and data.get("agent") != user.id:
        raise Forbidden("only the agent holding this conversation (or an admin) may read it")
    config = await ctx.config(shop)
    lang: Literal["zh", "en"] = "en" if data.get("lang") == "en" else "zh"
    entries = await ctx.sessions(shop).transcript(data["session"], conversation_id)
    # Off the event loop: a whole transcript may be 2,000 lines of 2,000 characters.
    return await asyncio.to_thread(
        lambda: json_response(
            ConversationView(conversation=data, transcript=[wire.line(e, config, lang) for e in entries])
        )
    )
