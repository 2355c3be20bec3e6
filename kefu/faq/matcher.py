"""The FAQ matcher: an immutable index over a corpus, and the answer/suggest/fallback decision."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from kefu.faq.analyzer import Analysis, Analyzer, Resources, english_words
from kefu.faq.calibration import FEATURES, Calibration
from kefu.faq.corpus import FAQ, Corpus
from kefu.faq.index import FeatureIndex, Floats
from kefu.faq.intents import detect_intent
from kefu.faq.normalize import Language, detect_language, normalize, to_traditional
from kefu.faq.semantic import DIMENSIONS, Encoder, Vectors

__all__ = [
    "Candidate",
    "Decision",
    "Explanation",
    "MatchResult",
    "Matcher",
    "MatcherConfig",
    "Suggestion",
]

_FAMILIES = ("w", "b", "c")


class MatcherConfig(BaseModel):
    """Tuning knobs. The similarity shape was chosen on the dev shops; the decision thresholds
    come from the calibration file unless set here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_query_chars: int = Field(default=600, ge=1)
    max_suggestions: int = Field(default=3, ge=0, le=10)
    # Use the sentence encoder (≈ 110 MiB, ≈ 3 ms per new question). Off: lexical signals only.
    semantic: bool = True
    # Phrasings per FAQ given to the encoder (the canonical question first): more cost build time
    # and memory for little gain once an FAQ has a few.
    semantic_phrasings: int = Field(default=4, ge=1)
    # Candidates scored by the calibrated model: the best few of each signal.
    candidates: int = Field(default=4, ge=1, le=20)
    # Tversky weights: what the FAQ says that the query lacks counts alpha; what the query says
    # beyond it counts beta, and less again in long messages (beyond `long_query` units of
    # weight), where context words are expected.
    alpha: float = Field(default=0.8, ge=0)
    beta: float = Field(default=0.4, ge=0)
    long_query: float = Field(default=3.0, gt=0)
    # lex = profile_weight × similarity to the FAQ's profile (all its phrasings pooled, each
    # feature weighted by the share of phrasings using it, to this power) + the rest × the
    # similarity of the single best phrasing.
    profile_weight: float = Field(default=0.4, ge=0, le=1)
    profile_power: float = Field(default=0.5, ge=0)
    # Thresholds on the calibrated probability; None takes the calibration file's.
    answer_confidence: float | None = Field(default=None, ge=0, le=1)
    suggest_confidence: float | None = Field(default=None, ge=0, le=1)


class Decision(StrEnum):
    ANSWER = "answer"
    SUGGEST = "suggest"
    FALLBACK = "fallback"
    TRANSFER = "transfer"
    GREETING = "greeting"


class Suggestion(BaseModel):
    faq_id: str
    question: str
    score: float


class Explanation(BaseModel):
    """Why the best FAQ scored what it did, for the admin's "try a question"."""

    tokens: list[str]
    matched: list[str]
    missing: list[str]
    extra: list[str]


class MatchResult(BaseModel):
    query: str
    decision: Decision
    faq_id: str | None = None
    # The canonical question of the answered FAQ (for the admin's "try a question").
    faq_question: str | None = None
    answer: str | None = None
    language: Language = "zh"
    # The calibrated probability that the first candidate answers the question.
    score: float = 0.0
    # … minus the runner-up's.
    margin: float = 0.0
    matched_phrasing: str | None = None
    suggestions: list[Suggestion] = Field(default_factory=list)
    explanation: Explanation | None = None
    # Whether the sentence encoder ran for this question.
    semantic: bool = False
    # The most likely FAQ whatever the decision (what `score` is the probability of).
    best_faq_id: str | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """One FAQ considered for a question: its features and calibrated probability."""

    faq: int
    phrasing: int
    features: dict[str, float]
    p: float


class Matcher:
    """Index of one corpus. Build with `from_corpus`; `match` is pure and safe to share."""

    def __init__(
        self,
        corpus: Corpus,
        config: MatcherConfig,
        analyzer: Analyzer,
        *,
        calibration: Calibration | None = None,
        encoder: Encoder | None = None,
        previous: Matcher | None = None,
    ) -> None:
        self.corpus = corpus
        self.config = config
        self.analyzer = analyzer
        self.calibration = calibration or Calibration.default()
        self.encoder = encoder if config.semantic else None
        cal = self.calibration
        self._answer_at = config.answer_confidence if config.answer_confidence is not None else cal.answer
        self._suggest_at = config.suggest_confidence if config.suggest_confidence is not None else cal.suggest
        self._build_lexical()
        self._build_semantic(previous)

    # ---- building ----

    def _build_lexical(self) -> None:
        corpus, config, analyzer = self.corpus, self.config, self.analyzer
        analyses = [[analyzer.analyze(p) for p in faq.phrasings] for faq in corpus.faqs]
        keywords = [analyzer.analyze(" ".join(faq.keywords)).features for faq in corpus.faqs]
        # Document frequency over FAQs (an FAQ counts once however many phrasings use a feature).
        df: dict[str, int] = {}
        for per_faq, extra in zip(analyses, keywords, strict=True):
            for feature in {f for a in per_faq for f in a.features} | set(extra):
                df[feature] = df.get(feature, 0) + 1
        n_faqs = max(len(corpus.faqs), 1)
        self._features = {f: i for i, f in enumerate(df)}
        self._feature_names = list(df)
        self._family = np.asarray([_FAMILIES.index(f[0]) for f in df], dtype=np.int64)
        # How specific a feature is to few FAQs of this shop, in (0, 1]; a feature no FAQ uses
        # counts fully (it is content the corpus does not cover).
        self._idf = np.asarray(
            [math.log(1 + n_faqs / df[f]) / math.log(1 + n_faqs) if n_faqs > 1 else 1.0 for f in df],
            dtype=np.float64,
        )
        per_family: list[list[dict[int, float]]] = [[], [], []]
        faq_of: list[int] = []
        self._texts: list[str] = []
        self._exact: dict[str, int] = {}
        for faq_index, (faq, per_faq) in enumerate(zip(corpus.faqs, analyses, strict=True)):
            for text, analysis in zip(faq.phrasings, per_faq, strict=True):
                self._exact.setdefault(analysis.normalized, len(faq_of))
                weighed = self._weigh(analysis.features)
                for family in range(3):
                    per_family[family].append({i: w for i, w in weighed.items() if self._family[i] == family})
                faq_of.append(faq_index)
                self._texts.append(text)
        n = len(self._feature_names)
        self._phrasings = [FeatureIndex(docs, n) for docs in per_family]
        self._faq_of = np.asarray(faq_of, dtype=np.int64)
        # An FAQ's profile pools its phrasings (and keywords): a feature counts by the share of
        # phrasings using it, so what the FAQ is about weighs more than one phrasing's wording.
        profiles = []
        for per_faq, extra in zip(analyses, keywords, strict=True):
            docs = [a.features for a in per_faq] + ([extra] if extra else [])
            pooled: dict[str, float] = {}
            for features in docs:
                for feature, weight in features.items():
                    pooled[feature] = pooled.get(feature, 0.0) + weight
            share = {f: (total / len(docs)) ** config.profile_power for f, total in pooled.items()}
            profiles.append(self._weigh(share))
        self._profiles = FeatureIndex(profiles, n)
        # The union of every phrasing's features, at their highest weight: what "covered" means.
        unions = []
        for per_faq, extra in zip(analyses, keywords, strict=True):
            union: dict[str, float] = dict(extra)
            for a in per_faq:
                for feature, weight in a.features.items():
                    union[feature] = max(union.get(feature, 0.0), weight)
            unions.append(self._weigh(union))
        self._unions = FeatureIndex(unions, n)
        # The answers, as a weak extra field: shoppers often ask in the answer's words.
        answers = [self.analyzer.analyze(faq.answer).features for faq in corpus.faqs]
        self._answers = FeatureIndex(
            [{self._features[f]: w for f, w in a.items() if f in self._features} for a in answers], n
        )

    def _build_semantic(self, previous: Matcher | None) -> None:
        """Embed the first few phrasings of every FAQ, reusing the previous index's vectors."""
        self._sem_rows = np.zeros((0, DIMENSIONS), dtype=np.float32)
        self._sem_answers = np.zeros((0, DIMENSIONS), dtype=np.float32)
        self._sem_texts: list[str] = []
        self._sem_faq_of = np.zeros(0, dtype=np.int64)
        if self.encoder is None or not self.corpus.faqs:
            return
        texts: list[str] = []
        faq_of: list[int] = []
        for index, faq in enumerate(self.corpus.faqs):
            for text in faq.phrasings[: self.config.semantic_phrasings]:
                texts.append(self._semantic_text(text))
                faq_of.append(index)
        for index, faq in enumerate(self.corpus.faqs):
            texts.append(self._semantic_text(faq.answer[:300]))
            faq_of.append(-1 - index)
        known = previous._sem_vectors() if previous is not None else {}
        rows = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        todo = [i for i, t in enumerate(texts) if t not in known]
        for i, t in enumerate(texts):
            if t in known:
                rows[i] = known[t]
        if todo:
            # Straight to the model: these are not questions, they must not crowd the cache.
            encoded = self.encoder.encode_uncached([texts[i] for i in todo])
            rows[todo] = encoded
        n_phrasings = len(texts) - len(self.corpus.faqs)
        self._sem_rows = rows[:n_phrasings]
        self._sem_answers = rows[n_phrasings:]
        self._sem_texts = texts
        self._sem_faq_of = np.asarray(faq_of[:n_phrasings], dtype=np.int64)

    def _sem_vectors(self) -> dict[str, Vectors]:
        if not len(self._sem_rows):
            return {}
        return dict(zip(self._sem_texts, np.concatenate([self._sem_rows, self._sem_answers]), strict=True))

    def _semantic_text(self, text: str) -> str:
        # Normalized and rewritten (traditional → simplified, Cantonese → Mandarin) so that the
        # encoder sees one variety of Chinese on both sides.
        return self.analyzer.lex.rewrite(normalize(text))

    def _weigh(self, features: dict[str, float]) -> dict[int, float]:
        return {self._features[f]: w * float(self._idf[self._features[f]]) for f, w in features.items()}

    @classmethod
    def from_corpus(
        cls,
        corpus: Corpus,
        config: MatcherConfig | None = None,
        *,
        resources: Resources | None = None,
        calibration: Calibration | None = None,
        previous: Matcher | None = None,
    ) -> Matcher:
        resources = resources or Resources.default()
        config = config or MatcherConfig()
        vocabulary: set[str] = set()
        for faq in corpus.faqs:
            for text in (*faq.phrasings, *faq.keywords):
                vocabulary.update(english_words(text))
                vocabulary.update(resources.chinese_words(text))
        encoder = resources.encoder() if config.semantic else None
        return cls(
            corpus,
            config,
            Analyzer(resources, vocabulary=vocabulary),
            calibration=calibration,
            encoder=encoder,
            previous=previous,
        )

    # ---- matching ----

    def match(self, text: str) -> MatchResult:
        text = text[: self.config.max_query_chars]
        language = detect_language(text)
        analysis = self.analyzer.analyze(text)
        exact = self._exact.get(analysis.normalized)
        # One of the shop's own phrasings answers its FAQ, whatever it looks like to the intents.
        intent = detect_intent(analysis) if exact is None else None
        if intent is not None:
            decision = Decision.TRANSFER if intent == "transfer" else Decision.GREETING
            return MatchResult(query=text, decision=decision, language=language)
        candidates, semantic = self.rank(text, analysis, exact)
        if not candidates:
            return MatchResult(query=text, decision=Decision.FALLBACK, language=language, semantic=semantic)
        top = candidates[0]
        runner_up = candidates[1].p if len(candidates) > 1 else 0.0
        threshold = self._answer_at if semantic or self.encoder is None else self.calibration.skip_semantic
        if self.encoder is None and self.config.answer_confidence is None:
            threshold = self.calibration.answer_lexical
        if exact is not None or top.p >= threshold:
            decision = Decision.ANSWER
        elif top.p >= self._suggest_at:
            decision = Decision.SUGGEST
        else:
            decision = Decision.FALLBACK
        faq = self.corpus.faqs[top.faq]
        start = 1 if decision == Decision.ANSWER else 0
        suggestions = [
            self._suggestion(c)
            for c in candidates[start : start + self.config.max_suggestions]
            if c.p >= self._suggest_at and decision != Decision.FALLBACK
        ]
        answered = decision == Decision.ANSWER
        return MatchResult(
            query=text,
            decision=decision,
            faq_id=faq.id if answered else None,
            faq_question=faq.question if answered else None,
            answer=self._answer(faq, language) if answered else None,
            language=language,
            score=round(top.p, 4),
            margin=round(top.p - runner_up, 4),
            matched_phrasing=self._texts[top.phrasing],
            suggestions=suggestions,
            explanation=self._explain(analysis, top.phrasing),
            semantic=semantic,
            best_faq_id=faq.id,
        )

    def candidates(self, text: str, k: int = 3) -> list[Suggestion]:
        """The k FAQs closest to `text`, with scores, whatever the decision would be (for the
        admin: which FAQ an unanswered question probably belongs to)."""
        text = text[: self.config.max_query_chars]
        ranked, _ = self.rank(text, self.analyzer.analyze(text), None)
        return [self._suggestion(c) for c in ranked[:k]]

    def exact(self, analysis: Analysis) -> int | None:
        """The phrasing the question equals once normalized, if any."""
        return self._exact.get(analysis.normalized)

    def observe(self, text: str) -> tuple[list[Candidate], list[Candidate]]:
        """Lexical-only and full candidates of a question, both computed (for fitting)."""
        text = text[: self.config.max_query_chars]
        analysis = self.analyzer.analyze(text)
        exact = self.exact(analysis)
        lexical = self._score(self._lexical(analysis), None, exact, "lexical")
        full, _ = self.rank(text, analysis, exact, always_semantic=True)
        return lexical, full

    def _suggestion(self, c: Candidate) -> Suggestion:
        faq = self.corpus.faqs[c.faq]
        return Suggestion(faq_id=faq.id, question=faq.question, score=round(c.p, 4))

    def rank(
        self, text: str, analysis: Analysis, exact: int | None, *, always_semantic: bool = False
    ) -> tuple[list[Candidate], bool]:
        """Candidate FAQs, most likely first, and whether the encoder was used.

        The lexical model decides first; the encoder runs only when that is not decisive.
        `exact`, a phrasing the query equals, puts its FAQ first.
        """
        n_faqs = len(self.corpus.faqs)
        if not n_faqs:
            return [], False
        lexical = self._lexical(analysis)
        cal = self.calibration
        candidates = self._score(lexical, None, exact, "lexical")
        decisive = bool(candidates) and candidates[0].p >= cal.skip_semantic
        if (
            self.encoder is None
            or (exact is not None and not always_semantic)
            or (decisive and not always_semantic)
        ):
            return candidates, False
        vector = self.encoder.encode_one(self._semantic_text(text))
        sem = np.full(n_faqs, -1.0, dtype=np.float64)
        np.maximum.at(sem, self._sem_faq_of, self._sem_rows @ vector)
        return self._score(lexical, (sem, self._sem_answers @ vector), exact, "full"), True

    def _lexical(self, analysis: Analysis) -> dict[str, Floats]:
        """Per FAQ: the lexical signals (see calibration.FEATURES) and the best phrasing."""
        cfg = self.config
        ids: list[int] = []
        weights: list[float] = []
        unknown = 0.0
        for feature, weight in analysis.features.items():
            index = self._features.get(feature)
            if index is None:
                unknown += weight
            else:
                ids.append(index)
                weights.append(weight * float(self._idf[index]))
        family_of = self._family[ids] if ids else np.zeros(0, dtype=np.int64)
        w = np.asarray(weights, dtype=np.float64)
        q_total = float(w.sum()) + unknown
        n_faqs = len(self.corpus.faqs)
        shrink = min(1.0, cfg.long_query / max(q_total, 1e-9))

        def tversky(m: Floats, d: Floats, q: float) -> Floats:
            denominator = m + cfg.alpha * (d - m) + cfg.beta * shrink * (q - m)
            return np.divide(m, denominator, out=np.zeros_like(m), where=denominator > 0)

        matched = []
        family_sims = []
        for family in range(3):
            mask = family_of == family
            f_ids = [i for i, keep in zip(ids, mask.tolist(), strict=True) if keep]
            index = self._phrasings[family]
            m = index.overlap(f_ids, w[mask].tolist())
            matched.append(m)
            q_family = float(w[mask].sum()) + (unknown if family == 0 else 0.0)
            family_sims.append(tversky(m, index.totals, q_family))
        m_all = matched[0] + matched[1] + matched[2]
        d_all = sum(index.totals for index in self._phrasings)
        phr_sim = tversky(m_all, d_all, q_total)
        profile = tversky(self._profiles.overlap(ids, weights), self._profiles.totals, q_total)
        best = np.zeros(n_faqs)
        np.maximum.at(best, self._faq_of, phr_sim)
        # The best phrasing per FAQ (by the combined similarity), for the per-family signals.
        order = np.lexsort((-phr_sim, self._faq_of))
        first = order[np.r_[True, self._faq_of[order][1:] != self._faq_of[order][:-1]]]
        best_phrasing = np.zeros(n_faqs, dtype=np.int64)
        best_phrasing[self._faq_of[first]] = first
        covered = self._unions.overlap(ids, weights)
        in_answer = self._answers.overlap(ids, weights)
        out = {
            "lex": (1 - cfg.profile_weight) * best + cfg.profile_weight * profile,
            "lex_words": family_sims[0][best_phrasing],
            "lex_bigrams": family_sims[1][best_phrasing],
            "lex_concepts": family_sims[2][best_phrasing],
            "coverage": covered / q_total if q_total > 0 else np.zeros(n_faqs),
            "doc_coverage": np.divide(
                m_all[best_phrasing],
                d_all[best_phrasing],
                out=np.zeros(n_faqs),
                where=d_all[best_phrasing] > 0,
            ),
            "answer_coverage": in_answer / q_total if q_total > 0 else np.zeros(n_faqs),
            "best_phrasing": best_phrasing.astype(np.float64),
        }
        out["unknown_share"] = np.full(n_faqs, unknown / q_total if q_total > 0 else 1.0)
        out["query_weight"] = np.full(n_faqs, math.log1p(q_total))
        return out

    def _score(
        self,
        lexical: dict[str, Floats],
        semantic: tuple[Floats, Floats] | None,
        exact: int | None,
        model: str,
    ) -> list[Candidate]:
        sem, sem_answer = semantic if semantic is not None else (None, None)
        n_faqs = len(self.corpus.faqs)
        k = min(n_faqs, self.config.candidates)
        lex = lexical["lex"]
        chosen = set(_top(lex, k))
        if sem is not None:
            chosen.update(_top(sem, k))
        if exact is not None:
            chosen.add(int(self._faq_of[exact]))
        lex_first, lex_second = _first_two(lex)
        sem_first, sem_second = _first_two(sem) if sem is not None else (-1, -1)
        rows: list[dict[str, float]] = []
        faqs = sorted(chosen)
        for i in faqs:
            row = {name: float(lexical[name][i]) for name in FEATURES if name in lexical}
            other = lex[lex_second] if i == lex_first else lex[lex_first]
            row["lex_margin"] = float(lex[i] - other) if n_faqs > 1 else float(lex[i])
            row["lex_first"] = float(i == lex_first)
            if sem is not None:
                other_sem = sem[sem_second] if i == sem_first else sem[sem_first]
                row["sem"] = float(sem[i])
                row["sem_margin"] = float(sem[i] - other_sem) if n_faqs > 1 else float(sem[i])
                row["sem_first"] = float(i == sem_first)
                row["agree"] = float(i == sem_first and i == lex_first)
                row["sem_answer"] = float(sem_answer[i]) if sem_answer is not None else 0.0
            else:
                row.update(sem=0.0, sem_margin=0.0, sem_first=0.0, agree=0.0, sem_answer=0.0)
            rows.append(row)
        x = np.asarray([[row[f] for f in FEATURES] for row in rows], dtype=np.float64)
        p = self.calibration.model("full" if model == "full" else "lexical").predict(x)
        candidates = [
            Candidate(i, int(lexical["best_phrasing"][i]), row, float(pi))
            for i, row, pi in zip(faqs, rows, p.tolist(), strict=True)
        ]
        candidates.sort(key=lambda c: -c.p)
        if exact is not None:
            first = int(self._faq_of[exact])
            candidates.sort(key=lambda c: c.faq != first)
            top = candidates[0]
            candidates[0] = Candidate(top.faq, exact, top.features, max(top.p, 1.0))
        return [c for c in candidates if c.features["lex"] > 0 or c.features.get("sem", 0) > 0]

    def _answer(self, faq: FAQ, language: Language) -> str:
        if language == "zh-hant" and "zh-hant" not in faq.answers:
            return to_traditional(faq.answer)
        return faq.answer_for(language)

    def _explain(self, analysis: Analysis, phrasing: int) -> Explanation:
        query = {f for f in analysis.features if not f.startswith("b:")}
        document = {
            self._feature_names[i] for family in (0, 2) for i in self._phrasings[family].row(phrasing)
        }
        return Explanation(
            tokens=[t.text + (f"→{'/'.join(t.concepts)}" if t.concepts else "") for t in analysis.tokens],
            matched=sorted(query & document),
            missing=sorted(document - query),
            extra=sorted(query - document),
        )


def _top(values: Floats, k: int) -> list[int]:
    if k >= len(values):
        return list(range(len(values)))
    top = np.argpartition(-values, k - 1)[:k]
    return [int(i) for i in top]


def _first_two(values: Floats) -> tuple[int, int]:
    if len(values) == 1:
        return 0, 0
    top = np.argpartition(-values, 1)[:2]
    a, b = int(top[0]), int(top[1])
    return (a, b) if values[a] >= values[b] else (b, a)
