"""`kefu serve`, `kefu shop …`, `kefu user add`, `kefu faq import`: run the server and manage
shops from a shell."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import getpass
import multiprocessing.synchronize
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import structlog
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from kefu.errors import Conflict, KefuError
from kefu.faq.corpus import default_corpus, load_corpus
from kefu.ids import valid_shop_id
from kefu.logs import configure_logging
from kefu.redisserver import embedded_redis
from kefu.server.app import create_app
from kefu.server.workers import Supervisor, exit_with_parent
from kefu.settings import Settings
from kefu.store.accounts import Accounts, check_groups
from kefu.store.client import connect, redacted
from kefu.store.commerce import Commerce, Order
from kefu.store.scripts import Scripts
from kefu.store.shops import ShopConfig, ShopStore, all_shops, shop_exists

__all__ = ["add_faq_import", "add_server_commands", "run_command"]

log = structlog.get_logger(__name__)

DEMO_SHOP = "demo"
# The signed-in customer of the demo shop page (with orders in several states).
DEMO_CUSTOMER = "demo-customer-1"
DEMO_NAME = "kefu 演示店"
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
    serve.add_argument(
        "--workers",
        type=int,
        help="processes serving the port, each a full instance (default KEFU_WORKERS, else one per core)",
    )
    serve.set_defaults(handler=_serve)

    shop = commands.add_parser("shop", help="create and inspect shops")
    shop_commands = shop.add_subparsers(dest="shop_command", required=True, metavar="COMMAND")
    shop_add = shop_commands.add_parser("add", help="create a shop (its FAQ starts empty)")
    shop_add.add_argument("shop", help="shop id: a-z, 0-9, '-' and '_'")
    shop_add.add_argument("--name", default="", help="display name shown to shoppers and agents")
    shop_add.add_argument("--default-faq", action="store_true", help="start with kefu's default FAQ")
    shop_add.set_defaults(handler=_shop_add)
    shop_list = shop_commands.add_parser("list", help="every shop with its name, FAQs and accounts")
    shop_list.set_defaults(handler=_shop_list)
    shop_show = shop_commands.add_parser("show", help="one shop's settings, FAQ and accounts")
    shop_show.add_argument("shop")
    shop_show.set_defaults(handler=_shop_show)

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
    """A client on the command's Redis; one line (not a traceback) when it cannot be reached."""
    assert settings.redis_url
    redis = connect(settings.redis_url)
    try:
        try:
            await redis.ping()
        except (RedisError, OSError) as exc:
            raise KefuError(f"cannot reach Redis at {redacted(settings.redis_url)}: {exc}") from None
        yield redis
    finally:
        await redis.aclose()


def run_command(command: Callable[[Redis], Awaitable[None]]) -> int:
    """Run an async command against the configured (or embedded) Redis."""

    async def run(settings: Settings) -> None:
        async with _redis(settings) as redis:
            await command(redis)

    with embedded_redis(Settings.from_env()) as settings:
        asyncio.run(run(settings))
    return 0


async def _wait_for_redis(settings: Settings) -> None:
    """`kefu serve` before Redis is up (a container starting beside it, a restart): wait, saying
    why in one line, and retry with backoff until it answers."""
    assert settings.redis_url
    delay = 0.5
    while True:
        redis = connect(settings.redis_url)
        try:
            await redis.ping()
            return
        except (RedisError, OSError) as exc:
            log.warning("redis_unreachable", url=redacted(settings.redis_url), error=str(exc), retry_s=delay)
        finally:
            await redis.aclose()
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)


# ---- commands ----


def _serve(args: argparse.Namespace) -> int:
    overrides = {"host": args.host, "port": args.port, "workers": args.workers}
    settings = Settings.from_env(**{k: v for k, v in overrides.items() if v is not None})
    configure_logging(settings.log_level, json=settings.log_json)
    workers = settings.workers or os.cpu_count() or 1
    embedded = settings.redis_url is None
    with embedded_redis(settings) as settings:
        if embedded:
            log.info("redis_embedded", data_dir=str(settings.data_dir.resolve()))
        asyncio.run(_wait_for_redis(settings))
        if args.demo:
            asyncio.run(_setup_demo(settings))
        if workers > 1:
            return Supervisor(settings, workers, _worker).run(lambda: _banner(settings, args.demo))
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


def _worker(settings: Settings, index: int, ready: multiprocessing.synchronize.Event) -> None:
    """One of `kefu serve --workers N`'s processes (kefu/server/workers.py)."""
    configure_logging(settings.log_level, json=settings.log_json)
    structlog.contextvars.bind_contextvars(worker=index)
    exit_with_parent()
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        reuse_port=True,
        access_log=None,
        print=lambda _: ready.set(),
        shutdown_timeout=10,
        loop=_event_loop(),
    )


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (it is a dependency off Windows): about a third less CPU
    per routed message than asyncio's own loop (docs/benchmarks.md).

    Also: a matcher thread holds the GIL for up to the switch interval (5 ms by default) while
    the event loop waits to get it back after each system call; at 1 ms the loop's replies
    stay prompt while a question is matched (bench/turns.py, p99)."""
    sys.setswitchinterval(0.001)
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _banner(settings: Settings, demo: bool) -> None:
    """Where to go: plain lines on a terminal, one structured log event when logs are JSON."""
    base = f"http://{settings.host}:{settings.port}"
    accounts = [f"{name} / {password} ({role})" for name, role, _, password in DEMO_USERS] if demo else []
    if settings.log_json:
        log.info("kefu_listening", url=base, demo_shop=DEMO_SHOP if demo else None, demo_accounts=accounts)
        return
    lines = [f"kefu is listening on {base}"]
    if demo:
        lines += [
            f"  shop page with the chat widget  {base}/",
            f"  agent console                   {base}/console   (shop {DEMO_SHOP})",
            f"  admin                           {base}/admin     (shop {DEMO_SHOP})",
            "  demo accounts: " + ", ".join(accounts),
            "  (for trying kefu on your machine, not for production)",
        ]
    print("\n".join(lines), flush=True)


async def _setup_demo(settings: Settings) -> None:
    async with _redis(settings) as redis:
        store = ShopStore(redis, DEMO_SHOP)
        await store.create(ShopConfig(name=DEMO_NAME))
        config = await store.config()
        if not config.name:
            await store.save_config(config.model_copy(update={"name": DEMO_NAME}))
        if not (await store.corpus()).faqs:
            await store.save_corpus(default_corpus())
        accounts = Accounts(redis, DEMO_SHOP)
        for username, role, name, password in DEMO_USERS:
            with contextlib.suppress(Conflict):
                await accounts.add(username, password, role=role, name=name, capacity=3)  # type: ignore[arg-type]
        await _demo_orders(redis, await store.config())


async def _demo_orders(redis: Redis, config: ShopConfig) -> None:
    """A demo customer with an order in each state a shopper asks about (the demo page's
    "signed-in customer" toggle signs in as them)."""
    commerce = Commerce(redis, Scripts(redis), DEMO_SHOP)
    await commerce.set_demo_customer(DEMO_CUSTOMER, "张小红")
    now = dt.datetime.now(dt.UTC)
    version = int(now.timestamp() * 1000)

    def ago(hours: float) -> str:
        return (now - dt.timedelta(hours=hours)).isoformat()

    items = {"title": "纯棉圆领T恤 白色 L", "quantity": 2, "price": "79.00"}
    orders = [
        {
            "id": "DEMO-1001",
            "status": "shipped",
            "amount": "158.00",
            "created_at": ago(30),
            "paid_at": ago(30),
            "shipped_at": ago(6),
            "courier": "顺丰速运",
            "tracking_number": "SF1400123456789",
            "items": [items],
        },
        {
            "id": "DEMO-1002",
            "status": "paid",
            "amount": "269.00",
            "created_at": ago(5),
            "paid_at": ago(5),
            "items": [{"title": "羊毛针织开衫 灰色 M", "quantity": 1, "price": "269.00"}],
        },
        {
            "id": "DEMO-0907",
            "status": "delivered",
            "amount": "99.00",
            "created_at": ago(24 * 12),
            "paid_at": ago(24 * 12),
            "shipped_at": ago(24 * 11),
            "delivered_at": ago(24 * 9),
            "courier": "中通快递",
            "tracking_number": "ZT7788990011",
            "items": [{"title": "帆布托特包", "quantity": 1, "price": "99.00"}],
        },
    ]
    for data in orders:
        order = Order.model_validate({**data, "customer_id": DEMO_CUSTOMER, "version": version})
        await commerce.put_order(order, config)


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise KefuError("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def _valid(shop: str) -> str:
    if not valid_shop_id(shop):
        raise KefuError(f"invalid shop id {shop!r}: use a-z, 0-9, '-' and '_'")
    return shop


def _shop_add(args: argparse.Namespace) -> int:
    shop = _valid(args.shop)

    async def command(redis: Redis) -> None:
        store = ShopStore(redis, shop)
        if not await store.create(ShopConfig(name=args.name)):
            raise KefuError(f"shop {shop!r} already exists (`kefu shop show {shop}`)")
        if args.default_faq:
            await store.save_corpus(default_corpus())
        print(f"created shop {shop}" + (f" ({args.name})" if args.name else ""))

    return run_command(command)


def _shop_list(args: argparse.Namespace) -> int:
    async def command(redis: Redis) -> None:
        shops = await all_shops(redis)
        if not shops:
            print("no shops yet: `kefu shop add SHOP --name NAME`")
        for shop in shops:
            store = ShopStore(redis, shop)
            config, corpus = await store.config(), await store.corpus()
            users = await Accounts(redis, shop).all()
            print(
                f"{shop:20} {config.name or '(no name)':20} {len(corpus.faqs):4} FAQs {len(users):3} accounts"
            )

    return run_command(command)


def _shop_show(args: argparse.Namespace) -> int:
    shop = _valid(args.shop)

    async def command(redis: Redis) -> None:
        if not await shop_exists(redis, shop):
            raise KefuError(f"no shop {shop!r}: create it with `kefu shop add {shop}`")
        store = ShopStore(redis, shop)
        config, corpus = await store.config(), await store.corpus()
        print(f"shop      {shop}")
        print(f"name      {config.name or '(none)'}")
        print(f"FAQ       {len(corpus.faqs)} entries, version {await store.corpus_version()}")
        print(f"groups    {', '.join(config.groups)} (default {config.default_group})")
        print(
            f"origins   {', '.join(config.allowed_origins) or '(the instance default, KEFU_ALLOWED_ORIGINS)'}"
        )
        for user in await Accounts(redis, shop).all():
            state = " (disabled)" if user.disabled else ""
            print(f"account   {user.username:16} {user.role:6} {user.name}{state}")

    return run_command(command)


def _user_add(args: argparse.Namespace) -> int:
    shop = _valid(args.shop)
    password = _read_password()
    groups = [g.strip() for g in args.groups.split(",") if g.strip()]

    async def command(redis: Redis) -> None:
        if not await shop_exists(redis, shop):
            raise KefuError(f"no shop {shop!r}: create it first with `kefu shop add {shop} --name NAME`")
        check_groups(groups, (await ShopStore(redis, shop).config()).groups)
        user = await Accounts(redis, shop).add(
            args.username, password, role=args.role, name=args.name, capacity=args.capacity, groups=groups
        )
        print(f"added {user.role} {user.username} ({user.name}) to shop {shop}, id {user.id}")

    return run_command(command)


def _faq_import(args: argparse.Namespace) -> int:
    shop = _valid(args.shop)
    corpus = load_corpus(args.file)

    async def command(redis: Redis) -> None:
        store = ShopStore(redis, shop)
        created = await store.create()
        version = await store.save_corpus(corpus)
        what = "created shop" if created else "shop"
        print(f"{what} {shop}: {len(corpus.faqs)} FAQs loaded (version {version})")

    return run_command(command)
