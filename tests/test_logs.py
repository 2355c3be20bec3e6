"""kefu.logs.MalformedRequests on made-up records: what it turns into one warning line, what it
leaves alone, and how it counts the lines it leaves out."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from aiohttp.http_exceptions import BadHttpMethod, BadStatusLine, LineTooLong
from aiohttp.web import RequestPayloadError

from kefu.logs import MalformedRequests

HANDLING = "Error handling request from %s"


def record(
    exc: BaseException | None, *, msg: str = HANDLING, level: int = logging.ERROR, args: Any = ("10.0.0.7",)
) -> logging.LogRecord:
    info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord("aiohttp.server", level, __file__, 1, msg, args, info)


@pytest.fixture
def server_logger() -> Any:
    logger = logging.getLogger("aiohttp.server")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield logger
    logger.setLevel(level)


def test_a_refused_request_is_one_warning_line_naming_why(server_logger: logging.Logger) -> None:
    quiet = MalformedRequests()
    r = record(BadStatusLine("Invalid method encountered:\n\n  b'GE\\x00T'\n    ^"))
    assert quiet.filter(r)
    assert r.levelno == logging.WARNING and r.levelname == "WARNING" and r.exc_info is None
    message = r.getMessage()
    assert "\n" not in message and "from 10.0.0.7" in message and "Invalid method encountered" in message


def test_at_most_one_line_per_interval_the_next_counting_those_left_out(
    server_logger: logging.Logger,
) -> None:
    quiet = MalformedRequests(every_s=0.05)
    assert quiet.filter(record(LineTooLong("Status line is too long", "8190", "9000")))
    assert [
        quiet.filter(record(LineTooLong("Status line is too long", "8190", "9000"))) for _ in range(3)
    ] == [False] * 3
    time.sleep(0.06)
    later = record(
        RequestPayloadError("Can not decode content-encoding: gzip"), msg="Unhandled exception", args=()
    )
    assert quiet.filter(later)
    assert "; 3 more since the last such line" in later.getMessage()


@pytest.mark.parametrize(
    "r",
    [
        record(RuntimeError("a handler's bug"), msg="Unhandled exception", args=()),
        record(ValueError("500"), msg=HANDLING),
        record(BadHttpMethod("\\x16\\x03"), level=logging.DEBUG),  # TLS on a plain port: aiohttp's debug
        record(LineTooLong("x", "1", "2"), msg="some other message"),
        record(None),
    ],
    ids=["handler-bug", "server-error", "debug", "other-message", "no-exception"],
)
def test_anything_else_passes_unchanged(server_logger: logging.Logger, r: logging.LogRecord) -> None:
    before = (r.levelno, r.msg, r.args, r.exc_info)
    assert MalformedRequests().filter(r)
    assert (r.levelno, r.msg, r.args, r.exc_info) == before


def test_odd_arguments_and_a_quiet_logger(server_logger: logging.Logger) -> None:
    r = record(LineTooLong("x", "1", "2"), args=({"peer": "10.0.0.7"},))
    assert MalformedRequests().filter(r) and "from None" in r.getMessage()
    server_logger.setLevel(logging.ERROR)  # at KEFU_LOG_LEVEL=ERROR the lowered line is not shown
    assert not MalformedRequests().filter(record(LineTooLong("x", "1", "2")))
