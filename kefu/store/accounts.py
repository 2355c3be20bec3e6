"""Agent and admin accounts of a shop in Redis: argon2 password hashes, login throttling, token
revocation (tokens themselves are signed by kefu/server/auth.py)."""

from __future__ import annotations

import asyncio
import functools
import secrets
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Annotated, Literal, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from redis.asyncio import Redis

from kefu.errors import Conflict, NotFound, RateLimited, Unauthorized, Unprocessable
from kefu.ids import GroupName, Username
from kefu.store.agents import register_agent, unregister_agent
from kefu.store.keys import SECRET, ShopKeys, credential_failures
from kefu.store.limits import window_count
from kefu.store.scripts import Scripts
from kefu.store.stored import read_stored

__all__ = [
    "Accounts",
    "Claims",
    "Passwords",
    "Role",
    "User",
    "UserView",
    "add_credential_failure",
    "check_groups",
    "check_credential_failures",
    "load_secret",
]

Role = Literal["agent", "admin"]

# argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane): ≈ 20 ms of one
# core per check. The library's default (64 MiB, 3 passes, 4 lanes) costs ≈ 5× that on up to
# four cores: anyone can make the server hash, so each hash must stay cheap for it while
# still memory-hard for a guesser. Hashes made with other parameters still verify and are
# redone with these at the next login.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

_T = TypeVar("_T")


class User(BaseModel):
    """An account as stored (the password only as an argon2 hash)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    username: Username
    role: Role
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    capacity: Annotated[int, Field(ge=0, le=50)] = 3
    groups: list[GroupName] = Field(default_factory=lambda: ["general"])
    password_hash: str
    disabled: bool = False
    # Bumped on password reset or disable: every token issued before stops working.
    token_version: int = 0

    def view(self) -> UserView:
        return UserView.model_validate(self.model_dump(exclude={"password_hash", "token_version"}))


class UserView(BaseModel):
    """What the API shows of an account."""

    id: str
    username: str
    role: Role
    name: str
    capacity: int
    groups: list[str]
    disabled: bool


class Claims(BaseModel):
    """What a token says: who, which shop, which role, until when.

    `typ` "access" is the login token (REST, `Authorization` header only); "socket" is a
    single-use ticket that opens one agent socket (`jti` names it, `aexp` is when the access
    token it was made from expires: the socket closes then)."""

    sub: str
    shop: str
    role: Role
    ver: int
    exp: int
    typ: Literal["access", "socket"] = "access"
    jti: str | None = None
    aexp: int | None = None


async def load_secret(redis: Redis, configured: str | None) -> str:
    """KEFU_SECRET_KEY, else one random secret created once in Redis and shared by all instances."""
    if configured:
        return configured
    await redis.set(SECRET, secrets.token_urlsafe(48), nx=True)
    secret = await redis.get(SECRET)
    assert secret is not None
    return str(secret)


@functools.lru_cache(maxsize=1)
def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash of no one's password, made as today's hashes are, for accounts that do not exist."""
    return hasher.hash(secrets.token_urlsafe(16))


def _verify(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches. Without a hash (no such account) a dummy one is checked, so a
    wrong username takes as long as a wrong password and the time tells nothing."""
    hasher = _hasher
    try:
        return hasher.verify(password_hash or _dummy_hash(hasher), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


class Passwords:
    """argon2 off the event loop. A hash takes up to a fraction of a second of CPU (and 64 MiB):
    on the loop, every login attempt, which anyone can send, would stall every socket of the
    instance that long.
    `executor` bounds how many run at once, so a flood of logins queues instead of spawning
    threads; None means asyncio's default executor (fine for the CLI and tests)."""

    def __init__(self, executor: Executor | None = None, *, max_waiting: int | None = None) -> None:
        self._executor = executor
        self.max_waiting = max_waiting
        self._waiting = 0

    def check_room(self) -> None:
        """A bounded queue: past `max_waiting` checks in flight, refuse at once (429 `busy`)
        rather than make a real login wait behind a flood of bogus ones."""
        if self.max_waiting is not None and self._waiting >= self.max_waiting:
            raise RateLimited("too many logins at once; try again in a moment", retry_after=1.0, code="busy")

    async def _run(self, call: Callable[..., _T], *args: object) -> _T:
        self.check_room()
        self._waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, call, *args)
        finally:
            self._waiting -= 1

    async def hash(self, password: str) -> str:
        return await self._run(_hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """See `_verify`: pass None for an account that does not exist."""
        return await self._run(_verify, password_hash, password)

    @staticmethod
    def needs_rehash(password_hash: str) -> bool:
        return _hasher.check_needs_rehash(password_hash)


async def check_credential_failures(redis: Redis, client: str, *, limit: int) -> None:
    """RateLimited when `client` failed `limit` logins or orders-API keys (over every shop and
    account, shops that do not exist included) within the lockout window: guessing usernames,
    each a full password hash, or keys gets nowhere either. (Checked before, counted after:
    guesses in flight at once can pass by as many as the hashing queue holds.)"""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.get(credential_failures(client))
        pipe.pttl(credential_failures(client))
        count, ttl = await pipe.execute()
    if int(count or 0) >= limit:
        message = "too many failed logins or API keys from your network; try again later"
        raise RateLimited(message, retry_after=max(int(ttl), 1000) / 1000)


async def add_credential_failure(redis: Redis, client: str, *, lockout_s: float) -> None:
    await window_count(redis, credential_failures(client), int(lockout_s * 1000))


def check_groups(groups: list[str], shop_groups: list[str], *, held: list[str] | None = None) -> None:
    """An account joins only groups the shop has (a typo would route it nothing); groups it
    already holds may stay after the shop dropped them."""
    unknown = [g for g in groups if g not in shop_groups and g not in (held or [])]
    if unknown:
        raise Unprocessable(
            f"the shop has no group {', '.join(unknown)} (its groups: {', '.join(shop_groups)})",
            code="unknown_group",
            details=[
                {
                    "field": "groups",
                    "code": "unknown_group",
                    "params": {"group": g, "groups": ", ".join(shop_groups)},
                    "message": f"the shop has no group {g!r}",
                }
                for g in unknown
            ],
        )


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise Unprocessable(
            "password must have at least 8 characters",
            details=[
                {
                    "field": "password",
                    "code": "string_too_short",
                    "params": {"min_length": 8},
                    "message": "at least 8 characters",
                }
            ],
        )


# Tries to store a changed account before giving up (each try is one read and one script).
# Writers that collide take turns, one winning each round: this is room for dozens at once
# (a logout needs a live token, a login an argon2 check: nobody can make more).
_REWRITE_TRIES = 64


class Accounts:
    """The accounts of one shop. Agents also get a seat in the queue (name, capacity, groups)."""

    def __init__(
        self, redis: Redis, shop: str, passwords: Passwords | None = None, scripts: Scripts | None = None
    ) -> None:
        self.redis = redis
        self.shop = shop
        self.keys = ShopKeys(shop)
        self.passwords = passwords or Passwords()
        self._scripts = scripts

    def _scripts_of(self) -> Scripts:
        # Made on the first change of an account (rare): authenticating needs none.
        if self._scripts is None:
            self._scripts = Scripts(self.redis)
        return self._scripts

    async def _store_if_unchanged(self, username: str, read: str, user: User) -> bool:
        """Store `user` only if the account's record is still `read` (user.lua)."""
        stored = await self._scripts_of().raw(
            "user", self.keys.users, self.keys.prefix, username, read, user.model_dump_json()
        )
        return bool(stored)

    async def _rewrite(self, username: str, change: Callable[[User], User]) -> User:
        """Read the account, apply `change` and store the result if nobody changed the record
        meanwhile; else read it again and apply `change` again. A reset or a disable is never
        undone by a logout or a login that read the record before it."""
        for _ in range(_REWRITE_TRIES):
            raw = await self.redis.hget(self.keys.users, username)
            if raw is None:
                raise NotFound(f"no user {username!r}")
            updated = change(read_stored(User, raw, "user"))
            if await self._store_if_unchanged(username, str(raw), updated):
                return updated
        raise Conflict("the account kept changing meanwhile; try again", code="account_busy")

    async def add(
        self,
        username: str,
        password: str,
        *,
        role: Role,
        name: str | None = None,
        capacity: int = 3,
        groups: list[str] | None = None,
    ) -> User:
        _check_password(password)
        user = User(
            id=secrets.token_hex(6),
            username=username,
            role=role,
            name=name or username,
            capacity=capacity,
            groups=groups or ["general"],
            password_hash=await self.passwords.hash(password),
        )
        if not await self.redis.hsetnx(self.keys.users, user.username, user.model_dump_json()):
            raise Conflict(f"user {username!r} already exists", code="user_exists")
        await self._seat(user)
        return user

    async def _seat(self, user: User) -> None:
        if user.disabled:
            await unregister_agent(self.redis, self.shop, user.id)
        else:
            # Admins get a seat too: a shop owner often answers chats herself.
            await register_agent(
                self.redis, self.shop, user.id, name=user.name, capacity=user.capacity, groups=user.groups
            )

    async def get(self, username: str) -> User:
        raw = await self.redis.hget(self.keys.users, username)
        if raw is None:
            raise NotFound(f"no user {username!r}")
        return read_stored(User, raw, "user")

    async def by_id(self, user_id: str) -> User:
        for user in await self.all():
            if user.id == user_id:
                return user
        raise NotFound(f"no user with id {user_id!r}")

    async def all(self) -> list[User]:
        raw = await self.redis.hvals(self.keys.users)
        return sorted((read_stored(User, r, "user") for r in raw), key=lambda u: u.username)

    async def update(
        self,
        username: str,
        *,
        name: str | None = None,
        capacity: int | None = None,
        groups: list[str] | None = None,
        disabled: bool | None = None,
        password: str | None = None,
        role: Role | None = None,
    ) -> User:
        changes: dict[str, object] = {}
        if name is not None:
            changes["name"] = name
        if capacity is not None:
            changes["capacity"] = capacity
        if groups is not None:
            changes["groups"] = groups
        if role is not None:
            changes["role"] = role
        if disabled is not None:
            changes["disabled"] = disabled
        if password is not None:
            _check_password(password)
            # Hashed before the record is read: the read-to-write window stays one round trip.
            changes["password_hash"] = await self.passwords.hash(password)
        revokes = bool(disabled) or password is not None

        def change(user: User) -> User:
            version = {"token_version": user.token_version + 1} if revokes else {}
            return User.model_validate({**user.model_dump(), **changes, **version})

        updated = await self._rewrite(username, change)
        await self._seat(updated)
        return updated

    async def login(
        self,
        username: str,
        password: str,
        *,
        client: str,
        max_failures: int,
        lockout_s: float,
        client_max_failures: int | None = None,
    ) -> User:
        """Check a password. After `max_failures` wrong ones in a row from one client, that
        client is locked out of the account for `lockout_s`, whatever the password: brute force
        gets nowhere, and a stranger cannot lock the owner out (the count is per client and
        account). `client_max_failures` bounds one client's failures over all accounts and shops
        (see `check_credential_failures`).

        Each attempt is counted before its password is checked, so guesses sent at once cannot
        all pass the lockout test; a right password resets the count."""
        attempts_key = self.keys.login_attempts(username.lower(), client)
        lockout_ms = int(lockout_s * 1000)
        attempts, ttl = await window_count(self.redis, attempts_key, lockout_ms)
        if attempts > max_failures:
            raise RateLimited("too many failed logins; try again later", retry_after=max(ttl, 1000) / 1000)
        if client_max_failures is not None:
            await check_credential_failures(self.redis, client, limit=client_max_failures)
        raw = await self.redis.hget(self.keys.users, username)
        user = None if raw is None else read_stored(User, raw, "user")
        if not await self.passwords.verify(user.password_hash if user else None, password) or user is None:
            await self.redis.pexpire(attempts_key, lockout_ms)  # locked for lockout_s after the last
            await add_credential_failure(self.redis, client, lockout_s=lockout_s)
            raise Unauthorized("wrong username or password", code="bad_credentials")
        await self.redis.delete(attempts_key)
        if user.disabled:
            raise Unauthorized("this account is disabled", code="account_disabled")
        if self.passwords.needs_rehash(user.password_hash):
            # Stronger defaults since it was hashed: store a new hash (tokens stay valid) — only
            # over the record this password was checked against. Changed meanwhile (a reset, a
            # disable, a logout), the record as it is now decides.
            rehashed = user.model_copy(update={"password_hash": await self.passwords.hash(password)})
            if await self._store_if_unchanged(username, str(raw), rehashed):
                return rehashed
            now = await self.get(username)
            if now.password_hash != user.password_hash:
                raise Unauthorized("wrong username or password", code="bad_credentials")
            if now.disabled:
                raise Unauthorized("this account is disabled", code="account_disabled")
            return now
        return user

    async def sign_out(self, username: str) -> User:
        """Every token of the account stops working (logout: everywhere, at once)."""
        return await self._rewrite(
            username, lambda user: user.model_copy(update={"token_version": user.token_version + 1})
        )

    async def use_ticket(self, jti: str, ttl_s: float) -> bool:
        """Spend a socket ticket: True the first time, False for any replay."""
        return bool(await self.redis.set(self.keys.socket_ticket(jti), "1", nx=True, px=int(ttl_s * 1000)))

    async def still_valid(self, username: str, token_version: int) -> bool:
        """Whether tokens of `token_version` still speak for the account (not disabled, not
        signed out, password not reset, not deleted)."""
        raw = await self.redis.hget(self.keys.users, username)
        if raw is None:
            return False
        user = read_stored(User, raw, "user")
        return not user.disabled and user.token_version == token_version

    async def authenticate(self, claims: Claims) -> User:
        """The user a verified token speaks for, if the token is still good for it."""
        if claims.shop != self.shop:
            raise Unauthorized("token of another shop", code="token_invalid")
        try:
            user = await self.by_id(claims.sub)
        except NotFound:
            raise Unauthorized("the account no longer exists", code="token_invalid") from None
        if user.disabled or user.token_version != claims.ver:
            raise Unauthorized("token revoked; log in again", code="token_revoked")
        return user
