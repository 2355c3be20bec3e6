"""Matcher benchmark: latency at 1k/10k entries on cold questions, index build time, memory, and
what the semantic signal costs on its own."""

from __future__ import annotations

import gc
import random
import re
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from kefu.faq.analyzer import Resources
from kefu.faq.corpus import FAQ, Corpus
from kefu.faq.matcher import Matcher, MatcherConfig
from kefu.faq.semantic import StoredVectors

__all__ = ["BenchResult", "Startup", "expand_corpus", "max_rss_mib", "rss_mib", "run_bench", "startup"]

# Synthetic product names make every expanded phrasing unique, the way a real shop's FAQ names
# its products ("这款羊毛大衣怎么洗"). They are glued to the phrasing, so no two phrasings share
# a text chunk and nothing in the analysis can be reused between them.
_COLOURS = ["黑色", "白色", "红色", "藏青", "卡其", "米白", "灰色", "酒红"]
_MATERIALS = ["羊毛", "纯棉", "真丝", "亚麻", "牛仔", "针织", "皮质", "羽绒"]
_PRODUCTS = ["大衣", "卫衣", "衬衫", "长裙", "短裤", "背包", "围巾", "帽子", "床单", "台灯", "水杯", "靠枕"]


class Startup(BaseModel):
    """Loading the language resources once per process."""

    resources_s: float  # jieba, lexicon, word statistics
    encoder_s: float  # the sentence encoder's weights
    rss_mib: float  # resident memory once both are loaded
    encode_p50_ms: float  # one new question through the encoder alone
    encode_p99_ms: float


class BenchResult(BaseModel):
    entries: int
    phrasings: int
    build_lexical_s: float
    build_semantic_s: float
    # The whole build again, every encoder vector lent by a store (a restart, another instance).
    build_kept_s: float
    p50_ms: float
    p99_ms: float
    # The same questions with the encoder off: what the lexical side costs alone.
    lexical_p50_ms: float
    lexical_p99_ms: float
    # Share of questions that needed the encoder (the rest were decided lexically).
    semantic_share: float
    queries: int


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
                    "answer": f"{product}：{base.answer}",
                }
            )
        )
    return Corpus(shop=corpus.shop, faqs=tuple(faqs))


def _percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def startup(queries: Sequence[str]) -> tuple[Resources, Startup]:
    """Build the language resources from scratch (timed) and time the encoder alone."""
    started = time.perf_counter()
    resources = Resources()
    resources_s = time.perf_counter() - started
    started = time.perf_counter()
    encoder = resources.encoder()
    encoder_s = time.perf_counter() - started
    timings = []
    for query in queries:
        started = time.perf_counter()
        encoder.encode_uncached([query])
        timings.append(time.perf_counter() - started)
    return resources, Startup(
        resources_s=round(resources_s, 3),
        encoder_s=round(encoder_s, 3),
        rss_mib=round(rss_mib(), 1),
        encode_p50_ms=round(statistics.median(timings) * 1000, 3),
        encode_p99_ms=round(_percentile(timings, 0.99) * 1000, 3),
    )


def _time_matches(matcher: Matcher, queries: Sequence[str]) -> tuple[list[float], int]:
    """Each query once, cold: the encoder's question cache is emptied before every question."""
    encoder = matcher.encoder
    timings = []
    semantic = 0
    for query in queries:
        if encoder is not None:
            encoder.clear()
        started = time.perf_counter()
        result = matcher.match(query)
        timings.append(time.perf_counter() - started)
        semantic += result.semantic
    return timings, semantic


def run_bench(
    corpus: Corpus, queries: Sequence[str], sizes: Sequence[int], resources: Resources
) -> list[BenchResult]:
    """Per size: build the index (lexical and semantic parts timed apart), then time every query
    once with the encoder on and once with it off."""
    results = []
    for size in sizes:
        expanded = expand_corpus(corpus, size)
        gc.collect()
        started = time.perf_counter()
        lexical = Matcher.from_corpus(
            expanded, MatcherConfig(semantic=False, cache_size=0), resources=resources
        )
        build_lexical = time.perf_counter() - started
        kept = StoredVectors()
        started = time.perf_counter()
        full = Matcher.from_corpus(expanded, MatcherConfig(cache_size=0), resources=resources, stored=kept)
        build_semantic = time.perf_counter() - started - build_lexical
        gc.collect()
        started = time.perf_counter()
        Matcher.from_corpus(
            expanded, MatcherConfig(cache_size=0), resources=resources, stored=StoredVectors(kept.fresh)
        )
        build_kept = time.perf_counter() - started
        for query in queries[:20]:
            full.match(query)
            lexical.match(query)
        timings, semantic = _time_matches(full, queries)
        lexical_timings, _ = _time_matches(lexical, queries)
        results.append(
            BenchResult(
                entries=size,
                phrasings=sum(len(f.phrasings) for f in expanded.faqs),
                build_lexical_s=round(build_lexical, 3),
                build_semantic_s=round(max(build_semantic, 0.0), 3),
                build_kept_s=round(build_kept, 3),
                p50_ms=round(statistics.median(timings) * 1000, 3),
                p99_ms=round(_percentile(timings, 0.99) * 1000, 3),
                lexical_p50_ms=round(statistics.median(lexical_timings) * 1000, 3),
                lexical_p99_ms=round(_percentile(lexical_timings, 0.99) * 1000, 3),
                semantic_share=round(semantic / max(len(queries), 1), 3),
                queries=len(timings),
            )
        )
        del lexical, full
    return results


def rss_mib() -> float:
    """Resident memory of this process now."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:  # pragma: no cover - not Linux
        return max_rss_mib()
    match = re.search(r"VmRSS:\s+(\d+)", status)
    return int(match.group(1)) / 1024 if match else max_rss_mib()


def max_rss_mib() -> float:
    """Peak resident memory of this process so far."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10
