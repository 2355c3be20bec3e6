"""What one client may cost: who a request comes from, and the budgets it draws on.

Every limit a hostile anonymous client meets is here or named here (docs/deployment.md lists
them): per socket (`sockets.serve`), per session and per client address (messages, matcher
CPU, open sockets), and — where the thing outlives the socket, in Redis through `kefu.store.limits` — new
sessions, waiting places and left messages per client address.

A client is its address as the first proxy we do not trust saw it (`KEFU_FORWARDED_ALLOW_IPS`
names the proxies whose `X-Forwarded-For` we believe), kept as a keyed hash: Redis never holds
a shopper's IP.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator

from aiohttp import web

from kefu.errors import RateLimited
from kefu.settings import Settings, proxy_networks

__all__ = ["Budget", "Guard", "Proxies", "client_address", "client_network"]

# Budgets keep at most this many clients each; the least recently seen are forgotten first
# (a forgotten client starts with a full budget, so memory stays bounded under a spray of
# addresses without letting any one address do more than its budget in a row).
_MAX_KEYS = 100_000


class Proxies:
    """The proxies whose `X-Forwarded-For` is believed (`KEFU_FORWARDED_ALLOW_IPS`: addresses,
    networks, or "*" for any), parsed once — not on every request."""

    __slots__ = ("_all", "_networks")

    def __init__(self, specs: Iterable[str]) -> None:
        self._all, self._networks = proxy_networks(specs)

    def trusted(self, address: str) -> bool:
        if self._all:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self._networks)


# NAT64's well-known prefix: an IPv4 client seen through a translator (RFC 6052).
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def client_network(address: str) -> str:
    """What limits count as one client: an IPv4 address — also one carried inside IPv6
    (IPv4-mapped, NAT64, 6to4, Teredo) — or a native IPv6 address's /64, the block one
    subscriber gets, where a hostile client may pick any of 2⁶⁴ addresses and would otherwise
    start every budget afresh with each."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip in _NAT64:
        return str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        return str(ip.sixtofour)
    if ip.teredo is not None:
        return str(ip.teredo[1])
    return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))


def client_address(request: web.Request, proxies: Proxies) -> str:
    """The client's address: the peer, or — when the peer is a trusted proxy — the rightmost
    address in X-Forwarded-For that is not itself a trusted proxy."""
    peer = request.remote or ""
    if not proxies.trusted(peer):
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops[-20:]):
        if not proxies.trusted(hop):
            return hop
    return hops[0] if hops else peer


class Budget:
    """Token buckets by key: `burst` units, refilled at `per_s` a second. `take` spends before
    the work (refused when empty); `charge` spends after it (CPU measured once it is used), and
    may run the bucket into debt, down to minus one burst."""

    __slots__ = ("_buckets", "burst", "name", "per_s")

    def __init__(self, name: str, burst: float, per_s: float) -> None:
        self.name = name
        self.burst = float(burst)
        self.per_s = float(per_s)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _level(self, key: str, now: float) -> float:
        tokens, updated = self._buckets.pop(key, (self.burst, now))
        return min(self.burst, tokens + (now - updated) * self.per_s)

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > _MAX_KEYS:
            self._buckets.popitem(last=False)

    def take(self, key: str, cost: float = 1.0, *, message: str = "too many messages; slow down") -> None:
        now = time.monotonic()
        tokens = self._level(key, now)
        if tokens < cost:
            self._store(key, tokens, now)
            raise RateLimited(message, retry_after=(cost - tokens) / self.per_s)
        self._store(key, tokens - cost, now)

    def charge(self, key: str, cost: float) -> None:
        now = time.monotonic()
        self._store(key, max(-self.burst, self._level(key, now) - cost), now)

    def available(self, key: str) -> float:
        now = time.monotonic()
        tokens = self._level(key, now)
        self._store(key, tokens, now)
        return tokens

    def __len__(self) -> int:
        return len(self._buckets)


class Guard:
    """The budgets of this instance, and the client identity every limit is keyed on."""

    def __init__(self, settings: Settings, secret: str) -> None:
        self.settings = settings
        self._key = hashlib.sha256(b"kefu-client:" + secret.encode()).digest()
        self.proxies = Proxies(settings.forwarded_allow_ips)
        # Messages of one session, over all its tabs and sockets.
        self.session_messages = Budget(
            "session_messages", settings.session_burst, settings.session_rate_per_s
        )
        # Messages of one client address, over all its sessions and shops.
        self.client_messages = Budget("client_messages", settings.client_burst, settings.client_rate_per_s)
        # Matcher CPU seconds of one client address.
        self.client_cpu = Budget("client_cpu", settings.client_cpu_burst_s, settings.client_cpu_per_s)
        # Open sockets by (role, client); a client with none has no entry.
        self._sockets: dict[tuple[str, str], int] = {}

    def client(self, request: web.Request) -> str:
        """The requesting client as a keyed hash of its address, or of its IPv6 /64 (what limits
        are keyed on)."""
        network = client_network(client_address(request, self.proxies))
        return hmac.new(self._key, network.encode(), "sha256").hexdigest()[:24]

    @contextlib.contextmanager
    def socket(self, role: str, client: str, refused: Callable[[], object]) -> Iterator[None]:
        """A `role` socket (shopper, agent) of `client` is open for the duration; refused (429,
        before the upgrade; `refused` is called) when the client holds `sockets_per_client` of
        them on this instance already. Shoppers and agents count apart: shoppers behind an
        office's address cannot lock its agents out."""
        key = (role, client)
        held = self._sockets.get(key, 0)
        if held >= self.settings.sockets_per_client:
            refused()
            raise RateLimited(
                "too many chat windows are open from your network; close one and try again",
                code="too_many_sockets",
                retry_after=30,
            )
        self._sockets[key] = held + 1
        try:
            yield
        finally:
            held = self._sockets.pop(key) - 1
            if held:
                self._sockets[key] = held

    def message(self, session_id: str, client: str) -> None:
        """A shopper message is about to be handled: within its session's and client's budget?"""
        self.session_messages.take(session_id, message="too many messages in this chat; slow down")
        self.client_messages.take(client, message="too many messages from your network; slow down")

    def can_match(self, client: str) -> None:
        """Whether the client still has matcher CPU left (spent as `spent_matching` reports)."""
        left = self.client_cpu.available(client)
        if left <= 0:
            raise RateLimited(
                "too many questions from your network; wait a moment",
                retry_after=-left / self.client_cpu.per_s + 0.1,
            )

    def spent_matching(self, client: str, cpu_s: float) -> None:
        self.client_cpu.charge(client, cpu_s)
