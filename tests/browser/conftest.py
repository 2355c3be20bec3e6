"""Browser tests: a real `kefu serve` process, the test Redis, and Debian's Chromium driven by
Playwright (executable_path; Playwright downloads nothing)."""

from __future__ import annotations

import contextlib
import http.client
import http.server
import itertools
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from redis.asyncio import Redis

from kefu.faq.corpus import default_corpus
from kefu.redisserver import RedisServer, free_port
from kefu.store.accounts import Accounts
from kefu.store.client import connect
from kefu.store.shops import ShopConfig, ShopStore
from tests.limits import loose_env

ARTIFACTS = Path(__file__).parent.parent.parent / "test-artifacts"
PASSWORD = "browser-test-password"
# The pretend shop site that embeds the widget runs on "localhost" (kefu on "127.0.0.1"), so the
# widget is cross-origin as on a real shop. It is a real server: Chromium refuses loopback
# requests from pages that are not themselves on the local network.
SHOP_PORT = free_port()
SHOP_ORIGIN = f"http://localhost:{SHOP_PORT}"
CHROMIUM = os.environ.get("KEFU_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = pytest.mark.browser
_shops = itertools.count(1)


@pytest.fixture(scope="session")
def server(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real kefu process on a free port, on the test Redis."""
    port = free_port()
    env = {
        **os.environ,
        "KEFU_REDIS_URL": redis_server.url,
        "KEFU_PORT": str(port),
        "KEFU_HOST": "127.0.0.1",
        "KEFU_SECRET_KEY": "browser-test-secret-0123456789-0123456789",
        "KEFU_DATA_DIR": str(tmp_path_factory.mktemp("kefu-data")),
        "KEFU_ALLOWED_ORIGINS": f"http://127.0.0.1:*,{SHOP_ORIGIN}",
        "KEFU_PRESENCE_INTERVAL_S": "0.5",
        "KEFU_FAQ_POLL_S": "0.3",
        "KEFU_LOG_JSON": "true",
        "KEFU_WORKERS": "1",
        **loose_env(),
    }
    log = (tmp_path_factory.mktemp("logs") / "kefu.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kefu", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.1)
        finally:
            conn.close()
    else:
        proc.kill()
        raise RuntimeError("kefu did not start")
    yield base
    proc.terminate()
    proc.wait(timeout=15)
    log.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    # Per test: a session-wide browser would need a session-wide event loop for every test.
    if not Path(CHROMIUM).exists():
        pytest.skip("no Chromium: install Debian's chromium (./scripts/test does)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-dev-shm-usage",
            ],
        )
        yield browser
        await browser.close()


@pytest.fixture
async def store(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """A client on the same Redis as the server (not flushed: the server keeps running)."""
    client = connect(redis_server.url)
    yield client
    await client.aclose()


async def new_shop(redis: Redis, *, agents: dict[str, int] | None = None, admin: bool = False) -> str:
    """A fresh shop per test: the default FAQ, the pretend shop site allowed, some accounts."""
    shop = f"b{next(_shops)}-{os.getpid()}"
    store = ShopStore(redis, shop)
    await store.create(ShopConfig(name="测试小店", allowed_origins=[SHOP_ORIGIN, "http://127.0.0.1:*"]))
    await store.save_corpus(default_corpus())
    accounts = Accounts(redis, shop)
    for username, capacity in (agents or {}).items():
        await accounts.add(username, PASSWORD, role="agent", name=f"客服{username}", capacity=capacity)
    if admin:
        await accounts.add("boss", PASSWORD, role="admin", name="店长")
    return shop


class Watch:
    """Collects what must never happen on a page: JS errors, CSP violations, dialogs."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []

    def attach(self, page: Page) -> Page:
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: (
                self.errors.append(f"console: {msg.text}")
                if msg.type == "error" and "Content Security Policy" in msg.text
                else None
            ),
        )

        async def dismiss(dialog: object) -> None:
            self.dialogs.append(getattr(dialog, "message", ""))
            await dialog.dismiss()  # type: ignore[attr-defined]

        page.on("dialog", dismiss)
        return page


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
async def context(browser: Browser, server: str) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    await ctx.grant_permissions(["notifications"], origin=server)
    yield ctx
    await ctx.close()


def shop_page_html(server: str, shop: str, *, hostile_css: bool = False, lang: str | None = "zh") -> str:
    css = (
        """<style>
      * { all: unset !important; font-size: 40px !important; color: red !important; }
      button, div, span, p, input, textarea { display: inline !important; position: static !important;
        width: 10px !important; height: 10px !important; transform: rotate(7deg) !important; }
      body { font-family: serif !important; background: yellow !important; }
    </style>"""
        if hostile_css
        else ""
    )
    lang_attr = f' data-lang="{lang}"' if lang else ""
    return f"""<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>Shop</title>{css}</head>
      <body><h1>Some shop</h1><p>Products…</p>
      <script src="{server}/widget.js" data-shop="{shop}"{lang_attr} async></script>
      </body></html>"""


@contextlib.contextmanager
def html_site(port: int, page: Callable[[urllib.parse.SplitResult], str]) -> Iterator[None]:
    """A real HTTP server on 127.0.0.1:`port` answering every GET with `page(url)` as HTML (a
    page Playwright fulfils counts as public, and Chromium then refuses its loopback requests)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            body = page(urllib.parse.urlsplit(self.path)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="session", autouse=True)
def shop_site(server: str) -> Iterator[str]:
    """Serves /SHOP (and /SHOP?hostile=1, with CSS that attacks everything) embedding the widget."""

    def page(url: urllib.parse.SplitResult) -> str:
        query = urllib.parse.parse_qs(url.query)
        lang = query.get("lang", ["zh"])[0]
        return shop_page_html(
            server,
            url.path.strip("/") or "demo",
            hostile_css="hostile" in query,
            lang=None if lang == "browser" else lang,
        )

    with html_site(SHOP_PORT, page):
        yield SHOP_ORIGIN


async def open_shop(
    context: BrowserContext, server: str, shop: str, watch: Watch, *, hostile_css: bool = False
) -> Page:
    """A page of the pretend shop site embedding the widget from kefu, as a real shop would."""
    page = watch.attach(await context.new_page())
    await page.goto(f"{SHOP_ORIGIN}/{shop}" + ("?hostile=1" if hostile_css else ""))
    return page


async def open_widget(page: Page) -> None:
    await page.get_by_test_id("kefu-launcher").click()
    await page.get_by_test_id("kefu-input").wait_for()


async def ask(page: Page, text: str) -> None:
    await page.get_by_test_id("kefu-input").fill(text)
    await page.get_by_test_id("kefu-send").click()


async def console_login(page: Page, server: str, shop: str, username: str, *, online: bool = True) -> None:
    await page.goto(f"{server}/console")
    await page.get_by_test_id("login-shop").fill(shop)
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.get_by_test_id("status-select").wait_for()
    if online:
        await page.get_by_test_id("status-select").select_option("online")
        await page.wait_for_timeout(300)


async def admin_login(page: Page, server: str, shop: str) -> None:
    await page.goto(f"{server}/admin")
    await page.get_by_test_id("login-shop").fill(shop)
    await page.get_by_test_id("login-username").fill("boss")
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.get_by_test_id("app-shell").wait_for()


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
