"""The matcher's result cache: a repeated question (in any surface form that normalizes the
same) is answered from the cache with the same decision, and still carries the shopper's text."""

from kefu.faq.analyzer import Resources
from kefu.faq.corpus import Corpus
from kefu.faq.matcher import Matcher, MatcherConfig


def test_a_repeated_question_is_a_cache_hit_with_the_same_answer(matcher: Matcher) -> None:
    hits, misses = matcher.cache_info()
    first = matcher.match("请问什么时候发货呀")
    again = matcher.match("请问什么时候发货呀？？")  # the same question once normalized
    assert matcher.cache_info() == (hits + 1, misses + 1)
    assert (again.decision, again.faq_id, again.answer) == (first.decision, first.faq_id, first.answer)
    assert again.query == "请问什么时候发货呀？？" and first.query == "请问什么时候发货呀"


def test_traditional_and_simplified_share_the_match_not_the_wording(matcher: Matcher) -> None:
    simplified = matcher.match("退货运费谁承担")
    traditional = matcher.match("退貨運費誰承擔")
    assert traditional.faq_id == simplified.faq_id
    assert traditional.language == "zh-hant" and simplified.language == "zh"
    if simplified.answer:
        assert traditional.answer != simplified.answer  # answered in the shopper's script


def test_without_a_cache_every_question_is_matched(corpus: Corpus, resources: Resources) -> None:
    plain = Matcher.from_corpus(corpus, MatcherConfig(cache_size=0), resources=resources)
    first = plain.match("包邮吗")
    assert plain.match("包邮吗").decision == first.decision
    assert plain.cache_info() == (0, 2)
