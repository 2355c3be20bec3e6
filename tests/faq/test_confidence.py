"""A shop's chosen confidence: "cautious" answers only what the bot is very sure of and suggests
the rest, "bold" answers more — always the FAQ the balanced bot put first — and neither touches
what the shop's own phrasings or a request for a human decide."""

import json

from kefu.faq.calibration import level_threshold
from kefu.faq.matcher import Decision, Matcher, MatchResult
from tests.conftest import DATA


def _questions() -> list[str]:
    with (DATA / "faq_dev_cases.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line)["q"] for line in fh][::3]


def _first(result: MatchResult) -> str | None:
    return result.faq_id or (result.suggestions[0].faq_id if result.suggestions else None)


def test_cautious_answers_fewer_and_bold_more_of_the_same_faqs(matcher: Matcher) -> None:
    cautious, bold = matcher.at_confidence("cautious"), matcher.at_confidence("bold")
    assert matcher.at_confidence("balanced") is matcher
    # With the encoder's opinion: the level's threshold; alone, the lexical model's certainty too.
    balanced_at = matcher.answers_from(semantic=True)
    assert cautious.answers_from(semantic=True) == level_threshold("cautious", balanced_at) >= 0.9
    assert bold.answers_from(semantic=True) == level_threshold("bold", balanced_at) <= 0.65
    answered = {"cautious": 0, "balanced": 0, "bold": 0}
    for question in _questions():
        middle = matcher.match(question)
        low, high = cautious.match(question), bold.match(question)
        for level, result in (("cautious", low), ("balanced", middle), ("bold", high)):
            answered[level] += result.decision == Decision.ANSWER
        # Requests for a human and small talk are the same at every level.
        if middle.decision in (Decision.TRANSFER, Decision.GREETING):
            assert low.decision == high.decision == middle.decision
            continue
        if middle.decision == Decision.ANSWER:
            # Cautious keeps an answer only when sure; otherwise it offers that FAQ first.
            assert _first(low) == middle.faq_id, question
            if low.decision != Decision.ANSWER:
                assert low.decision == Decision.SUGGEST and middle.score < 0.9, question
            assert high.decision == Decision.ANSWER and high.faq_id == middle.faq_id, question
        elif high.decision == Decision.ANSWER:
            # What bold answers beyond balanced is balanced's first suggestion, at ≥ 0.65.
            assert high.faq_id == _first(middle) and high.score >= 0.65, question
            assert low.decision != Decision.ANSWER, question
    assert answered["cautious"] < answered["balanced"] < answered["bold"], answered


def test_a_shops_own_phrasing_is_answered_at_every_level(matcher: Matcher) -> None:
    faq = matcher.corpus.faqs[0]
    for level in ("cautious", "balanced", "bold"):
        result = matcher.at_confidence(level).match(faq.question)
        assert (result.decision, result.faq_id) == (Decision.ANSWER, faq.id), level


def test_each_level_keeps_its_own_results(matcher: Matcher) -> None:
    """A view has its own cache: a question matched at one level is never served at another."""
    cautious = matcher.at_confidence("cautious")
    before = matcher.cache_info()
    cautious.match("发货用什么快递")
    cautious.match("发货用什么快递？")
    assert cautious.cache_info() == (1, 1)
    assert matcher.cache_info() == before
