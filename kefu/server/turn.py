"""A shopper's message to the bot: match it, learn from a picked suggestion, store the question
and the reply in one step, ack, deliver — or hand the shopper to the transfer queue."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import structlog

from kefu.errors import RateLimited
from kefu.faq.matcher import Decision, MatchResult
from kefu.server import frames, wire
from kefu.server.bot import compose_reply, miss_key
from kefu.server.conns import ShopperConn, send
from kefu.server.context import Context
from kefu.server.delivery import CATCH_UP_LINES
from kefu.server.orders import order_lines, pick_orders
from kefu.store.events import LogWritten, publish
from kefu.store.sessions import Conversation, Sessions, Stored
from kefu.store.shops import ShopConfig

__all__ = ["acked", "bot_turn", "match", "quick_turn", "transfer", "watch_pick"]

log = structlog.get_logger(__name__)


async def acked(ctx: Context, conn: ShopperConn, frame: frames.ShopperMessage, stored: Stored) -> None:
    await send(conn.ws, wire.ack(frame.client_msg_id, stored.id))
    conn.acked = frame.client_msg_id  # from here on, a failure is "incomplete", never "unavailable"
    if stored.duplicate:
        # A resend: the reply (if any) was already written; make sure this socket has it.
        await ctx.delivery.shopper(conn)
    else:
        ctx.metrics.received(conn.shop, "shopper").inc()


async def match(ctx: Context, conn: ShopperConn, text: str) -> MatchResult:
    """The bot's reading of a question, within the client's matching budget."""
    ctx.guard.can_match(conn.client)
    config = await ctx.config(conn.shop)
    matcher = await ctx.bots.matcher(conn.shop, config.bot_confidence)
    # Off the loop, the shops taking turns; a long message is read only as far as a question goes.
    question = text[: ctx.settings.match_chars]
    # A question asked before is answered from the matcher's cache (microseconds); a short new
    # one is matched on the loop (a few milliseconds: handing it to a thread costs more in GIL
    # hand-overs than it spares the loop); a longer one on the pool's threads, shops in turn.
    product = conn.product
    # On a product's page some entry names, the question may be read again with the title.
    scope = matcher.scope(product)
    chars = len(question) + (len(scope[1]) if scope else 0)
    cached = matcher.cached(question, product)
    if cached is not None:
        result = cached
    elif chars <= ctx.settings.match_inline_chars:
        started = time.thread_time()
        result = matcher.match(question, product)
        ctx.guard.spent_matching(conn.client, time.thread_time() - started)
    else:
        result, cpu_s = await ctx.matching.run(conn.shop, lambda: matcher.match(question, product))
        ctx.guard.spent_matching(conn.client, cpu_s)
    ctx.metrics.decided(conn.shop, result.decision.value).inc()
    return result


async def quick_turn(
    ctx: Context, conn: ShopperConn, sessions: Sessions, frame: frames.ShopperMessage
) -> MatchResult | None:
    """The common turn — a question to the bot in a chat the socket last saw with the bot — in
    one round trip to Redis (the script checks the state, writes both lines and reads back
    what the socket has not seen) and one frame back. Returns the match when the turn needs
    the full path: a request for a human, or the chat is no longer with the bot."""
    assert conn.conversation_id is not None
    result = await match(ctx, conn, frame.text)
    if result.decision == Decision.TRANSFER:
        return result
    reply = await _reply(ctx, conn, await ctx.config(conn.shop), result, frame.text)
    turn = await sessions.bot_turn(
        conn.session_id,
        conn.conversation_id,
        frame.client_msg_id,
        frame.text,
        reply.lines,
        miss=reply.miss,
        checked=False,
        after=conn.last_id,
        read_back=CATCH_UP_LINES,
    )
    if turn.stored is None:
        conn.state = turn.state or None
        return result
    conn.acked = frame.client_msg_id  # a failure from here on is "incomplete"
    if not turn.stored.duplicate:
        conn.misses = reply.misses
        ctx.metrics.received(conn.shop, "shopper").inc()
        if reply.suggested:
            ctx.metrics.suggestions_shown.labels(conn.shop).inc()
    await ctx.delivery.turn(conn, wire.ack(frame.client_msg_id, turn.stored.id), turn)
    return None


@dataclass(frozen=True, slots=True)
class _Reply:
    """What the bot says to a match: the lines, the shopper's misses in a row after it, the
    unanswered question's key (None when answered), and whether suggestions were offered."""

    lines: list[tuple[str, dict[str, Any]]]
    misses: int
    miss: str | None
    suggested: bool


async def _reply(
    ctx: Context, conn: ShopperConn, config: ShopConfig, result: MatchResult, text: str
) -> _Reply:
    lang = "en" if result.language == "en" else "zh"
    # A signed-in customer asking after their order: its real state — after the FAQ's answer
    # when one fits, before its suggestions when some might (the question may be about the
    # order *and* something the FAQ answers: "包裹破损了怎么处理" reads as both). No order on
    # record: the FAQ's answer, and the offer of a human who can look further. Anyone else: the
    # FAQ's answer as always.
    unfound = False
    reply = compose_reply(result, config, lang)
    if result.order_question and conn.customer is not None:
        answered = await _order_reply(ctx, conn, config, lang, text)
        if answered is not None:
            faq = (reply.text, reply.extra(transfer=True))
            if reply.decision == "answer":
                return _Reply([faq, *answered.lines], 0, None, False)
            if reply.decision == "suggest":  # what it may also be about, after the order
                return _Reply([*answered.lines, faq], 0, None, True)
            return answered
        unfound = True
    missed = reply.decision in ("fallback", "suggest")
    misses = conn.misses + 1 if missed else 0 if reply.decision == "answer" else conn.misses
    lines = [(reply.text, reply.extra(transfer=True))]
    offer = missed and config.auto_offer_after and misses >= config.auto_offer_after
    if offer or unfound:
        misses = 0 if offer else misses
        lines.append((config.offer_transfer.get(lang), {"decision": "notice", "transfer": True}))
    return _Reply(lines, misses, miss_key(text) if missed else None, bool(reply.suggestions))


async def _order_reply(
    ctx: Context, conn: ShopperConn, config: ShopConfig, lang: str, text: str
) -> _Reply | None:
    """A signed-in customer asking after their order: its real state (None: no order on record)."""
    assert conn.customer is not None
    orders = pick_orders(await ctx.commerce(conn.shop).orders_of(conn.customer), text)
    if not orders:
        ctx.metrics.order_answers.labels(conn.shop, "none").inc()
        return None
    ctx.metrics.order_answers.labels(
        conn.shop, orders[0].order.status if len(orders) == 1 else "several"
    ).inc()
    return _Reply(order_lines(orders, config, lang), 0, None, False)


async def bot_turn(
    ctx: Context,
    conn: ShopperConn,
    sessions: Sessions,
    conversation: Conversation,
    frame: frames.ShopperMessage,
    result: MatchResult | None = None,
) -> None:
    """Match (unless `result` is the match already made), then store the question and the
    reply in one step, ack, deliver."""
    config = await ctx.config(conn.shop)
    if result is None:
        result = await match(ctx, conn, frame.text)
    if conversation.learn_pick and frame.pick is None:
        retract = result.decision == Decision.TRANSFER or result.dissatisfied
        await watch_pick(ctx, conn, sessions, conversation, retract=retract)
    if result.decision == Decision.TRANSFER:
        stored = await sessions.append(
            conn.session_id, conversation.id, "shopper", frame.text, client_msg_id=frame.client_msg_id
        )
        assert stored is not None
        await acked(ctx, conn, frame, stored)
        if not stored.duplicate:
            await transfer(ctx, conn, sessions, conversation)
        return
    reply = await _reply(ctx, conn, config, result, frame.text)
    turn = await sessions.bot_turn(
        conn.session_id,
        conversation.id,
        frame.client_msg_id,
        frame.text,
        reply.lines,
        miss=reply.miss,
        after=conn.last_id,
        read_back=CATCH_UP_LINES,
    )
    assert turn.stored is not None
    conn.acked = frame.client_msg_id
    if not turn.stored.duplicate:
        conn.misses = reply.misses
        ctx.metrics.received(conn.shop, "shopper").inc()
        if reply.suggested:
            ctx.metrics.suggestions_shown.labels(conn.shop).inc()
        if not turn.written:
            # An agent took the chat between our look and our write: tell the agent's socket.
            event = LogWritten(session_id=conn.session_id, conversation_id=conversation.id)
            await publish(ctx.redis, conn.shop, event)
    await ctx.delivery.turn(conn, wire.ack(frame.client_msg_id, turn.stored.id), turn)


async def watch_pick(
    ctx: Context, conn: ShopperConn, sessions: Sessions, conversation: Conversation, *, retract: bool
) -> None:
    """One more message after a picked suggestion: a request for a human or "that was wrong"
    takes the learned vote back; after WATCH_TURNS quiet messages it stands."""
    assert conversation.learn_pick is not None
    if retract:
        await ctx.learning(conn.shop).settle(conversation.learn_pick, conn.session_id, retract=True)
    if retract or conversation.learn_watch <= 1:
        await sessions.set_fields(conversation.id, learn_pick="", learn_watch=0)
    else:
        await sessions.incr(conversation.id, "learn_watch", -1)


async def _group_for(ctx: Context, conn: ShopperConn, config: ShopConfig) -> str:
    """Where a request for a human goes: the after-sale group (by the shop's rule) for a
    signed-in customer with a delivered order or a refund under way, else the default group."""
    after_sale = config.commerce.after_sale_group
    if conn.customer is not None and after_sale is not None:
        orders = await ctx.commerce(conn.shop).orders_of(conn.customer, limit=10)
        if any(o.order.status in ("delivered", "refund_requested") for o in orders):
            return after_sale
    return config.default_group


async def transfer(ctx: Context, conn: ShopperConn, sessions: Sessions, conversation: Conversation) -> None:
    """Ask for a human: assigned at once, queued with a position, or the offline notice."""
    if conversation.learn_pick:
        await watch_pick(ctx, conn, sessions, conversation, retract=True)
    config = await ctx.config(conn.shop)
    if (
        conversation.state == "bot"
        and config.business_hours
        and not config.business_hours.is_open(dt.datetime.now(dt.UTC))
    ):
        status = "offline"
        await sessions.incr(conversation.id, "offline_notices")
    else:
        result = await ctx.queue(conn.shop).request(
            conversation.id,
            await _group_for(ctx, conn, config),
            client=conn.client,
            places=ctx.settings.waiting_per_client,
        )
        status = result.status
    ctx.metrics.transfers.labels(conn.shop, status).inc()
    log.info("transfer_requested", conversation_id=conversation.id, result=status)
    if status == "limited":
        raise RateLimited(
            "too many chats from your network are already waiting for an agent",
            code="too_many_waiting",
            retry_after=30,
        )
    if status == "offline":
        ctx.metrics.offline_notices.labels(conn.shop).inc()
        last = await sessions.last_entry(conn.session_id)
        if last is not None and last.event == "offline" and last.conversation_id == conversation.id:
            # Asked again while the notice is the last thing said: show the form again, do not
            # say the same thing twice.
            await send(conn.ws, wire.offline(None, config, conn.lang, again=True))
            return
        await sessions.append(conn.session_id, conversation.id, "system", "", extra={"event": "offline"})
    await ctx.delivery.shopper(conn, tell_state=status.startswith("already_"))
