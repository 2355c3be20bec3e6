"""Changes to an account (kefu/store/accounts.py) on a real Redis, racing each other: each starts
from a read of the account's record, and none may put back what another changed meanwhile — a
password reset must revoke every token, a disable must stay."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from argon2 import PasswordHasher
from redis.asyncio import Redis

from kefu.errors import Unauthorized
from kefu.store.accounts import Accounts, Passwords
from kefu.store.keys import ShopKeys

SHOP = "demo"
PASSWORD = "correct horse battery"


class SlowHash(Passwords):
    """Hashing as under load: the hashing queue of a busy instance."""

    async def hash(self, password: str) -> str:
        digest = await super().hash(password)
        await asyncio.sleep(0.3)
        return digest


class SlowVerify(Passwords):
    async def verify(self, password_hash: str | None, password: str) -> bool:
        ok = await super().verify(password_hash, password)
        await asyncio.sleep(0.3)
        return ok


async def test_a_password_reset_revokes_a_login_made_while_it_was_hashing(redis: Redis) -> None:
    await Accounts(redis, SHOP).add("alice", PASSWORD, role="agent")
    reset = asyncio.create_task(
        Accounts(redis, SHOP, SlowHash()).update("alice", password="a new one, longer")
    )
    await asyncio.sleep(0.1)
    # Meanwhile the holder of the leaked password signs out and in again: a token of the
    # version after the logout.
    accounts = Accounts(redis, SHOP)
    seen = (await accounts.sign_out("alice")).token_version
    assert await accounts.still_valid("alice", seen)
    await reset
    assert not await accounts.still_valid("alice", seen)


async def test_a_login_that_rehashes_an_old_password_never_undoes_a_disable(redis: Redis) -> None:
    accounts = Accounts(redis, SHOP)
    await accounts.add("bob", PASSWORD, role="agent")
    # A hash made with weaker settings than today's: the next login stores a new one.
    keys = ShopKeys(SHOP)
    record = orjson.loads(await redis.hget(keys.users, "bob"))
    record["password_hash"] = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    await redis.hset(keys.users, "bob", orjson.dumps(record).decode())
    assert Passwords.needs_rehash(record["password_hash"])

    login = asyncio.create_task(
        Accounts(redis, SHOP, SlowVerify()).login("bob", PASSWORD, client="c", max_failures=5, lockout_s=60)
    )
    await asyncio.sleep(0.1)
    await accounts.update("bob", disabled=True)  # while the password is being checked
    with pytest.raises(Unauthorized) as refused:
        await login
    assert refused.value.code == "account_disabled"
    assert (await accounts.get("bob")).disabled


async def test_logouts_and_a_disable_at_once_all_count(redis: Redis) -> None:
    accounts = Accounts(redis, SHOP)
    await accounts.add("carol", PASSWORD, role="agent")
    await asyncio.gather(
        *[accounts.sign_out("carol") for _ in range(10)], accounts.update("carol", disabled=True)
    )
    user = await accounts.get("carol")
    assert user.disabled and user.token_version == 11
