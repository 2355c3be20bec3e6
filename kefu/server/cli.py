"""`kefu serve`, `kefu user add`, `kefu faq import`: run the server and manage shops from a shell."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
from aiohttp import web
from redis.asyncio import Redis

from kefu.errors import Conflict, KefuError
from kefu.faq.corpus import default_corpus, load_corpus
from kefu.logs import configure_logging
from kefu.redisserver import embedded_redis
from kefu.server.app import create_app
from kefu.settings import Settings
from kefu.store.accounts import Accounts
from kefu.store.client import connect
from kefu.store.shops import ShopStore, valid_shop_id

__all__ = ["add_faq_import", "add_server_commands"]

log = structlog.get_logger(__name__)

DEMO_SHOP = "demo"
DEMO_USERS = (
    ("admin", "admin", "店长", "kefu-admin-demo"),
    ("agent1", "agent", "客服小王", "kefu-agent-demo"),
    ("agent2", "agent", "客服小李", "kefu-agent-demo"),
)


def add_server_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", help="run the chat server")
    serve.add_argument(
        "--demo", action="store_true", help="set up shop 'demo' with the default FAQ and demo users"
    )
    serve.add_argument("--host", help="listen address (default KEFU_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default KEFU_PORT or 8080)")
    serve.set_defaults(handler=_serve)

    user = commands.add_parser("user", help="manage agent and admin accounts")
    user_commands = user.add_subparsers(dest="user_command", required=True, metavar="COMMAND")
    add = user_commands.add_parser("add", help="add an account; the password is read from stdin or a prompt")
    add.add_argument("shop")
    add.add_argument("username")
    add.add_argument("--role", choices=["agent", "admin"], required=True)
    add.add_argument("--name", help="display name (default: the username)")
    add.add_argument("--capacity", type=int, default=3, help="chats at once (default 3)")
    add.add_argument("--groups", default="general", help="comma-separated skill groups (default: general)")
    add.set_defaults(handler=_user_add)


def add_faq_import(faq_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    imp = faq_commands.add_parser(
        "import", help="load a corpus into a shop (created if needed); live within 1 s"
    )
    imp.add_argument("shop")
    imp.add_argument("file", type=Path)
    imp.set_defaults(handler=_faq_import)


# ---- Redis for the commands ----


@contextlib.asynccontextmanager
async def _redis(settings: Settings) -> AsyncIterator[Redis]:
    assert settings.redis_url
    redis = connect(settings.redis_url)
    try:
        yield redis
    finally:
        await redis.aclose()


# ---- commands ----


def _serve(args: argparse.Namespace) -> int:
    settings = Settings()
    updates = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    settings = settings.model_copy(update=updates)
    configure_logging(settings.log_level, json=settings.log_json)
    with embedded_redis(settings) as settings:
        if not Settings().redis_url:
            log.info("redis_embedded", data_dir=str(settings.data_dir.resolve()))
        if args.demo:
            asyncio.run(_setup_demo(settings))
        web.run_app(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            access_log=None,
            print=lambda _: _banner(settings, args.demo),
            shutdown_timeout=10,
            loop=_event_loop(),
        )
    return 0


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (it is a dependency off Windows): about a third less CPU
    per routed message than asyncio's own loop (docs/benchmarks.md)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _banner(settings: Settings, demo: bool) -> None:
    base = f"http://{settings.host}:{settings.port}"
    lines = [f"kefu is listening on {base}"]
    if demo:
        admin, agent = DEMO_USERS[0], DEMO_USERS[1]
        lines += [
            f"  shop page with the chat widget  {base}/",
            f"  agent console                   {base}/console   shop {DEMO_SHOP}, {agent[0]} / {agent[3]}",
            f"  admin                           {base}/admin     shop {DEMO_SHOP}, {admin[0]} / {admin[3]}",
            "  (demo accounts: for trying kefu on your machine, not for production)",
        ]
    print("\n".join(lines), flush=True)


async def _setup_demo(settings: Settings) -> None:
    async with _redis(settings) as redis:
        store = ShopStore(redis, DEMO_SHOP)
        await store.create()
        if not (await store.corpus()).faqs:
            await store.save_corpus(default_corpus())
        accounts = Accounts(redis, DEMO_SHOP)
        for username, role, name, password in DEMO_USERS:
            with contextlib.suppress(Conflict):
                await accounts.add(username, password, role=role, name=name, capacity=3)  # type: ignore[arg-type]


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise KefuError("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def _user_add(args: argparse.Namespace) -> int:
    if not valid_shop_id(args.shop):
        raise KefuError(f"invalid shop id {args.shop!r}: use a-z, 0-9, '-' and '_'")
    password = _read_password()
    groups = [g.strip() for g in args.groups.split(",") if g.strip()]

    async def run(settings: Settings) -> None:
        async with _redis(settings) as redis:
            await ShopStore(redis, args.shop).create()
            user = await Accounts(redis, args.shop).add(
                args.username, password, role=args.role, name=args.name, capacity=args.capacity, groups=groups
            )
            print(f"added {user.role} {user.username} ({user.name}) to shop {args.shop}, id {user.id}")

    with embedded_redis(Settings()) as settings:
        asyncio.run(run(settings))
    return 0


def _faq_import(args: argparse.Namespace) -> int:
    if not valid_shop_id(args.shop):
        raise KefuError(f"invalid shop id {args.shop!r}: use a-z, 0-9, '-' and '_'")
    corpus = load_corpus(args.file)

    async def run(settings: Settings) -> None:
        async with _redis(settings) as redis:
            store = ShopStore(redis, args.shop)
            created = await store.create()
            version = await store.save_corpus(corpus)
            print(
                f"{'created shop' if created else 'shop'} {args.shop}: {len(corpus.faqs)} FAQs loaded "
                f"(version {version})"
            )

    with embedded_redis(Settings()) as settings:
        asyncio.run(run(settings))
    return 0
