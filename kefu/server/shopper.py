"""The shopper socket, `GET /ws/shopper?shop=SHOP[&token=TOKEN][&last_id=ID][&lang=zh|en]`:
where a shopper's frame enters the server, meets the bot, and asks for a human."""

from __future__ import annotations

import datetime as dt

import structlog
from aiohttp import WSCloseCode, WSMsgType, web
from redis.exceptions import RedisError
from structlog.contextvars import bound_contextvars

from kefu.errors import Conflict, InvalidInput, NotFound, RateLimited, RequestError
from kefu.faq.matcher import Decision
from kefu.server import frames
from kefu.server.appkeys import bots_key, hub_key, redis_key, settings_key
from kefu.server.bot import compose_reply, miss_key
from kefu.server.errors import frame_for, unavailable_frame
from kefu.server.hub import Hub, ShopperConn
from kefu.server.learning import WATCH_TURNS
from kefu.server.security import TokenBucket, check_origin
from kefu.store.events import LogWritten, Typing, publish
from kefu.store.log import is_stream_id
from kefu.store.sessions import Conversation, Sessions, Stored, now_ms
from kefu.store.shops import ShopConfig, shop_exists, valid_shop_id
from kefu.store.tickets import Tickets

__all__ = ["shopper_socket"]

log = structlog.get_logger(__name__)

# A socket whose frames keep hitting an empty rate bucket is a flood: close it.
_FLOOD_STRIKES = 50


def _language(request: web.Request) -> str:
    lang = request.query.get("lang", "")
    if lang in ("zh", "en"):
        return lang
    accept = request.headers.get("Accept-Language", "").lower()
    return "en" if accept.startswith("en") else "zh"


async def shopper_socket(request: web.Request) -> web.StreamResponse:
    settings = request.app[settings_key]
    redis = request.app[redis_key]
    hub = request.app[hub_key]
    shop = request.query.get("shop", "")
    if not valid_shop_id(shop) or not await shop_exists(redis, shop):
        raise NotFound(f"no shop {shop!r}", code="unknown_shop")
    config = await hub.config(shop)
    check_origin(request, config.allowed_origins or settings.allowed_origins)
    last_id = request.query.get("last_id") or None
    if last_id is not None and not is_stream_id(last_id):
        raise InvalidInput("last_id must be a message id like 1732290000000-0", code="invalid_last_id")
    token = request.query.get("token") or None
    lang = _language(request)

    ws = hub.websocket()
    await ws.prepare(request)
    sessions = hub.sessions(shop)
    session_id = await sessions.resume(token) if token else None
    resumed = session_id is not None
    expired = token is not None and not resumed
    if session_id is None:
        session_id, token, _ = await sessions.create(lang=lang, group=config.default_group)
    conn = ShopperConn(ws=ws, shop=shop, session_id=session_id, lang=lang)
    hub.add(conn)
    with bound_contextvars(shop=shop, session_id=session_id):
        try:
            await hub.touch(conn)
            async with conn.lock:
                await hub.send(
                    ws, {"type": "session", "session_id": session_id, "token": token, "resumed": resumed}
                )
                if expired:
                    await hub.send(
                        ws, frames.error_frame("session_expired", "that chat has expired; a new one began")
                    )
                if resumed:
                    await _send_history(hub, conn, sessions, config, last_id)
                conn.ready = True
            if resumed:
                await hub.deliver_shopper(conn, tell_state=True)
            else:
                await _greet(hub, conn, sessions, config)
            log.info("shopper_connected", resumed=resumed)
            await _serve(request, hub, conn)
        finally:
            hub.discard(conn)
            log.info("shopper_disconnected", code=ws.close_code)
    return ws


async def _send_history(
    hub: Hub, conn: ShopperConn, sessions: Sessions, config: ShopConfig, last_id: str | None
) -> None:
    """What the shopper had been shown after `last_id` (or everything); the state follows."""
    entries = await sessions.entries(conn.session_id, last_id)
    await hub.send(
        conn.ws, {"type": "history", "messages": [hub.history_item(e, config, conn.lang) for e in entries]}
    )
    conn.last_id = entries[-1].id if entries else (last_id or await sessions.last_id(conn.session_id))


async def _greet(hub: Hub, conn: ShopperConn, sessions: Sessions, config: ShopConfig) -> None:
    conversation = await sessions.current(conn.session_id)
    assert conversation is not None
    await sessions.append(
        conn.session_id,
        conversation.id,
        "bot",
        config.greeting.get(conn.lang),
        extra={"decision": "greeting", "transfer": True},
    )
    await hub.deliver_shopper(conn)


async def _serve(request: web.Request, hub: Hub, conn: ShopperConn) -> None:
    settings = request.app[settings_key]
    bucket = TokenBucket(settings.rate_burst, settings.rate_per_s)
    async for msg in conn.ws:
        if msg.type == WSMsgType.TEXT:
            try:
                bucket.take()
                await _handle(request, hub, conn, msg.data)
            except RateLimited as exc:
                if bucket.strikes >= _FLOOD_STRIKES:
                    await conn.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"flood")
                    break
                await hub.send(conn.ws, frame_for(exc, msg.data))
            except RequestError as exc:
                await hub.send(conn.ws, frame_for(exc, msg.data))
            except (RedisError, OSError) as exc:
                await hub.send(conn.ws, unavailable_frame(exc, msg.data))
        elif msg.type == WSMsgType.BINARY:
            await hub.send(conn.ws, frames.error_frame("invalid_frame", "binary frames are not supported"))
        elif msg.type == WSMsgType.ERROR:
            log.info("shopper_socket_error", error=str(conn.ws.exception()))


async def _handle(request: web.Request, hub: Hub, conn: ShopperConn, raw: str) -> None:
    frame = frames.parse_shopper(raw)
    sessions = hub.sessions(conn.shop)
    if isinstance(frame, frames.Ping):
        await hub.send(conn.ws, {"type": "pong"})
    elif isinstance(frame, frames.ShopperMessage):
        await _message(request, hub, conn, sessions, frame)
    elif isinstance(frame, frames.ShopperTransfer):
        await _transfer(request, hub, conn, sessions, await _open_conversation(hub, conn, sessions))
    elif isinstance(frame, frames.ShopperTyping):
        await _typing(hub, conn, sessions)
    elif isinstance(frame, frames.LeaveMessage):
        await _leave_message(request, hub, conn, sessions, frame)
    elif isinstance(frame, frames.Rate):
        await _rate(hub, conn, sessions, frame)
    else:
        await _close(hub, conn, sessions)


async def _typing(hub: Hub, conn: ShopperConn, sessions: Sessions) -> None:
    conversation = await sessions.current(conn.session_id)
    if conversation is not None and conversation.state == "assigned":
        event = Typing(
            sender="shopper",
            session_id=conn.session_id,
            conversation_id=conversation.id,
            agent_id=conversation.agent,
        )
        await publish(hub.redis, conn.shop, event)


async def _close(hub: Hub, conn: ShopperConn, sessions: Sessions) -> None:
    conversation = await sessions.current(conn.session_id)
    if conversation is None or conversation.state == "closed":
        raise Conflict("the conversation is already closed", code="already_closed")
    if (await hub.queue(conn.shop).close(conversation.id, "shopper")).status == "closed":
        hub.metrics.conversation_duration.labels(conn.shop).observe(
            max(0, now_ms() - conversation.created) / 1000
        )
    await hub.deliver_shopper(conn)


async def _open_conversation(hub: Hub, conn: ShopperConn, sessions: Sessions) -> Conversation:
    """The current conversation; after one closed, a new one with the bot begins."""
    conversation = None
    if conn.conversation_id is not None:
        conversation = await sessions.conversation(conn.conversation_id)
    if conversation is None or conversation.state == "closed":
        # Another tab may have begun the next one already.
        conversation = await sessions.current(conn.session_id)
    if conversation is None or conversation.state == "closed":
        config = await hub.config(conn.shop)
        conversation = await sessions.new_conversation(
            conn.session_id, lang=conn.lang, group=config.default_group
        )
    conn.conversation_id = conversation.id
    return conversation


async def _message(
    request: web.Request, hub: Hub, conn: ShopperConn, sessions: Sessions, frame: frames.ShopperMessage
) -> None:
    limit = request.app[settings_key].max_text_chars
    if len(frame.text) > limit:
        raise InvalidInput(f"message longer than {limit} characters", code="text_too_long")
    conversation = await _open_conversation(hub, conn, sessions)
    if conversation.state == "bot":
        picked = None
        if frame.pick is not None:
            config = await hub.config(conn.shop)
            picked = await hub.learning(conn.shop).picked(
                sessions, conversation, frame.pick, auto_approve=config.learn_auto_approve
            )
        await _bot_turn(request, hub, conn, sessions, conversation, frame)
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
    await _acked(hub, conn, frame, stored)


async def _acked(hub: Hub, conn: ShopperConn, frame: frames.ShopperMessage, stored: Stored) -> None:
    await hub.send(conn.ws, {"type": "ack", "client_msg_id": frame.client_msg_id, "id": stored.id})
    if stored.duplicate:
        # A resend: the reply (if any) was already written; make sure this socket has it.
        await hub.deliver_shopper(conn)
    else:
        hub.metrics.messages_in.labels(conn.shop, "shopper").inc()


async def _bot_turn(
    request: web.Request,
    hub: Hub,
    conn: ShopperConn,
    sessions: Sessions,
    conversation: Conversation,
    frame: frames.ShopperMessage,
) -> None:
    """Match, then store the question and the reply in one step, ack, deliver."""
    config = await hub.config(conn.shop)
    matcher = await request.app[bots_key].matcher(conn.shop)
    result = matcher.match(frame.text)
    hub.metrics.bot_decisions.labels(conn.shop, result.decision.value).inc()
    if conversation.learn_pick and frame.pick is None:
        await _watch_pick(
            hub,
            conn,
            sessions,
            conversation,
            retract=result.decision == Decision.TRANSFER or result.dissatisfied,
        )
    if result.decision == Decision.TRANSFER:
        stored = await sessions.append(
            conn.session_id, conversation.id, "shopper", frame.text, client_msg_id=frame.client_msg_id
        )
        assert stored is not None
        await _acked(hub, conn, frame, stored)
        if not stored.duplicate:
            await _transfer(request, hub, conn, sessions, conversation)
        return
    lang = "en" if result.language == "en" else "zh"
    reply = compose_reply(result, config, lang)
    if reply.suggestions:
        hub.metrics.suggestions_shown.labels(conn.shop).inc()
    missed = reply.decision in ("fallback", "suggest")
    conn.misses = conn.misses + 1 if missed else 0 if reply.decision == "answer" else conn.misses
    replies = [(reply.text, reply.extra(transfer=True))]
    if missed and config.auto_offer_after and conn.misses >= config.auto_offer_after:
        conn.misses = 0
        replies.append((config.offer_transfer.get(lang), {"decision": "notice", "transfer": True}))
    stored, written = await sessions.bot_turn(
        conn.session_id,
        conversation.id,
        frame.client_msg_id,
        frame.text,
        replies,
        miss=miss_key(frame.text) if missed else None,
    )
    await _acked(hub, conn, frame, stored)
    if not stored.duplicate and not written:
        # An agent took the chat between our look and our write: tell the agent's socket.
        await publish(
            hub.redis, conn.shop, LogWritten(session_id=conn.session_id, conversation_id=conversation.id)
        )
    await hub.deliver_shopper(conn)


async def _watch_pick(
    hub: Hub, conn: ShopperConn, sessions: Sessions, conversation: Conversation, *, retract: bool
) -> None:
    """One more message after a picked suggestion: a request for a human or "that was wrong"
    takes the learned vote back; after WATCH_TURNS quiet messages it stands."""
    assert conversation.learn_pick is not None
    if retract:
        await hub.learning(conn.shop).settle(conversation.learn_pick, conn.session_id, retract=True)
    if retract or conversation.learn_watch <= 1:
        await sessions.set_fields(conversation.id, learn_pick="", learn_watch=0)
    else:
        await sessions.incr(conversation.id, "learn_watch", -1)


async def _transfer(
    request: web.Request, hub: Hub, conn: ShopperConn, sessions: Sessions, conversation: Conversation
) -> None:
    """Ask for a human: assigned at once, queued with a position, or the offline notice."""
    if conversation.learn_pick:
        await _watch_pick(hub, conn, sessions, conversation, retract=True)
    config = await hub.config(conn.shop)
    if (
        conversation.state == "bot"
        and config.business_hours
        and not config.business_hours.is_open(dt.datetime.now(dt.UTC))
    ):
        status = "offline"
        await sessions.incr(conversation.id, "offline_notices")
    else:
        result = await hub.queue(conn.shop).request(conversation.id, config.default_group)
        status = result.status
    hub.metrics.transfers.labels(conn.shop, status).inc()
    if status == "offline":
        hub.metrics.offline_notices.labels(conn.shop).inc()
        await sessions.append(conn.session_id, conversation.id, "system", "", extra={"event": "offline"})
    log.info("transfer_requested", conversation_id=conversation.id, result=status)
    await hub.deliver_shopper(conn, tell_state=status.startswith("already_"))


async def _leave_message(
    request: web.Request, hub: Hub, conn: ShopperConn, sessions: Sessions, frame: frames.LeaveMessage
) -> None:
    settings = request.app[settings_key]
    if len(frame.text) > settings.max_text_chars:
        raise InvalidInput(f"message longer than {settings.max_text_chars} characters", code="text_too_long")
    conversation = await _open_conversation(hub, conn, sessions)
    await Tickets(hub.redis, conn.shop).add(
        session_id=conn.session_id,
        conversation_id=conversation.id,
        text=frame.text,
        contact=frame.contact,
        lang=conn.lang,
    )
    await sessions.incr(conversation.id, "messages_left")
    await sessions.append(conn.session_id, conversation.id, "system", "", extra={"event": "message_left"})
    await hub.deliver_shopper(conn)


async def _rate(hub: Hub, conn: ShopperConn, sessions: Sessions, frame: frames.Rate) -> None:
    conversation = await sessions.current(conn.session_id)
    if conversation is None or conversation.state != "closed":
        raise Conflict("only a closed conversation can be rated", code="not_closed")
    if conversation.rating is not None:
        raise Conflict("this conversation was already rated", code="already_rated")
    await sessions.set_fields(
        conversation.id, rating=frame.score, rated_at=now_ms(), rating_comment=(frame.comment or "")[:1000]
    )
    hub.metrics.ratings.labels(conn.shop, str(frame.score)).inc()
    await sessions.append(conn.session_id, conversation.id, "system", "", extra={"event": "rated"})
    await hub.deliver_shopper(conn)
