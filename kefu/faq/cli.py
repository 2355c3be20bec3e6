"""`kefu faq …`: check a corpus, match questions, evaluate against labelled cases, benchmark."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kefu.errors import CorpusError, KefuError
from kefu.faq.calibration import CONFIDENCE_LEVELS
from kefu.faq.corpus import MAX_FAQS, Corpus, default_corpus, load_corpus

if TYPE_CHECKING:
    from kefu.faq.evaluate import ShopSet

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

    evaluate = commands.add_parser(
        "eval",
        help="score the matcher on labelled JSONL cases, for one shop or several",
        description="One shop: --corpus FILE --cases FILE. Several: repeat --shop CORPUS CASES, "
        "or give a --manifest; one row per shop and the macro mean are printed.",
    )
    _corpus_option(evaluate)
    evaluate.add_argument("--cases", type=Path, help='JSONL: {"q": ..., "expect": ...}')
    evaluate.add_argument(
        "--shop", nargs=2, action="append", metavar=("CORPUS", "CASES"), type=Path, default=[]
    )
    evaluate.add_argument("--manifest", type=Path, help="YAML list of shops (tests/data/shops/shops.yaml)")
    evaluate.add_argument("--role", help="only the manifest's shops of this role (dev, holdout)")
    evaluate.add_argument("--misses", action="store_true", help="list every case the matcher got wrong")
    evaluate.add_argument("--reliability", action="store_true", help="print the reliability table")
    evaluate.add_argument("--no-semantic", action="store_true", help="lexical signals only")
    evaluate.add_argument(
        "--confidence",
        choices=CONFIDENCE_LEVELS,
        default="balanced",
        help="answer at a shop's confidence level (the setting bot_confidence)",
    )
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate.set_defaults(handler=_eval)

    calibrate = commands.add_parser(
        "calibrate",
        help="fit the answer/suggest decision on labelled shops (needs scikit-learn)",
    )
    calibrate.add_argument("--manifest", type=Path, required=True)
    calibrate.add_argument("--role", default="dev", help="fit on the manifest's shops of this role")
    calibrate.add_argument("--out", type=Path, help="write the calibration JSON here")
    calibrate.add_argument("--trees", type=int, help="boosted trees per model (default: fit.Boosting's)")
    calibrate.add_argument(
        "--no-adapter", action="store_true", help="plain encoder cosines (no adapter fitted): for comparison"
    )
    calibrate.set_defaults(handler=_calibrate)

    bench = commands.add_parser("bench", help="match latency at 1k/10k entries, build time, memory")
    _corpus_option(bench)
    bench.add_argument("--cases", type=Path, help="JSONL cases whose questions serve as queries")
    bench.add_argument(
        "--sizes", default="1000,2000", help=f"comma-separated corpus sizes (at most {MAX_FAQS})"
    )
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


def _shop_sets(args: argparse.Namespace) -> list[ShopSet]:
    from kefu.faq.evaluate import ShopSet, load_manifest

    shops: list[ShopSet] = []
    if args.manifest:
        shops.extend(s for s in load_manifest(args.manifest) if not args.role or s.role == args.role)
    for corpus, cases in args.shop:
        shops.append(ShopSet(name=corpus.parent.name or corpus.stem, corpus=corpus, cases=cases))
    if args.cases:
        shops.append(
            ShopSet(name=args.corpus.stem if args.corpus else "default", corpus=args.corpus, cases=args.cases)
        )
    if not shops:
        raise KefuError("give --cases (with --corpus), --shop CORPUS CASES, or --manifest")
    return shops


def _eval(args: argparse.Namespace) -> int:
    from kefu.faq.evaluate import evaluate, load_cases, macro_mean, reliability, table
    from kefu.faq.matcher import Matcher, MatcherConfig

    config = MatcherConfig(semantic=not args.no_semantic)
    reports = []
    for shop in _shop_sets(args):
        matcher = Matcher.from_corpus(shop.load_corpus(), config).at_confidence(args.confidence)
        reports.append(evaluate(matcher, load_cases(shop.cases), name=shop.name))
    if args.json:
        exclude = None if args.misses else {"misses"}
        print(
            json.dumps(
                [json.loads(r.model_dump_json(exclude=exclude)) for r in reports],
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    if len(reports) == 1:
        print(reports[0].summary())
    else:
        print(table(reports))
    if args.reliability:
        print()
        print(reliability(macro_mean(reports).confidence))
    if args.misses:
        for report in reports:
            print(f"\n{report.name}: {len(report.misses)} misses:")
            for miss in report.misses:
                expect = "/".join(e or "null" for e in miss.expect) or "(out of scope)"
                got = miss.faq_id or ",".join(miss.suggestions) or "-"
                print(f"  {miss.decision.value:8} {miss.score:.2f} expect={expect} got={got}  {miss.q}")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from kefu.faq.evaluate import reliability
    from kefu.faq.fit import AdapterFit, Boosting, collect, decide, fit

    args.shop, args.cases = [], None
    shops = _shop_sets(args)
    observations, adapter = collect(shops, adapter=None if args.no_adapter else AdapterFit())
    calibration, out_of_fold = fit(
        observations, adapter=adapter, boosting=Boosting(trees=args.trees) if args.trees else None
    )
    rates = decide(out_of_fold, calibration.answer, calibration.skip_semantic)
    print(f"fitted on {len(observations)} questions of {len(shops)} shops")
    print(
        f"thresholds: answer {calibration.answer}, skip encoder {calibration.skip_semantic}, "
        f"answer without encoder {calibration.answer_lexical}, suggest {calibration.suggest}"
    )
    print("leave-one-shop-out:")
    for shop, r in sorted(rates.items()):
        print(
            f"  {shop:12} accuracy {r['accuracy']:6.1%}  wrong {r['wrong']:5.1%}  "
            f"out-of-scope answered {r['out_of_scope']:5.1%}  encoder skipped {r['skipped']:5.1%}"
        )
    pairs = [(s.full_p, s.full_right) for s in out_of_fold]
    print(reliability(pairs))
    if args.out:
        args.out.write_text(calibration.dump(), encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from kefu.faq.bench import run_bench, startup
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
    if any(not 0 < size <= MAX_FAQS for size in sizes):
        raise KefuError(f"--sizes must be between 1 and {MAX_FAQS} (the most entries a shop may have)")
    resources, start = startup(queries[:200])
    print(
        f"language resources {start.resources_s:.2f} s, sentence encoder {start.encoder_s:.2f} s, "
        f"resident memory {start.rss_mib:.0f} MiB; encoder alone p50 {start.encode_p50_ms:.2f} ms, "
        f"p99 {start.encode_p99_ms:.2f} ms"
    )
    columns = [
        "entries",
        "phrasings",
        "build_lex_s",
        "build_sem_s",
        "build_kept_s",
        "p50_ms",
        "p99_ms",
        "lex_p50_ms",
        "lex_p99_ms",
        "encoder_ran",
    ]
    print(" ".join(f"{c:>{max(len(c), 8)}}" for c in columns))
    for r in run_bench(corpus, queries, sizes, resources):
        values = [
            r.entries,
            r.phrasings,
            f"{r.build_lexical_s:.2f}",
            f"{r.build_semantic_s:.2f}",
            f"{r.build_kept_s:.2f}",
            f"{r.p50_ms:.3f}",
            f"{r.p99_ms:.3f}",
            f"{r.lexical_p50_ms:.3f}",
            f"{r.lexical_p99_ms:.3f}",
            f"{r.semantic_share:.0%}",
        ]
        print(" ".join(f"{v:>{max(len(c), 8)}}" for c, v in zip(columns, values, strict=True)))
    print(
        f"queries per size: {len(queries)}, each once, cold (no cached encoding); build_kept_s: the "
        "whole build again with every vector kept from the first (as Redis lends them to a restart)"
    )
    return 0
