"""Admin endpoints for the FAQ corpus: list, edit, try a question, import and export. Every one
refuses agents and sees only the admin's shop."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints

from kefu.errors import InvalidInput, NotFound
from kefu.faq.calibration import Confidence
from kefu.faq.corpus import FAQ, Corpus
from kefu.faq.matcher import MatchResult
from kefu.faq.normalize import normalize
from kefu.server.api import json_response, read_json, read_text, require_admin
from kefu.server.appkeys import context_key, redis_key
from kefu.server.faqs import corpus_from_csv, corpus_from_yaml, corpus_to_csv, faq_from_form, new_faq_id
from kefu.server.matching import admin_lane
from kefu.server.openapi import ApiRoutes
from kefu.store.faqs import add_phrasing, edit_corpus, replace_faq
from kefu.store.shops import ShopStore

__all__ = ["routes"]

routes = ApiRoutes()


class FaqList(BaseModel):
    items: list[FAQ]
    categories: list[str]
    version: int


class FaqForm(BaseModel):
    """An FAQ as the admin form sends it: like FAQ, but the id may be left empty (generated)."""

    model_config = ConfigDict(extra="allow")

    id: str = ""


class PhrasingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class TryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(max_length=5000)]


class Tried(MatchResult):
    """A tried question's result, with the thresholds its decision was taken at (the shop's
    `bot_confidence`): `score` ≥ `answer_at` answers, ≥ `suggest_at` suggests — except that one
    of the shop's own phrasings always answers and a bare keyword several FAQs share is only
    suggested."""

    confidence: Confidence
    answer_at: float
    suggest_at: float


class ImportAnswer(BaseModel):
    faqs: int
    version: int


# ---- FAQ corpus ----


def _matches(faq: FAQ, query: str) -> bool:
    haystack = normalize(
        " ".join([faq.id, faq.category, *faq.phrasings, faq.answer, *faq.answers.values(), *faq.keywords])
    )
    return all(word in haystack for word in normalize(query).split())


@routes.route(
    "GET", "/api/admin/faqs", summary="The FAQ corpus, searchable", access="admin", response=FaqList
)
async def list_faqs(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    store = ShopStore(request.app[redis_key], shop)
    corpus = await store.corpus()
    version = await store.corpus_version()
    q = request.query.get("q", "").strip()
    category = request.query.get("category", "")

    def answer() -> web.Response:
        # Off the event loop: searching and writing out a corpus at its caps takes a while.
        items = [
            f for f in corpus.faqs if (not q or _matches(f, q)) and (not category or f.category == category)
        ]
        categories = sorted({f.category for f in corpus.faqs if f.category})
        return json_response(FaqList(items=items, categories=categories, version=version))

    return await asyncio.to_thread(answer)


def _form(data: FaqForm, corpus: Corpus) -> FAQ:
    values = data.model_dump()
    if not values.get("id"):
        values["id"] = new_faq_id(corpus)
    return faq_from_form(values)


@routes.route(
    "POST",
    "/api/admin/faqs",
    summary="Add an FAQ (id generated when empty)",
    access="admin",
    body=FAQ,
    response=FAQ,
    status=201,
)
async def create_faq(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    form = await read_json(request, FaqForm)
    created: list[FAQ] = []

    def change(corpus: Corpus) -> Corpus:
        faq = _form(form, corpus)
        created.append(faq)
        return replace_faq(corpus, None, faq)

    await edit_corpus(request.app[redis_key], shop, change)
    return json_response(created[-1], status=201)


@routes.route("GET", "/api/admin/faqs/{id}", summary="One FAQ", access="admin", response=FAQ)
async def get_faq(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    faq = (await ShopStore(request.app[redis_key], shop).corpus()).get(request.match_info["id"])
    if faq is None:
        raise NotFound(f"no FAQ {request.match_info['id']!r}")
    return json_response(faq)


@routes.route(
    "PUT",
    "/api/admin/faqs/{id}",
    summary="Replace an FAQ (the body's id may rename it)",
    access="admin",
    body=FAQ,
    response=FAQ,
)
async def update_faq(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    form = await read_json(request, FaqForm)
    old_id = request.match_info["id"]
    if not form.id:
        form.id = old_id
    updated: list[FAQ] = []

    def change(corpus: Corpus) -> Corpus:
        faq = _form(form, corpus)
        updated.append(faq)
        return replace_faq(corpus, old_id, faq)

    await edit_corpus(request.app[redis_key], shop, change)
    return json_response(updated[-1])


@routes.route("DELETE", "/api/admin/faqs/{id}", summary="Delete an FAQ", access="admin", status=204)
async def delete_faq(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    faq_id = request.match_info["id"]

    def change(corpus: Corpus) -> Corpus:
        if corpus.get(faq_id) is None:
            raise NotFound(f"no FAQ {faq_id!r}")
        return corpus.model_copy(update={"faqs": tuple(f for f in corpus.faqs if f.id != faq_id)})

    await edit_corpus(request.app[redis_key], shop, change)
    return web.Response(status=204)


@routes.route(
    "POST",
    "/api/admin/faqs/{id}/phrasings",
    summary="Add a phrasing to an FAQ",
    access="admin",
    body=PhrasingIn,
    response=FAQ,
)
async def add_faq_phrasing(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    body = await read_json(request, PhrasingIn)
    faq = await add_phrasing(request.app[redis_key], shop, request.match_info["id"], body.text)
    return json_response(faq)


@routes.route(
    "POST",
    "/api/admin/try",
    summary="Try a question against the corpus, explained",
    access="admin",
    body=TryIn,
    response=Tried,
)
async def try_question(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    body = await read_json(request, TryIn)
    ctx = request.app[context_key]
    # As the shop's shoppers are answered: at the shop's chosen confidence.
    level = (await ctx.config(shop)).bot_confidence
    matcher = await ctx.bots.matcher(shop, level)
    result, _ = await ctx.matching.run(admin_lane(shop), lambda: matcher.match(body.text))
    tried = Tried(
        **dict(result),
        confidence=level,
        answer_at=matcher.answers_from(result.semantic),
        suggest_at=matcher.suggest_threshold,
    )
    return json_response(tried)


def _format(request: web.Request) -> Literal["yaml", "csv"]:
    fmt = request.query.get("format", "yaml")
    if fmt not in ("yaml", "csv"):
        raise InvalidInput("format is yaml or csv", code="invalid_format")
    return "csv" if fmt == "csv" else "yaml"


@routes.route(
    "GET",
    "/api/admin/corpus",
    summary="Export the corpus (format=yaml|csv)",
    access="admin",
    response="text/yaml",
)
async def export_corpus(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    fmt = _format(request)
    corpus = await ShopStore(request.app[redis_key], shop).corpus()
    text = await asyncio.to_thread(corpus_to_csv if fmt == "csv" else Corpus.to_yaml, corpus)
    return web.Response(
        text=text,
        content_type="text/csv" if fmt == "csv" else "application/yaml",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="kefu-faq-{shop}.{fmt}"'},
    )


@routes.route(
    "PUT",
    "/api/admin/corpus",
    summary="Replace the corpus with an uploaded file (format=yaml|csv)",
    access="admin",
    body="text/plain",
    response=ImportAnswer,
)
async def import_corpus(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    fmt = _format(request)
    text = await read_text(request, limit=2 << 20)
    # Parsing a 2 MiB upload takes a while: off the event loop.
    parse = corpus_from_csv if fmt == "csv" else corpus_from_yaml
    corpus = await asyncio.to_thread(parse, text, shop)
    version = await ShopStore(request.app[redis_key], shop).save_corpus(corpus)
    return json_response(ImportAnswer(faqs=len(corpus.faqs), version=version))
