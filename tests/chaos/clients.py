"""Protocol clients for the chaos tests: shoppers and agents that keep talking through faults.

They behave as the widget and the console should: a shopper reconnects with its token and the
last id it received, an agent logs in again and opens a fresh socket, and both resend every
message not yet acked with the same client_msg_id. They never drop a frame they already have:
everything the raw protocol sends is recorded (`Observation`) and judged afterwards
(`tests.chaos.verdict`).

Texts carry who wrote them and a per-conversation sequence number:
shoppers `S|<shopper>|<seq>` (the last one of a chat ends in `|end`), agents `A|<conv>|<seq>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import WSMsgType

from tests.chaos.cluster import PASSWORD, SHOP

if TYPE_CHECKING:
    from tests.chaos.run import Run

__all__ = ["AgentClient", "Observation", "Sent", "ShopperClient", "parse_text"]

# Errors that mean "this socket (or instance) is gone": reconnect.
DROPPED = (aiohttp.ClientError, ConnectionError, OSError, RuntimeError, TimeoutError)


def parse_text(text: str) -> tuple[str, str, int, bool] | None:
    """("S", shopper, seq, end) or ("A", conversation, seq, False) for the test's own texts."""
    parts = text.split("|")
    if len(parts) < 3 or parts[0] not in ("S", "A") or not parts[2].isdigit():
        return None
    return parts[0], parts[1], int(parts[2]), parts[-1] == "end"


async def ticket(http: aiohttp.ClientSession, base: str, token: str) -> dict[str, str]:
    """Query parameters that open one agent socket: a fresh single-use ticket for `token`."""
    async with http.post(base + "/api/socket-ticket", headers={"Authorization": f"Bearer {token}"}) as resp:
        if resp.status != 200:
            raise ConnectionError(f"socket ticket {resp.status}: {(await resp.text())[:200]}")
        return {"ticket": str((await resp.json())["ticket"])}


@dataclass
class Sent:
    """A message a client sent (once or more), and the ids the server acked it with."""

    cmid: str
    sender: str  # "shopper" | "agent"
    who: str  # shopper name or agent username
    text: str
    session: str | None  # the shopper's session (the log the line goes to)
    conv: str | None  # agent messages: the conversation
    first_sent: float
    sends: int = 1
    ids: list[str] = field(default_factory=list)
    acked_at: float | None = None
    errors: list[str] = field(default_factory=list)


@dataclass
class Observation:
    """One thing a client was shown, exactly as the protocol sent it."""

    at: float
    client: str
    conn: int  # the client's connection number (0 = first)
    source: str  # "live", "history" (shopper resume), "snapshot" (agent hello), "assigned"
    kind: str  # frame type or history line `from`
    id: str | None
    text: str
    conv: str | None = None
    cmid: str | None = None
    event: str | None = None


def id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class Client:
    """What shoppers and agents share: connecting to an instance, failing over, recording."""

    name: str

    def __init__(self, run: Run, home: int) -> None:
        self.run = run
        self.home = home
        self.conn = -1
        self.instance: int | None = None
        self.connections: list[dict[str, Any]] = []
        self.disconnects: list[dict[str, Any]] = []
        self.failures: list[str] = []
        self.unacked: dict[str, dict[str, Any]] = {}
        self.done = False
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        # After `rate_limited`: when to send the unacked messages again.
        self.retry_at: float | None = None

    def candidates(self) -> list[int]:
        n = len(self.run.cluster.instances)
        return [(self.home + i) % n for i in range(n)]

    async def main(self) -> None:
        backoff = 0.1
        while not self.done and not self.run.stopping:
            ws = None
            for index in self.candidates():
                try:
                    ws = await self.open(index)
                except DROPPED as exc:
                    self.failures.append(f"{self.run.now():.2f} connect {index}: {exc!r}"[:300])
                    continue
                self.home = self.instance = index
                break
            if ws is None:
                await asyncio.sleep(backoff + random.random() * 0.1)
                backoff = min(backoff * 2, 1.0)
                continue
            backoff = 0.1
            self.ws = ws
            try:
                await self.serve(ws)
            except DROPPED as exc:
                self.failures.append(f"{self.run.now():.2f} session: {exc!r}"[:300])
            finally:
                await ws.close()
                self.ws = None
            self.disconnects.append(
                {"at": self.run.now(), "instance": self.instance, "code": ws.close_code, "done": self.done}
            )
            if not self.done and not self.run.stopping:
                await asyncio.sleep(0.05 + random.random() * 0.2)

    async def open(self, index: int) -> aiohttp.ClientWebSocketResponse:
        raise NotImplementedError

    async def serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        raise NotImplementedError

    def on_frame(self, frame: dict[str, Any]) -> None:
        raise NotImplementedError

    async def handshake(self, ws: aiohttp.ClientWebSocketResponse, want: str) -> dict[str, Any]:
        """Frames until `want` (`session`, `hello`), which the protocol says comes first; any
        frame before it is handled as usual, and recorded as a protocol violation."""
        self.conn += 1
        self.backlog: list[dict[str, Any]] = []
        while True:
            msg = await ws.receive(timeout=15)
            if msg.type != WSMsgType.TEXT:
                raise ConnectionError(f"no {want} frame: {msg.type} {msg.data!r}")
            outer: dict[str, Any] = msg.json()
            inner = outer["frames"] if outer.get("type") == "batch" else [outer]
            for n, frame in enumerate(inner):
                if frame.get("type") == want:
                    self.backlog = inner[n + 1 :]  # read() handles them first
                    return frame
                self.run.early.append(
                    f"t={self.run.now():.3f} {self.name} socket {self.conn} (instance {self.instance}): "
                    f"{frame.get('type')} before {want}: {str(frame)[:240]}"
                )
                self.on_frame(frame)

    async def read(
        self, ws: aiohttp.ClientWebSocketResponse, handle: Callable[[dict[str, Any]], None]
    ) -> None:
        """Frames until the socket closes; a ping after 5 s of silence, given up after 20 s."""
        for frame in self.backlog:
            handle(frame)
        self.backlog = []
        silent = 0
        while True:
            try:
                msg = await ws.receive(timeout=5.0)
            except TimeoutError:
                silent += 1
                if silent >= 4:
                    self.failures.append(f"{self.run.now():.2f} silent socket given up")
                    return
                await ws.send_json({"type": "ping"})
                continue
            silent = 0
            if msg.type != WSMsgType.TEXT:
                return
            frame = msg.json()
            for inner in frame["frames"] if frame.get("type") == "batch" else [frame]:
                handle(inner)

    def observe(self, source: str, kind: str, entry_id: str | None, text: str, **extra: Any) -> None:
        self.run.observations.append(
            Observation(self.run.now(), self.name, self.conn, source, kind, entry_id, text, **extra)
        )

    async def send(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send_json(frame)

    async def send_message(self, frame: dict[str, Any], sent: Sent) -> None:
        self.run.sent[sent.cmid] = sent
        self.unacked[sent.cmid] = frame
        await self.send(frame)

    async def resend_unacked(self) -> None:
        for cmid, frame in list(self.unacked.items()):
            self.run.sent[cmid].sends += 1
            await self.send(frame)

    async def retry_rate_limited(self) -> bool:
        if self.retry_at is None or self.run.now() < self.retry_at:
            return False
        self.retry_at = None
        await self.resend_unacked()
        return True

    def on_ack(self, frame: dict[str, Any]) -> None:
        cmid = str(frame.get("client_msg_id"))
        sent = self.run.sent.get(cmid)
        self.unacked.pop(cmid, None)
        if sent is None:
            self.failures.append(f"ack for unknown {cmid}")
            return
        sent.ids.append(str(frame.get("id")))
        if sent.acked_at is None:
            sent.acked_at = self.run.now()
        self.run.acked(sent)

    def on_error(self, frame: dict[str, Any]) -> None:
        reply_to = frame.get("in_reply_to") or {}
        cmid = reply_to.get("client_msg_id")
        self.run.errors[str(frame.get("code"))] += 1
        key = str(cmid) if cmid else None
        if key and key in self.run.sent:
            self.run.sent[key].errors.append(str(frame.get("code")))
            if frame.get("code") == "rate_limited":
                self.retry_at = self.run.now() + float(frame.get("retry_after") or 1.0)
            else:
                # Refused for good (e.g. not_assigned): never stored, never expected anywhere.
                self.unacked.pop(key, None)
        elif frame.get("code") not in ("rate_limited",):
            self.failures.append(f"{self.run.now():.2f} error {frame}"[:300])


class ShopperClient(Client):
    """Asks for a human, writes while queued and while an agent is there, done when closed."""

    def __init__(self, run: Run, index: int, home: int) -> None:
        super().__init__(run, home)
        self.name = f"s{index:02d}"
        self.token: str | None = None
        self.session_id: str | None = None
        self.sessions: list[str] = []
        self.last_id: str | None = None
        self.state = "new"
        self.seq = 0
        self.queued_sent = 0
        self.assigned_sent = 0
        self.next_send = 0.0
        self.want_transfer = False
        self.history_seen = asyncio.Event()

    async def open(self, index: int) -> aiohttp.ClientWebSocketResponse:
        params = {"shop": SHOP, "lang": "en"}
        protocols = ["kefu.v1"]
        if self.token:
            protocols.append(f"kefu.session.{self.token}")  # never in the URL
        if self.last_id:
            params["last_id"] = self.last_id
        url = self.run.cluster.instances[index].base + "/ws/shopper"
        return await self.run.http.ws_connect(url, params=params, protocols=protocols, autoping=True)

    async def serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.history_seen = asyncio.Event()
        first = await self.handshake(ws, "session")
        self.on_session(first)
        reader = asyncio.create_task(self.read(ws, self.on_frame))
        try:
            if first["resumed"]:
                # The history and the current state come before anything this socket sends.
                history = asyncio.create_task(self.history_seen.wait())
                await asyncio.wait({reader, history}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
                history.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await history
                if self.state not in ("assigned", "closed"):
                    self.want_transfer = True  # "asking again never queues twice"
            await self.resend_unacked()
            while not reader.done() and not self.done:
                await self.step()
                await asyncio.wait({reader}, timeout=0.05)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, *DROPPED):
                await reader

    def on_session(self, frame: dict[str, Any]) -> None:
        resumed = bool(frame.get("resumed"))
        if self.token and not resumed:
            self.run.note(f"{self.name}: resume refused (token lost), new session {frame.get('session_id')}")
        self.token = str(frame["token"])
        self.session_id = str(frame["session_id"])
        self.connections.append(
            {
                "at": self.run.now(),
                "instance": self.instance,
                "resumed": resumed,
                "last_id": self.last_id,
                "session": self.session_id,
            }
        )
        if self.session_id not in self.sessions:
            self.sessions.append(self.session_id)
            self.run.shopper_of[self.session_id] = self
        if not resumed:
            self.last_id = None
            self.state = "new"
            self.want_transfer = True  # a new chat: ask for a human after the greeting

    async def step(self) -> None:
        now = self.run.now()
        if await self.retry_rate_limited():
            return
        if self.want_transfer and now >= self.next_send:
            self.want_transfer = False
            await self.send({"type": "transfer"})
            return
        if now < self.next_send or len(self.unacked) >= self.run.plan.max_in_flight:
            return
        plan = self.run.plan
        if self.state == "queued" and self.queued_sent < plan.queued_msgs:
            self.queued_sent += 1
            await self.say(plan.queued_every_s)
        elif self.state == "assigned" and self.assigned_sent < plan.shopper_msgs:
            self.assigned_sent += 1
            await self.say(plan.shopper_every_s, end=self.assigned_sent == plan.shopper_msgs)

    async def say(self, every: float, *, end: bool = False) -> None:
        self.seq += 1
        cmid = f"{self.name}.{self.seq}"
        text = f"S|{self.name}|{self.seq}" + ("|end" if end else "")
        sent = Sent(cmid, "shopper", self.name, text, self.session_id, None, self.run.now())
        self.next_send = self.run.now() + every * (0.8 + 0.4 * random.random())
        await self.send_message({"type": "message", "text": text, "client_msg_id": cmid}, sent)

    # ---- frames ----

    def on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "history":
            for line in frame.get("messages", []):
                self.see_line(line)
            self.history_seen.set()
            return
        if kind == "ack":
            self.on_ack(frame)
            return
        if kind == "error":
            self.on_error(frame)
            if (frame.get("in_reply_to") or {}).get("type") == "transfer":
                self.want_transfer = True
            return
        if kind in ("pong", "typing"):
            return
        entry_id = frame.get("id")
        if entry_id is not None:
            self.track_id(str(entry_id))
        self.observe(
            "live",
            str(kind),
            None if entry_id is None else str(entry_id),
            str(frame.get("text") or ""),
            cmid=frame.get("client_msg_id"),
            event=frame.get("event"),
        )
        self.follow_state(str(kind), frame.get("event"))

    def see_line(self, line: dict[str, Any]) -> None:
        entry_id = str(line["id"])
        self.track_id(entry_id)
        self.observe(
            "history",
            str(line.get("from")),
            entry_id,
            str(line.get("text") or ""),
            conv=line.get("conversation_id"),
            cmid=line.get("client_msg_id"),
            event=line.get("event"),
        )
        if line.get("from") == "system":
            self.follow_state("system", line.get("event"))

    def track_id(self, entry_id: str) -> None:
        if self.last_id is None or id_key(entry_id) > id_key(self.last_id):
            self.last_id = entry_id

    def follow_state(self, kind: str, event: Any) -> None:
        """The chat's state, as the frames (or history lines) tell it."""
        new = {"queued": "queued", "agent_joined": "assigned", "closed": "closed", "offline": "bot"}.get(kind)
        if kind in ("bot", "system"):
            new = {
                "queued": "queued",
                "transferred": "queued",
                "requeued": "queued",
                "agent_joined": "assigned",
                "left_queue": "bot",
                "offline": "bot",
                "closed": "closed",
            }.get(str(event))
        if new is None:
            return
        if new == "bot" and self.state != "bot":
            self.run.note(f"{self.name}: back with the bot ({kind} {event}); asking again")
            self.want_transfer = True
            self.next_send = self.run.now() + 0.5
        self.state = new
        if new == "closed":
            self.done = True
            self.run.finished(self)


@dataclass
class AgentConv:
    id: str
    session: str
    closing: bool = False
    last_send: float = 0.0
    end_seen: bool = False


class AgentClient(Client):
    """Online, answers every chat it holds with `agent_msgs` lines, closes it once the shopper
    said its last line; at most one frame per tick (the server's rate limit is 5/s)."""

    def __init__(self, run: Run, username: str, home: int) -> None:
        super().__init__(run, home)
        self.name = username
        self.convs: dict[str, AgentConv] = {}
        self.online = asyncio.Event()
        self.hellos: list[dict[str, Any]] = []

    async def open(self, index: int) -> aiohttp.ClientWebSocketResponse:
        base = self.run.cluster.instances[index].base
        body = {"shop": SHOP, "username": self.name, "password": PASSWORD}
        async with self.run.http.post(base + "/api/login", json=body) as resp:
            if resp.status != 200:
                raise ConnectionError(f"login {resp.status}: {(await resp.text())[:200]}")
            token = (await resp.json())["token"]
        return await self.run.http.ws_connect(
            base + "/ws/agent", params=await ticket(self.run.http, base, token)
        )

    async def serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.on_hello(await self.handshake(ws, "hello"))
        reader = asyncio.create_task(self.read(ws, self.on_frame))
        try:
            await self.send({"type": "status", "status": "online"})
            await self.resend_unacked()
            while not reader.done() and not self.run.stopping:
                await self.step()
                await asyncio.wait({reader}, timeout=self.run.plan.agent_tick_s)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, *DROPPED):
                await reader

    def on_hello(self, hello: dict[str, Any]) -> None:
        """Like the console on a reconnect: the chats in `hello` are the ones held, merged with
        what this client already knew of them (lines shown before, on any socket)."""
        before = self.convs
        self.convs = {}
        self.connections.append(
            {"at": self.run.now(), "instance": self.instance, "held_before": sorted(before)}
        )
        self.observe("hello", "hello", None, "")
        for conversation in hello.get("conversations", []):
            self.adopt(conversation, "snapshot", before)
        self.hellos.append({"at": self.run.now(), "conversations": sorted(self.convs)})
        gone = set(before) - set(self.convs)
        if gone and self.conn > 0:
            self.run.note(f"{self.name}: after reconnect no longer holds {sorted(gone)}")

    def adopt(
        self, conversation: dict[str, Any], source: str, known: dict[str, AgentConv] | None = None
    ) -> None:
        conv = AgentConv(str(conversation["id"]), str(conversation["shopper"]["session_id"]))
        old = (known or self.convs).get(conv.id)
        if old is not None:
            conv.end_seen, conv.last_send = old.end_seen, old.last_send
        self.convs[conv.id] = conv
        self.observe(source, "transcript", None, "", conv=conv.id)
        for line in conversation.get("transcript", []):
            if line.get("from") == "shopper":
                self.see_shopper_line(conv, source, str(line["id"]), str(line.get("text") or ""))

    def see_shopper_line(self, conv: AgentConv, source: str, entry_id: str, text: str) -> None:
        self.observe(source, "shopper", entry_id, text, conv=conv.id)
        parsed = parse_text(text)
        if parsed and parsed[3]:
            conv.end_seen = True

    def on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "assigned":
            self.adopt(frame["conversation"], "assigned")
        elif kind == "message":
            conv = self.convs.get(str(frame.get("conversation_id")))
            if conv is None:
                self.run.early.append(
                    f"t={self.run.now():.3f} {self.name} socket {self.conn}: message for a conversation "
                    f"not assigned on this socket: {str(frame)[:240]}"
                )
                # Kept, so that `hello` (which should come first) merges with it.
                conv = self.convs[str(frame.get("conversation_id"))] = AgentConv(
                    str(frame.get("conversation_id")), "?"
                )
            self.see_shopper_line(conv, "live", str(frame.get("id")), str(frame.get("text") or ""))
        elif kind == "conversation_closed":
            conv_id = str(frame.get("conversation_id"))
            self.convs.pop(conv_id, None)
            if frame.get("by") != "agent":
                self.run.note(f"{self.name}: conversation {conv_id} taken away (by {frame.get('by')})")
        elif kind == "status":
            if frame.get("status") == "online":
                self.online.set()
        elif kind == "ack":
            self.on_ack(frame)
        elif kind == "error":
            self.on_error(frame)
            self.close_refused(frame)

    def close_refused(self, frame: dict[str, Any]) -> None:
        reply_to = frame.get("in_reply_to") or {}
        if reply_to.get("type") == "close" and reply_to.get("conversation_id") in self.convs:
            self.convs[reply_to["conversation_id"]].closing = False

    async def step(self) -> None:
        """One frame at most: close a finished chat, else the next line of the chat waiting longest."""
        plan = self.run.plan
        now = self.run.now()
        if await self.retry_rate_limited():
            return
        for conv in self.convs.values():
            acked = self.run.agent_acked[conv.id]
            pending = any(f.get("conversation_id") == conv.id for f in self.unacked.values())
            if not conv.closing and conv.end_seen and acked >= plan.agent_msgs and not pending:
                conv.closing = True
                await self.send({"type": "close", "conversation_id": conv.id})
                return
        ready = [
            c
            for c in self.convs.values()
            if self.run.agent_started[c.id] < plan.agent_msgs and now - c.last_send >= plan.agent_every_s
        ]
        if not ready:
            return
        conv = min(ready, key=lambda c: c.last_send)
        conv.last_send = now
        self.run.agent_started[conv.id] += 1
        seq = self.run.agent_seq[conv.id] = self.run.agent_seq[conv.id] + 1
        cmid = f"{self.name}.{conv.id}.{seq}"
        text = f"A|{conv.id}|{seq}"
        sent = Sent(cmid, "agent", self.name, text, conv.session, conv.id, now)
        frame = {"type": "message", "conversation_id": conv.id, "text": text, "client_msg_id": cmid}
        await self.send_message(frame, sent)

    def on_ack(self, frame: dict[str, Any]) -> None:
        sent = self.run.sent.get(str(frame.get("client_msg_id")))
        first = sent is not None and not sent.ids
        super().on_ack(frame)
        if sent is not None and first and sent.conv:
            self.run.agent_acked[sent.conv] += 1

    def on_error(self, frame: dict[str, Any]) -> None:
        reply_to = frame.get("in_reply_to") or {}
        sent = self.run.sent.get(str(reply_to.get("client_msg_id")))
        super().on_error(frame)
        if sent is not None and sent.conv and frame.get("code") == "not_assigned":
            self.run.agent_started[sent.conv] -= 1  # never stored: another line takes its place
