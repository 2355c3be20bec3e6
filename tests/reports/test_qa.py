"""Each inspection rule fires on a conversation built to break it and stays silent on one
that does not."""

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kefu.reports import ConversationRecord, QaRules, count_sentences, inspect
from kefu.store.log import Entry

T0 = 1_780_000_000_000


def convo(*lines: tuple[Any, ...], abandoned: int = 0) -> tuple[ConversationRecord, list[Entry]]:
    """Lines are (seconds, sender, text[, event / agent id])."""
    entries = []
    for n, line in enumerate(lines):
        t, sender, text = line[:3]
        extra: dict[str, Any] = {}
        if sender == "system":
            extra["event"] = line[3]
            if line[3] == "agent_joined":
                extra.update(agent_id="a1", agent_name="小王")
            if line[3] == "left_queue":
                extra["reason"] = "gone"
        if sender == "agent":
            extra.update(agent_id="a1", agent_name="小王")
        entries.append(
            Entry(
                id=f"{T0 + t * 1000}-{n}",
                conversation_id="c1",
                sender=sender,
                text=text,
                ts=T0 + int(t * 1000),
                **extra,
            )
        )
    record = ConversationRecord(
        id="c1", session="s1", state="closed", created=T0, n_shopper=1, abandoned=abandoned
    )
    return record, entries


GOOD = convo(
    (0, "bot", "您好"),
    (1, "shopper", "我想买件外套，推荐一款吧"),
    (2, "system", "", "queued"),
    (5, "system", "", "agent_joined"),
    (12, "agent", "您好！请问您平时穿什么尺码？预算大概多少呢？"),
    (30, "shopper", "M码，500以内"),
    (45, "agent", "那推荐这款羊毛大衣，很适合您。"),
    (60, "shopper", "好的谢谢"),
    (70, "agent", "不客气～"),
    (80, "system", "", "closed"),
)


def rules_fired(conversation: tuple[ConversationRecord, list[Entry]], **overrides: Any) -> list[str]:
    return [f.rule for f in inspect(*conversation, QaRules(**overrides))]


def test_a_good_conversation_raises_nothing() -> None:
    assert rules_fired(GOOD) == []


def test_slow_first_response() -> None:
    slow = convo(
        (0, "system", "", "agent_joined"),
        (1, "shopper", "在吗"),
        (26, "agent", "您好"),
        (30, "system", "", "closed"),
    )
    (flag,) = inspect(*slow, QaRules())
    assert flag.rule == "slow_first_response" and flag.agent_id == "a1"
    assert "26 s" in flag.detail
    assert [e.sender for e in flag.evidence] == ["system", "agent"]
    assert rules_fired(slow, slow_first_response_s=30) == []
    silent = convo((0, "system", "", "agent_joined"), (40, "system", "", "closed"))
    assert rules_fired(silent, left_waiting_s=0) == ["slow_first_response"]


def test_slow_reply_and_an_unanswered_message() -> None:
    late = convo(
        (0, "system", "", "agent_joined"),
        (2, "agent", "您好"),
        (10, "shopper", "这个有货吗"),
        (11, "shopper", "急"),
        (100, "agent", "有的"),
        (110, "system", "", "closed"),
    )
    (flag,) = inspect(*late, QaRules())
    assert flag.rule == "slow_reply" and "90 s" in flag.detail  # measured from the first unanswered line
    assert [e.text for e in flag.evidence] == ["这个有货吗", "有的"]
    ignored = convo(
        (0, "system", "", "agent_joined"),
        (2, "agent", "您好"),
        (10, "shopper", "还在吗"),
        (200, "system", "", "closed"),
    )
    assert rules_fired(ignored) == ["slow_reply"]
    assert rules_fired(late, slow_reply_s=0) == []


def test_over_messaging() -> None:
    flood = convo(
        (0, "system", "", "agent_joined"),
        (1, "agent", "您好。"),
        (2, "shopper", "嗯"),
        (3, "agent", "我们店新款上市。全场八折。满299减50。还有赠品。"),
        (4, "agent", "这款很好。那款也不错。欢迎选购！包邮哦！"),
        (
            5,
            "agent",
            "亲在吗？看看吧。",
        ),
        (6, "system", "", "closed"),
    )
    (flag,) = inspect(*flood, QaRules())
    assert flag.rule == "over_messaging" and "11 agent sentences to 1" in flag.detail
    assert len(flag.evidence) == 4
    assert rules_fired(flood, over_messaging_ratio=20) == []
    assert count_sentences("Hi. How are you? 好的！行\n嗯") == 5


def _over_messaging_by_definition(entries: list[Entry], rules: QaRules) -> tuple[int, int, int] | None:
    """The rule as stated, line by line (quadratic): the first agent line whose window holds
    more than `ratio` agent sentences per shopper sentence — (its time, agent, shopper)."""
    window = rules.over_messaging_window_s * 1000
    for i, start in enumerate(entries):
        if start.sender != "agent":
            continue
        inside = [e for e in entries[i:] if e.ts - start.ts <= window]
        agent = sum(count_sentences(e.text) for e in inside if e.sender == "agent")
        shopper = sum(count_sentences(e.text) for e in inside if e.sender == "shopper")
        before = [e for e in entries[:i] if e.sender == "shopper" and start.ts - e.ts <= window]
        shopper += sum(count_sentences(e.text) for e in before)
        if agent > rules.over_messaging_ratio * max(1, shopper):
            return start.ts, agent, shopper
    return None


@given(
    st.lists(
        st.tuples(
            st.integers(0, 25),
            st.sampled_from(["agent", "agent", "shopper"]),
            st.text(alphabet="好的。吗？a. !\n", max_size=12),
        ),
        max_size=40,
    ),
    st.integers(10, 60),
    st.sampled_from([1, 1.5, 3]),
)
def test_over_messaging_finds_what_the_rule_says_in_one_pass(
    steps: list[tuple[int, str, str]], window_s: int, ratio: float
) -> None:
    """The one-pass count (a long chat cost its square: 1,000 agent lines took 85 s on the
    event loop) flags exactly where the rule's own statement does."""
    lines, t = [(0, "system", "", "agent_joined")], 0
    for gap, sender, text in steps:
        t += gap
        lines.append((t, sender, text))
    record, entries = convo(*lines)
    rules = QaRules(
        over_messaging_window_s=window_s, over_messaging_ratio=ratio, slow_first_response_s=0, slow_reply_s=0
    )
    expected = _over_messaging_by_definition(entries[1:], rules)
    flags = [f for f in inspect(record, entries, rules) if f.rule == "over_messaging"]
    if expected is None:
        assert flags == []
    else:
        (flag,) = flags
        assert flag.at == expected[0] and f"{expected[1]} agent sentences to {expected[2]} " in flag.detail


def test_no_needs_discovery() -> None:
    pushy = convo(
        (0, "shopper", "想买个水壶，推荐一款"),
        (1, "system", "", "agent_joined"),
        (3, "agent", "推荐这款不锈钢的，卖得最好"),
        (10, "system", "", "closed"),
    )
    (flag,) = inspect(*pushy, QaRules())
    assert flag.rule == "no_needs_discovery" and "推荐" in flag.detail
    assert [e.sender for e in flag.evidence] == ["shopper", "agent"]
    not_sales = convo(
        (0, "shopper", "我的快递到哪了"),
        (1, "system", "", "agent_joined"),
        (3, "agent", "建议您再等一天"),
        (10, "system", "", "closed"),
    )
    assert rules_fired(not_sales) == []
    assert rules_fired(pushy, needs_patterns=[]) == []  # an empty pattern list switches it off


@pytest.mark.parametrize("how", ["waited", "abandoned"])
def test_shopper_left_waiting(how: str) -> None:
    if how == "waited":
        c = convo(
            (0, "system", "", "queued"),
            (200, "system", "", "agent_joined"),
            (201, "agent", "抱歉久等"),
            (210, "system", "", "closed"),
        )
        detail = "waited 200 s"
    else:
        c = convo((0, "system", "", "queued"), (30, "system", "", "left_queue"), abandoned=1)
        detail = "left the queue"
    (flag,) = inspect(*c, QaRules())
    assert flag.rule == "left_waiting" and detail in flag.detail
    assert rules_fired(c, left_waiting_s=0) == []
