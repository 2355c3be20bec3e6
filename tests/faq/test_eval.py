"""The dev-eval numbers, with floors a little below what the matcher reaches, so regressions fail."""

import json
from pathlib import Path

import pytest

from kefu.errors import KefuError
from kefu.faq import Matcher, Resources, evaluate, load_cases, load_manifest
from kefu.faq.evaluate import macro_mean, reliability, table
from tests.conftest import DATA


def test_dev_set_floor(matcher: Matcher) -> None:
    report = evaluate(matcher, load_cases(DATA / "faq_dev_cases.jsonl"))
    assert report.cases >= 250
    assert report.answer_accuracy >= 0.71
    assert report.recall_at_3 >= 0.97
    assert report.wrong_answer_rate <= 0.02
    assert report.out_of_scope_answered_rate <= 0.06
    assert report.transfer_recall >= 0.98
    assert report.false_transfers == 0


def test_second_shop_floor(shop2_matcher: Matcher) -> None:
    """A corpus and cases the matcher was not designed around (electronics, 4–5 phrasings)."""
    report = evaluate(shop2_matcher, load_cases(DATA / "shop2_cases.jsonl"))
    assert report.answer_accuracy >= 0.66
    assert report.recall_at_3 >= 0.96
    assert report.wrong_answer_rate <= 0.02
    assert report.out_of_scope_answered_rate <= 0.05
    assert report.transfer_recall >= 0.96
    assert report.false_transfers == 0


@pytest.mark.slow
def test_every_labelled_shop_floor(resources: Resources) -> None:
    """The sparse shops (1–2 phrasings per entry) of other verticals, Taiwan and Hong Kong usage
    included, holdouts too: floors a little below the macro figures in the README."""
    reports = []
    shops = load_manifest(DATA / "shops" / "shops.yaml")
    for shop in shops:
        matcher = Matcher.from_corpus(shop.load_corpus(), resources=resources)
        reports.append(evaluate(matcher, load_cases(shop.cases), name=shop.name))
    mean = macro_mean(reports)
    assert len(reports) >= 45
    # 80.4 %: the dev rows are in-sample, and a fit on more verticals fits each less closely.
    assert mean.answer_accuracy >= 0.79
    assert mean.recall_at_3 >= 0.98
    assert mean.wrong_answer_rate <= 0.015
    assert mean.out_of_scope_answered_rate <= 0.06
    assert mean.transfer_recall >= 0.97
    # Four: three questions whether the shop has real people at all (labelled as its hours
    # FAQ) and "想搵人驗下真假" (找人 is asking for someone; here to check a watch).
    assert mean.false_transfers <= 4
    # No shop is left far behind (the weakest, plants-en, the English-language shop, answers
    # 60.6 %; sports-hk suggests the right FAQ for 94.7 %).
    assert min(r.answer_accuracy for r in reports) >= 0.58, table(reports)
    assert min(r.recall_at_3 for r in reports) >= 0.94, table(reports)
    # The dev rows are in-sample for the adapter and the decision model; the holdouts are not.
    holdouts = macro_mean([r for r, shop in zip(reports, shops, strict=True) if shop.role == "holdout"])
    assert holdouts.answer_accuracy >= 0.67 and holdouts.recall_at_3 >= 0.95, table(reports)
    # 3.2 % (tea-tw 4.7 %): over issue 9's 3 %, the price of the threshold the dev shops chose
    # (README, "How well it answers").
    assert holdouts.wrong_answer_rate <= 0.04 and holdouts.false_transfers == 0, table(reports)


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
    suggested = matcher.match("快递")
    assert suggested.decision == "suggest"
    lines = [
        {"q": "什么时候发货", "expect": "ship-when"},  # right answer
        {"q": "什么时候发货", "expect": "courier"},  # wrong answer, not in suggestions
        {"q": "快递", "expect": [suggested.suggestions[-1].faq_id]},  # suggested: recall only
        {"q": "推荐一部电影", "expect": None},  # out of scope, not answered
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


def test_either_this_faq_or_no_answer(matcher: Matcher, tmp_path: Path) -> None:
    """A label listing null accepts no answer as well as the FAQ, and any other answer is wrong."""
    lines = [
        {"q": "什么时候发货", "expect": ["ship-when", None]},  # answered right
        {"q": "推荐一部电影", "expect": ["ship-when", None]},  # not answered: fine
        {"q": "什么时候发货", "expect": ["courier", None]},  # answered, another FAQ: wrong
    ]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines), encoding="utf-8")
    report = evaluate(matcher, load_cases(path))
    assert report.in_scope == 3
    assert report.answer_accuracy == pytest.approx(2 / 3)
    assert report.wrong_answer_rate == pytest.approx(1 / 3)
    assert [m.q for m in report.misses] == ["什么时候发货"]


def test_reliability_table_bins_predictions() -> None:
    rows = reliability([(0.95, True), (0.92, False), (0.1, False), (0.15, True)]).splitlines()
    assert rows[2] == "| 0.0–0.2 | 2 | 0.12 | 0.50 |"
    assert rows[3] == "| 0.9–1.0 | 2 | 0.94 | 0.50 |"
