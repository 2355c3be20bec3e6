"""The agent socket, `GET /ws/agent?token=TOKEN`: status, messages, close and transfer, each
checked against what the agent holds in its own shop."""

from __future__ import annotations

import time

import structlog
from aiohttp import WSCloseCode, WSMsgType, web
from redis.exceptions import RedisError
from structlog.contextvars import bound_contextvars

from kefu.errors import Conflict, InvalidInput, RateLimited, RequestError
from kefu.server import frames
from kefu.server.api import current_user
from kefu.server.appkeys import hub_key, settings_key
from kefu.server.errors import frame_for, unavailable_frame
from kefu.server.hub import AgentConn, Hub
from kefu.server.security import TokenBucket, check_origin
from kefu.store.accounts import User
from kefu.store.events import LogWritten, Typing, publish
from kefu.store.keys import ShopKeys

__all__ = ["agent_socket"]

log = structlog.get_logger(__name__)


async def agent_socket(request: web.Request) -> web.StreamResponse:
    settings = request.app[settings_key]
    hub = request.app[hub_key]
    shop, user = await current_user(request)  # refused before the upgrade
    check_origin(request, settings.allowed_origins)
    ws = hub.websocket()
    await ws.prepare(request)
    conn = AgentConn(ws=ws, shop=shop, agent_id=user.id, name=user.name)
    hub.add(conn)
    with bound_contextvars(shop=shop, agent_id=user.id):
        try:
            await hub.touch(conn)
            await _hello(hub, conn, user)
            # Back within the grace period and still online: waiting shoppers may take the slots
            # (after `hello`, so each such chat arrives as `assigned`, with its alert).
            await hub.queue(shop).set_agent(user.id)
            log.info("agent_connected")
            await _serve(request, hub, conn)
        finally:
            hub.discard(conn)
            log.info("agent_disconnected", code=ws.close_code)
    return ws


async def _hello(hub: Hub, conn: AgentConn, user: User) -> None:
    """Send `hello` with what the agent holds now; only then may live frames follow (the lock
    keeps deliveries out until the socket is ready, and they start from `conn.known`)."""
    keys = ShopKeys(conn.shop)
    async with conn.lock:
        status = await hub.redis.hget(keys.agent(user.id), "status") or "offline"
        conversations = []
        for conversation_id in sorted(
            str(c) for c in await hub.redis.smembers(keys.agent_conversations(user.id))
        ):
            frame = await hub.assigned_frame(conn.shop, conversation_id)
            if frame is not None:
                conversation = frame["conversation"]
                transcript = conversation["transcript"]
                conn.known[conversation_id] = (
                    conversation["shopper"]["session_id"],
                    transcript[-1]["id"] if transcript else None,
                )
                conversations.append(conversation)
        queue = await hub.queue_frame(conn.shop)
        hello = {
            "type": "hello",
            "agent": {
                "id": user.id,
                "name": user.name,
                "username": user.username,
                "role": user.role,
                "status": status,
                "capacity": user.capacity,
                "groups": user.groups,
            },
            "conversations": conversations,
            "queue": {"waiting": queue["waiting"], "groups": queue["groups"]},
            "groups": (await hub.config(conn.shop)).groups,
        }
        await hub.send(conn.ws, hello)
        conn.ready = True
    # Whatever changed while `hello` was on its way reaches the socket now.
    await hub.deliver_agent(conn)


async def _serve(request: web.Request, hub: Hub, conn: AgentConn) -> None:
    settings = request.app[settings_key]
    bucket = TokenBucket(settings.rate_burst, settings.rate_per_s)
    async for msg in conn.ws:
        if msg.type == WSMsgType.TEXT:
            try:
                bucket.take()
                await _handle(request, hub, conn, msg.data)
            except RateLimited as exc:
                if bucket.strikes >= 50:
                    await conn.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"flood")
                    break
                await hub.send(conn.ws, frame_for(exc, msg.data))
            except RequestError as exc:
                await hub.send(conn.ws, frame_for(exc, msg.data))
            except (RedisError, OSError) as exc:
                await hub.send(conn.ws, unavailable_frame(exc, msg.data))
        elif msg.type == WSMsgType.BINARY:
            await hub.send(conn.ws, frames.error_frame("invalid_frame", "binary frames are not supported"))


async def _handle(request: web.Request, hub: Hub, conn: AgentConn, raw: str) -> None:
    frame = frames.parse_agent(raw)
    if isinstance(frame, frames.Ping):
        await hub.send(conn.ws, {"type": "pong"})
    elif isinstance(frame, frames.AgentStatus):
        await _status(hub, conn, frame)
    elif isinstance(frame, frames.AgentMessage):
        limit = request.app[settings_key].max_text_chars
        if len(frame.text) > limit:
            raise InvalidInput(f"message longer than {limit} characters", code="text_too_long")
        await _message(hub, conn, frame)
    elif isinstance(frame, frames.AgentTyping):
        session = await _owned_session(hub, conn, frame.conversation_id)
        event = Typing(sender="agent", session_id=session, conversation_id=frame.conversation_id)
        await publish(hub.redis, conn.shop, event)
    elif isinstance(frame, frames.AgentClose):
        await _close(hub, conn, frame)
    else:
        await _transfer(hub, conn, frame)


async def _status(hub: Hub, conn: AgentConn, frame: frames.AgentStatus) -> None:
    slots = await hub.queue(conn.shop).set_agent(conn.agent_id, status=frame.status)
    await hub.send(
        conn.ws,
        {"type": "status", "status": slots.status, "capacity": slots.capacity, "active": slots.active},
    )
    log.info("agent_status", status=slots.status)
    await hub.deliver_agent(conn)


async def _close(hub: Hub, conn: AgentConn, frame: frames.AgentClose) -> None:
    result = await hub.queue(conn.shop).close(frame.conversation_id, "agent", owner=conn.agent_id)
    if result.status != "closed":
        raise Conflict("this conversation is not assigned to you", code="not_assigned")
    created = await hub.redis.hget(ShopKeys(conn.shop).conversation(frame.conversation_id), "created")
    if created:
        duration = max(0, time.time() * 1000 - int(created)) / 1000
        hub.metrics.conversation_duration.labels(conn.shop).observe(duration)
    await hub.deliver_agent(conn)


async def _transfer(hub: Hub, conn: AgentConn, frame: frames.AgentTransfer) -> None:
    if frame.group not in (await hub.config(conn.shop)).groups:
        raise InvalidInput(f"no skill group {frame.group!r}", code="unknown_group")
    moved = await hub.queue(conn.shop).regroup(frame.conversation_id, conn.agent_id, frame.group)
    if moved.status == "not_yours":
        raise Conflict("this conversation is not assigned to you", code="not_assigned")
    if moved.status == "no_agents":
        raise Conflict(f"no agent of {frame.group!r} is online", code="no_agents")
    await hub.send(
        conn.ws,
        {
            "type": "transferred",
            "conversation_id": frame.conversation_id,
            "group": frame.group,
            "status": moved.status,
        },
    )
    await hub.deliver_agent(conn)


async def _owned_session(hub: Hub, conn: AgentConn, conversation_id: str) -> str:
    keys = ShopKeys(conn.shop)
    state, agent, session = await hub.redis.hmget(
        keys.conversation(conversation_id), "state", "agent", "session"
    )
    if state != "assigned" or agent != conn.agent_id or not session:
        raise Conflict("this conversation is not assigned to you", code="not_assigned")
    return str(session)


async def _message(hub: Hub, conn: AgentConn, frame: frames.AgentMessage) -> None:
    session = await _owned_session(hub, conn, frame.conversation_id)
    sessions = hub.sessions(conn.shop)
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
        hub.metrics.messages_in.labels(conn.shop, "agent").inc()
        keys = ShopKeys(conn.shop)
        sent_at = int(stored.id.split("-")[0])
        if await hub.redis.hsetnx(keys.conversation(frame.conversation_id), "first_reply_at", sent_at):
            assigned = await hub.redis.hget(keys.conversation(frame.conversation_id), "assigned_at")
            if assigned:
                hub.metrics.first_response.labels(conn.shop).observe(max(0, sent_at - int(assigned)) / 1000)
    await hub.send(conn.ws, {"type": "ack", "client_msg_id": frame.client_msg_id, "id": stored.id})
