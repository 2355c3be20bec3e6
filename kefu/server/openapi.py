"""A route table that also describes itself: every JSON endpoint is registered with its body,
answer and access, and `/api/openapi.json` is generated from the same table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel

__all__ = ["ApiRoutes", "Endpoint"]

# shop_key: the shop's orders API key (its own systems), not a user's login.
Access = Literal["public", "user", "admin", "shop_key"]
HandlerT = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: HandlerT
    summary: str
    access: Access
    body: type[BaseModel] | str | None
    response: type[BaseModel] | str | None
    status: int


class ApiRoutes:
    """Like aiohttp's RouteTableDef, plus what OpenAPI needs."""

    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        access: Access = "user",
        body: type[BaseModel] | str | None = None,
        response: type[BaseModel] | str | None = None,
        status: int = 200,
    ) -> Callable[[HandlerT], HandlerT]:
        """`body`/`response` are models, or a media type for raw bodies ("text/plain", "text/csv")."""

        def register(handler: HandlerT) -> HandlerT:
            self.endpoints.append(Endpoint(method, path, handler, summary, access, body, response, status))
            return handler

        return register

    @classmethod
    def merged(cls, *tables: ApiRoutes) -> ApiRoutes:
        merged = cls()
        for table in tables:
            merged.endpoints.extend(table.endpoints)
        return merged

    def install(self, app: web.Application) -> None:
        for e in self.endpoints:
            app.router.add_route(e.method, e.path, e.handler)

    def openapi(self, *, title: str, version: str) -> dict[str, Any]:
        schemas: dict[str, Any] = {"Error": _ERROR}
        paths: dict[str, Any] = {}

        def ref(model: type[BaseModel]) -> dict[str, str]:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in schema.pop("$defs", {}).items():
                schemas.setdefault(name, sub)
            schemas.setdefault(model.__name__, schema)
            return {"$ref": f"#/components/schemas/{model.__name__}"}

        def content(kind: type[BaseModel] | str) -> dict[str, Any]:
            if isinstance(kind, str):
                return {kind: {"schema": {"type": "string"}}}
            return {"application/json": {"schema": ref(kind)}}

        for e in self.endpoints:
            op: dict[str, Any] = {"summary": e.summary, "operationId": e.handler.__name__}
            params = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in _path_params(e.path)
            ]
            if params:
                op["parameters"] = params
            if e.body is not None:
                op["requestBody"] = {"required": True, "content": content(e.body)}
            answer: dict[str, Any] = {"description": "OK"}
            if e.response is not None:
                answer["content"] = content(e.response)
            op["responses"] = {
                str(e.status): answer,
                "4XX": {
                    "description": "error",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
            }
            if e.access == "shop_key":
                op["security"] = [{"shopKey": []}]
            elif e.access != "public":
                op["security"] = [{"bearer": []}]
                if e.access == "admin":
                    op["description"] = "Admins only (agents get 403)."
            paths.setdefault(e.path, {})[e.method.lower()] = op
        return {
            "openapi": "3.1.0",
            "info": {"title": title, "version": version},
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                    "shopKey": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "the shop's orders API key (admin → settings → orders API)",
                    },
                },
            },
        }


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "field": {"type": "string"},
                            "code": {"type": "string"},
                            "params": {"type": "object"},
                            "message": {"type": "string"},
                        },
                        "required": ["field", "message"],
                    },
                },
            },
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}
