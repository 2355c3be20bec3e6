"""kefu's own pages: the demo shop, the widget script, the agent console and the admin pages,
served as plain files (no build step) under a strict Content-Security-Policy."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

__all__ = ["STATIC", "add_page_routes", "security_headers"]

STATIC = Path(str(resources.files("kefu.server").joinpath("static")))


def _csp(request: web.Request) -> str:
    host = request.host
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "media-src 'self' data:",
            "font-src 'self'",
            f"connect-src 'self' ws://{host} wss://{host}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


# The widget's ES modules and stylesheets (and the shared modules they import) are loaded by
# shop pages on other origins, and module scripts are fetched in CORS mode. Public files, no
# credentials: any origin may read them.
_CROSS_ORIGIN_STATIC = ("/static/widget/", "/static/common/")
# Public answers any shop page reads, errors included (the widget must read "unknown shop").
_CROSS_ORIGIN_API = ("/api/widget/",)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """An `on_response_prepare` signal: it runs as the headers go out, when every response knows
    its content type (a FileResponse from the /static/ route learns it only then), so each HTML
    page gets the policy whichever route served it."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith(_CROSS_ORIGIN_STATIC):
        response.headers.setdefault("Access-Control-Allow-Origin", "*")
        response.headers.setdefault("Cross-Origin-Resource-Policy", "cross-origin")
    elif request.path.startswith(_CROSS_ORIGIN_API):
        response.headers.setdefault("Access-Control-Allow-Origin", "*")
    if response.content_type == "text/html":
        response.headers["Content-Security-Policy"] = _csp(request)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cache-Control"] = "no-store"


def _page(path: Path) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(path, headers={"Content-Type": "text/html; charset=utf-8"})

    return handler


def add_page_routes(app: web.Application) -> None:
    app.router.add_get("/", _page(STATIC / "shop" / "index.html"))
    app.router.add_get("/console", _page(STATIC / "console" / "index.html"))
    app.router.add_get("/admin", _page(STATIC / "admin" / "index.html"))
    # The widget is loaded by shop pages on other origins: a stable, short URL.
    app.router.add_get("/widget.js", _file(STATIC / "widget" / "widget.js", "text/javascript"))
    app.router.add_get("/widget.css", _file(STATIC / "widget" / "widget.css", "text/css"))
    app.router.add_static("/static/", STATIC, follow_symlinks=False, append_version=False)


def _file(path: Path, content_type: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(
            path,
            headers={
                "Content-Type": f"{content_type}; charset=utf-8",
                "Cache-Control": "public, max-age=300",
                # Shop pages on any origin load the widget; it carries no credentials.
                "Access-Control-Allow-Origin": "*",
                "Cross-Origin-Resource-Policy": "cross-origin",
            },
        )

    return handler
