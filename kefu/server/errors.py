"""The one place errors become responses: RequestError → JSON 4xx, Redis not answering → 503,
a client gone mid-request → one info line, anything else → JSON 500."""

from __future__ import annotations

import re
from typing import Any

import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from redis.exceptions import OutOfMemoryError, RedisError, ResponseError

from kefu.errors import ClientLeft, InvalidInput, RateLimited, RequestError, Unavailable
from kefu.server import wire

__all__ = [
    "error_middleware",
    "error_response",
    "frame_for",
    "incomplete_frame",
    "unavailable",
    "unavailable_frame",
]

log = structlog.get_logger(__name__)

# Redis restarting, paused or failing over: nothing was done, the same request may come again
# (messages are idempotent by client_msg_id). Sockets stay open; REST answers 503.
UNAVAILABLE = Unavailable("storage is unavailable for a moment; try again")
# Redis at its memory limit (maxmemory with noeviction): reads work, nothing new can be stored
# until an operator frees memory; kefu retries on its own once it can.
FULL = Unavailable("storage is full: nothing new can be stored for now; try again later")


def unavailable(exc: Exception) -> Unavailable:
    """The refusal for a Redis failure: full, or not answering. A write refused inside a Lua
    script comes back as a script error naming the OOM."""
    if isinstance(exc, OutOfMemoryError) or (isinstance(exc, ResponseError) and "-OOM " in str(exc)):
        return FULL
    return UNAVAILABLE


def error_response(exc: RequestError) -> web.Response:
    body: dict[str, Any] = {"error": {"code": exc.code, "message": exc.message}}
    if exc.details is not None:
        body["error"]["details"] = exc.details
    headers = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        body["error"]["retry_after"] = round(exc.retry_after, 1)
    return web.json_response(body, status=exc.status, headers=headers)


def frame_for(exc: RequestError, raw: str | None = None) -> wire.Error:
    """The error frame, naming the frame it answers (type, client_msg_id, conversation_id) when
    that frame was readable, so a client can tie the error to what it sent."""
    frame = wire.error(exc.code, exc.message)
    if isinstance(exc, RateLimited):
        frame["retry_after"] = round(exc.retry_after, 1)
    if raw is not None and len(raw) < 70_000:
        try:
            sent = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return frame
        if isinstance(sent, dict):
            reply_to = {
                k: sent[k]
                for k in ("type", "client_msg_id", "conversation_id")
                if isinstance(sent.get(k), str) and len(sent[k]) <= 64
            }
            if reply_to:
                frame["in_reply_to"] = reply_to
    return frame


# Redis failed after the shopper's message was stored and acked: it stays stored; what should
# have followed (the reply, the transfer) did not happen or has not been delivered yet.
INCOMPLETE = RequestError(
    "your message was received, but the reply is delayed: it will follow, or ask again",
    code="incomplete",
)


def incomplete_frame(exc: Exception, raw: str) -> wire.Error:
    """The error frame for a frame whose effect is stored (acked) but whose follow-up failed."""
    log.warning("frame_incomplete", error=f"{type(exc).__name__}: {exc}")
    return frame_for(INCOMPLETE, raw)


def unavailable_frame(exc: Exception, raw: str) -> wire.Error:
    """The error frame for a frame that failed because Redis did not answer."""
    log.warning("frame_failed", error=f"{type(exc).__name__}: {exc}")
    return frame_for(unavailable(exc), raw)


# nginx's status for a request its client gave up on (no response reaches anyone).
CLIENT_CLOSED = 499
_SURROGATE = re.compile("[\udc80-\udcff]")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if any(not value.isascii() and _SURROGATE.search(value) for value in request.headers.values()):
        # Bytes that are not UTF-8 arrive as lone surrogates, which nothing can encode again.
        return error_response(InvalidInput("a header is not valid UTF-8", code="bad_header"))
    try:
        return await handler(request)
    except RequestError as exc:
        return error_response(exc)
    except RedisError as exc:
        log.warning("request_failed_redis", path=request.path, error=f"{type(exc).__name__}: {exc}")
        return error_response(unavailable(exc))
    except web.RequestPayloadError:
        # A body that does not read as its headers say (a bad chunk, Content-Encoding that
        # does not decode): the client's fault, answered like any other bad request.
        return error_response(InvalidInput("the request body could not be read", code="bad_body"))
    except ClientLeft:
        # The client closed or reset its connection before its body arrived: nobody is left to
        # answer (aiohttp drops what is returned; its access log shows nginx's "client closed").
        log.info("request_abandoned", path=request.path)
        return web.Response(status=CLIENT_CLOSED)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        return web.json_response(
            {"error": {"code": exc.reason.lower().replace(" ", "_"), "message": exc.reason}},
            status=exc.status,
            headers={k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")},
        )
    except Exception:
        log.exception("request_failed", path=request.path)
        return web.json_response({"error": {"code": "internal", "message": "internal error"}}, status=500)
