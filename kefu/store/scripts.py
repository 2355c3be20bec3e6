"""kefu's Lua scripts: each is `P`, the key table generated from keys.py, the shared prelude and
its own body, run with EVALSHA."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from kefu.store.keys import lua_keys

__all__ = ["SCRIPT_NAMES", "Scripts"]

SCRIPT_NAMES = (
    "transfer",
    "release",
    "agent_status",
    "regroup",
    "janitor",
    "append",
    "turn",
    "learn",
    "leave",
    "dequeue",
    "open",
    "order",
    "spoke",
    "product",
    "user",
)


def _source(name: str) -> str:
    return resources.files("kefu.store").joinpath(f"lua/{name}.lua").read_text(encoding="utf-8")


class Scripts:
    """Registered scripts of one Redis client. `await scripts.run("transfer", keys, prefix, ...)`.

    Every script takes KEYS[1] (any key of the shop, for Cluster routing) and ARGV[1] (the
    shop's key prefix); a script the server lost (a restart) is loaded again and run.
    """

    def __init__(self, redis: Redis) -> None:
        prelude = "local P = ARGV[1]\n" + lua_keys() + _source("prelude")
        self._redis = redis
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(prelude + "\n" + _source(name)) for name in SCRIPT_NAMES
        }

    async def raw(self, name: str, route_key: str, *args: str | int | float) -> Any:
        # EVALSHA straight from the client: redis-py's Script wrapper checks for pipelines on
        # every call (two isinstance checks against protocol classes, ≈ 2 % of a bot turn).
        script = self._scripts[name]
        try:
            return await self._redis.evalsha(script.sha, 1, route_key, *args)
        except NoScriptError:
            script.sha = await self._redis.script_load(script.script)
            return await self._redis.evalsha(script.sha, 1, route_key, *args)

    async def json(self, name: str, route_key: str, *args: str | int | float) -> dict[str, Any]:
        """Run a script that answers with a JSON object."""
        out = await self.raw(name, route_key, *args)
        result: dict[str, Any] = json.loads(out)
        return result
