"""kefu's exceptions, drawn once.

    KefuError
    ├── CorpusError          an FAQ corpus failed validation (one line per problem)
    ├── LexiconError         the matcher's lexicon data is malformed
    └── RequestError         a client asked for something it may not have: becomes a 4xx / error frame
        ├── InvalidInput     400 invalid_input: the request or frame does not hold what it must
        ├── Unprocessable    422 invalid: well-formed, but fails validation (details name the fields)
        ├── Unauthorized     401 unauthorized: no, a bad or an expired token / wrong password
        ├── Forbidden        403 forbidden: authenticated, but not allowed (role, origin, shop)
        ├── NotFound         404 not_found: no such shop, conversation, user…
        ├── Conflict         409 conflict: the state does not allow it (already closed, not yours)
        └── RateLimited      429 rate_limited: too many frames, requests or failed logins

`kefu.server.errors` maps RequestError subclasses to HTTP responses and error frames.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "Conflict",
    "CorpusError",
    "Forbidden",
    "InvalidInput",
    "KefuError",
    "LexiconError",
    "NotFound",
    "RateLimited",
    "RequestError",
    "Unauthorized",
    "Unprocessable",
]


class KefuError(Exception):
    """Base class of every error kefu raises on purpose."""


class CorpusError(KefuError):
    """An FAQ corpus failed validation; `problems` holds one readable line each."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


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


class Unprocessable(RequestError):
    """Well-formed but invalid: `details` lists {field, message} for a form to show inline."""

    code = "invalid"
    status = 422


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
