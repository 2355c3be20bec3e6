"""Typed keys of everything the application holds (created in cleanup contexts in app.py)."""

from __future__ import annotations

from aiohttp import web
from redis.asyncio import Redis

from kefu.faq.analyzer import Resources
from kefu.server.auth import TokenSigner
from kefu.server.bot import Bots
from kefu.server.collector import Collector
from kefu.server.context import Context
from kefu.server.guard import Guard
from kefu.server.loops import Loops
from kefu.server.metrics import Metrics
from kefu.server.openapi import ApiRoutes
from kefu.settings import Settings
from kefu.store.accounts import Passwords
from kefu.store.scripts import Scripts

__all__ = [
    "bots_key",
    "collector_key",
    "context_key",
    "guard_key",
    "loops_key",
    "metrics_key",
    "passwords_key",
    "redis_key",
    "resources_key",
    "routes_key",
    "scripts_key",
    "settings_key",
    "signer_key",
]

settings_key = web.AppKey("settings", Settings)
redis_key = web.AppKey("redis", Redis)
scripts_key = web.AppKey("scripts", Scripts)
resources_key = web.AppKey("resources", Resources)
bots_key = web.AppKey("bots", Bots)
context_key = web.AppKey("context", Context)
loops_key = web.AppKey("loops", Loops)
collector_key = web.AppKey("collector", Collector)
signer_key = web.AppKey("signer", TokenSigner)
guard_key = web.AppKey("guard", Guard)
passwords_key = web.AppKey("passwords", Passwords)
metrics_key = web.AppKey("metrics", Metrics)
# Every JSON endpoint with its description (serves /api/openapi.json).
routes_key = web.AppKey("routes", ApiRoutes)
