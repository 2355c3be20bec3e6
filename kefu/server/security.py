"""Edge checks shared by sockets and the API: Origin allowlists and per-connection rate limits."""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

from aiohttp import web

from kefu.errors import Forbidden, RateLimited

__all__ = ["TokenBucket", "check_origin", "origin_allowed", "url_on_allowed_origin", "web_origin"]


def origin_allowed(origin: str, patterns: Iterable[str]) -> bool:
    """`https://shop.example.com` against patterns like `https://*.example.com` or `http://localhost:*`."""
    origin = origin.rstrip("/").lower()
    for pattern in patterns:
        pattern = pattern.rstrip("/").lower()
        if pattern == "*" or origin == pattern or fnmatch.fnmatchcase(origin, pattern):
            return True
        # "http://localhost:*" also allows "http://localhost" (default port).
        if pattern.endswith(":*") and origin == pattern[:-2]:
            return True
    return False


# A host as a browser writes it in an origin: letters, digits, dots and hyphens (an IDN in its
# xn-- form), or an IPv6 address (urlsplit's hostname drops its brackets).
_HOST = re.compile(r"[a-z0-9.-]+|[0-9a-f.]*:[0-9a-f:.]*")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def web_origin(url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) URL, lower-cased, the default port left out — or
    None for anything a browser would read another way: credentials before the host
    (`https://shop.example@evil.test`), a backslash (`https://evil.test\\.shop.example`, a
    browser's `/`), a host of other characters, a port that is not a number."""
    if "\\" in url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if (
        parts.scheme not in _DEFAULT_PORTS
        or host is None
        or parts.username is not None
        or parts.password is not None
    ):
        return None
    host = host.rstrip(".")
    if not _HOST.fullmatch(host):
        return None
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (
        f":{port}" if port is not None and port != _DEFAULT_PORTS[parts.scheme] else ""
    )


def url_on_allowed_origin(url: str, page_origin: str | None, patterns: Iterable[str]) -> bool:
    """Whether a link a page reports (a product's page) leads to the page's own origin or to
    one the shop names: a link an agent may follow without being sent to a stranger's site.
    The allowlist's `*` (any page may open the chat) vouches for no link."""
    origin = web_origin(url)
    if origin is None:
        return False
    if page_origin is not None and origin == web_origin(page_origin):
        return True
    return origin_allowed(origin, [p for p in patterns if p.strip() != "*"])


def check_origin(request: web.Request, patterns: Iterable[str]) -> None:
    """Refuse a browser page from a foreign origin. A missing Origin is not a browser (browsers
    always send it on websocket upgrades), so cross-site hijacking cannot come from it."""
    origin = request.headers.get("Origin")
    if origin is None:
        return
    # kefu's own pages (console, admin, demo shop) are same-origin: the Origin names our Host.
    # The scheme is not compared: behind a TLS-terminating proxy kefu itself sees http.
    try:
        netloc = urlsplit(origin).netloc.lower()
    except ValueError:  # "http://[::1": no origin a browser sends
        raise Forbidden("the Origin header is not a URL", code="origin_not_allowed") from None
    if netloc == request.host.lower() or origin_allowed(origin, patterns):
        return
    raise Forbidden(f"origin {origin} is not allowed for this shop", code="origin_not_allowed")


class TokenBucket:
    """A burst of `burst` actions, refilled at `rate` per second. `take()` raises RateLimited."""

    __slots__ = ("burst", "rate", "strikes", "tokens", "updated")

    def __init__(self, burst: int, rate: float) -> None:
        self.burst = burst
        self.rate = rate
        self.tokens = float(burst)
        self.updated = time.monotonic()
        # Refusals, less one for each action let through since: a client that keeps sending
        # many times faster than the rate piles them up (a flood); a fast typist who touches
        # the limit now and then does not.
        self.strikes = 0

    def take(self, cost: float = 1.0) -> None:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < cost:
            self.strikes += 1
            raise RateLimited("too many frames; slow down", retry_after=(cost - self.tokens) / self.rate)
        self.tokens -= cost
        self.strikes = max(0, self.strikes - 1)
