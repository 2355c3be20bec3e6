"""Per-client limits loose enough for tests and benchmarks, where every simulated shopper comes
from 127.0.0.1 (one "client" to kefu/server/guard.py). Tests of the limits set their own."""

from __future__ import annotations

LOOSE_LIMITS: dict[str, int | float] = {
    "sessions_per_client_per_min": 100_000,
    "sockets_per_client": 100_000,
    "session_burst": 10_000,
    "session_rate_per_s": 10_000.0,
    "client_burst": 100_000,
    "client_rate_per_s": 100_000.0,
    "client_cpu_burst_s": 100_000.0,
    "client_cpu_per_s": 100_000.0,
    "waiting_per_client": 100_000,
    "tickets_per_client_per_hour": 100_000,
    "login_client_max_failures": 100_000,
    "login_queue": 100_000,
}


def loose_env() -> dict[str, str]:
    """The same as KEFU_… environment variables, for a server in its own process."""
    return {f"KEFU_{name.upper()}": str(value) for name, value in LOOSE_LIMITS.items()}
