"""Matcher benchmark: latency at 1k/10k entries, index build time, peak memory."""

from __future__ import annotations

import gc
import random
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Sequence

from pydantic import BaseModel

from kefu.faq.analyzer import Resources
from kefu.faq.corpus import FAQ, Corpus
from kefu.faq.matcher import Matcher

__all__ = ["BenchResult", "expand_corpus", "run_bench"]

# Synthetic product names make every expanded phrasing unique, the way a real shop's FAQ names
# its products ("这款羊毛大衣怎么洗"). They are glued to the phrasing, so no two phrasings share
# a text chunk and nothing in the analysis can be reused between them.
_COLOURS = ["黑色", "白色", "红色", "藏青", "卡其", "米白", "灰色", "酒红"]
_MATERIALS = ["羊毛", "纯棉", "真丝", "亚麻", "牛仔", "针织", "皮质", "羽绒"]
_PRODUCTS = ["大衣", "卫衣", "衬衫", "长裙", "短裤", "背包", "围巾", "帽子", "床单", "台灯", "水杯", "靠枕"]


class BenchResult(BaseModel):
    entries: int
    # Language resources (jieba dictionary, lexicon, English word list), built once per process.
    resources_s: float
    phrasings: int
    build_s: float
    p50_ms: float
    p99_ms: float
    queries: int
    peak_mib: float


def expand_corpus(corpus: Corpus, entries: int, *, seed: int = 7) -> Corpus:
    """A corpus of `entries` FAQs made from `corpus` by naming a synthetic product in each copy."""
    rng = random.Random(seed)
    faqs: list[FAQ] = []
    for i in range(entries):
        base = corpus.faqs[i % len(corpus.faqs)]
        if i < len(corpus.faqs):
            faqs.append(base)
            continue
        product = f"{rng.choice(_COLOURS)}{rng.choice(_MATERIALS)}{rng.choice(_PRODUCTS)}{i}号"
        faqs.append(
            base.model_copy(
                update={
                    "id": f"{base.id}-{i}",
                    "question": f"{product}{base.question}",
                    "similar": tuple(f"{product}{p}" for p in base.similar),
                }
            )
        )
    return Corpus(shop=corpus.shop, faqs=tuple(faqs))


def _percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_bench(corpus: Corpus, queries: Sequence[str], sizes: Sequence[int]) -> list[BenchResult]:
    """Build an index per size (timed, memory traced) and time every query once after a warm-up.

    The language resources are built from scratch first and timed on their own: a cold start
    costs resources_s + build_s.
    """
    started = time.perf_counter()
    resources = Resources()
    resources_s = time.perf_counter() - started
    results = []
    for size in sizes:
        expanded = expand_corpus(corpus, size)
        gc.collect()
        started = time.perf_counter()
        matcher = Matcher.from_corpus(expanded, resources=resources)
        build = time.perf_counter() - started
        # Tracing allocations slows Python down several times: measure memory in a second build.
        del matcher
        gc.collect()
        tracemalloc.start()
        matcher = Matcher.from_corpus(expanded, resources=resources)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        for query in queries[:50]:
            matcher.match(query)
        timings = []
        for query in queries:
            started = time.perf_counter()
            matcher.match(query)
            timings.append(time.perf_counter() - started)
        results.append(
            BenchResult(
                entries=size,
                resources_s=round(resources_s, 3),
                phrasings=sum(len(f.phrasings) for f in expanded.faqs),
                build_s=round(build, 3),
                p50_ms=round(statistics.median(timings) * 1000, 3),
                p99_ms=round(_percentile(timings, 0.99) * 1000, 3),
                queries=len(timings),
                peak_mib=round(peak / 2**20, 1),
            )
        )
    return results


def max_rss_mib() -> float:
    """Peak resident memory of this process so far."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10
