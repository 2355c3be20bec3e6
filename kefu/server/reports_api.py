"""Admin endpoints for numbers: statistics over a period and quality-inspection flags."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from kefu.errors import InvalidInput
from kefu.reports.flags import FlagStore, inspect_period
from kefu.reports.qa import RULES, Flag
from kefu.reports.records import load_records
from kefu.reports.stats import ShopStats, compute_stats
from kefu.server.accounts import Accounts
from kefu.server.api import json_response, require_admin
from kefu.server.appkeys import redis_key
from kefu.server.openapi import ApiRoutes
from kefu.server.shops import ShopConfig, ShopStore

__all__ = ["parse_period", "routes"]

routes = ApiRoutes()
DAY_MS = 86_400_000
# 10000-01-01 in epoch ms: where ISO dates end too, and far inside what JSON numbers carry.
_END_OF_DATES_MS = 253_402_300_800_000


def shop_zone(config: ShopConfig) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(config.business_hours.timezone if config.business_hours else "Asia/Shanghai")


def _instant(value: str, zone: zoneinfo.ZoneInfo, name: str) -> int:
    """Epoch ms from "2026-11-01" (midnight in the shop's time zone) or from epoch ms."""
    if value.isascii() and value.isdigit():  # str.isdigit alone also takes '²' and '١'
        if len(value) > len(str(_END_OF_DATES_MS)) or int(value) >= _END_OF_DATES_MS:
            raise InvalidInput(f"{name} must be before the year 10000", code="invalid_period")
        return int(value)
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{name} is a date (YYYY-MM-DD) or epoch milliseconds", code="invalid_period"
        ) from None
    return int(dt.datetime.combine(day, dt.time(), zone).timestamp() * 1000)


def parse_period(
    since: str | None, until: str | None, zone: zoneinfo.ZoneInfo, *, days: int = 7
) -> tuple[int, int]:
    """[since, until) in epoch ms; by default the last `days` days up to the end of today."""
    today = dt.datetime.now(zone).date()
    end = (
        _instant(until, zone, "until")
        if until
        else _instant((today + dt.timedelta(days=1)).isoformat(), zone, "")
    )
    start = _instant(since, zone, "since") if since else end - days * DAY_MS
    if start >= end:
        raise InvalidInput("since must be before until", code="invalid_period")
    if end - start > 400 * DAY_MS:
        raise InvalidInput("a period is at most 400 days", code="invalid_period")
    return start, end


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


class QaRun(BaseModel):
    conversations_flagged: int
    flags: int


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
    shop, _ = await require_admin(request)
    redis = request.app[redis_key]
    zone = shop_zone(await ShopStore(redis, shop).config())
    since, until = parse_period(request.query.get("since"), request.query.get("until"), zone)
    bucket: Literal["day", "hour"] = "hour" if request.query.get("bucket") == "hour" else "day"
    records = await load_records(redis, shop, since, until)
    result = compute_stats(
        shop,
        records,
        since=since,
        until=until,
        bucket_ms=3_600_000 if bucket == "hour" else DAY_MS,
        agent_names=await _names(request, shop),
    )
    return json_response(result)


@routes.route(
    "GET",
    "/api/admin/qa",
    summary="Quality-inspection flags (filter: agent, rule)",
    access="admin",
    response=QaAnswer,
)
async def qa_flags(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    redis = request.app[redis_key]
    zone = shop_zone(await ShopStore(redis, shop).config())
    since, until = parse_period(request.query.get("since"), request.query.get("until"), zone)
    rule = request.query.get("rule") or None
    if rule is not None and rule not in RULES:
        raise InvalidInput(f"rule is one of {', '.join(RULES)}", code="invalid_rule")
    names = await _names(request, shop)
    agent = request.query.get("agent") or None
    every = await FlagStore(redis, shop).query(since, until, agent=agent, limit=100_000)
    counts = {r: sum(1 for f in every if f.rule == r) for r in RULES}
    flags = [f for f in every if rule is None or f.rule == rule]
    items = [FlagView(**f.model_dump(), agent_name=names.get(f.agent_id or "")) for f in flags[:1000]]
    answer = QaAnswer(
        items=items, rules=list(RULES), agents=names, counts=counts, truncated=len(flags) > 1000
    )
    return json_response(answer)


@routes.route(
    "POST",
    "/api/admin/qa/run",
    summary="Inspect every conversation of a period again",
    access="admin",
    response=QaRun,
)
async def qa_run(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    redis = request.app[redis_key]
    zone = shop_zone(await ShopStore(redis, shop).config())
    since, until = parse_period(request.query.get("since"), request.query.get("until"), zone)
    flags = await inspect_period(redis, shop, since, until, (await ShopStore(redis, shop).config()).qa)
    return json_response(
        QaRun(conversations_flagged=len({f.conversation_id for f in flags}), flags=len(flags))
    )
