"""The application factory: `create_app(settings)` wires resources, routes and background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor

import structlog
from aiohttp import web

from kefu.errors import KefuError
from kefu.faq.analyzer import Resources
from kefu.faq.matcher import MatcherConfig
from kefu.logs import quiet_malformed_requests
from kefu.reports.flags import QaWorker
from kefu.server import admin_api, admin_faq, admin_learning, api, commerce_api, reports_api
from kefu.server.agent import agent_socket
from kefu.server.appkeys import (
    bots_key,
    collector_key,
    context_key,
    guard_key,
    loops_key,
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
from kefu.server.collector import Collector
from kefu.server.context import Context
from kefu.server.delivery import Delivery
from kefu.server.errors import error_middleware
from kefu.server.guard import Guard
from kefu.server.loops import LoopHealth, Loops, listen, stop
from kefu.server.matching import MatchPool
from kefu.server.metrics import Metrics
from kefu.server.openapi import ApiRoutes
from kefu.server.orders import check_payments
from kefu.server.pages import add_page_routes, security_headers
from kefu.server.shopper import shopper_socket
from kefu.settings import Settings
from kefu.store.accounts import Passwords, load_secret
from kefu.store.client import connect
from kefu.store.presence import Janitor
from kefu.store.scripts import Scripts
from kefu.store.shops import QaRules

__all__ = ["ROUTES", "create_app"]

CleanupContext = Callable[[web.Application], AsyncIterator[None]]

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
        app[guard_key] = Guard(settings, secret)
        yield
    finally:
        await redis.aclose()


async def _passwords(app: web.Application) -> AsyncIterator[None]:
    # argon2 takes a core and 19 MiB per hash: a few at a time, however many logins arrive.
    # Half the cores at most: a flood of logins cannot take the cores the sockets run on.
    threads = max(1, min(4, (os.cpu_count() or 2) // 2))
    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")
    app[passwords_key] = Passwords(executor, max_waiting=app[settings_key].login_queue)
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
        if app[settings_key].faq_semantic and not resources.encoder().own_pass:
            log.warning("encoder_own_pass_off", reason="the encoder package's pass differs; its own is used")
        return resources

    app[resources_key] = await asyncio.to_thread(load)
    # The language resources live as long as the process: installed now (before serving), the
    # collector freezes them out of every later collection's way.
    collector = Collector(asyncio.get_running_loop())
    collector.install()
    app[collector_key] = collector
    try:
        yield
    finally:
        collector.uninstall()


async def _context(app: web.Application) -> AsyncIterator[None]:
    """The context handlers use, the delivery, and the events listener that drives it."""
    settings = app[settings_key]
    redis = app[redis_key]
    bots = Bots(
        redis,
        app[resources_key],
        poll_s=settings.faq_poll_s,
        config=MatcherConfig(semantic=settings.faq_semantic, cache_size=settings.match_cache),
    )
    matching = MatchPool(settings.match_workers, settings.match_queue_per_shop)
    ctx = Context(redis, app[scripts_key], settings, bots, app[metrics_key], app[guard_key], matching)
    delivery = Delivery(ctx)
    loops = app[loops_key]
    app[bots_key] = bots
    app[context_key] = ctx
    subscribed = asyncio.Event()
    health = loops.health.setdefault("events", LoopHealth("events"))
    listener = asyncio.create_task(
        listen(redis, health, delivery.dispatch, delivery.catch_up_all, subscribed), name="events"
    )
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(subscribed.wait(), timeout=5)
    log.info("instance_started", instance=settings.instance_id)
    try:
        yield
    finally:
        await stop(listener, *delivery.tasks)
        matching.close()


def _loop_contexts(app: web.Application) -> list[CleanupContext]:
    """Every background loop in its own cleanup context (started after the context)."""
    settings = app[settings_key]
    loops = app[loops_key]

    def ctx() -> Context:
        return app[context_key]

    grace_s = max(settings.agent_grace_s, settings.shopper_grace_s)

    async def janitor() -> None:
        # The janitor takes an expired presence key for a closed browser. While this instance
        # cannot refresh its own sockets' keys (a full Redis refuses the writes) an expired key
        # proves nothing, so it waits, and after they work again it waits one grace period
        # more, until every instance has refreshed its keys: a full Redis never tears down a
        # live chat.
        health = loops.health["janitor"]
        presence = loops.health.get("presence")
        if presence is None or not presence.ok:
            health.extra["paused"] = "presence writes failing"
            return
        if presence.recovered_at is not None and time.time() - presence.recovered_at < grace_s:
            health.extra["paused"] = "presence recovering"
            return
        health.extra.pop("paused", None)
        await Janitor(
            ctx().redis, ctx().scripts, interval_s=0, retention_s=settings.retention_days * 86400
        ).run_once()

    async def match_cache() -> None:
        gauge = ctx().metrics.match_cache
        for shop, (hits, misses) in ctx().bots.cache_info().items():
            gauge.labels(shop, "hit").set(hits)
            gauge.labels(shop, "miss").set(misses)

    async def gc_sweep() -> None:
        collector = app[collector_key]
        await collector.maybe_sweep()
        loops.health["gc-sweep"].extra.update(
            collector.last_sweep, full_collections=collector.full_collections
        )

    async def qa() -> None:
        async def rules(shop: str) -> QaRules:
            return (await ctx().config(shop)).qa

        await QaWorker(ctx().redis, rules).run_once()

    return [
        loops.context("backstop", settings.catch_up_s, lambda: ctx().delivery.backstop()),
        loops.context("payments", 15.0, lambda: check_payments(ctx())),
        loops.context("positions", 1.0, lambda: ctx().delivery.positions()),
        loops.context("places", settings.catch_up_s, lambda: ctx().delivery.check_places()),
        loops.context("presence", settings.presence_interval_s, lambda: ctx().delivery.touch_all()),
        loops.context("logins", settings.presence_interval_s, lambda: ctx().delivery.check_logins()),
        loops.context("janitor", settings.janitor_interval_s, janitor),
        loops.context("faq-watch", settings.faq_poll_s, lambda: ctx().bots.refresh()),
        loops.context("match-cache", settings.presence_interval_s, match_cache),
        loops.context("qa", 1.0, qa),
        loops.context("gc-sweep", 60.0, gc_sweep),
    ]


async def _close_sockets(app: web.Application) -> None:
    """Graceful shutdown: every socket closes with 1001 (going away); clients reconnect elsewhere."""
    if context_key in app:
        await app[context_key].registry.close_all()


# Every REST endpoint: what the app installs and its OpenAPI document describes.
ROUTES = ApiRoutes.merged(
    api.routes,
    admin_faq.routes,
    admin_learning.routes,
    admin_api.routes,
    reports_api.routes,
    commerce_api.routes,
)


def create_app(settings: Settings) -> web.Application:
    quiet_malformed_requests()
    # Every body is read through api._body, which holds each route to its own limit as the body
    # arrives; aiohttp's limit is the largest of them (an orders batch).
    app = web.Application(middlewares=[error_middleware], client_max_size=api.MAX_BODY_BYTES)
    app.on_response_prepare.append(security_headers)
    app[settings_key] = settings
    app[metrics_key] = Metrics()
    app[loops_key] = Loops()
    app.cleanup_ctx.extend([_redis, _passwords, _resources, _context, *_loop_contexts(app)])
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/ws/shopper", shopper_socket)
    app.router.add_get("/ws/agent", agent_socket)
    app[routes_key] = ROUTES
    ROUTES.install(app)
    add_page_routes(app)
    return app
