"""Admin endpoints: the FAQ corpus (edit, try, import/export), unanswered questions, shop
settings, accounts and quick replies. Every one refuses agents and sees only the admin's shop."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, cast

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from rapidfuzz import fuzz

from kefu.errors import Conflict, InvalidInput, NotFound, Unprocessable
from kefu.faq.corpus import FAQ, Corpus
from kefu.faq.matcher import MatchResult, Suggestion
from kefu.faq.normalize import normalize
from kefu.server.api import QuickReplies, json_response, read_json, read_text, require_admin
from kefu.server.appkeys import bots_key, hub_key, passwords_key, redis_key, scripts_key
from kefu.server.bot import miss_key
from kefu.server.faqs import corpus_from_csv, corpus_from_yaml, corpus_to_csv, faq_from_form, new_faq_id
from kefu.server.openapi import ApiRoutes
from kefu.store.accounts import Accounts, Role, UserView
from kefu.store.faqs import SAME_QUESTION, add_phrasing, edit_corpus, forget_miss, replace_faq
from kefu.store.keys import ShopKeys
from kefu.store.learned import LearnedPhrasing
from kefu.store.shops import ShopConfig, ShopStore
from kefu.store.transfer import Queue

__all__ = ["routes"]

routes = ApiRoutes()

Username = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,39}$")]
GroupName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]


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


class ImportAnswer(BaseModel):
    faqs: int
    version: int


class Unanswered(BaseModel):
    text: str
    count: int
    examples: list[str]
    best: Suggestion | None = None


class UnansweredList(BaseModel):
    items: list[Unanswered]


class UsersList(BaseModel):
    items: list[UserView]


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    password: Annotated[str, StringConstraints(min_length=8, max_length=256)]
    role: Role
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] | None = None
    capacity: Annotated[int, Field(ge=0, le=50)] = 3
    groups: list[GroupName] = Field(default_factory=lambda: ["general"])


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] | None = None
    role: Role | None = None
    capacity: Annotated[int, Field(ge=0, le=50)] | None = None
    groups: list[GroupName] | None = None
    disabled: bool | None = None


class NewPassword(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: Annotated[str, StringConstraints(min_length=8, max_length=256)]


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
    q = request.query.get("q", "").strip()
    category = request.query.get("category", "")
    items = [f for f in corpus.faqs if (not q or _matches(f, q)) and (not category or f.category == category)]
    categories = sorted({f.category for f in corpus.faqs if f.category})
    return json_response(FaqList(items=items, categories=categories, version=await store.corpus_version()))


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
    response=MatchResult,
)
async def try_question(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    body = await read_json(request, TryIn)
    matcher = await request.app[bots_key].matcher(shop)
    return json_response(matcher.match(body.text))


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
    text = corpus_to_csv(corpus) if fmt == "csv" else corpus.to_yaml()
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
    text = await read_text(request)
    corpus = corpus_from_csv(text, shop) if fmt == "csv" else corpus_from_yaml(text, shop)
    _, version = await edit_corpus(request.app[redis_key], shop, lambda _: corpus)
    return json_response(ImportAnswer(faqs=len(corpus.faqs), version=version))


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
    redis = request.app[redis_key]
    keys = ShopKeys(shop)
    ranked = cast(
        list[tuple[str, float]], await redis.zrevrange(keys.misses, 0, limit * 4 - 1, withscores=True)
    )
    examples = await redis.hmget(keys.miss_examples, [text for text, _ in ranked]) if ranked else []
    groups: list[dict[str, Any]] = []
    for (text, count), example in zip(ranked, examples, strict=True):
        # Near-identical questions ("包邮吗" / "包邮吗亲") count as one.
        home = next((g for g in groups if fuzz.ratio(g["text"], text) >= SAME_QUESTION), None)
        if home is None:
            groups.append({"text": text, "count": int(count), "examples": [str(example or text)]})
        else:
            home["count"] += int(count)
            if len(home["examples"]) < 5:
                home["examples"].append(str(example or text))
    groups.sort(key=lambda g: -g["count"])
    matcher = await request.app[bots_key].matcher(shop)
    items = []
    for group in groups[:limit]:
        best = [
            c for c in matcher.candidates(group["examples"][0], k=1) if c.score >= matcher.suggest_threshold
        ]
        items.append(Unanswered(**group, best=best[0] if best else None))
    return json_response(UnansweredList(items=items))


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
    hub = request.app[hub_key]
    store = ShopStore(redis, shop)
    corpus, config = await store.corpus(), await store.config()
    items = [
        LearnedItem(
            **item.model_dump(), faq_question=faq.question if (faq := corpus.get(item.faq_id)) else ""
        )
        for item in await hub.learning(shop).list()
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
    faq = await request.app[hub_key].learning(shop).approve(_learned_id(request))
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
    await request.app[hub_key].learning(shop).reject(_learned_id(request))
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


# ---- settings, accounts, quick replies ----


@routes.route(
    "GET", "/api/admin/settings", summary="The shop's settings", access="admin", response=ShopConfig
)
async def get_settings(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    return json_response(await ShopStore(request.app[redis_key], shop).config())


@routes.route(
    "PUT",
    "/api/admin/settings",
    summary="Change the shop's settings",
    access="admin",
    body=ShopConfig,
    response=ShopConfig,
)
async def put_settings(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    store = ShopStore(request.app[redis_key], shop)
    current = (await store.config()).model_dump(mode="json")
    changes = await read_json(request, _Changes)
    config = await _validated_config({**current, **changes.model_dump(exclude_unset=True)})
    await store.save_config(config)
    return json_response(config)


class _Changes(BaseModel):
    """Any subset of ShopConfig's fields (validated together with the current settings)."""

    model_config = ConfigDict(extra="allow")


async def _validated_config(data: dict[str, Any]) -> ShopConfig:
    try:
        return ShopConfig.model_validate(data)
    except ValidationError as exc:
        details = [
            {
                "field": ".".join(str(p) for p in e["loc"]),
                "message": "unknown field"
                if e["type"] == "extra_forbidden"
                else e["msg"].removeprefix("Value error, "),
            }
            for e in exc.errors()
        ]
        raise Unprocessable(
            "invalid settings: " + "; ".join(f"{d['field']}: {d['message']}" for d in details),
            details=details,
        ) from None


@routes.route(
    "GET", "/api/admin/users", summary="The shop's agents and admins", access="admin", response=UsersList
)
async def list_users(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    users = await Accounts(request.app[redis_key], shop).all()
    return json_response(UsersList(items=[u.view() for u in users]))


@routes.route(
    "POST",
    "/api/admin/users",
    summary="Add an account",
    access="admin",
    body=NewUser,
    response=UserView,
    status=201,
)
async def add_user(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    body = await read_json(request, NewUser)
    user = await Accounts(request.app[redis_key], shop, request.app[passwords_key]).add(
        body.username,
        body.password,
        role=body.role,
        name=body.name,
        capacity=body.capacity,
        groups=body.groups,
    )
    return json_response(user.view(), status=201)


@routes.route(
    "PATCH",
    "/api/admin/users/{username}",
    summary="Change name, role, capacity, groups or disable",
    access="admin",
    body=UserChange,
    response=UserView,
)
async def change_user(request: web.Request) -> web.Response:
    shop, admin = await require_admin(request)
    body = await read_json(request, UserChange)
    redis = request.app[redis_key]
    if request.match_info["username"] == admin.username and (body.disabled or body.role == "agent"):
        # The shop must never lock its last door from the inside.
        raise Conflict("you cannot disable yourself or give up your own admin role", code="self_lockout")
    user = await Accounts(redis, shop, request.app[passwords_key]).update(
        request.match_info["username"], **body.model_dump(exclude_unset=True)
    )
    if body.capacity is not None and not user.disabled:
        # A raised capacity serves the queue at once.
        await Queue(redis, request.app[scripts_key], shop).set_agent(user.id, capacity=user.capacity)
    return json_response(user.view())


@routes.route(
    "POST",
    "/api/admin/users/{username}/password",
    summary="Set a new password (old tokens stop)",
    access="admin",
    body=NewPassword,
    status=204,
)
async def reset_password(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    body = await read_json(request, NewPassword)
    await Accounts(request.app[redis_key], shop, request.app[passwords_key]).update(
        request.match_info["username"], password=body.password
    )
    return web.Response(status=204)


@routes.route(
    "PUT",
    "/api/admin/quick-replies",
    summary="Replace the shop's quick replies",
    access="admin",
    body=QuickReplies,
    response=QuickReplies,
)
async def put_quick_replies(request: web.Request) -> web.Response:
    shop, _ = await require_admin(request)
    body = await read_json(request, QuickReplies)
    await request.app[redis_key].set(ShopKeys(shop).quick_replies, orjson.dumps(body.model_dump()))
    return json_response(body)
