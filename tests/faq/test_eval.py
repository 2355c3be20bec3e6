"""The dev-eval numbers, with floors a little below what the matcher reaches, so regressions fail."""

import json
from pathlib import Path

import pytest

from kefu.errors import KefuError
from kefu.faq import Matcher, evaluate, load_cases
from tests.conftest import DATA


def test_dev_set_floor(matcher: Matcher) -> None:
    report = evaluate(matcher, load_cases(DATA / "faq_dev_cases.jsonl"))
    assert report.cases >= 250
    assert report.answer_accuracy >= 0.79
    assert report.recall_at_3 >= 0.96
    assert report.wrong_answer_rate <= 0.03
    assert report.out_of_scope_answered_rate <= 0.04
    assert report.transfer_recall >= 0.98
    assert report.false_transfers == 0


def test_second_shop_floor(shop2_matcher: Matcher) -> None:
    """A corpus and cases the matcher was not designed around (electronics, sparse phrasings)."""
    report = evaluate(shop2_matcher, load_cases(DATA / "shop2_cases.jsonl"))
    assert report.answer_accuracy >= 0.62
    assert report.recall_at_3 >= 0.92
    assert report.wrong_answer_rate <= 0.03
    assert report.out_of_scope_answered_rate <= 0.08
    assert report.transfer_recall >= 0.96
    assert report.false_transfers == 0


def test_dev_set_has_the_required_mix() -> None:
    cases = load_cases(DATA / "faq_dev_cases.jsonl")
    n = len(cases)
    traditional = sum(1 for c in cases if any(ch in c.q for ch in "們麼貨運寄還這個請嗎費發說後會錢號單碼"))
    english = sum(1 for c in cases if c.q.isascii())
    assert sum(c.kind == "out_of_scope" for c in cases) >= 0.2 * n
    assert english >= 0.15 * n
    assert traditional >= 0.2 * n
    assert sum(c.kind == "transfer" for c in cases) >= 20


def test_metrics_are_computed_as_defined(matcher: Matcher, tmp_path: Path) -> None:
    lines = [
        {"q": "什么时候发货", "expect": "ship-when"},  # right answer
        {"q": "什么时候发货", "expect": "courier"},  # wrong answer, not in suggestions
        {"q": "快递", "expect": ["tracking"]},  # suggested: recall only
        {"q": "今天天气怎么样", "expect": None},  # out of scope, not answered
        {"q": "运费多少", "expect": None},  # out of scope by label, answered
        {"q": "转人工", "expect": "@transfer"},
        {"q": "包邮吗", "expect": "@transfer"},  # transfer missed
    ]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines), encoding="utf-8")
    report = evaluate(matcher, load_cases(path))
    assert (report.in_scope, report.out_of_scope, report.transfers) == (3, 2, 2)
    assert report.answer_accuracy == pytest.approx(1 / 3)
    assert report.recall_at_3 == pytest.approx(2 / 3)
    assert report.wrong_answer_rate == pytest.approx(1 / 3)
    assert report.out_of_scope_answered_rate == pytest.approx(1 / 2)
    assert report.transfer_recall == pytest.approx(1 / 2)
    assert report.false_transfers == 0
    assert len(report.misses) == 4


def test_bad_case_files_say_where(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text('{"q": "ok", "expect": null}\n{"q": 1}\n', encoding="utf-8")
    with pytest.raises(KefuError, match=r"cases.jsonl:2: not a case"):
        load_cases(path)
