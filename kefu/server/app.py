"""The application factory: `create_app(settings)` wires resources, routes and background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import structlog
from aiohttp import web

from kefu.errors import KefuError
from kefu.faq.analyzer import Resources
from kefu.faq.matcher import MatcherConfig
from kefu.reports.flags import QaWorker
from kefu.reports.qa import QaRules
from kefu.server import admin_api, api, reports_api
from kefu.server.agent import agent_socket
from kefu.server.appkeys import (
    bots_key,
    hub_key,
    metrics_key,
    passwords_key,
    redis_key,
    resources_key,
    routes_key,
    scripts_key,
    settings_key,
    signer_key,
)
from kefu.server.auth import TokenSigner
from kefu.server.bot import Bots
from kefu.server.errors import error_middleware
from kefu.server.hub import Hub
from kefu.server.metrics import Metrics
from kefu.server.openapi import ApiRoutes
from kefu.server.pages import add_page_routes, security_headers
from kefu.server.shopper import shopper_socket
from kefu.settings import Settings
from kefu.store.accounts import Passwords, load_secret
from kefu.store.client import connect
from kefu.store.presence import Janitor
from kefu.store.scripts import Scripts

__all__ = ["create_app"]

log = structlog.get_logger(__name__)


async def _redis(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    if not settings.redis_url:
        raise KefuError("no Redis: set KEFU_REDIS_URL (`kefu serve` starts a private one by itself)")
    redis = connect(settings.redis_url)
    try:
        await redis.ping()
        app[redis_key] = redis
        app[scripts_key] = Scripts(redis)
        secret = await load_secret(redis, settings.secret_key)
        app[signer_key] = TokenSigner(secret, settings.agent_token_ttl_s)
        yield
    finally:
        await redis.aclose()


async def _passwords(app: web.Application) -> AsyncIterator[None]:
    # argon2 takes a core and 64 MiB per hash: a few at a time, however many logins arrive.
    executor = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="argon2")
    app[passwords_key] = Passwords(executor)
    try:
        yield
    finally:
        # Hashes still queued answer no one now; one running finishes in its thread.
        executor.shutdown(wait=False, cancel_futures=True)


async def _resources(app: web.Application) -> AsyncIterator[None]:
    # jieba's dictionary and the sentence encoder take a few seconds: load them off the loop,
    # once per process, before the first shopper asks anything.
    def load() -> Resources:
        resources = Resources.default()
        if app[settings_key].faq_semantic:
            resources.encoder()
        return resources

    app[resources_key] = await asyncio.to_thread(load)
    yield


async def _background(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    redis = app[redis_key]
    bots = Bots(
        redis,
        app[resources_key],
        poll_s=settings.faq_poll_s,
        config=MatcherConfig(semantic=settings.faq_semantic),
    )
    hub = Hub(redis, app[scripts_key], settings, bots, app[metrics_key])
    janitor = Janitor(
        redis,
        app[scripts_key],
        interval_s=settings.janitor_interval_s,
        retention_s=settings.retention_days * 86400,
    )
    app[bots_key] = bots
    app[hub_key] = hub
    tasks = [
        asyncio.create_task(hub.listen(), name="events"),
        asyncio.create_task(hub.backstop(), name="backstop"),
        asyncio.create_task(hub.keep_presence(), name="presence"),
        asyncio.create_task(janitor.run(), name="janitor"),
        asyncio.create_task(bots.watch(), name="faq-watch"),
        asyncio.create_task(QaWorker(redis, lambda shop: _qa_rules(hub, shop)).run(), name="qa"),
    ]
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(hub.subscribed.wait(), timeout=5)
    log.info("instance_started", instance=settings.instance_id)
    try:
        yield
    finally:
        await hub.stop(*tasks)


async def _qa_rules(hub: Hub, shop: str) -> QaRules:
    return (await hub.config(shop)).qa


async def _close_sockets(app: web.Application) -> None:
    """Graceful shutdown: every socket closes with 1001 (going away); clients reconnect elsewhere."""
    if hub_key in app:
        await app[hub_key].close_all()


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=2 * 1024 * 1024)
    app.on_response_prepare.append(security_headers)
    app[settings_key] = settings
    app[metrics_key] = Metrics()
    app.cleanup_ctx.extend([_redis, _passwords, _resources, _background])
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/ws/shopper", shopper_socket)
    app.router.add_get("/ws/agent", agent_socket)
    routes = ApiRoutes.merged(api.routes, admin_api.routes, reports_api.routes)
    app[routes_key] = routes
    routes.install(app)
    add_page_routes(app)
    return app
