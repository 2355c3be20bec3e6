"""Automated quality inspection (质检) of agent conversations: explainable rules over a
transcript, each flag naming the rule, the agent and the messages that show it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from kefu.reports.records import ConversationRecord
from kefu.store.log import Entry
from kefu.store.shops import QaRules

__all__ = [
    "LATER_RULES",
    "RULES",
    "Evidence",
    "Flag",
    "QaRules",
    "count_sentences",
    "inspect",
    "payment_reminder",
]

Rule = Literal[
    "slow_first_response",
    "slow_reply",
    "over_messaging",
    "no_needs_discovery",
    "left_waiting",
    "no_payment_reminder",
]
RULES: tuple[Rule, ...] = (
    "slow_first_response",
    "slow_reply",
    "over_messaging",
    "no_needs_discovery",
    "left_waiting",
    "no_payment_reminder",
)
# Rules checked when something happens after the chat (an order left unpaid), not when the
# conversation closes: a re-inspection of the conversation keeps their flags.
LATER_RULES: frozenset[str] = frozenset({"no_payment_reminder"})


class Evidence(BaseModel):
    message_id: str | None
    ts: int
    sender: str
    text: str
    # For system lines: what happened (agent_joined, queued, left_queue, closed…).
    event: str | None = None


class Flag(BaseModel):
    id: str
    conversation_id: str
    rule: Rule
    agent_id: str | None
    at: int  # when it happened (epoch ms)
    detail: str  # in English
    detail_zh: str = ""  # the same in Chinese (flags stored before it have none)
    evidence: list[Evidence]


_SENTENCE = re.compile(r"[。！？!?；;\n…]+|(?<=[a-zA-Z0-9])\.(?:\s+|$)")


def count_sentences(text: str) -> int:
    """Sentences, the way shop agents write them: split on 。！？!?；; newlines and ". "."""
    return sum(1 for part in _SENTENCE.split(text) if part.strip())


def _has(text: str, patterns: Iterable[str]) -> str | None:
    folded = text.casefold()
    return next((p for p in patterns if p.casefold() in folded), None)


# flag(rule, agent id, when, what it means, the lines that show it)
# (rule, agent, at, (detail in English, in Chinese), evidence)
FlagFn = Callable[[Rule, str | None, int, tuple[str, str], list[Entry]], None]


def _evidence(entry: Entry) -> Evidence:
    return Evidence(
        message_id=entry.id, ts=entry.ts, sender=entry.sender, text=entry.text[:300], event=entry.event
    )


@dataclass
class _Phase:
    """One stretch of the conversation held by one agent."""

    agent_id: str
    joined: Entry
    lines: list[Entry] = field(default_factory=list)
    end: int | None = None


def _phases(transcript: list[Entry]) -> list[_Phase]:
    phases: list[_Phase] = []
    current: _Phase | None = None
    for entry in transcript:
        if entry.sender == "system" and entry.event == "agent_joined" and entry.agent_id:
            if current is not None:
                current.end = entry.ts
            current = _Phase(agent_id=entry.agent_id, joined=entry)
            phases.append(current)
        elif entry.sender == "system" and entry.event in ("requeued", "transferred", "closed"):
            if current is not None:
                current.end = entry.ts
                current = None
        elif current is not None and entry.sender in ("shopper", "agent"):
            current.lines.append(entry)
    return phases


# Why a shopper left the queue, as the Chinese detail says it.
_REASONS_ZH = {
    "gone": "顾客离开了页面",
    "timeout": "排队超时",
    "cancelled": "顾客取消了排队",
    "closed": "会话已结束",
}


def inspect(record: ConversationRecord, transcript: list[Entry], rules: QaRules) -> list[Flag]:
    """Every rule over one conversation; a good conversation gives an empty list."""
    flags: list[Flag] = []

    def flag(rule: Rule, agent: str | None, at: int, detail: tuple[str, str], evidence: list[Entry]) -> None:
        n = sum(1 for f in flags if f.rule == rule)
        flags.append(
            Flag(
                id=f"{record.id}:{rule}:{n}",
                conversation_id=record.id,
                rule=rule,
                agent_id=agent,
                at=at,
                detail=detail[0],
                detail_zh=detail[1],
                evidence=[_evidence(e) for e in evidence],
            )
        )

    for phase in _phases(transcript):
        _first_response(phase, rules, flag)
        _slow_replies(phase, rules, flag)
        _over_messaging(phase, rules, flag)
        _needs_discovery(phase, transcript, rules, flag)
    _left_waiting(record, transcript, rules, flag)
    return flags


def _first_response(phase: _Phase, rules: QaRules, flag: FlagFn) -> None:
    limit = rules.slow_first_response_s * 1000
    if not limit:
        return
    first = next((e for e in phase.lines if e.sender == "agent"), None)
    if first is not None:
        waited = first.ts - phase.joined.ts
        if waited > limit:
            flag(
                "slow_first_response",
                phase.agent_id,
                phase.joined.ts,
                (
                    f"first reply {waited / 1000:.0f} s after taking the chat "
                    f"(limit {rules.slow_first_response_s} s)",
                    f"接入后 {waited / 1000:.0f} 秒才首次回复（上限 {rules.slow_first_response_s} 秒）",
                ),
                [phase.joined, first],
            )
    elif phase.end is not None and phase.end - phase.joined.ts > limit:
        flag(
            "slow_first_response",
            phase.agent_id,
            phase.joined.ts,
            (
                f"no reply in {(phase.end - phase.joined.ts) / 1000:.0f} s with the chat",
                f"接入后 {(phase.end - phase.joined.ts) / 1000:.0f} 秒内一直没有回复",
            ),
            [phase.joined],
        )


def _slow_replies(phase: _Phase, rules: QaRules, flag: FlagFn) -> None:
    limit = rules.slow_reply_s * 1000
    if not limit:
        return
    waiting: Entry | None = None  # the first shopper line not yet answered
    for entry in phase.lines:
        if entry.sender == "shopper" and waiting is None:
            waiting = entry
        elif entry.sender == "agent" and waiting is not None:
            if entry.ts - waiting.ts > limit:
                flag(
                    "slow_reply",
                    phase.agent_id,
                    waiting.ts,
                    (
                        f"shopper waited {(entry.ts - waiting.ts) / 1000:.0f} s for an answer "
                        f"(limit {rules.slow_reply_s} s)",
                        f"顾客等了 {(entry.ts - waiting.ts) / 1000:.0f} 秒才得到回复"
                        f"（上限 {rules.slow_reply_s} 秒）",
                    ),
                    [waiting, entry],
                )
            waiting = None
    if waiting is not None and phase.end is not None and phase.end - waiting.ts > limit:
        flag(
            "slow_reply",
            phase.agent_id,
            waiting.ts,
            (
                f"shopper message never answered "
                f"({(phase.end - waiting.ts) / 1000:.0f} s until the chat ended)",
                f"顾客的消息一直没有回复（到会话结束共 {(phase.end - waiting.ts) / 1000:.0f} 秒）",
            ),
            [waiting],
        )


def _over_messaging(phase: _Phase, rules: QaRules, flag: FlagFn) -> None:
    if not rules.over_messaging_ratio:
        return
    window = rules.over_messaging_window_s * 1000
    lines = phase.lines
    # One pass: each line's sentences counted once, running sums by sender, and two pointers
    # for the window after an agent's line and the shopper's lines just before it. A long chat
    # costs what its length does, not its square. The pointers take the log's order for time
    # order: lines are stamped by Redis or by the instance writing them, so where those clocks
    # differ a window's edge moves by as much.
    agent_sum, shopper_sum = [0], [0]
    for entry in lines:
        n = count_sentences(entry.text)
        agent_sum.append(agent_sum[-1] + (n if entry.sender == "agent" else 0))
        shopper_sum.append(shopper_sum[-1] + (n if entry.sender == "shopper" else 0))
    low = high = 0
    for i, start in enumerate(lines):
        high = max(high, i)
        while high < len(lines) and lines[high].ts - start.ts <= window:
            high += 1
        if start.sender != "agent":
            continue
        while low < i and start.ts - lines[low].ts > window:
            low += 1
        agent = agent_sum[high] - agent_sum[i]
        # What the shopper said in the window, and just before the agent's run: the agent
        # answers it.
        shopper = shopper_sum[high] - shopper_sum[low]
        if agent > rules.over_messaging_ratio * max(1, shopper):
            flag(
                "over_messaging",
                phase.agent_id,
                start.ts,
                (
                    f"{agent} agent sentences to {shopper} from the shopper within "
                    f"{rules.over_messaging_window_s} s "
                    f"(limit {rules.over_messaging_ratio:g} per shopper sentence)",
                    f"{rules.over_messaging_window_s} 秒内客服说了 {agent} 句，顾客只说了 {shopper} 句"
                    f"（上限：顾客每句对应 {rules.over_messaging_ratio:g} 句）",
                ),
                [e for e in lines[i:high] if e.sender == "agent"][:10],
            )
            return  # one flag per chat is enough to look at it


def _needs_discovery(phase: _Phase, transcript: list[Entry], rules: QaRules, flag: FlagFn) -> None:
    if not (rules.sales_patterns and rules.recommend_patterns and rules.needs_patterns):
        return
    asked = next(
        (e for e in transcript if e.sender == "shopper" and _has(e.text, rules.sales_patterns)), None
    )
    if asked is None:
        return  # not a sales conversation
    for entry in phase.lines:
        if entry.sender != "agent":
            continue
        if _has(entry.text, rules.needs_patterns):
            return  # the agent asked about the need first
        pattern = _has(entry.text, rules.recommend_patterns)
        if pattern:
            flag(
                "no_needs_discovery",
                phase.agent_id,
                entry.ts,
                (
                    f"recommended (\u201c{pattern}\u201d) before asking what the shopper needs",
                    f"还没问顾客的需求就推荐了（\u201c{pattern}\u201d）",
                ),
                [asked, entry],
            )
            return


def _left_waiting(record: ConversationRecord, transcript: list[Entry], rules: QaRules, flag: FlagFn) -> None:
    limit = rules.left_waiting_s * 1000
    if not limit:
        return
    queued = next((e for e in transcript if e.sender == "system" and e.event == "queued"), None)
    joined = next((e for e in transcript if e.sender == "system" and e.event == "agent_joined"), None)
    left = next((e for e in transcript if e.sender == "system" and e.event == "left_queue"), None)
    if queued is None:
        return
    if joined is not None and joined.ts - queued.ts > limit:
        flag(
            "left_waiting",
            joined.agent_id,
            queued.ts,
            (
                f"waited {(joined.ts - queued.ts) / 1000:.0f} s in the queue "
                f"(limit {rules.left_waiting_s} s)",
                f"排队等了 {(joined.ts - queued.ts) / 1000:.0f} 秒（上限 {rules.left_waiting_s} 秒）",
            ),
            [queued, joined],
        )
    elif joined is None and (left is not None or record.abandoned):
        end = left or next((e for e in transcript if e.sender == "system" and e.event == "closed"), None)
        reason = (left.reason if left else None) or "closed"
        flag(
            "left_waiting",
            None,
            queued.ts,
            (
                f"left the queue before an agent came ({reason})",
                f"没等到客服就离开了排队（{_REASONS_ZH.get(reason, reason)}）",
            ),
            [queued] + ([end] if end else []),
        )


def payment_reminder(
    conversation_id: str,
    agent_id: str,
    order_id: str,
    placed_ms: int,
    due_ms: int,
    transcript: list[Entry],
    rules: QaRules,
) -> Flag | None:
    """催付: the order its customer placed during (or just after) a chat is still unpaid at
    `due_ms`. A flag for `agent_id` (who holds the chat) unless a line of any agent of the
    chat since the order was placed carries a reminder pattern; the evidence is what the
    agents wrote meanwhile (or the shopper's last lines when they wrote nothing)."""
    agent_lines = [e for e in transcript if e.sender == "agent"]
    since = [e for e in agent_lines if placed_ms <= e.ts <= due_ms]
    if any(_has(e.text, rules.payment_reminder_patterns) for e in since):
        return None
    evidence = since[-5:] or [e for e in transcript if e.sender == "shopper"][-3:]
    minutes = max(0, (due_ms - placed_ms) // 60_000)
    return Flag(
        id=f"{conversation_id}:no_payment_reminder:{order_id}",
        conversation_id=conversation_id,
        rule="no_payment_reminder",
        agent_id=agent_id,
        at=placed_ms,
        detail=f"order {order_id} placed during the chat is unpaid after {minutes} min and the agent "
        "sent no payment reminder",
        detail_zh=f"订单 {order_id} 在会话中下单，{minutes} 分钟后仍未付款，客服未催付",
        evidence=[_evidence(e) for e in evidence],
    )
