"""Admin endpoints for the shop: settings, accounts and quick replies. Every one refuses agents
and sees only the admin's shop."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from kefu.errors import Conflict, Unprocessable
from kefu.ids import GroupName, Username
from kefu.server.api import QuickReplies, json_response, read_json, require_admin
from kefu.server.appkeys import context_key, passwords_key, redis_key, scripts_key
from kefu.server.openapi import ApiRoutes
from kefu.store.accounts import Accounts, Role, UserView, check_groups
from kefu.store.shops import ShopConfig, ShopStore
from kefu.store.transfer import Queue

__all__ = ["routes"]

routes = ApiRoutes()


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
    # This instance at once (the others on the published event): the admin's next try-a-question
    # and every shopper's next turn see the new settings.
    request.app[context_key].forget_config(shop)
    return json_response(config)


class _Changes(BaseModel):
    """Any subset of ShopConfig's fields (validated together with the current settings)."""

    model_config = ConfigDict(extra="allow")


async def _validated_config(data: dict[str, Any]) -> ShopConfig:
    try:
        return ShopConfig.model_validate(data)
    except ValidationError as exc:
        raise Unprocessable.from_validation(exc, "invalid settings") from None


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
    check_groups(body.groups, (await ShopStore(request.app[redis_key], shop).config()).groups)
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
    accounts = Accounts(redis, shop, request.app[passwords_key], request.app[scripts_key])
    if body.groups is not None:
        held = (await accounts.get(request.match_info["username"])).groups
        check_groups(body.groups, (await ShopStore(redis, shop).config()).groups, held=held)
    user = await accounts.update(request.match_info["username"], **body.model_dump(exclude_unset=True))
    queue = Queue(redis, request.app[scripts_key], shop)
    if body.disabled:
        # Revoked now, everywhere: its sockets close and its chats go back to the queue.
        await queue.leave(user.id, "disabled")
    elif body.capacity is not None and not user.disabled:
        # A raised capacity serves the queue at once.
        await queue.set_agent(user.id, capacity=user.capacity)
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
    user = await Accounts(
        request.app[redis_key], shop, request.app[passwords_key], request.app[scripts_key]
    ).update(request.match_info["username"], password=body.password)
    # Old tokens stopped with the new password: its open sockets close and its chats go back
    # to the queue (the agent signs in again with the new password).
    await Queue(request.app[redis_key], request.app[scripts_key], shop).leave(user.id, "password")
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
    await ShopStore(request.app[redis_key], shop).save_quick_replies(orjson.dumps(body.model_dump()))
    return json_response(body)
