"""Admin endpoints for numbers: statistics over a period and quality-inspection flags."""

from __future__ import annotations

import asyncio
from typing import Literal

from aiohttp import web
from pydantic import BaseModel
from redis.asyncio import Redis

from kefu.errors import InvalidInput
from kefu.reports.flags import FlagStore, inspect_period
from kefu.reports.period import DAY_MS, parse_period, shop_zone
from kefu.reports.qa import RULES, Flag
from kefu.reports.records import load_records
from kefu.reports.sales import Sales, load_sales
from kefu.reports.stats import ShopStats, compute_stats
from kefu.server.api import json_response, require_admin
from kefu.server.appkeys import redis_key
from kefu.server.openapi import ApiRoutes
from kefu.store.accounts import Accounts
from kefu.store.shops import ShopStore

__all__ = ["routes"]

routes = ApiRoutes()


class FlagView(Flag):
    agent_name: str | None = None


class QaAnswer(BaseModel):
    items: list[FlagView]
    rules: list[str]
    agents: dict[str, str]
    # Flags per rule in the period (for the agent filter, whatever the rule filter).
    counts: dict[str, int]
    # True when more flags matched than `items` holds (the newest 1000 are returned).
    truncated: bool = False


@routes.route(
    "GET",
    "/api/admin/sales",
    summary="Sales numbers per agent and for the bot over a period (since/until: YYYY-MM-DD or ms)",
    access="admin",
    response=Sales,
)
async def sales(request: web.Request) -> web.Response:
    shop, redis, since, until = await _admin_period(request)
    lang = request.query.get("lang", "zh")
    names = {
        **await _names(request, shop),
        "bot": "Bot" if lang == "en" else "机器人",
        "all": "Team" if lang == "en" else "全体",
    }
    return json_response(await load_sales(redis, shop, since, until, names))


class QaRun(BaseModel):
    conversations_flagged: int
    flags: int


async def _admin_period(request: web.Request) -> tuple[str, Redis, int, int]:
    """The admin's shop, Redis, and the period of `since`/`until` on the shop's clock."""
    shop, _ = await require_admin(request)
    redis = request.app[redis_key]
    zone = shop_zone(await ShopStore(redis, shop).config())
    since, until = parse_period(request.query.get("since"), request.query.get("until"), zone)
    return shop, redis, since, until


async def _names(request: web.Request, shop: str) -> dict[str, str]:
    return {u.id: u.name for u in await Accounts(request.app[redis_key], shop).all()}


@routes.route(
    "GET",
    "/api/admin/stats",
    summary="Statistics over a period (since/until: YYYY-MM-DD or ms)",
    access="admin",
    response=ShopStats,
)
async def stats(request: web.Request) -> web.Response:
    shop, redis, since, until = await _admin_period(request)
    bucket: Literal["day", "hour"] = "hour" if request.query.get("bucket") == "hour" else "day"
    records = await load_records(redis, shop, since, until)
    names = await _names(request, shop)

    def answer() -> web.Response:
        # Off the event loop: a busy period is hundreds of thousands of conversations.
        result = compute_stats(
            shop,
            records,
            since=since,
            until=until,
            bucket_ms=3_600_000 if bucket == "hour" else DAY_MS,
            agent_names=names,
        )
        return json_response(result)

    return await asyncio.to_thread(answer)


@routes.route(
    "GET",
    "/api/admin/qa",
    summary="Quality-inspection flags (filter: agent, rule)",
    access="admin",
    response=QaAnswer,
)
async def qa_flags(request: web.Request) -> web.Response:
    shop, redis, since, until = await _admin_period(request)
    rule = request.query.get("rule") or None
    if rule is not None and rule not in RULES:
        raise InvalidInput(f"rule is one of {', '.join(RULES)}", code="invalid_rule")
    names = await _names(request, shop)
    agent = request.query.get("agent") or None
    every = await FlagStore(redis, shop).query(since, until, agent=agent, limit=100_000)

    def answer() -> web.Response:
        # Off the event loop, like the flags' parsing in `query`: a period may hold 100,000.
        counts = {r: sum(1 for f in every if f.rule == r) for r in RULES}
        flags = [f for f in every if rule is None or f.rule == rule]
        items = [FlagView(**f.model_dump(), agent_name=names.get(f.agent_id or "")) for f in flags[:1000]]
        return json_response(
            QaAnswer(items=items, rules=list(RULES), agents=names, counts=counts, truncated=len(flags) > 1000)
        )

    return await asyncio.to_thread(answer)


@routes.route(
    "POST",
    "/api/admin/qa/run",
    summary="Inspect every conversation of a period again",
    access="admin",
    response=QaRun,
)
async def qa_run(request: web.Request) -> web.Response:
    shop, redis, since, until = await _admin_period(request)
    flags = await inspect_period(redis, shop, since, until, (await ShopStore(redis, shop).config()).qa)
    return json_response(
        QaRun(conversations_flagged=len({f.conversation_id for f in flags}), flags=len(flags))
    )
