"""One shape for both websockets: the response every socket starts as, and the serve loop —
rate limit, flood close, and each failure mapped to an error frame — written once."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import WSCloseCode, WSMsgType, web
from redis.exceptions import RedisError

from kefu.errors import InvalidInput, RateLimited, RequestError
from kefu.server import wire
from kefu.server.conns import Conn, ShopperConn, send
from kefu.server.errors import frame_for, incomplete_frame, unavailable, unavailable_frame
from kefu.server.security import TokenBucket
from kefu.settings import Settings

__all__ = ["check_text", "opening", "serve", "websocket"]

log = structlog.get_logger(__name__)

# A socket whose frames keep hitting an empty rate bucket is a flood: close it.
FLOOD_STRIKES = 50


# The subprotocol kefu's clients offer (and the server picks); a shopper's session token rides
# beside it as "kefu.session.TOKEN", so it never travels in a URL.
SUBPROTOCOL = "kefu.v1"
SESSION_PROTOCOL = "kefu.session."


def offered_session_token(request: web.Request) -> str | None:
    """The session token a shopper's socket offers as a subprotocol, if any."""
    for offered in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
        offered = offered.strip()
        if offered.startswith(SESSION_PROTOCOL) and len(offered) <= 200:
            return offered[len(SESSION_PROTOCOL) :] or None
    return None


def websocket(settings: Settings) -> web.WebSocketResponse:
    """The response every socket starts as, shopper or agent."""
    return web.WebSocketResponse(
        protocols=(SUBPROTOCOL,),
        heartbeat=settings.heartbeat_s,
        # aiohttp refuses a message of max_msg_size bytes too; frames *over* the limit close with
        # 1009 (docs/protocol.md), one of exactly max_frame_bytes is read.
        max_msg_size=settings.max_frame_bytes + 1,
        compress=False,
        timeout=5.0,
    )


@contextlib.asynccontextmanager
async def opening(request: web.Request, ws: web.WebSocketResponse) -> AsyncIterator[None]:
    """Wrap a socket handler: when Redis fails (full, or not answering) before the socket is
    serving, the client still gets the upgrade, one `unavailable` error frame saying why, and a
    close with 1013 (try again later) at once, instead of a bare 503 a browser cannot read or a
    socket left hanging. Refusals of the request itself (4xx) pass through."""
    try:
        yield
    except (RedisError, OSError) as exc:
        log.warning("socket_open_failed", error=f"{type(exc).__name__}: {exc}")
        with contextlib.suppress(Exception):
            if not ws.prepared:
                await ws.prepare(request)
            if not ws.closed:
                await send(ws, frame_for(unavailable(exc)))
                await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"unavailable")


def check_text(text: str, settings: Settings) -> None:
    """Every message text, whoever sends it, is at most `max_text_chars` long."""
    if len(text) > settings.max_text_chars:
        raise InvalidInput(f"message longer than {settings.max_text_chars} characters", code="text_too_long")


async def serve(conn: Conn, settings: Settings, handle: Callable[[str], Awaitable[None]]) -> None:
    """Read frames until the socket closes; each goes to `handle`. A refused frame gets an error
    frame naming it and the socket stays open; Redis not answering is `unavailable`."""
    bucket = TokenBucket(settings.rate_burst, settings.rate_per_s)
    async for msg in conn.ws:
        if msg.type == WSMsgType.TEXT:
            if isinstance(conn, ShopperConn):
                conn.acked = None
            try:
                bucket.take()
                await handle(msg.data)
            except RateLimited as exc:
                if bucket.strikes >= FLOOD_STRIKES:
                    await conn.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"flood")
                    break
                await send(conn.ws, frame_for(exc, msg.data))
            except RequestError as exc:
                await send(conn.ws, frame_for(exc, msg.data))
            except (RedisError, OSError) as exc:
                if isinstance(conn, ShopperConn) and conn.acked is not None:
                    # The message is stored and was acked: "unavailable" (nothing was done)
                    # would be a lie. What should have followed comes with the next catch-up.
                    conn.behind = True
                    await send(conn.ws, incomplete_frame(exc, msg.data))
                else:
                    await send(conn.ws, unavailable_frame(exc, msg.data))
        elif msg.type == WSMsgType.BINARY:
            await send(conn.ws, wire.error("invalid_frame", "binary frames are not supported"))
        elif msg.type == WSMsgType.ERROR:
            log.info("socket_error", error=str(conn.ws.exception()))
