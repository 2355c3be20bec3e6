"""The shopper socket, `GET /ws/shopper?shop=SHOP[&last_id=ID][&lang=zh|en]`, the session
token (to resume a chat) offered as the subprotocol `kefu.session.TOKEN` beside `kefu.v1`:
where a shopper's frame enters the server (the bot's turn is turn.py)."""

from __future__ import annotations

import functools
from typing import Any

import structlog
from aiohttp import web
from structlog.contextvars import bound_contextvars

from kefu.errors import Conflict, InvalidInput, NotFound
from kefu.ids import valid_shop_id
from kefu.server import frames, wire
from kefu.server.appkeys import context_key
from kefu.server.conns import ShopperConn, send
from kefu.server.context import Context
from kefu.server.delivery import TRANSCRIPT_LINES
from kefu.server.identity import verified_customer
from kefu.server.learning import WATCH_TURNS
from kefu.server.security import check_origin, url_on_allowed_origin
from kefu.server.sockets import check_text, offered_session_token, opening, serve, websocket
from kefu.server.turn import acked, bot_turn, quick_turn, transfer
from kefu.store.events import LogWritten, Typing, publish
from kefu.store.log import is_stream_id
from kefu.store.sessions import Conversation, Opened, Sessions, now_ms
from kefu.store.shops import ShopConfig

__all__ = ["shopper_socket"]

log = structlog.get_logger(__name__)


def _language(request: web.Request) -> str:
    lang = request.query.get("lang", "")
    if lang in ("zh", "en"):
        return lang
    accept = request.headers.get("Accept-Language", "").lower()
    return "en" if accept.startswith("en") else "zh"


async def shopper_socket(request: web.Request) -> web.StreamResponse:
    ctx = request.app[context_key]
    ws = websocket(ctx.settings)
    client = ctx.guard.client(request)
    # Refused before anything is read or stored: one address holds a bounded number of sockets.
    with ctx.guard.socket("shopper", client, ctx.metrics.sockets_refused.labels("shopper").inc):
        async with opening(request, ws):
            shop = request.query.get("shop", "")
            if not valid_shop_id(shop) or not await ctx.shop_exists(shop):
                raise NotFound(f"no shop {shop!r}", code="unknown_shop")
            config = await ctx.config(shop)
            check_origin(request, config.allowed_origins or ctx.settings.allowed_origins)
            last_id = request.query.get("last_id") or None
            if last_id is not None and not is_stream_id(last_id):
                raise InvalidInput(
                    "last_id must be a message id like 1732290000000-0", code="invalid_last_id"
                )
            if "token" in request.query:
                # A session token in a URL ends up in proxy logs and browser history.
                raise InvalidInput(
                    "send the session token as the subprotocol kefu.session.TOKEN, never in the URL",
                    code="token_in_url",
                )
            lang = _language(request)
            customer = await verified_customer(ctx, request, shop, config, client)
            # One round trip: the session resumed, or created with its greeting — a new one refused
            # before the upgrade (429) past the client's budget: one address cannot mint sessions
            # by the thousand.
            opened = await ctx.sessions(shop).open(
                offered_session_token(request),
                lang=lang,
                group=config.default_group,
                greeting=(config.greeting.get(lang), {"decision": "greeting", "transfer": True}),
                client=client,
                sessions_per_window=ctx.settings.sessions_per_client_per_min,
                window_s=60,
                last_id=last_id,
                history=TRANSCRIPT_LINES,
                presence_ttl_s=ctx.settings.shopper_grace_s,
                customer=customer,
            )
            await ws.prepare(request)
            conn = ShopperConn(ws=ws, shop=shop, session_id=opened.session_id, lang=lang, client=client)
            conn.customer = customer[0] if customer else None
            conn.origin = request.headers.get("Origin")
            ctx.delivery.add(conn)
            with bound_contextvars(shop=shop, session_id=opened.session_id):
                try:
                    await _opened(ctx, conn, config, opened, last_id, customer)
                    log.info("shopper_connected", resumed=opened.resumed)
                    await serve(conn, ctx.settings, functools.partial(_handle, ctx, conn))
                finally:
                    ctx.delivery.discard(conn)
                    log.info("shopper_disconnected", code=ws.close_code)
    return ws


async def _opened(
    ctx: Context,
    conn: ShopperConn,
    config: ShopConfig,
    opened: Opened,
    last_id: str | None,
    customer: tuple[str, str] | None,
) -> None:
    """The socket's first write: `session`, then the greeting (a new chat) or what was said
    after `last_id` (a resumed one); the queue or agent state follows."""
    frames: list[Any] = [
        wire.session(opened.session_id, opened.token, resumed=opened.resumed, customer=customer)
    ]
    if opened.expired:
        frames.append(wire.error("session_expired", "that chat has expired; a new one began"))
    if opened.resumed:
        lines = [wire.line(e, config, conn.lang) for e in opened.entries if e.event != "product"]
        frames.append(wire.history(lines))
    else:
        frames += [f for e in opened.entries if (f := wire.shopper_frame(e, config, conn.lang))]
        ctx.metrics.delivered(conn.shop, "bot").inc()  # the greeting
    conversation = opened.conversation
    async with conn.lock:
        conn.last_id = opened.entries[-1].id if opened.entries else last_id
        if conversation is not None:
            conn.conversation_id, conn.state = conversation.id, conversation.state
            conn.told = (conversation.state, None) if conversation.state in ("bot", "closed") else None
        await send(conn.ws, wire.batch(frames))
        conn.ready = True
    if conn.told is None:
        # Waiting or with an agent: the position or the agent's name.
        await ctx.delivery.shopper(conn, tell_state=True)


# Frames that store a line or begin a conversation spend the session's and the client's message
# budgets: a loop of close and transfer would otherwise mint a 90-day conversation per frame.
# (A product view spends them too, when it changes; a close stores nothing new and a rating
# is once per conversation: both stay free, so nobody behind a busy address is kept from
# ending a chat.)
_STORED = (frames.ShopperMessage, frames.ShopperTransfer)


async def _handle(ctx: Context, conn: ShopperConn, raw: str) -> None:
    frame = frames.parse_shopper(raw)
    sessions = ctx.sessions(conn.shop)
    if isinstance(frame, _STORED):
        ctx.guard.message(conn.session_id, conn.client)
    if isinstance(frame, frames.ShopperMessage | frames.ShopperTransfer | frames.LeaveMessage):
        if not conn.spoke:
            # The shopper acts: this is a conversation now, kept for its full life.
            await sessions.spoke(conn.session_id)
            conn.spoke = True
    if isinstance(frame, frames.Ping):
        await send(conn.ws, wire.pong())
    elif isinstance(frame, frames.ShopperMessage):
        await _message(ctx, conn, sessions, frame)
    elif isinstance(frame, frames.ShopperTransfer):
        await transfer(ctx, conn, sessions, await _open_conversation(ctx, conn, sessions))
    elif isinstance(frame, frames.ShopperTyping):
        await _typing(ctx, conn, sessions)
    elif isinstance(frame, frames.LeaveMessage):
        await _leave_message(ctx, conn, sessions, frame)
    elif isinstance(frame, frames.Rate):
        await _rate(ctx, conn, sessions, frame)
    elif isinstance(frame, frames.ShopperProduct):
        await _product(ctx, conn, sessions, frame.product)
    else:
        await _close(ctx, conn, sessions)


async def _typing(ctx: Context, conn: ShopperConn, sessions: Sessions) -> None:
    conversation = await sessions.current(conn.session_id)
    if conversation is not None and conversation.state == "assigned":
        event = Typing(
            sender="shopper",
            session_id=conn.session_id,
            conversation_id=conversation.id,
            agent_id=conversation.agent,
        )
        await publish(ctx.redis, conn.shop, event)


async def _close(ctx: Context, conn: ShopperConn, sessions: Sessions) -> None:
    conversation = await sessions.current(conn.session_id)
    if conversation is None or conversation.state == "closed":
        raise Conflict("the conversation is already closed", code="already_closed")
    if conversation.state == "queued" and await ctx.queue(conn.shop).dequeue(conversation.id) == "left":
        # Leaving the queue is not ending the chat: back with the bot, the shop's own words.
        await ctx.delivery.shopper(conn)
        return
    if (await ctx.queue(conn.shop).close(conversation.id, "shopper")).status == "closed":
        ctx.metrics.conversation_duration.labels(conn.shop).observe(
            max(0, now_ms() - conversation.created) / 1000
        )
    await ctx.delivery.shopper(conn)


async def _open_conversation(ctx: Context, conn: ShopperConn, sessions: Sessions) -> Conversation:
    """The current conversation; after one closed, a new one with the bot begins."""
    conversation = None
    if conn.conversation_id is not None:
        conversation = await sessions.conversation(conn.conversation_id)
    if conversation is None or conversation.state == "closed":
        # Another tab may have begun the next one already.
        conversation = await sessions.current(conn.session_id)
    if conversation is None or conversation.state == "closed":
        config = await ctx.config(conn.shop)
        conversation = await sessions.new_conversation(
            conn.session_id, lang=conn.lang, group=config.default_group
        )
    conn.conversation_id, conn.state = conversation.id, conversation.state
    return conversation


async def _message(ctx: Context, conn: ShopperConn, sessions: Sessions, frame: frames.ShopperMessage) -> None:
    check_text(frame.text, ctx.settings)
    matched = None
    if conn.state == "bot" and conn.conversation_id is not None and frame.pick is None:
        matched = await quick_turn(ctx, conn, sessions, frame)
        if matched is None:
            return
    conversation = await _open_conversation(ctx, conn, sessions)
    if conversation.state == "bot":
        picked = None
        if frame.pick is not None:
            config = await ctx.config(conn.shop)
            picked = await ctx.learning(conn.shop).picked(
                sessions, conversation, frame.pick, auto_approve=config.learn_auto_approve
            )
        await bot_turn(ctx, conn, sessions, conversation, frame, matched)
        if picked is not None:
            await sessions.set_fields(conversation.id, learn_pick=picked, learn_watch=WATCH_TURNS)
        return
    notify = None
    if conversation.state == "assigned":
        notify = LogWritten(
            session_id=conn.session_id, conversation_id=conversation.id, agent_id=conversation.agent
        )
    stored = await sessions.append(
        conn.session_id,
        conversation.id,
        "shopper",
        frame.text,
        client_msg_id=frame.client_msg_id,
        notify=notify,
    )
    assert stored is not None
    await acked(ctx, conn, frame, stored)


async def _leave_message(
    ctx: Context, conn: ShopperConn, sessions: Sessions, frame: frames.LeaveMessage
) -> None:
    check_text(frame.text, ctx.settings)
    await ctx.limits(conn.shop).take(
        "tickets",
        conn.client,
        limit=ctx.settings.tickets_per_client_per_hour,
        window_s=3600,
        message="too many messages left from your network; try again later",
    )
    conversation = await _open_conversation(ctx, conn, sessions)
    await ctx.tickets(conn.shop).add(
        session_id=conn.session_id,
        conversation_id=conversation.id,
        text=frame.text,
        contact=frame.contact,
        lang=conn.lang,
    )
    await sessions.incr(conversation.id, "messages_left")
    await sessions.append(conn.session_id, conversation.id, "system", "", extra={"event": "message_left"})
    await ctx.delivery.shopper(conn)


async def _product(ctx: Context, conn: ShopperConn, sessions: Sessions, product: frames.ProductView) -> None:
    """The shopper is on a product's page: the agent sees it (a card, and a line in the
    transcript); the bot prefers that product's FAQ entries. Only a change is written, within
    the session's message budget. A link to a site that is neither the page's nor one the shop
    allows is dropped (an error frame says so)."""
    if conn.product is not None and product.id == conn.product[0]:
        return
    ctx.guard.message(conn.session_id, conn.client)
    if conn.product is None:
        # A new socket of the session (a reload, a reconnect) telling what it was told before:
        # remembered, nothing written again.
        known = (await sessions.shopper(conn.session_id)).product
        if known is not None and known.get("id") == product.id:
            conn.product = (product.id, product.title)
            return
    conn.product = (product.id, product.title)
    view = product.model_dump(mode="json", exclude_none=True)
    config = await ctx.config(conn.shop)
    foreign = "url" in view and not url_on_allowed_origin(
        view["url"], conn.origin, config.allowed_origins or ctx.settings.allowed_origins
    )
    if foreign:
        # The agent sees the card without a link to a site the shop never named.
        del view["url"]
        refusal = wire.error(
            "product_url_not_allowed",
            "the product's url must be on the page's own origin or one the shop allows; "
            "the product was kept without it",
            in_reply_to={"type": "product"},
        )
        await send(conn.ws, refusal)
    await sessions.set_product(conn.session_id, view)
    # Noted in the current conversation, even a closed one: looking is not asking, and begins
    # no conversation (the next thing the shopper says does).
    conversation = await sessions.current(conn.session_id)
    if conversation is None:
        return
    notify = None
    if conversation.state == "assigned":
        notify = LogWritten(
            session_id=conn.session_id, conversation_id=conversation.id, agent_id=conversation.agent
        )
    await sessions.append(
        conn.session_id,
        conversation.id,
        "system",
        "",
        extra={"event": "product", "product": view},
        notify=notify,
    )


async def _rate(ctx: Context, conn: ShopperConn, sessions: Sessions, frame: frames.Rate) -> None:
    conversation = await sessions.current(conn.session_id)
    if conversation is None or conversation.state != "closed":
        raise Conflict("only a closed conversation can be rated", code="not_closed")
    if conversation.rating is not None:
        raise Conflict("this conversation was already rated", code="already_rated")
    await sessions.set_fields(
        conversation.id, rating=frame.score, rated_at=now_ms(), rating_comment=(frame.comment or "")[:1000]
    )
    ctx.metrics.ratings.labels(conn.shop, str(frame.score)).inc()
    await sessions.append(conn.session_id, conversation.id, "system", "", extra={"event": "rated"})
    await ctx.delivery.shopper(conn)
