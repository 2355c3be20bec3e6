"""structlog, configured once: contextvars first, ISO UTC timestamps, console on a TTY, JSON elsewhere."""

from __future__ import annotations

import logging
import math
import sys
import threading
import time

import structlog
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web import RequestPayloadError

__all__ = ["MalformedRequests", "configure_logging", "quiet_malformed_requests"]

# How much of the parser's reason a log line keeps (it may quote what the client sent).
REASON_CHARS = 200


def configure_logging(level: str = "INFO", *, json: bool | None = None) -> None:
    """Route structlog and the standard library (aiohttp, redis) through the same processors.

    Connection handlers bind `shop`, `session_id`, `conversation_id` and `agent_id` with
    `structlog.contextvars.bound_contextvars`, so every event carries them.
    """
    if json is None:
        json = not sys.stderr.isatty()
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        # An event below the level is dropped before any processor runs (the stdlib would
        # drop it only after they ran: a connection's info line cost a timestamp and a merge
        # of context variables at level WARNING). Not in the foreign chain: records from the
        # standard library arrive already filtered, and without a structlog logger.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log duplicates our own connection events.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


class MalformedRequests(logging.Filter):
    """What a client sent that aiohttp could not read — a request line or header over its
    limit, a bad status line, a broken chunk, a body that does not decode as its
    Content-Encoding says — aiohttp logs at ERROR with a traceback ("Error handling request",
    or "Unhandled exception" when it drains a body it cannot read): one alert-level traceback
    per malformed request anyone cares to send. This turns each into a one-line WARNING naming
    the reason, at most one per `every_s` in a process (the next one counts those left out, so
    a flood of them is a line a second per process). Any other record passes unchanged."""

    # The records aiohttp's server writes for such requests (web_protocol.py), and the errors
    # in them that are the client's doing.
    MESSAGES = ("Error handling request from %s", "Unhandled exception")

    def __init__(self, every_s: float = 1.0) -> None:
        super().__init__()
        self.every_s = every_s
        self._last = -math.inf
        self._left_out = 0
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if (
            not isinstance(exc, HttpProcessingError | RequestPayloadError)
            or record.levelno < logging.ERROR
            or record.msg not in self.MESSAGES
        ):
            return True
        now = time.monotonic()
        with self._lock:
            if now - self._last < self.every_s:
                self._left_out += 1
                return False
            self._last, left_out, self._left_out = now, self._left_out, 0
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else None
        reason = " ".join(str(getattr(exc, "message", exc)).split())[:REASON_CHARS]
        record.msg = "malformed request refused (from %s): %s; %d more since the last such line"
        record.args = (remote, reason, left_out)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        # The logger let the record through at ERROR; at WARNING it may be below its level.
        return logging.getLogger(record.name).isEnabledFor(logging.WARNING)


_MALFORMED = MalformedRequests()


def quiet_malformed_requests() -> None:
    """Install `MalformedRequests` on aiohttp's server logger (once; the app factory calls it)."""
    logger = logging.getLogger("aiohttp.server")
    if _MALFORMED not in logger.filters:
        logger.addFilter(_MALFORMED)
