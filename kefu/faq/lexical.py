"""The lexical side of matching: a corpus's phrasings and answers as weighted features, and the
per-FAQ signals of a question (similarity per feature family, coverage, margins' inputs)."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

import numpy as np

from kefu.faq.analyzer import Analysis, Analyzer
from kefu.faq.answertype import AnswerKind, asked_kinds, given_kinds
from kefu.faq.corpus import Corpus
from kefu.faq.index import FeatureIndex, Floats, Ints

__all__ = ["LexicalIndex", "LexicalQuery", "LexicalShape", "QueryWords"]

_FAMILIES = ("w", "b", "c")
# Kinds of question specific enough that asking another kind means another question.
_QTYPES = ("c:q_when", "c:q_howlong", "c:q_howmuch", "c:q_how", "c:q_where", "c:q_why")
# A long message's words beyond this many (most informative first) do not enter the checks.
_MAX_CHECKED_WORDS = 24
_HAN = re.compile(r"^[\u3400-\u9fff\uf900-\ufaff]+$")


@dataclass(frozen=True, slots=True)
class LexicalShape:
    """The similarity's shape (see MatcherConfig for what each means)."""

    alpha: float
    beta: float
    long_query: float
    profile_weight: float
    profile_power: float


@dataclass(slots=True)
class LexicalQuery:
    """A question scored against a corpus: per FAQ (`lex`, coverages) and per phrasing."""

    lex: Floats
    phrasing_sim: Floats
    matched: list[Floats]  # per feature family, per phrasing
    q_family: list[float]
    q_total: float
    unknown: float
    shrink: float
    coverage: Floats
    answer_coverage: Floats


@dataclass(frozen=True, slots=True)
class QueryWords:
    """A question's content words, most informative first: (weight, the feature ids that count
    as an FAQ saying it — the word, its concepts, its bigrams); the kinds of question it asks."""

    words: list[tuple[float, frozenset[int]]]
    qtypes: frozenset[int]
    asked: frozenset[AnswerKind]


class LexicalIndex:
    """Phrasings (per feature family), FAQ profiles, phrasing unions and answers of one corpus.

    Feature weights: the analyzer's general weight (how informative a word is anywhere) times
    how specific the feature is to few FAQs of this shop.
    """

    def __init__(self, corpus: Corpus, analyzer: Analyzer, shape: LexicalShape) -> None:
        self.shape = shape
        self.n_faqs = len(corpus.faqs)
        analyses = [[analyzer.analyze(p) for p in faq.phrasings] for faq in corpus.faqs]
        keywords = [analyzer.analyze(" ".join(faq.keywords)).features for faq in corpus.faqs]
        # The answers, as a weak extra field: shoppers often ask in the answer's words.
        answers = [analyzer.analyze(faq.answer).features for faq in corpus.faqs]
        self._vocabulary(analyses, keywords, answers)
        per_family: list[list[dict[int, float]]] = [[], [], []]
        faq_of: list[int] = []
        self.texts: list[str] = []
        self._exact: dict[str, int] = {}
        for faq_index, (faq, per_faq) in enumerate(zip(corpus.faqs, analyses, strict=True)):
            for text, analysis in zip(faq.phrasings, per_faq, strict=True):
                self._exact.setdefault(analysis.normalized, len(faq_of))
                weighed = self._weigh(analysis.features)
                for family in range(3):
                    per_family[family].append({i: w for i, w in weighed.items() if self._family[i] == family})
                faq_of.append(faq_index)
                self.texts.append(text)
        n = len(self._names)
        self._phrasings = [FeatureIndex(docs, n) for docs in per_family]
        self._phrasing_totals: Floats = np.sum([index.totals for index in self._phrasings], axis=0)
        self.faq_of: Ints = np.asarray(faq_of, dtype=np.int64)
        # Every FAQ's phrasings are contiguous: [start, end) per FAQ (an FAQ has at least one).
        counts = np.bincount(self.faq_of, minlength=self.n_faqs)
        self._ends: Ints = np.cumsum(counts)
        self._starts: Ints = self._ends - counts
        unions = [self._union(per_faq, extra) for per_faq, extra in zip(analyses, keywords, strict=True)]
        self._profiles = FeatureIndex(
            [self._profile(per_faq, extra) for per_faq, extra in zip(analyses, keywords, strict=True)], n
        )
        self._unions = FeatureIndex(unions, n)
        self._answers = FeatureIndex([self._weigh(a) for a in answers], n)
        # Everything an FAQ says (phrasings, keywords, answer), for the per-word coverage checks.
        self._said = [frozenset(u) | frozenset(self._weigh(a)) for u, a in zip(unions, answers, strict=True)]
        self._gives = [given_kinds(faq.answer) for faq in corpus.faqs]
        qtypes = {self._ids[q] for q in _QTYPES if q in self._ids}
        self._qtypes = [frozenset(u) & qtypes for u in unions]

    def _vocabulary(
        self,
        analyses: list[list[Analysis]],
        keywords: list[dict[str, float]],
        answers: list[dict[str, float]],
    ) -> None:
        # Document frequency over FAQs (an FAQ counts once however many phrasings use a feature).
        df: dict[str, int] = {}
        for per_faq, extra in zip(analyses, keywords, strict=True):
            for feature in {f for a in per_faq for f in a.features} | set(extra):
                df[feature] = df.get(feature, 0) + 1
        n = max(self.n_faqs, 1)
        # How specific a feature is to few FAQs of this shop, in (0, 1]. Words only answers use
        # (and words no FAQ uses at all) count fully: content the phrasings do not cover.
        idf = {f: math.log(1 + n / d) / math.log(1 + n) if n > 1 else 1.0 for f, d in df.items()}
        self._df = df
        for a in answers:
            for feature in a:
                idf.setdefault(feature, 1.0)
        self._ids = {f: i for i, f in enumerate(idf)}
        self._names = list(idf)
        self._family = np.asarray([_FAMILIES.index(f[0]) for f in idf], dtype=np.int64)
        self._idf = np.asarray(list(idf.values()), dtype=np.float64)

    def _weigh(self, features: dict[str, float]) -> dict[int, float]:
        return {self._ids[f]: w * float(self._idf[self._ids[f]]) for f, w in features.items()}

    def _profile(self, per_faq: list[Analysis], extra: dict[str, float]) -> dict[int, float]:
        """An FAQ's profile pools its phrasings (and keywords): a feature counts by the share of
        phrasings using it, so what the FAQ is about weighs more than one phrasing's wording."""
        docs = [a.features for a in per_faq] + ([extra] if extra else [])
        pooled: dict[str, float] = {}
        for features in docs:
            for feature, weight in features.items():
                pooled[feature] = pooled.get(feature, 0.0) + weight
        power = self.shape.profile_power
        return self._weigh({f: (total / len(docs)) ** power for f, total in pooled.items()})

    def _union(self, per_faq: list[Analysis], extra: dict[str, float]) -> dict[int, float]:
        """Every phrasing's features at their highest weight: what "covered" means."""
        union: dict[str, float] = dict(extra)
        for a in per_faq:
            for feature, weight in a.features.items():
                union[feature] = max(union.get(feature, 0.0), weight)
        return self._weigh(union)

    # ---- per question ----

    def exact(self, normalized: str) -> int | None:
        """The phrasing the question equals once normalized, if any."""
        return self._exact.get(normalized)

    def knows_any(self, analysis: Analysis) -> bool:
        """Whether any of the question's features occurs in the corpus."""
        return any(feature in self._ids for feature in analysis.features)

    def signals(self, analysis: Analysis) -> LexicalQuery:
        """The question against every FAQ: what ranking needs for all of them, and what the
        per-candidate signals (`candidate`) are computed from."""
        ids: list[int] = []
        weights: list[float] = []
        unknown = 0.0
        for feature, weight in analysis.features.items():
            index = self._ids.get(feature)
            if index is None:
                unknown += weight
            else:
                ids.append(index)
                weights.append(weight * float(self._idf[index]))
        family_of = self._family[ids] if ids else np.zeros(0, dtype=np.int64)
        w = np.asarray(weights, dtype=np.float64)
        q_total = float(w.sum()) + unknown
        shrink = min(1.0, self.shape.long_query / max(q_total, 1e-9))
        matched = []
        q_family = []
        for family, phrasings in enumerate(self._phrasings):
            mask = family_of == family
            f_ids = [i for i, keep in zip(ids, mask.tolist(), strict=True) if keep]
            matched.append(phrasings.overlap(f_ids, w[mask].tolist()))
            q_family.append(float(w[mask].sum()) + (unknown if family == 0 else 0.0))
        m_all = matched[0] + matched[1] + matched[2]
        query = LexicalQuery(
            lex=np.zeros(self.n_faqs),
            phrasing_sim=self._tversky(m_all, self._phrasing_totals, q_total, shrink),
            matched=matched,
            q_family=q_family,
            q_total=q_total,
            unknown=unknown,
            shrink=shrink,
            coverage=self._unions.overlap(ids, weights),
            answer_coverage=self._answers.overlap(ids, weights),
        )
        best = np.maximum.reduceat(query.phrasing_sim, self._starts) if self.n_faqs else query.lex
        profile = self._tversky(self._profiles.overlap(ids, weights), self._profiles.totals, q_total, shrink)
        query.lex = (1 - self.shape.profile_weight) * best + self.shape.profile_weight * profile
        return query

    def _tversky(self, m: Floats, d: Floats, q: float, shrink: float) -> Floats:
        """matched / (matched + α·what the document says beyond it + β·what the question says
        beyond it, less in long questions)."""
        denominator = m + self.shape.alpha * (d - m) + self.shape.beta * shrink * (q - m)
        return np.divide(m, denominator, out=np.zeros_like(m), where=denominator > 0)

    def candidate(self, faq: int, query: LexicalQuery) -> tuple[int, dict[str, float]]:
        """One FAQ's best phrasing and its lexical signals (see calibration.FEATURES)."""
        start, end = int(self._starts[faq]), int(self._ends[faq])
        phrasing = start + int(np.argmax(query.phrasing_sim[start:end]))
        alpha, beta = self.shape.alpha, self.shape.beta * query.shrink
        sims = []
        for family, phrasings in enumerate(self._phrasings):
            m = float(query.matched[family][phrasing])
            d = float(phrasings.totals[phrasing])
            denominator = m + alpha * (d - m) + beta * (query.q_family[family] - m)
            sims.append(m / denominator if denominator > 0 else 0.0)
        matched = sum(float(query.matched[f][phrasing]) for f in range(3))
        total = float(self._phrasing_totals[phrasing])
        share = 1 / query.q_total if query.q_total > 0 else 0.0
        return phrasing, {
            "lex": float(query.lex[faq]),
            "lex_words": sims[0],
            "lex_bigrams": sims[1],
            "lex_concepts": sims[2],
            "coverage": float(query.coverage[faq]) * share,
            "doc_coverage": matched / total if total > 0 else 0.0,
            "answer_coverage": float(query.answer_coverage[faq]) * share,
            "unknown_share": query.unknown * share if query.q_total > 0 else 1.0,
            "query_weight": math.log1p(query.q_total),
        }

    def words(self, analysis: Analysis) -> QueryWords:
        ids = self._ids
        words: list[tuple[float, frozenset[int]]] = []
        for token in analysis.tokens:
            if token.weight <= 0:
                continue
            names = [f"w:{stem}" for stem, _ in token.parts] or [f"w:{token.text}"]
            names += [f"c:{c}" for c in token.concepts]
            names += [f"b:{a}{b}" for a, b in itertools.pairwise(token.text) if _HAN.match(a + b)]
            known = frozenset(ids[n] for n in names if n in ids)
            first = ids.get(names[0])
            weight = token.weight * (float(self._idf[first]) if first is not None else 1.0)
            words.append((weight, known))
        words.sort(key=lambda w: -w[0])
        qtypes = frozenset(ids[q] for q in _QTYPES if q in analysis.features and q in ids)
        return QueryWords(words[:_MAX_CHECKED_WORDS], qtypes, asked_kinds(analysis.normalized))

    def ambiguous(self, query: QueryWords) -> bool:
        """A bare keyword several FAQs use ("快递", "退货"): which of them is meant is a guess."""
        if len(query.words) != 1:
            return False
        names = [self._names[i] for i in query.words[0][1]]
        return min((self._df.get(n, 0) for n in names if n[0] != "b"), default=0) > 1

    def word_signals(self, faq: int, query: QueryWords) -> dict[str, float]:
        """How much of the question one FAQ says anywhere, and whether it asks the same kind."""
        said = self._said[faq]
        total = sum(w for w, _ in query.words)
        missing = [w for w, ids in query.words if not ids & said]
        faq_qtypes = self._qtypes[faq]
        return {
            "said_coverage": 1 - sum(missing) / total if total > 0 else 0.0,
            "uncovered_max": max(missing, default=0.0),
            "qtype_match": float(bool(query.qtypes & faq_qtypes)),
            "qtype_conflict": float(bool(query.qtypes and faq_qtypes) and not query.qtypes & faq_qtypes),
            "answer_lacks": float(bool(query.asked - self._gives[faq])),
        }

    def explain(self, analysis: Analysis, phrasing: int) -> tuple[list[str], list[str], list[str]]:
        """(matched, missing, extra) word and concept features of one phrasing vs the question."""
        query = {f for f in analysis.features if not f.startswith("b:")}
        document = {self._names[i] for family in (0, 2) for i in self._phrasings[family].row(phrasing)}
        return sorted(query & document), sorted(document - query), sorted(query - document)
