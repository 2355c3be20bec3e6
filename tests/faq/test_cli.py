import json
import subprocess
import sys
from pathlib import Path

import pytest

from kefu.cli import main
from tests.conftest import DATA


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kefu", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_accepts_a_good_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["faq", "check", str(DATA / "shop2_corpus.yaml")]) == 0
    assert "ok — shop gadgets, 36 FAQs" in capsys.readouterr().out


def test_check_lists_every_problem_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "shop: demo\nfaqs:\n"
        "  - {id: a, question: 包邮吗, answer: 满99包邮}\n"
        "  - {id: a, question: 运费多少, answer: ''}\n"
        "  - {id: c, question: 包邮吗?, answer: 是, colour: red}\n",
        encoding="utf-8",
    )
    assert main(["faq", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "faqs[1] (a): answer: String should have at least 1 character" in err
    assert "faqs[2] (c): colour: unknown field" in err


def test_match_one_text_prints_the_result(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["faq", "match", "物流三天没动了"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["decision"] == "answer" and result["faq_id"] == "tracking-stalled"
    assert result["explanation"]["matched"]


def test_match_reads_stdin_and_writes_json_lines_in_order() -> None:
    queries = ["什么时候发货", "转人工", "hello", "今天天气怎么样", "快递"]
    proc = run(
        "faq",
        "match",
        "--corpus",
        str(DATA.parent.parent / "kefu/faq/data/default_corpus.yaml"),
        stdin="\n".join(queries) + "\n",
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["q"] for r in rows] == queries
    assert [r["decision"] for r in rows][:3] == ["answer", "transfer", "greeting"]
    assert rows[3]["decision"] in ("fallback", "suggest") and rows[4]["decision"] == "suggest"
    assert set(rows[0]) == {"q", "decision", "faq_id", "score", "suggestions"}
    assert set(rows[4]["suggestions"][0]) == {"faq_id", "question", "score"}


def test_eval_prints_the_metrics_and_misses(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "faq",
                "eval",
                "--corpus",
                str(DATA / "shop2_corpus.yaml"),
                "--cases",
                str(DATA / "shop2_cases.jsonl"),
                "--misses",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    for label in [
        "answer accuracy",
        "recall@3",
        "in-scope wrong answers",
        "out-of-scope answered",
        "transfer recall",
        "false transfers",
        "misses:",
    ]:
        assert label in out


def test_eval_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["faq", "eval", "--cases", str(DATA / "faq_dev_cases.jsonl"), "--json"]) == 0
    [report] = json.loads(capsys.readouterr().out)
    assert report["cases"] >= 250 and "misses" not in report


def test_eval_at_a_shops_confidence_level(capsys: pytest.CaptureFixture[str]) -> None:
    """--confidence measures a level as a shop would set it: cautious answers fewer questions
    and fewer of them wrongly, the same FAQs stay within reach (recall@3)."""
    reports = {}
    for level in ("cautious", "balanced"):
        args = ["--corpus", str(DATA / "shop2_corpus.yaml"), "--cases", str(DATA / "shop2_cases.jsonl")]
        assert main(["faq", "eval", *args, "--json", "--confidence", level]) == 0
        [reports[level]] = json.loads(capsys.readouterr().out)
    cautious, balanced = reports["cautious"], reports["balanced"]
    assert cautious["answer_accuracy"] < balanced["answer_accuracy"]
    assert cautious["wrong_answer_rate"] <= balanced["wrong_answer_rate"]
    assert cautious["out_of_scope_answered_rate"] <= balanced["out_of_scope_answered_rate"]
    assert abs(cautious["recall_at_3"] - balanced["recall_at_3"]) <= 0.02
    with pytest.raises(SystemExit):
        main(["faq", "eval", *args, "--confidence", "reckless"])


def test_eval_of_several_shops_prints_a_row_each_and_the_macro_mean(
    capsys: pytest.CaptureFixture[str],
) -> None:
    shops = DATA / "shops"
    args = ["faq", "eval", "--reliability", "--no-semantic"]
    for name in ("snacks", "pets-tw"):
        args += ["--shop", str(shops / name / "corpus.yaml"), str(shops / name / "cases.jsonl")]
    assert main(args) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert [r.split("|")[1].strip() for r in rows[1:4]] == ["snacks", "pets-tw", "macro mean"]
    assert "| confidence | questions | mean predicted | observed right |" in out


def test_eval_reads_a_manifest_by_role(capsys: pytest.CaptureFixture[str]) -> None:
    manifest = DATA / "shops" / "shops.yaml"
    assert main(["faq", "eval", "--manifest", str(manifest), "--role", "holdout", "--no-semantic"]) == 0
    names = [line.split("|")[1].strip() for line in capsys.readouterr().out.splitlines()[2:]]
    assert names == ["furniture", "tea-tw", "sports-hk", "macro mean"]


def test_bench_reports_each_size_and_the_encoder_apart(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["faq", "bench", "--sizes", "60,120"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("language resources") and "encoder alone p50" in lines[0]
    assert lines[1].split()[:5] == ["entries", "phrasings", "build_lex_s", "build_sem_s", "build_kept_s"]
    assert [line.split()[0] for line in lines[2:4]] == ["60", "120"]


def test_errors_are_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["faq", "eval", "--cases", str(tmp_path / "missing.jsonl")]) == 1
    assert main(["faq", "bench", "--sizes", "many"]) == 1
    err = capsys.readouterr().err
    assert "kefu: --sizes must be comma-separated integers" in err
    assert main(["faq", "bench", "--sizes", "1000,10000"]) == 1
    assert "kefu: --sizes must be between 1 and 2000" in capsys.readouterr().err
