"""What kind of answer a question asks for, and whether an FAQ's answer holds one.

"每日坚果多少钱一盒" asks for a price; an answer that gives only weights ("每小包25克") does not
answer it, however close the words are. Only kinds that can be recognized in any shop's answer
are used: a price, a length of time or moment, a quantity.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["AnswerKind", "asked_kinds", "given_kinds"]

AnswerKind = Literal["price", "time", "quantity"]

# Questions, after normalization (simplified Chinese, lower case, punctuation as spaces).
_ASKS: dict[AnswerKind, re.Pattern[str]] = {
    "price": re.compile(
        r"多少钱|几块|几元|几蚊|价格|价钱|价位|售价|贵不贵|多贵|\bhow much\b|\bprice\b|\bcost\b"
    ),
    "time": re.compile(
        r"多久|多长时间|几天|几日|几个?小时|几个?星期|几个?月|几号|几点|什么时候|何时|几时"
        r"|\bhow long\b|\bwhen\b|\bhow many days\b|\bwhat time\b"
    ),
    "quantity": re.compile(
        r"几种|几款|几个|几粒|几包|几片|几支|几克|几斤|多少个|多少克|多少毫升|多少ml|多重|多大|多少片|多少粒"
        r"|\bhow many\b|\bhow big\b|\bhow heavy\b|\bwhat size\b"
    ),
}
# Answers, as written (before normalization, so ¥ and % survive).
_GIVES: dict[AnswerKind, re.Pattern[str]] = {
    "price": re.compile(
        r"[¥￥$]|\d\s*(?:元|块|蚊|rmb|hkd|nt|usd)|(?:hk|nt|us)\$|免费|包邮|免运|免運|差价|差價|折|优惠|優惠|不收|收取|费用|費用",
        re.IGNORECASE,
    ),
    "time": re.compile(
        r"\d\s*(?:[-–~至到]\s*\d+\s*)?(?:个|個)?\s*(?:天|日|小时|小時|分钟|分鐘|周|週|星期|月|年|工作日|点|點|号|號|:\d\d)"
        r"|当天|當天|次日|隔天|即日|马上|馬上|立即|尽快|盡快|[一二两兩三四五六七八九十半]\s*(?:个|個)?\s*(?:天|日|小时|小時|周|週|星期|月|年|工作日)"
        r"|\b(?:day|days|hour|hours|week|weeks|month|months|am|pm|today|tomorrow)\b",
        re.IGNORECASE,
    ),
    "quantity": re.compile(
        r"\d|[一二两兩三四五六七八九十百千]\s*(?:种|種|款|个|個|粒|包|片|支|克|斤|毫升)", re.IGNORECASE
    ),
}


def asked_kinds(normalized_question: str) -> frozenset[AnswerKind]:
    """The kinds of answer a (normalized) question asks for."""
    return frozenset(kind for kind, pattern in _ASKS.items() if pattern.search(normalized_question))


def given_kinds(answer: str) -> frozenset[AnswerKind]:
    """The kinds of answer a text gives."""
    return frozenset(kind for kind, pattern in _GIVES.items() if pattern.search(answer))
