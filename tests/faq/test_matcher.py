import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kefu.errors import CorpusError
from kefu.faq import Corpus, Decision, Matcher, MatcherConfig, parse_corpus


@pytest.mark.parametrize(
    ("text", "faq_id"),
    [
        ("物流三天没动了", "tracking-stalled"),
        ("什么时候发货", "ship-when"),
        ("什摸时候发或啊", "ship-when"),  # homophone typos
        ("退货运费谁出", "return-shipping-fee"),
        ("人工客服几点上班", "service-hours"),  # a question about humans is an FAQ question
        ("請問可以開發票嗎", "invoice"),
        ("how do i get an invoice?", "invoice"),
        ("do you ship to hong kong", "remote-regions"),
        ("显示已签收但是我没收到", "delivered-not-received"),
    ],
)
def test_answers_typical_questions(matcher: Matcher, text: str, faq_id: str) -> None:
    result = matcher.match(text)
    assert (result.decision, result.faq_id) == (Decision.ANSWER, faq_id)
    assert result.answer
    assert 0 < result.score <= 1
    assert result.matched_phrasing


@pytest.mark.parametrize(
    "text",
    [
        "转人工",
        "人工客服",
        "我要找真人",
        "不要机器人 给我人工",
        "talk to a human please",
        "agent",
        "轉人工",
        "你们机器人答非所问 给我转人工",
        "叫你们老板出来",
    ],
)
def test_requests_for_a_human_transfer(matcher: Matcher, text: str) -> None:
    assert matcher.match(text).decision == Decision.TRANSFER


@pytest.mark.parametrize(
    "text", ["人工客服几点上班", "what time are your agents online", "晚上有人工吗", "你是真人吗"]
)
def test_questions_about_humans_are_not_transfers(matcher: Matcher, text: str) -> None:
    assert matcher.match(text).decision != Decision.TRANSFER


@pytest.mark.parametrize("text", ["你好", "在吗", "谢谢", "hello", "thanks!", "好的 谢谢亲", "亲 在吗？"])
def test_small_talk_is_a_greeting(matcher: Matcher, text: str) -> None:
    assert matcher.match(text).decision == Decision.GREETING


@pytest.mark.parametrize(
    "text", ["", "   ", "？？？", "asdfghjkl", "qwerty uiop zxcv", "1234567890", "推荐一部电影"]
)
def test_nothing_relevant_falls_back(matcher: Matcher, text: str) -> None:
    result = matcher.match(text)
    assert result.decision == Decision.FALLBACK
    assert not (text.strip().isdigit() and result.semantic)  # digits alone: the encoder has nothing to read
    assert result.faq_id is None and result.answer is None and result.suggestions == []


@pytest.mark.parametrize("text", ["delicious?", "Beautiful"])
def test_a_real_english_word_reaches_the_encoder(matcher: Matcher, text: str) -> None:
    # Its stem ("delici") is on no word list; the word as written is, so it is no keyboard mash.
    assert matcher.match(text).semantic


@pytest.mark.parametrize(
    "text", ["今天天气怎么样", "你叫什么名字", "股票涨了吗", "what is the meaning of life"]
)
def test_unrelated_questions_are_never_answered(matcher: Matcher, text: str) -> None:
    assert matcher.match(text).decision in (Decision.FALLBACK, Decision.SUGGEST)


@pytest.mark.parametrize("keyword", ["快递", "运费", "退货"])
def test_a_bare_keyword_several_faqs_share_gets_suggestions_not_a_guess(
    matcher: Matcher, corpus: Corpus, keyword: str
) -> None:
    result = matcher.match(keyword)
    assert result.decision == Decision.SUGGEST
    assert result.faq_id is None and result.answer is None
    assert 2 <= len(result.suggestions) <= 3
    for suggestion in result.suggestions:
        faq = corpus.get(suggestion.faq_id)
        assert faq is not None
        assert any(keyword in text for text in (*faq.phrasings, faq.answer)), faq.id


def test_a_keyword_only_one_faq_uses_is_answered(matcher: Matcher) -> None:
    assert (matcher.match("发票").decision, matcher.match("发票").faq_id) == (Decision.ANSWER, "invoice")


def test_answers_in_the_shoppers_language(matcher: Matcher, corpus: Corpus) -> None:
    faq = corpus.get("ship-when")
    assert faq is not None
    english = matcher.match("when will my order ship?")
    assert english.language == "en" and english.answer == faq.answers["en"]
    traditional = matcher.match("請問你們什麼時候發貨")
    assert traditional.language == "zh-hant"
    assert traditional.answer and traditional.answer != faq.answer and "貨" in traditional.answer
    assert matcher.match("什么时候发货").answer == faq.answer


def test_explanation_names_what_matched(matcher: Matcher) -> None:
    result = matcher.match("物流三天没动了")
    assert result.explanation is not None
    assert "c:stall" in result.explanation.matched
    assert any(t.startswith("物流→") for t in result.explanation.tokens)


def test_every_phrasing_answers_its_own_entry(
    matcher: Matcher, corpus: Corpus, shop2_matcher: Matcher, shop2_corpus: Corpus
) -> None:
    for m, c in [(matcher, corpus), (shop2_matcher, shop2_corpus)]:
        for faq in c.faqs:
            for phrasing in faq.phrasings:
                result = m.match(phrasing)
                assert (result.decision, result.faq_id) == (Decision.ANSWER, faq.id), phrasing


def test_a_phrasing_of_pure_small_talk_still_answers(resources: object) -> None:
    corpus = parse_corpus(
        {
            "shop": "s",
            "faqs": [
                {"id": "hi", "question": "你好呀", "answer": "您好！"},
                {"id": "ship", "question": "什么时候发货", "answer": "48小时内"},
            ],
        }
    )
    m = Matcher.from_corpus(corpus)
    assert m.match("你好呀！").faq_id == "hi"


def test_long_text_is_truncated_not_refused(matcher: Matcher) -> None:
    text = "什么时候发货" + "啊" * 100_000
    result = matcher.match(text)
    assert len(result.query) == MatcherConfig().max_query_chars
    assert result.faq_id == "ship-when"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.text(
        alphabet=st.characters(codec="utf-8") | st.characters(categories=["Cs", "Cc", "Cf"]), max_size=300
    )
)
def test_any_text_gets_a_result_with_scores_in_range(matcher: Matcher, text: str) -> None:
    result = matcher.match(text)
    assert 0.0 <= result.score <= 1.0
    assert 0.0 <= result.margin <= 1.0
    assert len(result.suggestions) <= 3
    assert all(0.0 < s.score <= 1.0 for s in result.suggestions)
    assert (result.decision == Decision.ANSWER) == (result.faq_id is not None)


def test_huge_and_empty_inputs(matcher: Matcher) -> None:
    for text in ["", " \t\n ", "\x00\x01\x02", "\ud800", "a" * 100_000, "發" * 100_000]:
        matcher.match(text)


def test_an_empty_corpus_never_answers() -> None:
    m = Matcher.from_corpus(parse_corpus({"shop": "s", "faqs": []}))
    assert m.match("什么时候发货").decision == Decision.FALLBACK
    assert m.match("转人工").decision == Decision.TRANSFER


def test_matching_is_pure(matcher: Matcher) -> None:
    first = matcher.match("退货运费谁出")
    for text in ["hello", "物流不动了", "退货运费谁出"]:
        matcher.match(text)
    assert matcher.match("退货运费谁出") == first


def test_the_product_on_the_page_prefers_its_own_entries(resources: object) -> None:
    corpus = parse_corpus(
        {
            "shop": "s",
            "faqs": [
                {"id": "use", "question": "这个怎么使用", "answer": "请参考说明书。"},
                {
                    "id": "kettle-use",
                    "question": "电水壶怎么使用",
                    "similar": ["水壶第一次怎么用"],
                    "answer": "首次使用请先烧两次水倒掉。",
                    "products": ["kettle-1"],
                },
                {
                    "id": "cup-use",
                    "question": "保温杯怎么使用",
                    "answer": "使用前用开水预热一分钟。",
                    "products": ["cup-1", "cup-2"],
                },
                {"id": "ship", "question": "什么时候发货", "answer": "48小时内"},
            ],
        }
    )
    m = Matcher.from_corpus(corpus)
    kettle = ("kettle-1", "美的 电热水壶 1.7L 304不锈钢 家用")
    cup = ("cup-2", "象印 保温杯 480ml")
    assert m.match("这个怎么用", kettle).faq_id == "kettle-use"
    assert m.match("这个怎么用", cup).faq_id == "cup-use"
    # Elsewhere (another product, or no product page) the shop-wide entry answers.
    assert m.match("这个怎么用", ("tshirt-9", "纯棉T恤")).faq_id == "use"
    assert m.match("这个怎么用").faq_id == "use"
    # A question about something else is not pulled to the page's product.
    assert m.match("什么时候发货", kettle).faq_id == "ship"
    # An entry of another product steps back even when named ("保温杯" on the kettle's page
    # still finds the cup entry only if nothing else fits as well).
    assert m.match("电水壶怎么使用", cup).faq_id == "kettle-use"
    # The result for one page is not served from the cache to another.
    assert m.match("这个怎么用", kettle).faq_id == "kettle-use"
    # On another product's page a product's entry steps back: it answers only a question that
    # names its product.
    tshirt = ("tshirt-9", "纯棉T恤")
    assert m.match("第一次怎么用").faq_id == "kettle-use"
    assert m.match("第一次怎么用", tshirt).decision != Decision.ANSWER
    assert m.match("电水壶第一次要怎么用呢", tshirt).faq_id == "kettle-use"


def test_an_entry_names_products_by_their_ids() -> None:
    with pytest.raises(CorpusError, match="products"):
        parse_corpus(
            {"shop": "s", "faqs": [{"id": "a", "question": "q", "answer": "a", "products": ["has space"]}]}
        )
