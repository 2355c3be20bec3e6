"""kefu's exceptions, drawn once.

    KefuError
    ├── CorpusError          an FAQ corpus failed validation (one line per problem)
    ├── LexiconError         the matcher's lexicon data is malformed
    ├── ClientLeft           the client closed its connection mid-request: nobody to answer
    └── RequestError         a client asked for something it may not have: becomes a 4xx / error frame
        ├── InvalidInput     400 invalid_input: the request or frame does not hold what it must
        │   └── TooLarge     413 body_too_large: a request body over its route's limit
        ├── Unprocessable    422 invalid: well-formed, but fails validation (details name the fields)
        ├── Unauthorized     401 unauthorized: no, a bad or an expired token / wrong password
        ├── Forbidden        403 forbidden: authenticated, but not allowed (role, origin, shop)
        ├── NotFound         404 not_found: no such shop, conversation, user…
        ├── Conflict         409 conflict: the state does not allow it (already closed, not yours)
        └── RateLimited      429 rate_limited: too many frames, requests or failed logins

`kefu.server.errors` maps RequestError subclasses to HTTP responses and error frames.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from kefu.ids import PATTERN_CODES

__all__ = [
    "ClientLeft",
    "Conflict",
    "CorpusError",
    "Forbidden",
    "InvalidInput",
    "KefuError",
    "LexiconError",
    "NotFound",
    "RateLimited",
    "RequestError",
    "RequestTimedOut",
    "SettingsError",
    "TooLarge",
    "Unauthorized",
    "Unprocessable",
    "validation_details",
]


class KefuError(Exception):
    """Base class of every error kefu raises on purpose."""


class ClientLeft(KefuError):
    """The client closed or reset its connection before its request body arrived."""


class CorpusError(KefuError):
    """An FAQ corpus failed validation; `problems` holds one readable line each."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


class SettingsError(KefuError):
    """KEFU_* settings that do not validate: one line naming each variable and why (pydantic's
    message without the input, so a secret's value is never printed)."""


class LexiconError(KefuError):
    """The matcher's lexicon data is malformed."""


class RequestError(KefuError):
    """Something a client asked for was refused; `code` and `status` say how to report it."""

    code = "bad_request"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, details: object = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class InvalidInput(RequestError):
    """The request or frame does not hold what it must."""

    code = "invalid_input"
    status = 400


class TooLarge(InvalidInput):
    """A request body over its route's limit (refused as it arrives, not after)."""

    code = "body_too_large"
    status = 413


class Unprocessable(RequestError):
    """Well-formed but invalid: `details` lists {field, code, message, params} for a form to
    show inline, in the reader's language (by `code` and `params`; `message` is English)."""

    code = "invalid"
    status = 422

    @classmethod
    def from_validation(
        cls, exc: ValidationError, what: str, *, field: Callable[[list[str]], str] | None = None
    ) -> Unprocessable:
        """pydantic's errors as details; `field` maps an error's location to the form's field name."""
        details = validation_details(exc, field=field)
        summary = "; ".join(f"{d['field']}: {d['message']}" if d["field"] else d["message"] for d in details)
        return cls(f"{what}: {summary}", details=details)


def validation_details(
    exc: ValidationError, *, field: Callable[[list[str]], str] | None = None
) -> list[dict[str, Any]]:
    """One detail per pydantic error: the field (dotted location), a stable code (pydantic's error
    type, or what a pattern means: `id_format`…), its parameters (limits, the pattern) and the
    English message."""
    details = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        ctx = err.get("ctx") or {}
        params = {
            k: v for k, v in ctx.items() if isinstance(v, str | int | float) and not isinstance(v, bool)
        }
        code = err["type"]
        message = err["msg"].removeprefix("Value error, ")
        if code == "string_pattern_mismatch":
            code = PATTERN_CODES.get(str(ctx.get("pattern")), code)
        elif code == "extra_forbidden":
            code, message = "unknown_field", "unknown field"
        detail: dict[str, Any] = {
            "field": field(loc) if field else ".".join(loc),
            "code": code,
            "message": message,
        }
        if params:
            detail["params"] = params
        details.append(detail)
    return details


class Unauthorized(RequestError):
    """No token, a bad or expired token, or a wrong password."""

    code = "unauthorized"
    status = 401


class Forbidden(RequestError):
    """Authenticated, but not allowed: another shop, a role, an origin."""

    code = "forbidden"
    status = 403


class NotFound(RequestError):
    """No such shop, conversation, user or FAQ."""

    code = "not_found"
    status = 404


class RequestTimedOut(RequestError):
    """The client did not send what it announced (a request body) in time."""

    code = "request_timeout"
    status = 408


class Conflict(RequestError):
    """The current state does not allow it: closed, not assigned to you, already exists."""

    code = "conflict"
    status = 409


class RateLimited(RequestError):
    """Too many frames, requests or failed logins; `retry_after` seconds until it eases."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: float = 1.0, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class Unavailable(RequestError):
    """Redis did not answer in time (restarting, paused, failing over): nothing was done; the
    client may send the same frame again (messages are idempotent by client_msg_id)."""

    code = "unavailable"
    status = 503
