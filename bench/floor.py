"""The floor: the least a correct bot-chat server must do per turn, to measure kefu against.

  python bench/floor.py --port PORT --redis-url URL [--shop bench]

aiohttp + redis.asyncio (hiredis) on uvloop, kefu's own matcher on the shop's stored corpus
(frozen out of the collector after loading, as kefu does). A shopper socket gets a session (one
pipelined write: the session hash and the greeting line) and the greeting; each message is
matched on the loop, written with its reply in one pipelined round trip, and answered with one
frame. No queue, no agents, no limits, no catch-up: what every design pays, nothing more. It
speaks just enough of kefu's protocol for bench/loadgen.py (`session`, `bot`).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import hmac
import os
import secrets
import sys
import time
from pathlib import Path

import orjson
import uvloop
from aiohttp import WSMsgType, web
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kefu.faq.analyzer import Resources  # noqa: E402
from kefu.faq.matcher import Decision, Matcher, MatcherConfig  # noqa: E402
from kefu.store.shops import ShopStore  # noqa: E402

GREETING = "您好，有什么可以帮您？"
FALLBACK = "抱歉，我没有理解您的问题。"


async def shopper(request: web.Request) -> web.WebSocketResponse:
    app = request.app
    redis: Redis = app["redis"]
    matcher: Matcher = app["matcher"]
    ws = web.WebSocketResponse(protocols=("kefu.v1",), compress=False)
    await ws.prepare(request)
    session = secrets.token_hex(8)
    log = f"floor:log:{session}"
    now = int(time.time() * 1000)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hset(f"floor:session:{session}", mapping={"created": now, "lang": "zh"})
        pipe.expire(f"floor:session:{session}", 600)
        pipe.xadd(log, {"sender": "bot", "text": GREETING})
        pipe.expire(log, 600)
        _, _, greeting_id, _ = await pipe.execute()
    await ws.send_str(orjson.dumps({"type": "session", "session_id": session}).decode())
    await ws.send_str(
        orjson.dumps(
            {"type": "bot", "id": greeting_id.decode(), "text": GREETING, "decision": "greeting"}
        ).decode()
    )
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            break
        frame = orjson.loads(msg.data)
        if frame.get("type") != "message":
            continue
        text = str(frame.get("text", ""))[:150]
        result = matcher.match(text)
        answer = result.answer if result.decision == Decision.ANSWER and result.answer else FALLBACK
        async with redis.pipeline(transaction=False) as pipe:
            pipe.xadd(log, {"sender": "shopper", "text": text})
            pipe.xadd(log, {"sender": "bot", "text": answer})
            _, reply_id = await pipe.execute()
        await ws.send_str(
            orjson.dumps(
                {
                    "type": "bot",
                    "id": reply_id.decode(),
                    "text": answer,
                    "decision": result.decision.value,
                    "client_msg_id": frame.get("client_msg_id"),
                }
            ).decode()
        )
    return ws


# The least a correct orders endpoint does: a version stored only if newer, in one step, and
# indexed under its customer.
_PUT_ORDER = """
local v = redis.call('HGET', KEYS[1], 'version')
if v and tonumber(v) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'json', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1
"""


async def orders(request: web.Request) -> web.Response:
    """POST /api/shops/{shop}/orders: the key checked (a hash compared), the JSON read, the
    version stored if newer; no schema, no attribution, no limits."""
    app = request.app
    given = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if not hmac.compare_digest(hashlib.sha256(given.encode()).hexdigest(), app["key_hash"]):
        return web.json_response({"error": "unauthorized"}, status=401)
    order = orjson.loads(await request.read())
    stored = await app["put_order"](
        keys=[f"floor:order:{order['id']}", f"floor:customer:{order['customer_id']}"],
        args=[order["version"], orjson.dumps(order), order["version"], order["id"]],
    )
    return web.json_response({"id": order["id"], "result": "created" if stored else "stale"})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def build(redis_url: str, shop: str) -> web.Application:
    app = web.Application()
    redis = Redis.from_url(redis_url)
    corpus = await ShopStore(redis, shop).corpus()
    resources = Resources.default()
    resources.encoder()
    app["redis"] = redis
    # The same matcher as kefu's, its result cache sized as kefu's is (KEFU_MATCH_CACHE).
    config = MatcherConfig(cache_size=int(os.environ.get("KEFU_MATCH_CACHE", "1024")))
    app["matcher"] = Matcher.from_corpus(corpus, config, resources=resources)
    gc.collect()
    gc.freeze()
    app["key_hash"] = hashlib.sha256(os.environ.get("FLOOR_ORDERS_KEY", "").encode()).hexdigest()
    app["put_order"] = redis.register_script(_PUT_ORDER)
    app.router.add_post("/api/shops/{shop}/orders", orders)
    app.router.add_get("/ws/shopper", shopper)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--shop", default="bench")
    args = parser.parse_args()
    loop = uvloop.new_event_loop()
    app = loop.run_until_complete(build(args.redis_url, args.shop))
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None, loop=loop)


if __name__ == "__main__":
    main()
