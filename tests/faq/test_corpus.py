from pathlib import Path
from typing import Any

import pytest

from kefu.errors import CorpusError
from kefu.faq import Corpus, default_corpus, load_corpus, parse_corpus


def entry(**overrides: Any) -> dict[str, Any]:
    base = {
        "id": "ship-when",
        "question": "什么时候发货?",
        "similar": ["When will my order ship?"],
        "answer": "48小时内发货。",
    }
    return {**base, **overrides}


def problems(raw: Any) -> list[str]:
    with pytest.raises(CorpusError) as info:
        parse_corpus(raw, source="test.yaml")
    return info.value.problems


def test_a_valid_corpus_parses() -> None:
    corpus = parse_corpus(
        {"shop": "demo", "faqs": [entry(answers={"en": "Within 48 hours."}, keywords=["发货"])]}
    )
    faq = corpus.faqs[0]
    assert faq.phrasings == ("什么时候发货?", "When will my order ship?")
    assert faq.answer_for("en") == "Within 48 hours."
    assert faq.answer_for("en-gb") == "Within 48 hours."
    assert faq.answer_for("zh-hant") == "48小时内发货。"


def test_duplicate_id_names_the_entry() -> None:
    lines = problems({"shop": "demo", "faqs": [entry(), entry(question="多久发货", similar=[])]})
    assert lines == ["faqs[1] (ship-when): duplicate id 'ship-when'"]


def test_same_phrasing_under_two_ids_is_refused_even_with_other_punctuation_and_script() -> None:
    lines = problems(
        {"shop": "demo", "faqs": [entry(), entry(id="other", question="什麼時候發貨！", similar=[])]}
    )
    assert lines == ["faqs[1] (other): phrasing '什麼時候發貨！' is already a phrasing of 'ship-when'"]


@pytest.mark.parametrize("field", ["question", "answer"])
def test_empty_question_or_answer_names_entry_and_field(field: str) -> None:
    lines = problems({"shop": "demo", "faqs": [entry(), entry(id="b", similar=[], **{field: "  "})]})
    assert len(lines) == 1
    assert lines[0].startswith(f"faqs[1] (b): {field}: String should have at least 1 character")


def test_unknown_field_is_refused() -> None:
    assert problems({"shop": "demo", "faqs": [entry(answr="typo")]}) == [
        "faqs[0] (ship-when): answr: unknown field"
    ]


def test_bad_ids_and_missing_top_level_fields() -> None:
    assert problems({"shop": "demo", "faqs": [entry(id="Ship When")]})[0].startswith(
        "faqs[0] (Ship When): id:"
    )
    assert problems({"faqs": []}) == ["shop: Field required"]
    assert problems("just text") == ["corpus: Input should be a valid dictionary or instance of Corpus"]


def test_load_reports_yaml_errors_and_missing_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("shop: demo\nfaqs: [\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="not valid YAML"):
        load_corpus(broken)
    with pytest.raises(CorpusError, match="cannot read"):
        load_corpus(tmp_path / "missing.yaml")


def test_json_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "corpus.json"
    path.write_text(
        '{"shop": "demo", "faqs": [{"id": "a", "question": "包邮吗", "answer": "包邮"}]}', encoding="utf-8"
    )
    assert load_corpus(path).faqs[0].id == "a"


def test_yaml_round_trip(corpus: Corpus, tmp_path: Path) -> None:
    path = tmp_path / "again.yaml"
    path.write_text(corpus.to_yaml(), encoding="utf-8")
    assert load_corpus(path) == corpus


def test_default_corpus_covers_a_typical_shop() -> None:
    corpus = default_corpus()
    assert corpus.shop == "demo"
    assert len(corpus.faqs) >= 40
    for faq in corpus.faqs:
        assert len(faq.phrasings) >= 4, faq.id
        assert any(p.isascii() for p in faq.phrasings), f"{faq.id} has no English phrasing"
        assert faq.answers.get("en"), f"{faq.id} has no English answer"
    ids = {faq.id for faq in corpus.faqs}
    for topic in [
        "ship-when",
        "courier",
        "delivery-time",
        "tracking",
        "tracking-stalled",
        "returns",
        "exchange",
        "refund-time",
        "invoice",
        "warranty",
        "service-hours",
        "membership",
        "cancel-order",
        "presale",
    ]:
        assert topic in ids
