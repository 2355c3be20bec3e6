"""Shopper sessions, their conversations and the log: the source of truth of what was said."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from kefu.errors import RateLimited
from kefu.store.client import stream_range
from kefu.store.events import LogWritten, encode
from kefu.store.keys import ShopKeys
from kefu.store.log import Entry, Speaker
from kefu.store.scripts import Scripts

__all__ = ["Conversation", "Opened", "Sessions", "Shopper", "Stored", "Turn", "now_ms"]


def now_ms() -> int:
    return int(time.time() * 1000)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Stored(BaseModel):
    """Result of appending: the entry id, and whether it was a resend of an already stored one."""

    id: str
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class Opened:
    """A shopper socket's session: new or resumed (a given token that had expired: `expired`),
    its current conversation, and the log lines to show (the greeting, or the history)."""

    session_id: str
    token: str
    resumed: bool
    expired: bool
    conversation: Conversation | None
    entries: list[Entry]


@dataclass(frozen=True, slots=True)
class Shopper:
    """What a session knows of its shopper: the signed-in customer ({id, name}; None:
    anonymous) and the product on their page ({id, title, price?, image?, url?}), as the
    agent's view and the customer panel show them."""

    customer: dict[str, str] | None
    product: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Turn:
    """What a bot turn wrote (`stored` None: nothing, the conversation was not with the bot),
    the conversation's state, and the log lines read back after the socket's last one."""

    stored: Stored | None
    written: int
    state: str
    entries: list[Entry]


# A session's log is read in pieces this long: its longest (≈ 2,000 lines of 2,000 characters,
# 4 MB) is never parsed in one go on the event loop.
LOG_CHUNK = 250


async def conversation_lines(
    redis: Redis, log_key: str, conversation_id: str, *, last: int | None = None
) -> tuple[list[Entry], int]:
    """One conversation's lines of a session log, oldest first (only the `last` few, when
    given), and how many it has in all. Read LOG_CHUNK at a time with the loop free between
    reads; only the lines kept become entries."""
    kept: deque[tuple[str, dict[str, str]]] = deque(maxlen=last)
    total = 0
    start = "-"
    while True:
        raw = await stream_range(redis, log_key, start=start, count=LOG_CHUNK)
        for line in raw:
            if line[1].get("c", "") == conversation_id:
                kept.append(line)
                total += 1
        if len(raw) < LOG_CHUNK:
            return [Entry.from_stream(entry_id, fields) for entry_id, fields in kept], total
        start = "(" + raw[-1][0]


def _pairs(flat: list[Any]) -> dict[str, str]:
    """A stream entry's fields as a script returns them ([k1, v1, k2, v2…]) as a dict."""
    return {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat), 2)}


class Conversation(BaseModel):
    """A conversation's record (the queue scripts keep its state machine)."""

    id: str
    session: str
    state: Literal["bot", "queued", "assigned", "closed"]
    group: str = ""
    agent: str | None = None
    created: int = 0
    lang: str = "zh"
    closed_by: str | None = None
    rating: int | None = None
    # A suggestion the shopper picked (learned phrasing candidate id), watched for a few more
    # messages: asking for a human or saying it was wrong takes the vote back.
    learn_pick: str | None = None
    learn_watch: int = 0
    queued_at: int | None = None
    assigned_at: int | None = None

    @property
    def waited_s(self) -> int:
        """How long the shopper waited for the agent now holding the chat."""
        if self.queued_at and self.assigned_at:
            return round((self.assigned_at - self.queued_at) / 1000)
        return 0

    @classmethod
    def from_hash(cls, data: dict[str, str]) -> Conversation:
        return cls(
            id=data["id"],
            session=data["session"],
            state=data["state"],
            group=data.get("group", ""),
            agent=data.get("agent") or None,
            created=int(data.get("created", 0)),
            lang=data.get("lang", "zh"),
            closed_by=data.get("closed_by") or None,
            rating=int(data["rating"]) if data.get("rating") else None,
            learn_pick=data.get("learn_pick") or None,
            learn_watch=int(data.get("learn_watch") or 0),
            queued_at=int(data["queued_at"]) if data.get("queued_at") else None,
            assigned_at=int(data["assigned_at"]) if data.get("assigned_at") else None,
        )


class Sessions:
    """Sessions of one shop. A session is a browser (its token lives in localStorage); it has one
    current conversation and one log across all its conversations, so `last_id` resumes work
    even after a conversation closed and a new one began."""

    def __init__(
        self,
        redis: Redis,
        scripts: Scripts,
        shop: str,
        *,
        token_ttl_s: int,
        retention_s: int,
        silent_ttl_s: int | None = None,
    ) -> None:
        self.redis = redis
        self.scripts = scripts
        self.shop = shop
        self.keys = ShopKeys(shop)
        self.token_ttl_s = token_ttl_s
        self.retention_s = retention_s
        # A session whose shopper never wrote lives this long (anyone can open thousands).
        self.silent_ttl_s = min(silent_ttl_s or token_ttl_s, token_ttl_s)

    # ---- sessions ----

    async def open(
        self,
        token: str | None,
        *,
        lang: str,
        group: str,
        greeting: tuple[str, dict[str, Any]],
        client: str,
        sessions_per_window: int,
        window_s: int,
        last_id: str | None,
        history: int,
        presence_ttl_s: float,
        customer: tuple[str, str] | None = None,
    ) -> Opened:
        """A shopper socket opens, in one round trip: the session `token` names, resumed (its
        lifetime refreshed; its current conversation and the log after `last_id`, the latest
        `history` lines), or else a new session with its first conversation and the
        `greeting` — unless `client` has opened `sessions_per_window` already (RateLimited).
        Either way the session is marked present for `presence_ttl_s`.

        `customer` (id, display name): a signed-in customer the shop's site vouched for (the
        caller verified the hash). Their one session is resumed on any device (this browser
        gets a token of its own for it); an anonymous socket never resumes a customer's."""
        session_id = secrets.token_hex(8)
        new_token = secrets.token_urlsafe(32)
        now = now_ms()
        conversation_id = f"{now:x}{secrets.token_hex(4)}"
        text, extra = greeting
        out = await self.scripts.raw(
            "open",
            self.keys.session(session_id),
            self.keys.prefix,
            _token_hash(token) if token else "",
            now,
            session_id,
            _token_hash(new_token),
            conversation_id,
            lang,
            group,
            self.silent_ttl_s,
            self.token_ttl_s,
            self.retention_s,
            client,
            sessions_per_window,
            window_s * 1000,
            text,
            orjson.dumps(extra).decode(),
            last_id or "",
            history,
            int(presence_ttl_s * 1000),
            customer[0] if customer else "",
            customer[1] if customer else "",
        )
        if out[0] == "limited":
            raise RateLimited(
                "too many new chats from your network; try again in a minute",
                retry_after=max(int(out[1]), 1000) / 1000,
            )
        if out[0] == "created":
            _, session_id, conversation_id, greeting_id, expired = out
            return Opened(
                session_id=str(session_id),
                token=new_token,
                resumed=False,
                expired=bool(int(expired)),
                conversation=Conversation(
                    id=str(conversation_id),
                    session=str(session_id),
                    state="bot",
                    group=group,
                    created=now,
                    lang=lang,
                ),
                entries=[
                    Entry(
                        id=str(greeting_id),
                        conversation_id=str(conversation_id),
                        sender="bot",
                        text=text,
                        ts=now,
                        **extra,
                    )
                ],
            )
        _, session_id, record, newest_first, minted = out
        fields = _pairs(record)
        return Opened(
            session_id=str(session_id),
            token=new_token if int(minted) else token or "",
            resumed=True,
            expired=False,
            conversation=Conversation.from_hash(fields) if fields else None,
            entries=[Entry.from_stream(str(i), _pairs(f)) for i, f in reversed(newest_first)],
        )

    async def spoke(self, session_id: str) -> None:
        """The shopper wrote (a message, a left message): the session lives its full life now
        (one round trip: spoke.lua)."""
        await self.scripts.raw(
            "spoke",
            self.keys.session(session_id),
            self.keys.prefix,
            session_id,
            self.token_ttl_s,
            self.retention_s,
        )

    async def current(self, session_id: str) -> Conversation | None:
        conversation_id = await self.redis.hget(self.keys.session(session_id), "conv")
        return None if conversation_id is None else await self.conversation(str(conversation_id))

    async def record(self, conversation_id: str) -> dict[str, str]:
        """A conversation's whole record as stored ({} when there is none)."""
        data = await self.redis.hgetall(self.keys.conversation(conversation_id))
        return {str(k): str(v) for k, v in data.items()}

    async def conversation(self, conversation_id: str) -> Conversation | None:
        data = await self.redis.hgetall(self.keys.conversation(conversation_id))
        return Conversation.from_hash({str(k): str(v) for k, v in data.items()}) if data else None

    async def new_conversation(self, session_id: str, *, lang: str, group: str) -> Conversation:
        """The session's next conversation, with the bot (after the last one closed)."""
        conversation_id = f"{now_ms():x}{secrets.token_hex(4)}"
        created = now_ms()
        record: dict[FieldT, EncodableT] = {
            "id": conversation_id,
            "session": session_id,
            "state": "bot",
            "group": group,
            "created": created,
            "lang": lang,
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.conversation(conversation_id), mapping=record)
            pipe.expire(self.keys.conversation(conversation_id), self.retention_s)
            pipe.zadd(self.keys.conversations, {conversation_id: created})
            pipe.hset(self.keys.session(session_id), "conv", conversation_id)
            # The shopper acted (spoke.lua gave the session this expiry): never one without it.
            pipe.expire(self.keys.session(session_id), self.token_ttl_s)
            await pipe.execute()
        return Conversation(
            id=conversation_id, session=session_id, state="bot", group=group, created=created, lang=lang
        )

    async def set_product(self, session_id: str, product: dict[str, Any]) -> None:
        await self.scripts.raw(
            "product",
            self.keys.session(session_id),
            self.keys.prefix,
            session_id,
            orjson.dumps(product).decode(),
            self.silent_ttl_s,
        )

    async def shopper(self, session_id: str) -> Shopper:
        """Who the session's shopper is and the product they last looked at."""
        customer, name, product = await self.redis.hmget(
            self.keys.session(session_id), ["customer", "cname", "product"]
        )
        return Shopper(
            customer={"id": str(customer), "name": str(name or "")} if customer else None,
            product=orjson.loads(str(product)) if product else None,
        )

    async def set_fields(self, conversation_id: str, **fields: str | int) -> None:
        mapping: dict[FieldT, EncodableT] = {k: v for k, v in fields.items()}
        await self.redis.hset(self.keys.conversation(conversation_id), mapping=mapping)

    async def first_reply(self, conversation_id: str, at: int) -> int | None:
        """Record the agent's first reply (only the first counts); returns when the agent took
        the chat if this was it, else None."""
        key = self.keys.conversation(conversation_id)
        if not await self.redis.hsetnx(key, "first_reply_at", at):
            return None
        assigned = await self.redis.hget(key, "assigned_at")
        return int(assigned) if assigned else None

    async def incr(self, conversation_id: str, field: str, by: int = 1) -> int:
        return int(await self.redis.hincrby(self.keys.conversation(conversation_id), field, by))

    # ---- the log ----

    async def append(
        self,
        session_id: str,
        conversation_id: str,
        sender: Speaker,
        text: str,
        *,
        client_msg_id: str | None = None,
        require_state: str | None = None,
        require_agent: str | None = None,
        notify: LogWritten | None = None,
        extra: dict[str, Any] | None = None,
        ttl_s: int | None = None,
    ) -> Stored | None:
        """Store a line before anyone is told of it. A `client_msg_id` seen before returns the
        first id (resends are idempotent). With `require_state`/`require_agent` the line is
        stored only if the conversation still is in that state (and that agent's); else None.
        `notify` is published on the shop's channel, with the new id, in the same step."""
        fields: list[str | int] = ["c", conversation_id, "f", sender, "t", text, "ts", now_ms()]
        if client_msg_id:
            fields += ["m", client_msg_id]
        if extra:
            fields += ["x", orjson.dumps(extra).decode()]
        entry_id, status = await self.scripts.raw(
            "append",
            self.keys.log(session_id),
            self.keys.prefix,
            session_id,
            client_msg_id or "",
            conversation_id,
            require_state or "",
            require_agent or "",
            encode(notify) if notify else "",
            ttl_s or self.retention_s,
            *fields,
        )
        if int(status) == 2:
            return None
        return Stored(id=str(entry_id), duplicate=int(status) == 1)

    async def bot_turn(
        self,
        session_id: str,
        conversation_id: str,
        client_msg_id: str,
        text: str,
        replies: list[tuple[str, dict[str, Any]]],
        *,
        miss: str | None = None,
        checked: bool = True,
        after: str | None = None,
        read_back: int = 0,
    ) -> Turn:
        """Store the shopper's message and, while the conversation is still with the bot, the
        bot's replies, and read back up to `read_back` log lines after `after` — one round
        trip. `checked=False`: the caller has not read the conversation (it trusts what its
        socket last saw); then nothing is written (`Turn.stored` None) unless the conversation
        is with the bot and watches no picked suggestion."""
        args: list[str | int] = [
            session_id,
            conversation_id,
            client_msg_id,
            self.retention_s,
            str(now_ms()),
            text,
            miss or "",
            text[:500],
            "0" if checked else "1",
            after or "",
            read_back,
        ]
        for reply, extra in replies:
            args += [reply, orjson.dumps(extra).decode(), str(extra.get("decision", "notice"))]
        entry_id, duplicate, written, state, lines = await self.scripts.raw(
            "turn", self.keys.log(session_id), self.keys.prefix, orjson.dumps(args).decode()
        )
        return Turn(
            stored=Stored(id=str(entry_id), duplicate=bool(int(duplicate))) if entry_id else None,
            written=int(written),
            state=str(state),
            entries=[Entry.from_stream(str(i), _pairs(fields)) for i, fields in lines],
        )

    async def entries(
        self, session_id: str, after: str | None = None, *, count: int | None = None
    ) -> list[Entry]:
        """Log lines after `after` (exclusive; None: from the start), oldest first."""
        start = f"({after}" if after else "-"
        raw = await stream_range(self.redis, self.keys.log(session_id), start=start, count=count)
        return [Entry.from_stream(entry_id, fields) for entry_id, fields in raw]

    async def entry(self, session_id: str, entry_id: str) -> Entry | None:
        """One log line by id (callers check `is_stream_id` first)."""
        raw = await stream_range(self.redis, self.keys.log(session_id), start=entry_id, end=entry_id)
        return Entry.from_stream(*raw[0]) if raw else None

    async def before(self, session_id: str, entry_id: str, *, count: int) -> list[Entry]:
        """Up to `count` log lines before `entry_id` (exclusive), newest first."""
        raw = await stream_range(
            self.redis, self.keys.log(session_id), end=f"({entry_id}", count=count, reverse=True
        )
        return [Entry.from_stream(i, fields) for i, fields in raw]

    async def conversations_of(self, session_id: str, limit: int = 20) -> list[Conversation]:
        """The session's conversations still on record, newest first (as far back as its log)."""
        ids: list[str] = []
        for entry in reversed(await self.entries(session_id)):
            if entry.conversation_id and entry.conversation_id not in ids:
                ids.append(entry.conversation_id)
                if len(ids) == limit:
                    break
        async with self.redis.pipeline(transaction=False) as pipe:
            for conversation_id in ids:
                pipe.hgetall(self.keys.conversation(conversation_id))
            rows = await pipe.execute()
        return [
            Conversation.from_hash({str(k): str(v) for k, v in row.items()})
            for row in rows
            if row and "state" in row
        ]

    async def transcript(self, session_id: str, conversation_id: str) -> list[Entry]:
        """A conversation's whole transcript (with the bot), oldest first."""
        return (await conversation_lines(self.redis, self.keys.log(session_id), conversation_id))[0]

    async def transcript_tail(
        self, session_id: str, conversation_id: str, last: int
    ) -> tuple[list[Entry], int]:
        """The last `last` lines of a conversation's transcript, and how many it has in all."""
        return await conversation_lines(self.redis, self.keys.log(session_id), conversation_id, last=last)

    async def last_entry(self, session_id: str) -> Entry | None:
        raw = await stream_range(self.redis, self.keys.log(session_id), count=1, reverse=True)
        return Entry.from_stream(*raw[0]) if raw else None

    async def last_id(self, session_id: str) -> str | None:
        raw = await self.redis.xrevrange(self.keys.log(session_id), count=1)
        return str(raw[0][0]) if raw else None
