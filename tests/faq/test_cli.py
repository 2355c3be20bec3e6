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
    assert [r["decision"] for r in rows] == ["answer", "transfer", "greeting", "fallback", "suggest"]
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
    report = json.loads(capsys.readouterr().out)
    assert report["cases"] >= 250 and "misses" not in report


def test_bench_reports_each_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["faq", "bench", "--sizes", "60,120"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["entries", "phrasings", "resources_s"]
    assert [line.split()[0] for line in lines[1:3]] == ["60", "120"]


def test_errors_are_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["faq", "eval", "--cases", str(tmp_path / "missing.jsonl")]) == 1
    assert main(["faq", "bench", "--sizes", "many"]) == 1
    err = capsys.readouterr().err
    assert "kefu: --sizes must be comma-separated integers" in err
