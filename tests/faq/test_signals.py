"""The matcher's signals one by one: word weights, typo repair, answer kinds, the encoder and its
cache, the calibration file, and fitting a calibration from labelled shops."""

import base64
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from kefu.cli import main
from kefu.faq import Calibration, Decision, Matcher, Resources, WordStats, parse_corpus
from kefu.faq import fit as fit_module
from kefu.faq.analyzer import Analyzer
from kefu.faq.answertype import asked_kinds, given_kinds
from kefu.faq.calibration import FEATURES, TreeModel
from kefu.faq.corpus import load_corpus
from kefu.faq.evaluate import ShopSet, load_cases
from kefu.faq.fit import AdapterFit, ShopVectors, fit_adapter, shop_vectors
from kefu.faq.matcher import passages
from kefu.faq.normalize import normalize
from kefu.faq.semantic import DIMENSIONS, Adapter
from tests.conftest import DATA, counting_encoder


def test_common_words_weigh_little_and_rare_ones_fully() -> None:
    stats = WordStats.default()
    assert stats.weight("的") < stats.weight("可以") < stats.weight("怀孕") < stats.weight("宅配") == 1.0
    assert stats.weight("the") < stats.weight("refund") <= 1.0
    assert 0 < stats.weight("的")


@pytest.mark.parametrize(
    ("text", "durations"),
    [
        ("快递三天没动了", ["三天"]),
        ("等了 48 个 小时", ["48个小时"]),
        ("二十几天了还没到", ["十几天"]),
        ("第3天到", []),  # an ordinal day is no duration
        ("第41天到", []),  # …nor from inside its number (it was "1天")
        ("24小时客服吗", ["24小时"]),
    ],
)
def test_durations_are_read_where_their_number_begins(
    resources: Resources, text: str, durations: list[str]
) -> None:
    analysis = Analyzer(resources).analyze(text)
    found = [t.text for t in analysis.tokens if set(t.concepts) & {"duration", "hours"}]
    assert found == durations


@pytest.mark.parametrize(
    ("text", "guess"),
    [("开发漂在哪里弄", "发票"), ("发或了吗", "发货"), ("过明了能退吗", "过敏"), ("优会卷在哪", "优惠券")],
)
def test_a_typo_repair_is_added_beside_what_was_written(resources: Resources, text: str, guess: str) -> None:
    matcher = Matcher.from_corpus(
        parse_corpus(
            {
                "shop": "s",
                "faqs": [
                    {"id": "a", "question": "怎么开发票", "answer": "a"},
                    {"id": "b", "question": "过敏了能退吗", "answer": "b"},
                ],
            }
        ),
        resources=resources,
    )
    tokens = matcher.analyzer.analyze(text).tokens
    assert any(t.kind == "typo" and guess in t.text for t in tokens)
    # What the shopper wrote is still there.
    assert "".join(t.text for t in tokens if t.kind != "typo")


def test_a_real_word_of_the_shop_is_not_corrected_into_another(resources: Resources) -> None:
    corpus = parse_corpus(
        {
            "shop": "s",
            "faqs": [
                {"id": "dry", "question": "干皮用哪款", "answer": "a"},
                {"id": "sensitive", "question": "敏感肌能用吗", "answer": "b"},
            ],
        }
    )
    matcher = Matcher.from_corpus(corpus, resources=resources)
    tokens = matcher.analyzer.analyze("敏感皮能用吗").tokens
    assert "敏感" in [t.text for t in tokens]
    assert matcher.match("敏感皮能用吗").best_faq_id == "sensitive"


@pytest.mark.parametrize(
    "text",
    [
        "我要找專人",
        "幫我轉專人處理",
        "機械人聽唔明 俾個真人我傾",
        "有冇人呀 我要同職員講",
        "real person please",
        "我要跟店家講",
        "找店家",
        "我想同職員傾",
        "客服",
        "店家在嗎 我要問人",
        "operator please",
        "可以請店家跟我聯絡嗎",
        "想直接跟客服人員談",
        "麻煩小編私訊我",
        "zhuan ren gong",
        # An imperative request, whatever date the rest of the message names.
        "后天要出门 麻烦帮我转真人",
        "禮拜五要用 快點幫我找客服",
        # Asking how to reach one; a role the shop's people play.
        "客服在哪里 要怎么联系",
        "技術支援怎麼找",
        "想找设计师聊聊我的稿子",
        # Someone asked to talk with me or answer me, whoever they are.
        "有冇同事可以同我講下",
        "麻烦安排个专员跟我联系",
        "叫你们经理回我",
        # The request in a clause of its own, the matter apart; urgency around it.
        "有没有人工 我这个订单情况很复杂",
        "急急急 在线等人工",
        "有冇職員覆我呀",
        "有没有客服可以回我",
        "叫他们快点跟我联系",
        "真人 please, my order never arrived",
        # Whoever can decide, the real service; English: someone who should help or talk with me.
        "叫个能做主的出来",
        "可以請真的客服處理嗎",
        "我已經問三次了 可以請真的客服處理嗎",
        "is there a live person who can help me with my order pls",
        "i need someone to talk to me about a refund",
        "is anyone there who can help me",
    ],
)
def test_traditional_cantonese_and_english_requests_transfer(matcher: Matcher, text: str) -> None:
    assert matcher.match(text).decision == Decision.TRANSFER


@pytest.mark.parametrize(
    "text",
    [
        "我們公司要給員工準備禮品 能開發票嗎",
        "客服幾點上班",
        "店家週末有回覆嗎",
        "跟店家說的顏色不一樣",
        "Are your human agents available on weekends?",
        "我要送去同事辦公室 外送上不去怎麼辦",
        "客服跟我说的不一样",
        # "AI" (an Illustrator file) beside 要不要, which asks whether and rejects nothing.
        "AI文件要不要转曲",
        # Counting the people asks about them.
        "你哋有幾多個真人客服",
        "有几个人工客服在线",
        "你们有多少人工客服",
        # 人工 as "manual" or "man-made", with a word of urgency.
        "人工充值 急用",
        "人工钻石可以加急吗",
        # Describing the people: "<person> 是 …".
        "你们客服人员是在上海吗",
        "客服是外包的嗎",
        "设计师是兼职的吗",
        "客服电话怎么联系",
        "有设计师帮忙改图吗",
        # What someone said, not a request for them to speak.
        "请问客服跟我说的是真的吗",
        "找了客服跟我说要等三天",
        "有人跟我说你们可以退",
        # Asking the bot itself to say something; someone who is not the shop's; 申请, 找回.
        "麻烦跟我说一下怎么退货",
        "请尽快回复我运费多少",
        "叫快递员跟我联系",
        "申请售后会回复我吗",
        "怎么找回我的账号",
        "有没有人跟我说过这个型号",
        "他们跟我说可以换货",
        # A clause with a matter of its own; "automatic" describing a product.
        "人工钻石 有证书吗",
        "automatic umbrella stopped opening, what do I do",
        # What a person did; when someone is there.
        "the agent who helped me last week said i could return it",
        "when is someone available to help me",
        "客服多久处理我的退款",
    ],
)
def test_mentions_of_people_that_ask_no_human_do_not_transfer(matcher: Matcher, text: str) -> None:
    assert matcher.match(text).decision != Decision.TRANSFER


@pytest.mark.parametrize("text", ["多謝晒", "唔該晒", "thank you!"])
def test_cantonese_thanks_is_small_talk(matcher: Matcher, text: str) -> None:
    assert matcher.match(text).decision == Decision.GREETING


@pytest.mark.parametrize("text", ["不要机器人", "机器人不要再回了", "bot你不要回了", "你这机器人懂不懂啊"])
def test_rejecting_the_bot_transfers(matcher: Matcher, text: str) -> None:
    assert matcher.match(text).decision == Decision.TRANSFER


def test_a_typo_in_a_request_for_a_human_still_transfers(matcher: Matcher) -> None:
    assert matcher.match("人公客服").decision == Decision.TRANSFER


def test_answer_kinds() -> None:
    assert asked_kinds(normalize("每日坚果多少钱一盒")) == {"price"}
    assert asked_kinds(normalize("How long does delivery take?")) == {"time"}
    assert asked_kinds(normalize("有几种口味")) == {"quantity"}
    assert "price" not in given_kinds("每小包25克，一盒30包共750克")
    assert "price" in given_kinds("满99元包邮")
    assert "time" in given_kinds("付款后48小时内发货")


def test_the_encoder_caches_questions_and_reuses_unchanged_corpus_vectors(resources: Resources) -> None:
    encoder = resources.encoder()
    a, b = encoder.encode(["什么时候发货", "什么时候发货"])
    assert np.allclose(a, b) and abs(float(a @ a) - 1.0) < 1e-4
    hits = encoder.hits
    encoder.encode_one("什么时候发货")
    assert encoder.hits == hits + 1
    corpus = parse_corpus(
        {
            "shop": "s",
            "faqs": [
                {"id": "a", "question": "什么时候发货", "answer": "48小时内"},
                {"id": "b", "question": "可以开发票吗", "answer": "可以"},
            ],
        }
    )
    first = Matcher.from_corpus(corpus, resources=resources)
    edited = parse_corpus(
        {
            "shop": "s",
            "faqs": [
                {"id": "a", "question": "什么时候发货", "answer": "48小时内"},
                {"id": "b", "question": "可以开增值税发票吗", "answer": "可以"},
            ],
        }
    )
    calls: list[list[str]] = []
    real = encoder.encode_uncached

    def counting(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return real(texts)

    encoder.encode_uncached = counting  # type: ignore[method-assign]
    try:
        Matcher.from_corpus(edited, resources=resources, previous=first)
    finally:
        del encoder.encode_uncached
    assert calls == [["可以开增值税发票吗"]]


def test_similar_meaning_across_scripts_and_languages(resources: Resources) -> None:
    encoder = resources.encoder()
    question, traditional, english, other = encoder.encode(
        ["什么时候发货", normalize("請問什麼時候出貨"), "when will you ship my order", "可以开发票吗"]
    )
    assert question @ traditional > question @ other
    assert question @ english > question @ other


def test_the_shipped_calibration_loads_and_names_only_known_features() -> None:
    calibration = Calibration.default()
    assert set(calibration.full.features) <= set(FEATURES)
    assert 0 < calibration.suggest < calibration.answer < 1
    assert calibration.fitted_on["shops"]


def test_a_calibration_naming_an_unknown_feature_is_refused(tmp_path: Path) -> None:
    data = json.loads(Calibration.default().dump())
    data["full"]["features"][0] = "telepathy"
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="telepathy"):
        Calibration.load(path)


def test_matching_without_the_encoder_still_decides(corpus: object, resources: Resources) -> None:
    from kefu.faq import MatcherConfig, default_corpus

    matcher = Matcher.from_corpus(default_corpus(), MatcherConfig(semantic=False), resources=resources)
    assert matcher.encoder is None
    result = matcher.match("请问付款后多久能发货")
    assert result.decision == Decision.ANSWER and result.faq_id == "ship-when" and not result.semantic


@pytest.mark.slow
def test_calibrate_fits_and_writes_a_loadable_calibration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shops = DATA / "shops"
    manifest = tmp_path / "shops.yaml"
    entries = [
        f"  - {{name: {name}, corpus: {shops / name / 'corpus.yaml'}, cases: {shops / name / 'cases.jsonl'}}}"
        for name in ("snacks", "pets-tw", "baby-hk")
    ]
    manifest.write_text("shops:\n" + "\n".join(entries) + "\n", encoding="utf-8")
    out = tmp_path / "calibration.json"
    assert main(["faq", "calibrate", "--manifest", str(manifest), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "leave-one-shop-out" in printed and "| confidence |" in printed
    calibration = Calibration.load(out)
    assert calibration.fitted_on["shops"] == ["baby-hk", "pets-tw", "snacks"]
    assert 0.3 <= calibration.answer <= 0.99
    assert calibration.adapter is not None and calibration.adapter != Calibration.default().adapter


def _recall_at_1(shop: ShopVectors, adapter: Adapter | None, texts: np.ndarray, faq_of: np.ndarray) -> float:
    """How often the closest of `texts` (phrasings, or answers) belongs to a right FAQ."""
    mapped = adapter.apply(texts.astype(np.float32)) if adapter else texts
    first = faq_of[(shop.questions @ mapped.T).argmax(axis=1)]
    return float(np.mean([f in right for f, right in zip(first, shop.right, strict=True)]))


@pytest.mark.slow
def test_an_adapter_fitted_on_other_shops_finds_the_right_entry_more_often_in_a_new_one(
    resources: Resources,
) -> None:
    shops = {
        name: shop_vectors(
            name,
            load_corpus(DATA / "shops" / name / "corpus.yaml"),
            load_cases(DATA / "shops" / name / "cases.jsonl"),
            resources,
        )
        for name in ("snacks", "pets-tw", "appliances", "books", "baby-hk")
    }
    trained = [shops[name] for name in ("snacks", "pets-tw", "appliances", "books")]
    adapter = fit_adapter(trained, AdapterFit(iterations=60))
    unseen = shops["baby-hk"]
    # By its phrasings and by its answer, the right FAQ comes first more often.
    for texts, faq_of in (
        (unseen.phrasings, unseen.faq_of),
        (unseen.answers, np.arange(len(unseen.answers))),
    ):
        assert _recall_at_1(unseen, adapter, texts, faq_of) > _recall_at_1(unseen, None, texts, faq_of) + 0.03

    # And a near miss (out of scope, in the shop's words) ends up farther from every FAQ than
    # the in-scope questions are from theirs, more often than with the plain encoder.
    def separated(adapter: Adapter | None) -> float:
        texts = adapter.apply(unseen.phrasings.astype(np.float32)) if adapter else unseen.phrasings
        inside = (unseen.questions @ texts.T).max(axis=1)
        outside = (unseen.outside @ texts.T).max(axis=1)
        return float((inside[:, None] > outside[None, :]).mean())

    assert separated(adapter) > separated(None) + 0.05


def test_the_matcher_compares_a_question_with_the_adapted_faq_side(resources: Resources) -> None:
    rng = np.random.default_rng(7)
    matrix = np.eye(DIMENSIONS) + rng.normal(0, 0.05, (DIMENSIONS, DIMENSIONS))
    adapter = Adapter.from_matrix(matrix)
    # Stored at half precision: the map is the one given, to three decimals.
    assert np.allclose(adapter.matrix, matrix, atol=1e-3)
    corpus = parse_corpus(
        {"shop": "s", "faqs": [{"id": "a", "question": "什么时候发货", "answer": "付款后48小时内发出"}]}
    )
    plain = Matcher.from_corpus(corpus, resources=resources, calibration=Calibration.neutral())
    mapped = Matcher.from_corpus(corpus, resources=resources, calibration=Calibration.neutral(adapter))
    assert plain.semantic is not None and mapped.semantic is not None
    question = resources.encoder().encode_one("多久能发货")
    (phrasing,), faq_of = plain.semantic.phrasing_vectors()
    sem = mapped.semantic.scores(question).phrasing
    assert sem[0] == pytest.approx(float(question @ (adapter.matrix @ phrasing)), abs=1e-5)
    assert sem[0] != pytest.approx(plain.semantic.scores(question)[0][0], abs=1e-3)
    # A later version of the corpus reuses the mapped vectors only under the same map.
    edited = parse_corpus(
        {"shop": "s", "faqs": [{"id": "a", "question": "什么时候发货", "answer": "付款后24小时内发出"}]}
    )
    with counting_encoder(resources) as encoded:
        same = Calibration.neutral(adapter)
        again = Matcher.from_corpus(edited, resources=resources, calibration=same, previous=mapped)
        assert encoded == [again.semantic_text("付款后24小时内发出")]
        encoded.clear()
        unmapped = Matcher.from_corpus(
            edited, resources=resources, calibration=Calibration.neutral(), previous=mapped
        )
        assert len(encoded) == 2  # another map: nothing reused
    assert again.semantic is not None and unmapped.semantic is not None
    assert np.allclose(again.semantic.phrasing_vectors()[0], mapped.semantic.phrasing_vectors()[0])
    assert np.allclose(unmapped.semantic.phrasing_vectors()[0], phrasing, atol=1e-6)
    # Shared by the threads that match: nobody may write into it.
    with pytest.raises(ValueError):
        again.semantic.phrasing_vectors()[0][0, 0] = 1.0


def test_a_damaged_adapter_is_refused() -> None:
    good = Adapter.from_matrix(np.eye(DIMENSIONS))
    assert Adapter.model_validate_json(good.model_dump_json()) == good
    with pytest.raises(ValueError, match="base64"):
        Adapter(delta="not base64!")
    with pytest.raises(ValueError, match="512×512 numbers"):
        Adapter(delta=good.delta[:100])
    with pytest.raises(ValueError, match="dimensional"):
        Adapter(dimensions=256, delta=good.delta)
    for bad in (np.nan, np.inf, 3.0):
        delta = np.zeros(DIMENSIONS * DIMENSIONS, dtype="<f2")
        delta[12345] = bad
        with pytest.raises(ValueError, match="finite numbers within"):
            Adapter(delta=base64.b64encode(delta.tobytes()).decode("ascii"))
    # A calibration whose trees were fitted with an adapter is refused without it, or with another.
    data = json.loads(Calibration.default().dump())
    data["adapter"] = None
    with pytest.raises(ValueError, match="another adapter"):
        Calibration.model_validate(data)
    data["adapter"] = good.model_dump()
    with pytest.raises(ValueError, match="another adapter"):
        Calibration.model_validate(data)


def test_each_shop_is_scored_with_an_adapter_fitted_on_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    fitted: list[list[str]] = []
    used: dict[str, str] = {}

    def fake_vectors(name: str, *args: object) -> SimpleNamespace:
        return SimpleNamespace(shop=name)

    def fake_fit(shops: list[SimpleNamespace], settings: object) -> str:
        fitted.append(sorted(v.shop for v in shops))
        return "+".join(fitted[-1])

    def fake_collect(name: str, corpus: object, cases: object, res: object, adapter: str) -> list[object]:
        used[name] = adapter
        return []

    monkeypatch.setattr(fit_module, "shop_vectors", fake_vectors)
    monkeypatch.setattr(fit_module, "fit_adapter", fake_fit)
    monkeypatch.setattr(fit_module, "_collect", fake_collect)
    shops = [
        ShopSet(name=n, corpus=DATA / "shops" / n / "corpus.yaml", cases=DATA / "shops" / n / "cases.jsonl")
        for n in ("snacks", "pets-tw", "baby-hk")
    ]
    shops[0] = shops[0].model_copy(update={"sparse_copy": True})
    observations, final = fit_module.collect(shops, adapter=AdapterFit())
    assert final == "baby-hk+pets-tw+snacks"
    assert used == {
        "snacks": "baby-hk+pets-tw",
        "snacks~sparse": "baby-hk+pets-tw",  # the copy leaves with its shop
        "pets-tw": "baby-hk+snacks",
        "baby-hk": "pets-tw+snacks",
    }
    with pytest.raises(ValueError, match="two shops"):
        fit_module.collect(shops[:1], adapter=AdapterFit())


def test_a_tree_model_adds_the_leaves_each_candidate_lands_on() -> None:
    lex, sem = FEATURES.index("lex"), FEATURES.index("sem")
    model = TreeModel(
        features=("lex", "sem"),
        base=-1.0,
        depth=2,
        # Tree 1: lex ≤ 0.5 → sem ≤ 0.3 ? -2 : +1 ; else +3. Tree 2: sem ≤ 0.6 ? 0 : +0.5.
        feature=((0, 1, 0, 0, 0), (1, 0, 0, 0, 0)),
        threshold=((0.5, 0.3, 0.0, 0.0, 0.0), (0.6, 0.0, 0.0, 0.0, 0.0)),
        left=((1, 3, 2, 3, 4), (1, 1, 2, 3, 4)),
        right=((2, 4, 2, 3, 4), (2, 1, 2, 3, 4)),
        value=((0.0, 0.0, 3.0, -2.0, 1.0), (0.0, 0.0, 0.5, 0.0, 0.0)),
    )
    rows = np.zeros((4, len(FEATURES)))
    rows[:, lex] = [0.2, 0.2, 0.9, 0.5]
    rows[:, sem] = [0.1, 0.7, 0.7, 0.3]
    logits = np.log(model.predict(rows) / (1 - model.predict(rows)))
    assert logits == pytest.approx([-1 - 2, -1 + 1 + 0.5, -1 + 3 + 0.5, -1 - 2])


def test_a_tree_model_that_points_outside_itself_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        TreeModel(
            features=("lex",),
            base=0.0,
            depth=1,
            feature=((0, 0),),
            threshold=((0.5, 0.0),),
            left=((1, 1),),
            right=((7, 1),),
            value=((0.0, 1.0),),
        )
    with pytest.raises(ValueError, match="telepathy"):
        TreeModel(
            features=("telepathy",),
            base=0.0,
            depth=1,
            feature=((0, 0, 0),),
            threshold=((0.5, 0.0, 0.0),),
            left=((1, 1, 2),),
            right=((2, 1, 2),),
            value=((0.0, -1.0, 1.0),),
        )


def test_the_shipped_calibration_is_boosted_trees_and_survives_its_own_file(resources: Resources) -> None:
    calibration = Calibration.default()
    assert isinstance(calibration.full, TreeModel) and isinstance(calibration.lexical, TreeModel)
    assert calibration.adapter is not None
    assert Calibration.model_validate_json(calibration.dump()) == calibration
    # What the matcher computes for a real question goes through the trees to a probability.
    matcher = Matcher.from_corpus(
        parse_corpus({"shop": "s", "faqs": [{"id": "a", "question": "什么时候发货", "answer": "48小时内"}]}),
        resources=resources,
    )
    lexical, full = matcher.observe("付款以后多久发货呀")
    assert lexical and full and all(0 < c.p < 1 for c in full)


def test_a_question_in_the_words_of_a_later_sentence_of_the_answer_is_close_to_it(
    resources: Resources,
) -> None:
    answer = (
        "页面标的是净重，不含泡沫箱。每箱都放了冰袋保鲜。"
        "冰袋和干冰的重量不计入商品重量，收到后可以放在厨房秤上核对。"
    )
    corpus = parse_corpus(
        {
            "shop": "s",
            "faqs": [
                {"id": "weight", "question": "重量是净重还是毛重？", "answer": answer},
                {"id": "ship", "question": "什么时候发货", "answer": "付款后48小时内发出。"},
            ],
        }
    )
    assert passages(answer) == [
        "页面标的是净重，不含泡沫箱。",
        "每箱都放了冰袋保鲜。",
        "冰袋和干冰的重量不计入商品重量，收到后可以放在厨房秤上核对。",
    ]
    matcher = Matcher.from_corpus(corpus, resources=resources, calibration=Calibration.neutral())
    assert matcher.semantic is not None
    encoder = resources.encoder()
    question = encoder.encode_one(matcher.semantic_text("称出来的重量算不算冰袋"))
    scores = matcher.semantic.scores(question)
    sentences = encoder.encode([matcher.semantic_text(p) for p in passages(answer)])
    # The closest sentence of each answer, wherever it stands in the answer.
    assert scores.passage[0] == pytest.approx(float((sentences @ question).max()), abs=1e-5)
    assert scores.passage[0] > scores.answer[0]
    assert scores.passage[0] > scores.passage[1]
    # Nothing but the opening when no sentence is long enough to say anything alone.
    assert passages("是的。OK.") == ["是的。OK."]
