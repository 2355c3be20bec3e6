"""kefu's settings: one object, read from KEFU_* environment variables, passed in explicitly."""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from kefu.errors import SettingsError

__all__ = ["DEFAULT_ALLOWED_ORIGINS", "REDIS_SCHEMES", "Settings"]

# Browsers always send Origin on a websocket upgrade; these are the local development origins.
DEFAULT_ALLOWED_ORIGINS = (
    "http://localhost:*",
    "https://localhost:*",
    "http://127.0.0.1:*",
    "https://127.0.0.1:*",
)


# What `KEFU_REDIS_URL` may name (kefu/store/client.py reads each).
REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster", "redis+sentinel")


class Settings(BaseSettings):
    """Everything an instance needs to run. Tests build one directly: `Settings(redis_url=...)`."""

    model_config = SettingsConfigDict(env_prefix="KEFU_", extra="ignore")

    # Redis holds all state. Unset: `kefu serve` starts a private redis-server in data_dir.
    redis_url: str | None = None
    data_dir: Path = Path("kefu-data")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # Processes serving the port (`kefu serve --workers`), each a full instance; 0: one per core.
    workers: int = Field(default=0, ge=0, le=64)
    # Signs agent/admin tokens. Unset: a random secret is created once in Redis and shared by
    # every instance using that Redis.
    secret_key: str | None = Field(default=None, min_length=32)
    # Origins allowed to open sockets for shops that have no allowlist of their own.
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = DEFAULT_ALLOWED_ORIGINS
    instance_id: str | None = None

    agent_token_ttl_s: int = Field(default=12 * 3600, ge=60)
    shopper_token_ttl_s: int = Field(default=30 * 86400, ge=60)
    # Transcripts and conversation records of closed conversations are kept this long.
    retention_days: int = Field(default=90, ge=1)

    max_frame_bytes: int = Field(default=64 * 1024, ge=1024, le=64 * 1024)
    max_text_chars: int = Field(default=2000, ge=1)
    heartbeat_s: float = Field(default=20.0, gt=0)
    # Per connection: a burst of this many frames, refilled at this rate per second.
    rate_burst: int = Field(default=20, ge=1)
    rate_per_s: float = Field(default=5.0, gt=0)

    # A queued shopper who disconnects keeps the place this long (a reload); an agent who
    # disconnects keeps the conversations this long before they go back to the queue.
    shopper_grace_s: float = Field(default=60.0, gt=0)
    agent_grace_s: float = Field(default=60.0, gt=0)
    # How often presence is refreshed and the janitor looks for expired presences.
    presence_interval_s: float = Field(default=5.0, gt=0)
    janitor_interval_s: float = Field(default=1.0, gt=0)
    # How often each instance checks for FAQ corpus changes (a publish makes it immediate).
    faq_poll_s: float = Field(default=0.5, gt=0)
    # The bot's semantic signal (a sentence encoder, ≈ 110 MiB and ≈ 3 ms per new question);
    # off: lexical matching only, with its own calibrated threshold.
    faq_semantic: bool = True
    # Delivery backstop: how often sockets catch up from the log in case an event was missed.
    catch_up_s: float = Field(default=2.0, gt=0)

    # Wrong passwords in a row for one account from one client before that client is locked
    # out of it for login_lockout_s (others, the owner included, still log in), and from one
    # client over every account and shop within that time (guessing usernames; wrong orders-API
    # keys count too).
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_s: float = Field(default=300.0, gt=0)
    login_client_max_failures: int = Field(default=30, ge=1)
    # Password checks (argon2, ~0.1 s of a core and 64 MiB each) waiting at once; more logins
    # arriving meanwhile are refused at once (429, Retry-After) instead of queuing for seconds.
    login_queue: int = Field(default=16, ge=1)

    # ---- what one client may cost (kefu/server/guard.py; docs/deployment.md "Limits") ----
    # Proxies whose X-Forwarded-For names the client ("*": any; default: a proxy on this host).
    forwarded_allow_ips: Annotated[tuple[str, ...], NoDecode] = ("127.0.0.1", "::1")
    # Shopper messages per session (all its tabs) and per client address (all its sessions).
    session_burst: int = Field(default=10, ge=1)
    session_rate_per_s: float = Field(default=1.0, gt=0)
    client_burst: int = Field(default=60, ge=1)
    client_rate_per_s: float = Field(default=5.0, gt=0)
    # Matcher CPU per client address: a burst of seconds, refilled at this many per second
    # (a typical question costs ~1 ms, the longest one the bot reads ~40 ms).
    client_cpu_burst_s: float = Field(default=0.5, gt=0)
    client_cpu_per_s: float = Field(default=0.05, gt=0)
    # The bot reads at most this many characters of a message (longer is no FAQ question).
    match_chars: int = Field(default=150, ge=20)
    # Matching runs on these worker threads, shops served in turn; a shop waits with at most
    # this many questions before the next is told the bot is busy.
    match_workers: int = Field(default=2, ge=1, le=16)
    match_queue_per_shop: int = Field(default=100, ge=1)
    # New questions up to this long are matched on the event loop (a few ms), longer ones on
    # the matcher threads.
    match_inline_chars: int = Field(default=40, ge=0)
    # Bot results kept per shop by normalized question (≈ 6 KiB each; 0: none).
    match_cache: int = Field(default=1024, ge=0, le=100_000)
    # Shopper sockets one client address may hold open on one instance (and agent sockets, apart).
    sockets_per_client: int = Field(default=1000, ge=1)
    # New sessions per client address per minute, per shop (a resumed chat is not new).
    sessions_per_client_per_min: int = Field(default=30, ge=1)
    # A session where the shopper never wrote expires after this long (30 days once they do).
    silent_session_ttl_s: int = Field(default=3600, ge=60)
    # Places one client address may hold in a shop's queue at once, and messages it may leave
    # per hour.
    waiting_per_client: int = Field(default=3, ge=1)
    tickets_per_client_per_hour: int = Field(default=5, ge=1)

    # /metrics needs `Authorization: Bearer <this>` (Prometheus' bearer_token); unset: 403.
    metrics_token: str | None = None

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_json: bool | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """The settings of the environment (and the command line's `overrides`, by field name),
        as the command line reads them: a value that does not validate is a `SettingsError`
        naming each such variable and why."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            prefix = cls.model_config.get("env_prefix", "")
            problems = [
                f"{prefix}{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
                for error in exc.errors(include_url=False, include_input=False)
            ]
            raise SettingsError("invalid settings: " + "; ".join(problems)) from None

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        # The messages never quote the URL: it may hold a password.
        if value is None:
            return None
        scheme = value.split(":", 1)[0].lower()
        if scheme not in REDIS_SCHEMES:
            raise ValueError(f"the scheme must be one of {', '.join(REDIS_SCHEMES)}")
        if scheme != "redis+sentinel":  # several host:port pairs, read by the store
            try:
                _ = urllib.parse.urlsplit(value).port  # reading it checks it
            except ValueError:
                raise ValueError("the port must be a number from 0 to 65535") from None
        return value

    @field_validator("allowed_origins", "forwarded_allow_ips", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        try:
            proxy_networks(value)
        except ValueError as exc:
            raise ValueError(f"{exc}: give addresses, networks (10.0.0.0/8) or *") from None
        return value


def proxy_networks(specs: Iterable[str]) -> tuple[bool, list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    """`forwarded_allow_ips` read: whether every proxy is trusted ("*"), and the networks named
    (ValueError naming an entry that is neither)."""
    cleaned = [s.strip() for s in specs if s.strip()]
    return "*" in cleaned, [ipaddress.ip_network(s, strict=False) for s in cleaned if s != "*"]
