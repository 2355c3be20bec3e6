"""Admin endpoints for what the bot could not answer and what it learned: the unanswered
questions (grouped) and the learned phrasings to approve or reject."""

from __future__ import annotations

import functools
import re

from aiohttp import web
from pydantic import BaseModel

from kefu.errors import InvalidInput, NotFound
from kefu.faq.corpus import FAQ
from kefu.faq.matcher import Matcher, Suggestion
from kefu.server.admin_faq import PhrasingIn
from kefu.server.api import json_response, read_json, require_admin
from kefu.server.appkeys import context_key, redis_key
from kefu.server.bot import miss_key
from kefu.server.matching import admin_lane
from kefu.server.openapi import ApiRoutes
from kefu.store.faqs import forget_miss, group_misses, misses
from kefu.store.learned import LearnedPhrasing
from kefu.store.shops import ShopStore

__all__ = ["routes"]

routes = ApiRoutes()


class Unanswered(BaseModel):
    text: str
    count: int
    examples: list[str]
    best: Suggestion | None = None


class UnansweredList(BaseModel):
    items: list[Unanswered]


# ---- unanswered questions ----


@routes.route(
    "GET",
    "/api/admin/unanswered",
    summary="Questions the bot could not answer, grouped",
    access="admin",
    response=UnansweredList,
)
async def unanswered(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    try:
        limit = max(1, min(200, int(request.query.get("limit", "50"))))
    except ValueError:
        raise InvalidInput("limit must be a number", code="invalid_limit") from None
    ctx = request.app[context_key]
    lane = admin_lane(shop)  # the admin's work takes its own turns beside the shoppers'
    rows = await misses(ctx.redis, shop, limit * 4)
    groups, _ = await ctx.matching.run(lane, lambda: group_misses(rows))
    matcher = await ctx.bots.matcher(shop)
    version = ctx.bots.version(shop)
    items = []
    for group in groups[:limit]:
        question = group["examples"][0][: ctx.settings.match_chars]
        key = (shop, version, question)
        cached = ctx.suggestions.get(key)
        if cached is None:
            # One question per turn, remembered per corpus version: a reload costs nothing.
            best, _ = await ctx.matching.run(lane, functools.partial(_best, matcher, question))
            cached = (best,)
            ctx.suggestions.put(key, cached)
        items.append(Unanswered(**group, best=cached[0]))
    return json_response(UnansweredList(items=items))


def _best(matcher: Matcher, question: str) -> Suggestion | None:
    """The FAQ the bot would suggest for an unanswered question, if any comes close."""
    best = [c for c in matcher.candidates(question, k=1) if c.score >= matcher.suggest_threshold]
    return best[0] if best else None


class LearnedItem(LearnedPhrasing):
    # The FAQ's canonical question, to show beside the shopper's words ("" if it was deleted).
    faq_question: str = ""


class LearnedList(BaseModel):
    items: list[LearnedItem]
    auto_approve: int


def _learned_id(request: web.Request) -> str:
    cid = request.match_info["id"]
    if not re.fullmatch(r"[0-9a-f]{20}", cid):
        raise NotFound("no such learned phrasing")
    return cid


@routes.route(
    "GET",
    "/api/admin/learned",
    summary="Phrasings the bot learned from suggestions shoppers clicked, most shoppers first",
    access="admin",
    response=LearnedList,
)
async def learned(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    redis = request.app[redis_key]
    ctx = request.app[context_key]
    store = ShopStore(redis, shop)
    corpus, config = await store.corpus(), await store.config()
    items = [
        LearnedItem(
            **item.model_dump(), faq_question=faq.question if (faq := corpus.get(item.faq_id)) else ""
        )
        for item in await ctx.learning(shop).list()
    ]
    return json_response(LearnedList(items=items, auto_approve=config.learn_auto_approve))


@routes.route(
    "POST",
    "/api/admin/learned/{id}/approve",
    summary="Add a learned phrasing to its FAQ (answered directly on every instance within a second)",
    access="admin",
    response=FAQ,
)
async def approve_learned(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    faq = await request.app[context_key].learning(shop).approve(_learned_id(request))
    return json_response(faq)


@routes.route(
    "POST",
    "/api/admin/learned/{id}/reject",
    summary="Reject a learned phrasing for good",
    access="admin",
    status=204,
)
async def reject_learned(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    await request.app[context_key].learning(shop).reject(_learned_id(request))
    return web.Response(status=204)


@routes.route(
    "POST",
    "/api/admin/unanswered/dismiss",
    summary="Drop a question from the unanswered list",
    access="admin",
    body=PhrasingIn,
    status=204,
)
async def dismiss_unanswered(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    body = await read_json(request, PhrasingIn)
    await forget_miss(request.app[redis_key], shop, miss_key(body.text))
    return web.Response(status=204)
