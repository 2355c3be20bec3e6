"""Delivery: how what happens in Redis reaches this instance's sockets.

Everything a shopper or agent must see is first written to a session's log (messages, bot
replies, "agent joined", "closed"…). Each socket remembers the last log id it was sent and
catches up from there, so a frame is never lost or doubled. Pub/sub events (events.py) only
say *when* to catch up; a periodic backstop catches up anyway, so a missed event delays a frame
by seconds but never loses it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

import structlog

from kefu.server import wire
from kefu.server.conns import AgentConn, Conn, ShopperConn, send
from kefu.server.context import Context
from kefu.store.accounts import Accounts
from kefu.store.events import (
    AgentGone,
    Assigned,
    Closed,
    ConfigChanged,
    Event,
    FaqChanged,
    LeftQueue,
    LogWritten,
    PaymentDue,
    Queued,
    QueueMoved,
    Requeued,
    SignedOut,
    TicketsChanged,
    Transferred,
    Typing,
)
from kefu.store.log import id_after
from kefu.store.presence import forget_live, touch
from kefu.store.sessions import Sessions, Turn
from kefu.store.transfer import Place

__all__ = ["SIGNED_OUT", "Delivery"]

# What one frame or catch-up carries at most: the latest lines of a transcript given to an
# agent (`earlier` counts the rest), and log lines sent per catch-up (the next one sends more).
TRANSCRIPT_LINES = 200
CATCH_UP_LINES = 200
# Presence keys refreshed per round trip (touch_all): a few milliseconds of the loop each.
PRESENCE_BATCH = 250

# Close code of an agent socket whose login ended (logout, disabled, password reset, expiry):
# the console must not reconnect with it; it goes back to the login form.
SIGNED_OUT = 4001

log = structlog.get_logger(__name__)


class Delivery:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.registry = ctx.registry
        ctx.delivery = self
        self._tasks: set[asyncio.Task[Any]] = set()
        self._queue_pending: set[str] = set()
        # Waiting sockets whose position moved since the last `positions` run.
        self._moved: set[ShopperConn] = set()
        # `queue` events not yet applied to the waiting sockets, per (shop, group): applied in
        # one pass per group by `positions` (once a second), so a burst of joins or assignments
        # costs each waiting socket two binary searches, not two per event.
        self._queue_events: dict[tuple[str, str], list[QueueMoved]] = {}
        self._wait_bases: dict[tuple[str, str], tuple[float, tuple[float, int]]] = {}
        self._presence_runs = 0

    # ---- tasks ----

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("delivery_failed", error=repr(exc))

    @property
    def tasks(self) -> set[asyncio.Task[Any]]:
        return set(self._tasks)

    # ---- sockets coming and going ----

    def add(self, conn: Conn) -> None:
        self.registry.add(conn)

    def discard(self, conn: Conn) -> None:
        if self.registry.discard(conn) and isinstance(conn, AgentConn):
            # No new chats for an agent without a socket; another instance holding one
            # restores the key at its next refresh.
            self.spawn(forget_live(self.ctx.redis, conn.shop, conn.agent_id))

    async def touch(self, conn: Conn) -> None:
        """Presence for one socket that just connected (the loop refreshes everyone later)."""
        settings = self.ctx.settings
        await touch(
            self.ctx.redis,
            agents=[conn.key] if isinstance(conn, AgentConn) else [],
            sessions=[conn.key] if isinstance(conn, ShopperConn) else [],
            agent_ttl_s=settings.agent_grace_s,
            session_ttl_s=settings.shopper_grace_s,
            live_ttl_s=min(settings.agent_grace_s, 3 * settings.presence_interval_s),
        )

    async def touch_all(self) -> None:
        """Refresh presence of every socket held; an expired one means the grace period ran out.

        Agents every run (their "live" key lasts three runs). Shoppers' presence lasts the
        grace period, so it is refreshed about three times per grace, not every run, and in
        batches with the loop free between them: thousands of open sockets never hold up a
        reply for a long pipeline."""
        settings = self.ctx.settings
        every = max(1, int(settings.shopper_grace_s // (3 * settings.presence_interval_s)))
        sessions = list(self.registry.shoppers) if self._presence_runs % every == 0 else []
        self._presence_runs += 1
        agents = list(self.registry.agents)
        for start in range(0, max(len(sessions), 1), PRESENCE_BATCH):
            await touch(
                self.ctx.redis,
                agents=agents if start == 0 else [],
                sessions=sessions[start : start + PRESENCE_BATCH],
                agent_ttl_s=settings.agent_grace_s,
                session_ttl_s=settings.shopper_grace_s,
                live_ttl_s=min(settings.agent_grace_s, 3 * settings.presence_interval_s),
            )

    # ---- shoppers ----

    async def shopper(self, conn: ShopperConn, *, tell_state: bool = False) -> None:
        """Send the shopper every log line after the last one it got, then queue/agent state.

        `tell_state` repeats the current state even if unchanged (the shopper asked again)."""
        async with conn.lock:
            if not conn.ready:
                return  # the socket is opening; it reads the log after this event's write
            sessions = self.ctx.sessions(conn.shop)
            config = await self.ctx.config(conn.shop)
            changed = tell_state or conn.told is None or conn.told[0] in ("queued", "assigned")
            # At most a page per catch-up: a socket far behind gets the rest at the next one.
            entries = await sessions.entries(conn.session_id, conn.last_id, count=CATCH_UP_LINES)
            for entry in entries:
                conn.last_id = entry.id
                changed = changed or entry.sender in ("system", "agent")
                frame = wire.shopper_frame(entry, config, conn.lang)
                if frame is None:
                    continue
                if not await send(conn.ws, frame):
                    return
                if entry.sender in ("bot", "agent"):
                    self.ctx.metrics.delivered(conn.shop, entry.sender).inc()
            if changed:  # a chat with the bot only has no queue or agent state to tell
                await self._tell_state(conn, sessions, tell_state)
            conn.behind = len(entries) >= CATCH_UP_LINES  # more may wait: the backstop sends them

    async def turn(self, conn: ShopperConn, ack: wire.Ack, turn: Turn) -> None:
        """A bot turn's ack and the lines read back with it, as one frame: the shopper's own
        line is acked, not echoed (other tabs of the session get it as a `shopper` frame)."""
        async with conn.lock:
            if not conn.ready:
                return
            config = await self.ctx.config(conn.shop)
            frames: list[Any] = [ack]
            changed = False
            for entry in turn.entries:
                if not id_after(entry.id, conn.last_id):
                    continue  # sent meanwhile by a catch-up
                conn.last_id = entry.id
                changed = changed or entry.sender in ("system", "agent")
                frame = wire.shopper_frame(entry, config, conn.lang) if entry.id != ack["id"] else None
                if frame is None:
                    continue
                frames.append(frame)
                if entry.sender in ("bot", "agent"):
                    self.ctx.metrics.delivered(conn.shop, entry.sender).inc()
            if not await send(conn.ws, frames[0] if len(frames) == 1 else wire.batch(frames)):
                return
            if changed:
                await self._tell_state(conn, self.ctx.sessions(conn.shop), False)
            conn.behind = len(turn.entries) >= CATCH_UP_LINES
        for other in self.registry.shopper_conns(conn.shop, conn.session_id):
            if other is not conn:
                self.spawn(self.shopper(other))

    async def _tell_state(self, conn: ShopperConn, sessions: Sessions, force: bool) -> None:
        conversation = await sessions.current(conn.session_id)
        if conversation is None:
            return
        conn.conversation_id = conversation.id
        conn.state = conversation.state
        if conversation.state != "queued":
            self.registry.set_place(conn, None)
        if conversation.state == "queued":
            place = await self.ctx.queue(conn.shop).place(conversation.id, conversation.group)
            self.registry.set_place(conn, place)
            position = place.position if place else None
            if place is not None and (force or conn.told != ("queued", position)):
                await self._tell_place(conn, place)
            conn.told = ("queued", position)
        elif conversation.state == "assigned":
            if force and conversation.agent:
                name = await self.ctx.queue(conn.shop).agent_name(conversation.agent)
                await send(conn.ws, wire.agent_joined(conversation.agent, name, entry_id=None))
            conn.told = ("assigned", conversation.agent)
        else:
            conn.told = (conversation.state, None)

    async def _tell_place(self, conn: ShopperConn, place: Place) -> None:
        per_conversation, slots = await self._wait_basis(conn.shop, place.group)
        wait = round(place.position * per_conversation / max(slots, 1))
        await send(conn.ws, wire.queued(place.position, wait, place.group))

    async def _wait_basis(self, shop: str, group: str) -> tuple[float, int]:
        """The wait estimate's parts, read at most once a second per group (not per shopper)."""
        now = time.monotonic()
        cached = self._wait_bases.get((shop, group))
        if cached is not None and now - cached[0] < 1.0:
            return cached[1]
        basis = await self.ctx.queue(shop).wait_basis(group)
        self._wait_bases[(shop, group)] = (now, basis)
        return basis

    def _places_moved(self, shop: str, event: QueueMoved) -> None:
        """A group's queue changed: noted, and applied with the others of the second."""
        self._queue_events.setdefault((shop, event.group), []).append(event)

    def _apply_queue_events(self) -> None:
        """Each waiting socket moves its own position by the events since the last run (no
        Redis): one pass per group, the events merged; a socket that missed an event reads its
        place again."""
        pending, self._queue_events = self._queue_events, {}
        for (shop, group), events in pending.items():
            events.sort(key=lambda e: e.version)
            first, last = events[0].version, events[-1].version
            contiguous = [e.version for e in events] == list(range(first, last + 1))
            joined = sorted(s for e in events for s in e.joined)
            left = sorted(s for e in events for s in e.left)
            for conn in self.registry.waiting_in(shop, group):
                place = conn.place
                if place is None:
                    continue
                if contiguous and place.version == first - 1:
                    moved = place.apply(last, joined, left, first=first)
                else:  # read mid-burst, or an event missing: one event at a time
                    moved = False
                    for e in events:
                        step = place.apply(e.version, sorted(e.joined), sorted(e.left))
                        if step is None:
                            moved = None
                            break
                        moved = moved or step
                if moved is None:
                    self.spawn(self.shopper(conn))
                elif moved:
                    self._moved.add(conn)

    async def positions(self) -> None:
        """Tell each waiting shopper whose position moved its new one: at most one frame per
        shopper per run (a burst of assignments is one frame), the wait estimate read once per
        group. Run every second by a loop."""
        self._apply_queue_events()
        moved, self._moved = self._moved, set()
        for conn in moved:
            place = conn.place
            if place is None or conn.ws.closed or conn.told == ("queued", place.position):
                continue
            async with conn.lock:
                if conn.place is place and conn.ready:
                    await self._tell_place(conn, place)
                    conn.told = ("queued", place.position)

    async def check_places(self) -> None:
        """A missed `queue` event (a reconnect of the event stream) shows as a group version
        ahead of what a socket counted: one round trip per shop, not per waiting shopper."""
        self._apply_queue_events()
        by_shop: dict[str, list[str]] = {}
        for shop, group in list(self.registry.waiting):
            by_shop.setdefault(shop, []).append(group)
        for shop, groups in by_shop.items():
            for group, version in zip(groups, await self.ctx.queue(shop).versions(groups), strict=True):
                for conn in self.registry.waiting_in(shop, group):
                    if conn.place is not None and conn.place.version < version:
                        self.spawn(self.shopper(conn))

    # ---- agents ----

    async def agent(self, conn: AgentConn) -> None:
        """Tell the agent of conversations assigned or taken away, then new shopper lines."""
        async with conn.lock:
            if not conn.ready:
                return  # `hello` is being built; it reads Redis after this event's write
            sessions = self.ctx.sessions(conn.shop)
            held = await self.ctx.queue(conn.shop).held(conn.agent_id)
            for conversation_id in sorted(held - conn.known.keys()):
                view = await self.conversation_view(conn.shop, conversation_id)
                if view is None:
                    continue
                self.remember(conn, view)
                await send(conn.ws, wire.assigned(view))
            for conversation_id in sorted(conn.known.keys() - held):
                conversation = await sessions.conversation(conversation_id)
                by = conversation.closed_by if conversation and conversation.state == "closed" else None
                reason = (
                    "closed"
                    if by
                    else "transferred"
                    if conversation and conversation.state != "bot"
                    else "left"
                )
                await send(conn.ws, wire.conversation_closed(conversation_id, by or reason))
                del conn.known[conversation_id]
            for conversation_id, (session_id, last) in list(conn.known.items()):
                entries = await sessions.entries(session_id, last, count=CATCH_UP_LINES)
                for entry in entries:
                    if entry.conversation_id != conversation_id:
                        continue
                    if entry.sender == "shopper":
                        await send(conn.ws, wire.shopper_message(conversation_id, entry))
                    elif entry.event == "product" and entry.product:
                        await send(conn.ws, wire.viewing(conversation_id, entry.id, entry.product))
                if entries:
                    conn.known[conversation_id] = (session_id, entries[-1].id)

    @staticmethod
    def remember(conn: AgentConn, view: dict[str, Any]) -> None:
        """The agent's socket now knows this conversation, up to its last line."""
        transcript = view["transcript"]
        conn.known[view["id"]] = (view["shopper"]["session_id"], transcript[-1]["id"] if transcript else None)

    async def conversation_view(self, shop: str, conversation_id: str) -> dict[str, Any] | None:
        """What an agent is shown of a conversation it takes: who, how long they waited, and the
        whole transcript (with the bot)."""
        sessions = self.ctx.sessions(shop)
        conversation = await sessions.conversation(conversation_id)
        if conversation is None:
            return None
        config = await self.ctx.config(shop)
        entries, total = await sessions.transcript_tail(
            conversation.session, conversation_id, TRANSCRIPT_LINES
        )
        shopper = await sessions.shopper(conversation.session)
        earlier = total - len(entries)
        lines = [wire.line(e, config, conversation.lang) for e in entries]
        return wire.conversation(
            conversation_id,
            conversation.group,
            conversation.waited_s,
            conversation.session,
            conversation.lang,
            lines,
            earlier=earlier,
            customer=shopper.customer,
            product=shopper.product,
        )

    async def queue_frame(self, shop: str) -> wire.Queue:
        return wire.queue(await self.ctx.queue(shop).waiting())

    async def _push_queue_counts(self, shop: str) -> None:
        await asyncio.sleep(0.1)  # one frame for a burst of queue changes
        self._queue_pending.discard(shop)
        frame = await self.queue_frame(shop)
        for group in (await self.ctx.config(shop)).groups:
            self.ctx.metrics.queue_length.labels(shop, group).set(frame["groups"].get(group, 0))
        for conn in [c for c in self.registry.shop_agents(shop) if c.ready]:
            await send(conn.ws, frame)

    # ---- events ----

    async def dispatch(self, shop: str, event: Event) -> None:
        match event:
            case Typing():
                await self._typing(shop, event)
            case FaqChanged():
                await self.ctx.bots.refresh(shop)
            case ConfigChanged():
                self.ctx.forget_config(shop)
            case TicketsChanged():
                pass  # consoles poll their ticket list
            case PaymentDue():
                nudge = wire.payment_due(event.conversation_id, event.order_id, event.amount, event.currency)
                for conn in [c for c in self.registry.agent_conns(shop, event.agent_id) if c.ready]:
                    await send(conn.ws, nudge)
            case QueueMoved():
                self._places_moved(shop, event)
                self._queue_counts(shop)
            case AgentGone() | SignedOut():
                self._agents_moved(shop, event)
            case _:
                self._conversation_moved(shop, event)

    def _agents_moved(self, shop: str, event: AgentGone | SignedOut) -> None:
        if isinstance(event, AgentGone):
            self._route(shop, None, event.agent_id)
        else:
            for conn in self.registry.agent_conns(shop, event.agent_id):
                self.spawn(self.sign_out(conn, event.reason))
        self._queue_counts(shop)

    def _conversation_moved(self, shop: str, event: Event) -> None:
        match event:
            case Assigned():
                if self.registry.shopper_conns(shop, event.session_id):
                    self._observe_assignment(shop, event)
                self._route(shop, event.session_id, event.agent_id)
            case Queued() | LeftQueue():
                self._route(shop, event.session_id, None)
            case Requeued():
                self._route(shop, event.session_id, event.agent_id)
            case LogWritten() | Transferred() | Closed():
                self._route(shop, event.session_id, event.agent_id or None)

    def _route(self, shop: str, session_id: str | None, agent_id: str | None) -> None:
        """Catch up the sockets of the session and the agent an event names."""
        if session_id:
            for conn in self.registry.shopper_conns(shop, session_id):
                self.spawn(self.shopper(conn))
        if agent_id:
            for agent_conn in self.registry.agent_conns(shop, agent_id):
                self.spawn(self.agent(agent_conn))

    def _observe_assignment(self, shop: str, event: Assigned) -> None:
        """Observed here, by the instance holding the shopper's socket: once per assignment."""
        metrics = self.ctx.metrics
        metrics.queue_wait.labels(shop, event.group).observe(max(0.0, event.waited_ms / 1000))
        if event.at:
            metrics.assignment_latency.labels(shop).observe(max(0.0, time.time() - event.at / 1000))

    def _queue_counts(self, shop: str) -> None:
        """Agents get the queue counts (once per burst of changes)."""
        if shop not in self._queue_pending:
            self._queue_pending.add(shop)
            self.spawn(self._push_queue_counts(shop))

    async def _typing(self, shop: str, event: Typing) -> None:
        if event.sender == "shopper":
            for conn in [c for c in self.registry.agent_conns(shop, str(event.agent_id)) if c.ready]:
                await send(conn.ws, wire.typing_to_agent(event.conversation_id))
        else:
            for shopper in [c for c in self.registry.shopper_conns(shop, event.session_id) if c.ready]:
                await send(shopper.ws, wire.typing_to_shopper())

    async def sign_out(self, conn: AgentConn, reason: str) -> None:
        """The login behind this socket ended: close it (4001 with the reason), nothing more
        reaches it. The console goes back to its login form."""
        if conn.signed_out:
            return  # the event and the periodic check can both notice; one close is enough
        conn.signed_out = True
        log.info("agent_signed_out", shop=conn.shop, agent_id=conn.agent_id, reason=reason)
        await conn.ws.close(code=SIGNED_OUT, message=reason.encode()[:120])

    async def check_logins(self) -> None:
        """Close agent sockets whose login ended without this instance hearing of it (an
        expired access token, a `signed_out` event missed while the stream reconnected)."""
        now = time.time()
        checked: dict[tuple[str, str, int], bool] = {}
        for conn in self.registry.all_agents():
            if conn.expires_at <= now:
                self.spawn(self.sign_out(conn, "expired"))
                continue
            key = (conn.shop, conn.username, conn.token_version)
            if key not in checked:
                checked[key] = await Accounts(self.ctx.redis, conn.shop).still_valid(
                    conn.username, conn.token_version
                )
            if not checked[key]:
                self.spawn(self.sign_out(conn, "revoked"))

    def catch_up_all(self) -> None:
        """After the event stream was interrupted: everyone may have missed something."""
        for conn in self.registry.all_shoppers():
            self.spawn(self.shopper(conn))
        for agent_conn in self.registry.all_agents():
            self.spawn(self.agent(agent_conn))

    async def backstop(self) -> None:
        """Catch up sockets that wait on other parties (queued, with an agent, agents)."""
        for conn in self.registry.all_shoppers():
            # Waiting shoppers are not polled: `queue` events move them, check_places catches
            # what an interrupted event stream missed.
            if conn.behind or (conn.told and conn.told[0] == "assigned"):
                await self.shopper(conn)
        for agent_conn in self.registry.all_agents():
            await self.agent(agent_conn)
