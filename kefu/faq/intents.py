"""Intents that come before FAQ matching: asking for a human, and small talk."""

from __future__ import annotations

import re
from typing import Literal

from kefu.faq.analyzer import Analysis, Token

__all__ = ["Intent", "detect_intent", "dissatisfied", "order_question"]

Intent = Literal["transfer", "greeting"]

# Concepts that make a mention of humans a question *about* them ("人工客服几点上班"), not a request.
_SCHEDULE = frozenset({"hours", "time_of_day", "q_when", "today"})
# "what time can I talk to a real person" asks for the hours even while naming the request.
_WHEN = frozenset({"q_when", "hours"})
_SMALL_TALK = frozenset({"greet", "thanks"})
# Words that may stand around a bare request without changing it ("现在有人工吗", "human please").
_NEUTRAL = frozenset(
    {
        "human",
        "staff",
        "ask_for",
        "q_can",
        "online",
        "negation",
        "greet",
        "thanks",
        "reject",
        "q_which",
    }
)
# Counting people is asking about them ("你哋有幾多個真人客服", "有几个人工客服在线").
_HOW_MANY = frozenset({"多少", "几个", "多少个", "几位", "多少位"})
# "请/帮我/快 + ask-for verb": an imperative request stays one whatever else the message says
# ("锅子明天要送人 快帮我接真人": 明天 dates the gift, not the agents' hours).
_IMPERATIVE = re.compile(r"(?:帮我|给我|请|麻烦|快点?|赶快|赶紧)\s*$")
# A person followed by the copula describes them ("客服人员是在台湾吗", "人工客服是外包的吗").
_COPULA = "是"
_HOW_WHERE = frozenset({"q_how", "q_where"})


def _has(tokens: tuple[Token, ...], concept: str) -> bool:
    return any(concept in t.concepts for t in tokens)


# "with <person> talk" (跟客服讲, 同职员倾, 和店家聊): the verb comes after the person; and
# "<person> … with me talk/contact" (请店家跟我联络, 真人马上同我讲).
_WITH = frozenset({"跟", "同", "和", "与", "with"})
_WITH_ME = re.compile(r"[跟同和与]我|\bwith me\b")
_TALK = frozenset(
    {
        "讲",
        "说",
        "倾",
        "聊",
        "谈",
        "讲话",
        "说话",
        "对话",
        "倾偈",
        "沟通",
        "联络",
        "联系",
        "talk",
        "speak",
        "chat",
    }
)


def _how_to_reach(after: tuple[Token, ...]) -> bool:
    """ "<person> 在哪 怎么联系", "客服怎么找": asking how to reach one is asking for one (only
    where/how words between the person and the verb: "客服电话怎么联系" asks for a number)."""
    for j, token in enumerate(after):
        if "ask_for" in token.concepts:
            return j > 0
        if not set(token.concepts) & _HOW_WHERE:
            return False
    return False


def _requested(tokens: tuple[Token, ...], targets: frozenset[str], text: str) -> bool:
    """An ask-for verb (转, 找, 叫, talk, connect…) shortly before a person ("叫你们老板来"), or
    "with <person> talk" ("想同职员倾"), or "<person> … with me talk" ("请店家跟我联络")."""
    for i, token in enumerate(tokens):
        if not targets & set(token.concepts):
            continue
        if any("ask_for" in t.concepts for t in tokens[max(0, i - 3) : i]):
            return True
        if _how_to_reach(tokens[i + 1 : i + 4]):
            return True
        with_person = (i > 0 and tokens[i - 1].text in _WITH) or any(w + token.text in text for w in _WITH)
        if with_person and any(t.text in _TALK for t in tokens[i + 1 : i + 3]):
            return True
        if _WITH_ME.search(text) and any(t.text in _TALK for t in tokens[i + 1 : i + 4]):
            return True
    return False


# A person asked to talk with me, to answer me or to handle it ("有没有人可以直接跟我讲",
# "安排个同事同我讲", "揾个技师同我倾", "叫老板回我", "请店长直接回我", "有冇職員覆我",
# "可以请客服处理吗"): the shop's someone. The person
# must be named — "麻烦跟我说一下怎么退货" asks the bot, "让快递跟我联系" names a courier — and
# "请问" is only polite, "申请" no request, "找了…" tells what happened.
_PERSON = (
    r"(?:客服|人工|真人|专人|人|同事|职员|员工|店家|店主|老板|老板娘|店长|经理|主管|专员"
    r"|技师|师傅|负责人|他们|她们|他|她)"
)
_SOMEONE_TO_ME = re.compile(
    r"(?:有没有|有冇|有无|安排|找(?!了)|揾(?!咗)|叫|(?<!申)请(?!问)|让|麻烦)(?:一?个|一?位)?"
    rf"[^\s，。？！,.?!我]{{0,3}}?{_PERSON}"
    r"(?:可以|能|会|来)?(?:直接|快点|尽快|马上|赶快)?"
    r"(?:[跟同和与]我(?:直接)?(?:讲|说|倾|聊|谈|沟通|联络|联系)|[回覆](?:复|覆)?我|(?:来|帮我|帮忙)?处理)"
)

# The same in English: a person who should help, answer or talk with me ("is there a live person
# who can help me", "need someone to talk to me"); "the agent who helped me" tells what happened.
_SOMEONE_TO_ME_EN = re.compile(
    r"\b(?:someone|somebody|anyone|anybody|person|human|agent|rep|representative|staff|people)"
    r"(?: there| here| online)? (?:who|that|to)(?: \w+){0,2}?"
    r" (?:help|assist|answer|call|contact|email|(?:talk|speak|chat) (?:to|with)) me\b"
)

# Reported speech: what someone told me ("客服跟我说的", "店家同我讲过"), or whom I already asked
# ("找了客服跟我说要等"): the person is the matter, not who the shopper asks for.
_REPORTED = re.compile(r"[跟同和与]我(?:说|讲|倾)(?:的|过|了)|(?:找|揾)(?:了|过|咗)")


def _describes_people(tokens: tuple[Token, ...], text: str) -> bool:
    """Counting the people ("你哋有幾多個真人客服") or saying what they are ("客服人员是在台湾吗")."""
    people = [t for t in tokens if "human" in t.concepts or "staff" in t.concepts]
    if not people:
        return False
    return any(t.text in _HOW_MANY for t in tokens) or any(t.text + _COPULA in text for t in people)


def _bare_request(clause: tuple[Token, ...]) -> bool:
    """A clause naming a human with nothing but request words around it ("有没有真人", "人工 谢谢")."""
    return any("human" in t.concepts for t in clause) and all(set(t.concepts) & _NEUTRAL for t in clause)


def _imperative(tokens: tuple[Token, ...], text: str) -> bool:
    """Whether an ask-for verb before a person is said as a command ("快帮我接真人")."""
    for i, token in enumerate(tokens):
        if "ask_for" not in token.concepts or not any(
            "human" in t.concepts or "staff" in t.concepts for t in tokens[i + 1 : i + 4]
        ):
            continue
        at = text.find(token.text)
        while at >= 0:
            if _IMPERATIVE.search(text[max(0, at - 6) : at]):
                return True
            at = text.find(token.text, at + 1)
    return False


def detect_intent(analysis: Analysis) -> Intent | None:
    """Return "transfer" when the shopper asks for a human, "greeting" for pure small talk.

    A question *about* humans ("人工客服几点上班", "are agents online on sunday") is neither: it
    is an FAQ question and goes on to matching.
    """
    tokens = analysis.intent_tokens
    if not tokens:
        return None
    concepts = frozenset(c for t in tokens for c in t.concepts)
    if "to_human" in concepts and not concepts & _WHEN:
        return "transfer"
    if "bot" in concepts and "reject" in concepts:
        return "transfer"
    text = analysis.normalized
    reported = bool(_REPORTED.search(text))
    if not reported and _requested(tokens, frozenset({"human", "staff"}), text):
        if not concepts & _SCHEDULE or _imperative(tokens, text):
            return "transfer"
    if (
        not reported
        and not concepts & _SCHEDULE
        and (_SOMEONE_TO_ME.search(text) or _SOMEONE_TO_ME_EN.search(text))
    ):
        return "transfer"
    if "you_are" in concepts or _describes_people(tokens, text):
        # "你是真人吗", "are you a bot": a question about the bot, answered as small talk;
        # "有几个人工客服", "客服是外包的吗": about the people, an FAQ question or none.
        return None
    if _names_one_alone(analysis, concepts, reported):
        return "transfer"
    if all(set(t.concepts) & _SMALL_TALK or "staff" in t.concepts for t in tokens) and concepts & _SMALL_TALK:
        return "greeting"
    return None


def _names_one_alone(analysis: Analysis, concepts: frozenset[str], reported: bool) -> bool:
    """A human named with little else ("现在有人工吗", "human please"), or in a clause of its own
    beside the matter ("有冇真人 我架車個問題好複雜"); a bare "客服" / "店家" / "老闆?"."""
    tokens = analysis.intent_tokens
    if "human" in concepts and not concepts & _SCHEDULE:
        content = [t for t in tokens if not set(t.concepts) & _NEUTRAL]
        if len(content) <= 1 or any(_bare_request(clause) for clause in analysis.clauses()):
            return True
    if "staff" in concepts and not reported and not concepts & (_SMALL_TALK | _SCHEDULE):
        return all(set(t.concepts) & _NEUTRAL for t in tokens)
    return False


# Short complaints about the last answer ("不对", "答非所问", "that's not what I asked").
_COMPLAINT = frozenset({"not_helpful", "reject", "wrong"})


def dissatisfied(analysis: Analysis) -> bool:
    """Whether the message says the last answer did not help (not a new question about a wrong
    item: "发错货了怎么办" has more to it than a complaint)."""
    tokens = analysis.intent_tokens
    if not tokens:
        return False
    concepts = frozenset(c for t in tokens for c in t.concepts)
    if "not_helpful" in concepts:
        return True
    if not concepts & _COMPLAINT:
        return False
    content = [t for t in tokens if not set(t.concepts) & (_COMPLAINT | _NEUTRAL) and t.weight > 0]
    return len(content) == 0


# Asking after a parcel in any words: where it is, its tracking, it stalled, hurry it up.
_ORDER_STATUS = frozenset({"track", "stall", "urge"})
# What an order goes through; asked about with a sign of "mine" or "yet", it is about an order.
_ORDER_MOVES = frozenset({"ship", "arrive", "signed", "logistics", "credited", "refund"})
# Questions of policy ("多久发货", "几天能到", "能发顺丰吗"): the shop's FAQ answers them.
_POLICY = frozenset({"q_howlong", "transit_time", "q_can", "fee", "courier_co"})
# Perfective or negated (发货了吗, 还没到, 寄出了沒, has it shipped yet) or possessive (我的, my).
_STATUS_MARK = re.compile(r"[了没未過过]|\b(?:yet|already|has|have|hasn|haven|did|didn|still)\b")
_MINE = re.compile(r"我的|我买|我拍|我下|我订|\bmy\b|\bmine\b")


def order_question(analysis: Analysis) -> bool:
    """Whether the message asks after the shopper's own order — its state, where the parcel is,
    hurrying it — rather than the shop's policy ("多久发货" is the FAQ's; "发货了吗" is theirs).
    Read from concepts and the shape of the sentence, not from any shop's phrasings."""
    tokens = analysis.intent_tokens
    if not tokens:
        return False
    concepts = frozenset(c for t in tokens for c in t.concepts)
    if concepts & _ORDER_STATUS:
        return "q_can" not in concepts or "urge" in concepts
    if not concepts & _ORDER_MOVES:
        return False
    text = analysis.normalized
    mine = "order" in concepts or bool(_MINE.search(text))
    status = "negation" in concepts or bool(_STATUS_MARK.search(text))
    if concepts & _POLICY and not (mine and status):
        return False
    return mine or status
