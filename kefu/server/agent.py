"""The agent socket, `GET /ws/agent?ticket=TICKET` (a single-use ticket from
`POST /api/socket-ticket`, never the login token): status, messages, close and transfer, each
checked against what the agent holds in its own shop. The socket closes with 4001 when the
login behind it ends (logout, disabled, password reset, token expiry)."""

from __future__ import annotations

import functools

import structlog
from aiohttp import web
from structlog.contextvars import bound_contextvars

from kefu.errors import Conflict, InvalidInput, Unauthorized
from kefu.server import frames, wire
from kefu.server.appkeys import context_key, redis_key, signer_key
from kefu.server.auth import TokenSigner
from kefu.server.conns import AgentConn, send
from kefu.server.context import Context
from kefu.server.security import check_origin
from kefu.server.sockets import check_text, opening, serve, websocket
from kefu.store.accounts import Accounts, Claims, User
from kefu.store.events import LogWritten, Typing, publish
from kefu.store.sessions import now_ms

__all__ = ["agent_socket"]

log = structlog.get_logger(__name__)


async def agent_socket(request: web.Request) -> web.StreamResponse:
    ctx = request.app[context_key]
    ws = websocket(ctx.settings)
    client = ctx.guard.client(request)
    with ctx.guard.socket("agent", client, ctx.metrics.sockets_refused.labels("agent").inc):
        async with opening(request, ws):
            # Both refused before the upgrade; a foreign page's attempt spends no ticket.
            check_origin(request, ctx.settings.allowed_origins)
            claims, user = await _ticket_holder(request)
            shop = claims.shop
            await ws.prepare(request)
            conn = AgentConn(
                ws=ws,
                shop=shop,
                agent_id=user.id,
                name=user.name,
                username=user.username,
                token_version=claims.ver,
                expires_at=float(claims.aexp or claims.exp),
            )
            ctx.delivery.add(conn)
            with bound_contextvars(shop=shop, agent_id=user.id):
                try:
                    await ctx.delivery.touch(conn)
                    await _hello(ctx, conn, user)
                    # Back within the grace period and still online: waiting shoppers may take the slots
                    # (after `hello`, so each such chat arrives as `assigned`, with its alert).
                    await ctx.queue(shop).set_agent(user.id)
                    log.info("agent_connected")
                    await serve(conn, ctx.settings, functools.partial(_handle, ctx, conn))
                finally:
                    ctx.delivery.discard(conn)
                    log.info("agent_disconnected", code=ws.close_code)
    return ws


async def _ticket_holder(request: web.Request) -> tuple[Claims, User]:
    """The account a socket ticket speaks for; each ticket opens one socket, once."""
    ticket = request.query.get("ticket", "")
    if not ticket:
        raise Unauthorized("a socket ticket is needed (POST /api/socket-ticket)", code="ticket_missing")
    claims = request.app[signer_key].verify(ticket, typ="socket")
    accounts = Accounts(request.app[redis_key], claims.shop)
    assert claims.jti is not None
    if not await accounts.use_ticket(claims.jti, TokenSigner.TICKET_TTL_S * 2):
        raise Unauthorized("this socket ticket was already used", code="ticket_used")
    return claims, await accounts.authenticate(claims)


async def _hello(ctx: Context, conn: AgentConn, user: User) -> None:
    """Send `hello` with what the agent holds now; only then may live frames follow (the lock
    keeps deliveries out until the socket is ready, and they start from `conn.known`)."""
    queue = ctx.queue(conn.shop)
    async with conn.lock:
        conversations = []
        for conversation_id in sorted(await queue.held(user.id)):
            view = await ctx.delivery.conversation_view(conn.shop, conversation_id)
            if view is None:
                # Its record expired while held (no idle close): let go of the slot it took.
                await queue.close(conversation_id, "agent", owner=user.id)
                continue
            ctx.delivery.remember(conn, view)
            conversations.append(view)
        status = await queue.agent_status(user.id)
        agent = {
            "id": user.id,
            "name": user.name,
            "username": user.username,
            "role": user.role,
            "status": status,
            "capacity": user.capacity,
            "groups": user.groups,
        }
        config = await ctx.config(conn.shop)
        queue_frame = await ctx.delivery.queue_frame(conn.shop)
        await send(
            conn.ws,
            wire.hello(
                agent,
                conversations,
                queue_frame,
                groups=config.groups,
                group_names=config.group_names,
                timezone=config.timezone,
            ),
        )
        conn.ready = True
    # Whatever changed while `hello` was on its way reaches the socket now.
    await ctx.delivery.agent(conn)


async def _handle(ctx: Context, conn: AgentConn, raw: str) -> None:
    frame = frames.parse_agent(raw)
    if isinstance(frame, frames.Ping):
        await send(conn.ws, wire.pong())
    elif isinstance(frame, frames.AgentStatus):
        await _status(ctx, conn, frame)
    elif isinstance(frame, frames.AgentMessage):
        check_text(frame.text, ctx.settings)
        await _message(ctx, conn, frame)
    elif isinstance(frame, frames.AgentTyping):
        session = await _owned_session(ctx, conn, frame.conversation_id)
        event = Typing(sender="agent", session_id=session, conversation_id=frame.conversation_id)
        await publish(ctx.redis, conn.shop, event)
    elif isinstance(frame, frames.AgentClose):
        await _close(ctx, conn, frame)
    else:
        await _transfer(ctx, conn, frame)


async def _status(ctx: Context, conn: AgentConn, frame: frames.AgentStatus) -> None:
    slots = await ctx.queue(conn.shop).set_agent(conn.agent_id, status=frame.status)
    await send(conn.ws, wire.status(slots.status, slots.capacity, slots.active))
    log.info("agent_status", status=slots.status)
    await ctx.delivery.agent(conn)


async def _close(ctx: Context, conn: AgentConn, frame: frames.AgentClose) -> None:
    result = await ctx.queue(conn.shop).close(frame.conversation_id, "agent", owner=conn.agent_id)
    if result.status != "closed":
        raise Conflict("this conversation is not assigned to you", code="not_assigned")
    conversation = await ctx.sessions(conn.shop).conversation(frame.conversation_id)
    if conversation is not None and conversation.created:
        duration = max(0, now_ms() - conversation.created) / 1000
        ctx.metrics.conversation_duration.labels(conn.shop).observe(duration)
    await ctx.delivery.agent(conn)


async def _transfer(ctx: Context, conn: AgentConn, frame: frames.AgentTransfer) -> None:
    if frame.group not in (await ctx.config(conn.shop)).groups:
        raise InvalidInput(f"no skill group {frame.group!r}", code="unknown_group")
    moved = await ctx.queue(conn.shop).regroup(frame.conversation_id, conn.agent_id, frame.group)
    if moved.status == "not_yours":
        raise Conflict("this conversation is not assigned to you", code="not_assigned")
    if moved.status == "no_agents":
        raise Conflict(f"no agent of {frame.group!r} is online", code="no_agents")
    await send(conn.ws, wire.transferred(frame.conversation_id, frame.group, moved.status))
    await ctx.delivery.agent(conn)


async def _owned_session(ctx: Context, conn: AgentConn, conversation_id: str) -> str:
    conversation = await ctx.sessions(conn.shop).conversation(conversation_id)
    if conversation is None or conversation.state != "assigned" or conversation.agent != conn.agent_id:
        raise Conflict("this conversation is not assigned to you", code="not_assigned")
    return conversation.session


async def _message(ctx: Context, conn: AgentConn, frame: frames.AgentMessage) -> None:
    session = await _owned_session(ctx, conn, frame.conversation_id)
    sessions = ctx.sessions(conn.shop)
    stored = await sessions.append(
        session,
        frame.conversation_id,
        "agent",
        frame.text,
        client_msg_id=f"{conn.agent_id}:{frame.client_msg_id}",
        require_state="assigned",
        require_agent=conn.agent_id,
        notify=LogWritten(session_id=session, conversation_id=frame.conversation_id),
        extra={"agent_id": conn.agent_id, "agent_name": conn.name},
    )
    if stored is None:
        raise Conflict("this conversation is not assigned to you", code="not_assigned")
    if not stored.duplicate:
        ctx.metrics.received(conn.shop, "agent").inc()
        sent_at = int(stored.id.split("-")[0])
        assigned_at = await sessions.first_reply(frame.conversation_id, sent_at)
        if assigned_at:
            ctx.metrics.first_response.labels(conn.shop).observe(max(0, sent_at - assigned_at) / 1000)
    await send(conn.ws, wire.ack(frame.client_msg_id, stored.id))
