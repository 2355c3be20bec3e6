"""`kefu faq …`: check a corpus, match questions, evaluate against labelled cases, benchmark."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kefu.errors import CorpusError, KefuError
from kefu.faq.corpus import Corpus, default_corpus, load_corpus

__all__ = ["add_faq_commands"]


def add_faq_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """Add `kefu faq …`; returns its sub-commands so the server can add `faq import`."""
    faq = subparsers.add_parser("faq", help="FAQ corpus and matcher tools")
    commands = faq.add_subparsers(dest="faq_command", required=True, metavar="COMMAND")

    check = commands.add_parser("check", help="validate a corpus file; exit 1 with readable errors")
    check.add_argument("file", type=Path)
    check.set_defaults(handler=_check)

    match = commands.add_parser("match", help="match TEXT, or one query per stdin line (JSON lines out)")
    _corpus_option(match)
    match.add_argument("text", nargs="?", help="a shopper message; omit to read stdin")
    match.set_defaults(handler=_match)

    evaluate = commands.add_parser("eval", help="score the matcher on labelled JSONL cases")
    _corpus_option(evaluate)
    evaluate.add_argument("--cases", type=Path, required=True, help='JSONL: {"q": ..., "expect": ...}')
    evaluate.add_argument("--misses", action="store_true", help="list every case the matcher got wrong")
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate.set_defaults(handler=_eval)

    bench = commands.add_parser("bench", help="match latency at 1k/10k entries, build time, memory")
    _corpus_option(bench)
    bench.add_argument("--cases", type=Path, help="JSONL cases whose questions serve as queries")
    bench.add_argument("--sizes", default="1000,10000", help="comma-separated corpus sizes")
    bench.set_defaults(handler=_bench)
    return commands


def _corpus_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", type=Path, help="corpus YAML/JSON file (default: kefu's default corpus)")


def _corpus(args: argparse.Namespace) -> Corpus:
    return load_corpus(args.corpus) if args.corpus else default_corpus()


def _check(args: argparse.Namespace) -> int:
    try:
        corpus = load_corpus(args.file)
    except CorpusError as exc:
        print(f"{exc.source}: {len(exc.problems)} problem(s)", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    phrasings = sum(len(f.phrasings) for f in corpus.faqs)
    print(f"{args.file}: ok — shop {corpus.shop}, {len(corpus.faqs)} FAQs, {phrasings} phrasings")
    return 0


def _match(args: argparse.Namespace) -> int:
    from kefu.faq.matcher import Matcher

    matcher = Matcher.from_corpus(_corpus(args))
    if args.text is not None:
        print(matcher.match(args.text).model_dump_json(indent=2))
        return 0
    for line in sys.stdin:
        query = line.rstrip("\n")
        result = matcher.match(query)
        row = {
            "q": query,
            "decision": result.decision.value,
            "faq_id": result.faq_id,
            "score": result.score,
            "suggestions": [s.model_dump() for s in result.suggestions],
        }
        print(json.dumps(row, ensure_ascii=False), flush=True)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from kefu.faq.evaluate import evaluate, load_cases
    from kefu.faq.matcher import Matcher

    report = evaluate(Matcher.from_corpus(_corpus(args)), load_cases(args.cases))
    if args.json:
        print(report.model_dump_json(indent=2, exclude=None if args.misses else {"misses"}))
        return 0
    print(report.summary())
    if args.misses:
        print(f"\n{len(report.misses)} misses:")
        for miss in report.misses:
            expect = "/".join(miss.expect) or "(out of scope)"
            got = miss.faq_id or ",".join(miss.suggestions) or "-"
            print(f"  {miss.decision.value:8} {miss.score:.2f} expect={expect} got={got}  {miss.q}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from kefu.faq.bench import max_rss_mib, run_bench
    from kefu.faq.evaluate import load_cases

    corpus = _corpus(args)
    if args.cases:
        queries = [case.q for case in load_cases(args.cases)]
    else:
        queries = [p for faq in corpus.faqs for p in faq.phrasings]
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        raise KefuError(f"--sizes must be comma-separated integers, not {args.sizes!r}") from None
    columns = ["entries", "phrasings", "resources_s", "build_s", "p50_ms", "p99_ms", "peak_MiB"]
    print(" ".join(f"{c:>{max(len(c), 8)}}" for c in columns))
    for r in run_bench(corpus, queries, sizes):
        values = [
            r.entries,
            r.phrasings,
            f"{r.resources_s:.2f}",
            f"{r.build_s:.2f}",
            f"{r.p50_ms:.3f}",
            f"{r.p99_ms:.3f}",
            f"{r.peak_mib:.1f}",
        ]
        print(" ".join(f"{v:>{max(len(c), 8)}}" for c, v in zip(columns, values, strict=True)))
    print(f"queries per size: {len(queries)}; process peak RSS {max_rss_mib():.0f} MiB")
    return 0
