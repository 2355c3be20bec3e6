"""The commerce endpoints: the shop's systems send orders (with the shop's orders API key),
admins see and rotate the shop's identity secret and API key, and an agent reads the customer
beside a conversation it holds. docs/api.md, "Orders and identity"."""

from __future__ import annotations

import hmac
import time
from typing import Annotated, Any, Literal

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from kefu.errors import Conflict, Forbidden, NotFound, Unauthorized
from kefu.ids import valid_shop_id
from kefu.reports.sales import sold
from kefu.server.api import MAX_BODY_BYTES, current_user, json_response, read_json, require_admin
from kefu.server.appkeys import context_key
from kefu.server.context import Context
from kefu.server.openapi import ApiRoutes
from kefu.store.accounts import add_credential_failure, check_credential_failures
from kefu.store.commerce import Customer, Order, Put, StoredOrder, key_matches
from kefu.store.shops import ShopConfig

__all__ = ["ingest", "routes"]

log = structlog.get_logger(__name__)

routes = ApiRoutes()

# One batch at most: what a shop's export job sends in one request.
BATCH_MAX = 500


class OrderResult(BaseModel):
    id: str
    # stale: that version (or a newer one) was stored already — nothing changed; conflict (in a
    # batch only; alone it is a 409): the id belongs to another customer.
    result: Literal["created", "updated", "stale", "conflict"]


class OrderBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    orders: Annotated[list[Order], Field(min_length=1, max_length=BATCH_MAX)]


class OrderResults(BaseModel):
    results: list[OrderResult]


class CommerceSecrets(BaseModel):
    # What the shop's server signs customer ids with (docs/api.md shows how).
    identity_secret: str
    # Whether an orders API key was made (the key itself is shown once, when made).
    api_key_set: bool


class IdentitySecret(BaseModel):
    identity_secret: str


class ApiKey(BaseModel):
    api_key: str


class PastConversation(BaseModel):
    id: str
    created: int
    state: str
    agent: str | None = None
    rating: int | None = None
    closed_by: str | None = None


class CustomerView(BaseModel):
    """Who the shopper of a conversation is, beside the chat: the signed-in customer (None:
    anonymous), the product they last looked at, their orders and earlier conversations."""

    customer: Customer | None
    product: dict[str, Any] | None
    orders: list[StoredOrder]
    conversations: list[PastConversation]


async def ingest(ctx: Context, shop: str, config: ShopConfig, order: Order) -> Put:
    """Store one order version the way the API and `kefu orders import` both do."""
    put = await ctx.commerce(shop).put_order(order, config)
    ctx.metrics.orders.labels(shop, put.result).inc()
    if put.attributed_to and sold(order.status) and not sold(put.previous_status):
        handler = "bot" if put.attributed_to == "bot" else "agent"
        ctx.metrics.attributed_orders.labels(shop, handler).inc()
        ctx.metrics.attributed_sales.labels(shop, handler).inc(float(order.amount))
    return put


async def _shop_key(request: web.Request) -> str:
    """The shop of the path, if the request carries its orders API key: 401 without a valid
    key, 403 with another shop's. A wrong key counts as a failed credential of the client (as a
    wrong password does); past the client's limit, wrong keys get 429 before the other-shop
    lookup. The shop's own key always passes: it is 256 bits, what the limit bounds is the cost
    of trying."""
    shop = request.match_info["shop"]
    ctx = request.app[context_key]
    if not valid_shop_id(shop) or not await ctx.shop_exists(shop):
        raise NotFound(f"no shop {shop!r}", code="unknown_shop")
    header = request.headers.get("Authorization", "")
    key = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not key:
        raise Unauthorized(
            "send the shop's orders API key as Authorization: Bearer …", code="api_key_missing"
        )
    if key_matches(await ctx.api_key_hash(shop), key):
        return shop
    client = ctx.guard.client(request)
    await check_credential_failures(ctx.redis, client, limit=ctx.settings.login_client_max_failures)
    # kefu_<shop>.<secret>: a valid key of another shop is a 403, anything else a 401.
    owner = key.removeprefix("kefu_").partition(".")[0]
    if owner != shop and valid_shop_id(owner) and await ctx.commerce(owner).check_api_key(key):
        raise Forbidden("that API key belongs to another shop", code="wrong_shop")
    await add_credential_failure(ctx.redis, client, lockout_s=ctx.settings.login_lockout_s)
    log.warning("api_key_invalid", shop=shop, client=client)
    raise Unauthorized("that is not this shop's orders API key", code="api_key_invalid")


def _conflict(order: Order) -> Conflict:
    return Conflict(
        f"order {order.id!r} belongs to another customer; an order's customer never changes",
        code="order_customer_changed",
    )


@routes.route(
    "POST",
    "/api/shops/{shop}/orders",
    summary="Send one version of an order (idempotent by id and version)",
    access="shop_key",
    body=Order,
    response=OrderResult,
)
async def post_order(request: web.Request) -> web.Response:
    shop = await _shop_key(request)
    ctx = request.app[context_key]
    order = await read_json(request, Order, limit=256 << 10)
    put = await ingest(ctx, shop, await ctx.config(shop), order)
    if put.result == "conflict":
        raise _conflict(order)
    return json_response(OrderResult(id=order.id, result=put.result))


@routes.route(
    "POST",
    "/api/shops/{shop}/orders/batch",
    summary=f"Send up to {BATCH_MAX} order versions at once (all validated before any is stored)",
    access="shop_key",
    body=OrderBatch,
    response=OrderResults,
)
async def post_orders(request: web.Request) -> web.Response:
    shop = await _shop_key(request)
    ctx = request.app[context_key]
    batch = await read_json(request, OrderBatch, limit=MAX_BODY_BYTES)
    config = await ctx.config(shop)
    results = []
    for order in batch.orders:
        put = await ingest(ctx, shop, config, order)
        results.append(OrderResult(id=order.id, result=put.result))
    return json_response(OrderResults(results=results))


class DemoClaim(BaseModel):
    id: str
    name: str
    hash: str
    # The claim's expiry (Unix seconds), signed with the id: a day from the request, as a
    # shop's server would sign one for each page it renders.
    exp: int


# How long the demo page's claim lasts.
DEMO_CLAIM_S = 24 * 3600


@routes.route(
    "GET",
    "/api/shops/{shop}/demo-customer",
    summary="`kefu serve --demo` only: the signed-in customer the demo shop page may pretend to be",
    access="public",
    response=DemoClaim,
)
async def demo_customer(request: web.Request) -> web.Response:
    shop = request.match_info["shop"]
    ctx = request.app[context_key]
    expires = int(time.time()) + DEMO_CLAIM_S
    claim = await ctx.commerce(shop).demo_claim(expires) if valid_shop_id(shop) else None
    if claim is None:
        raise NotFound("no demo customer here (only a shop set up by `kefu serve --demo` has one)")
    return json_response(DemoClaim(id=claim[0], name=claim[1], hash=claim[2], exp=expires))


@routes.route(
    "GET",
    "/api/admin/commerce",
    summary="The shop's identity secret, and whether an orders API key exists",
    access="admin",
    response=CommerceSecrets,
)
async def get_secrets(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    commerce = request.app[context_key].commerce(shop)
    return json_response(
        CommerceSecrets(
            identity_secret=await commerce.identity_secret(),
            api_key_set=await commerce.api_key_hash() is not None,
        )
    )


@routes.route(
    "POST",
    "/api/admin/commerce/identity-secret",
    summary="A new identity secret (every customer hash made with the old one stops verifying)",
    access="admin",
    response=IdentitySecret,
)
async def rotate_identity_secret(request: web.Request) -> web.Response:
    shop, user = await require_admin(request)
    secret = await request.app[context_key].commerce(shop).rotate_identity_secret()
    log.info("identity_secret_rotated", shop=shop, by=user.id)
    return json_response(IdentitySecret(identity_secret=secret))


@routes.route(
    "POST",
    "/api/admin/commerce/api-key",
    summary="A new orders API key, shown this once (the old one stops working)",
    access="admin",
    response=ApiKey,
)
async def rotate_api_key(request: web.Request) -> web.Response:
    shop, user = await require_admin(request)
    ctx = request.app[context_key]
    key = await ctx.commerce(shop).rotate_api_key()
    ctx.forget_config(shop)  # here at once; the other instances on the event
    log.info("api_key_rotated", shop=shop, by=user.id)
    return json_response(ApiKey(api_key=key))


@routes.route(
    "GET",
    "/api/conversations/{id}/customer",
    summary="The customer beside a conversation: identity, product, orders, earlier chats",
    response=CustomerView,
)
async def conversation_customer(request: web.Request) -> web.Response:
    shop, user = await current_user(request)
    ctx = request.app[context_key]
    conversation_id = request.match_info["id"]
    sessions = ctx.sessions(shop)
    conversation = await sessions.conversation(conversation_id)
    if conversation is None:
        raise NotFound(f"no conversation {conversation_id!r}")
    if user.role != "admin" and not hmac.compare_digest(conversation.agent or "", user.id):
        raise Forbidden("only the agent holding this conversation (or an admin) may see its customer")
    shopper = await sessions.shopper(conversation.session)
    customer = None
    orders: list[StoredOrder] = []
    if shopper.customer is not None:
        commerce = ctx.commerce(shop)
        customer_id = shopper.customer["id"]
        customer = await commerce.customer(customer_id) or Customer(
            id=customer_id, name=shopper.customer["name"]
        )
        orders = await commerce.orders_of(customer_id)
    past = [
        PastConversation(
            id=c.id, created=c.created, state=c.state, agent=c.agent, rating=c.rating, closed_by=c.closed_by
        )
        for c in await sessions.conversations_of(conversation.session)
        if c.id != conversation_id
    ]
    return json_response(
        CustomerView(customer=customer, product=shopper.product, orders=orders, conversations=past)
    )
