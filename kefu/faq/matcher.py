"""The FAQ matcher: an immutable index over a corpus, and the answer/suggest/fallback decision."""

from __future__ import annotations

import math
from enum import StrEnum

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from kefu.faq.analyzer import Analysis, Analyzer, Resources, english_words
from kefu.faq.corpus import FAQ, Corpus
from kefu.faq.index import FeatureIndex, Query, Weights
from kefu.faq.intents import detect_intent
from kefu.faq.normalize import Language, detect_language, to_traditional

__all__ = ["Decision", "Explanation", "MatchResult", "Matcher", "MatcherConfig", "Suggestion"]


class MatcherConfig(BaseModel):
    """Tuning knobs. The defaults were chosen on the dev set and checked on a second shop's corpus."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_query_chars: int = Field(default=600, ge=1)
    # Answer only when the best FAQ scores at least this and beats the runner-up by the margin.
    answer_score: float = Field(default=0.5, ge=0, le=1)
    answer_margin: float = Field(default=0.05, ge=0, le=1)
    # Below this nothing is relevant enough to suggest.
    suggest_score: float = Field(default=0.2, ge=0, le=1)
    max_suggestions: int = Field(default=3, ge=0, le=10)
    # Tversky weights: what the FAQ says that the query lacks counts fully (alpha); what the query
    # says beyond it counts less — known words (which point at other FAQs) more than words the
    # corpus never uses — and less again in long messages, where context words are expected.
    alpha: float = Field(default=0.9, ge=0)
    beta_known: float = Field(default=0.4, ge=0)
    beta_unknown: float = Field(default=0.3, ge=0)
    long_query_features: float = Field(default=3.0, ge=1)
    # Score = profile_weight × similarity to the FAQ's profile (all its phrasings pooled, each
    # feature weighted by the share of phrasings that use it, to this power) + the rest × the
    # similarity of the single best phrasing.
    profile_weight: float = Field(default=0.4, ge=0, le=1)
    profile_power: float = Field(default=0.5, ge=0)


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
    score: float = 0.0
    margin: float = 0.0
    matched_phrasing: str | None = None
    suggestions: list[Suggestion] = Field(default_factory=list)
    explanation: Explanation | None = None


class Matcher:
    """Index of one corpus. Build with `from_corpus`; `match` is pure and safe to share."""

    def __init__(self, corpus: Corpus, config: MatcherConfig, analyzer: Analyzer) -> None:
        self.corpus = corpus
        self.config = config
        self.analyzer = analyzer
        self._weights = Weights(
            config.alpha, config.beta_known, config.beta_unknown, config.long_query_features
        )
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
        self._idf = np.asarray([math.log(1 + n_faqs / df[f]) for f in df], dtype=np.float64)
        # A word no phrasing uses is as specific as the rarest feature: real content the corpus
        # does not cover, which is what makes out-of-scope questions score low.
        self._idf_unknown = math.log(1 + n_faqs)
        phrasings: list[dict[int, float]] = []
        faq_of: list[int] = []
        self._texts: list[str] = []
        self._exact: dict[str, int] = {}
        for faq_index, (faq, per_faq) in enumerate(zip(corpus.faqs, analyses, strict=True)):
            for text, analysis in zip(faq.phrasings, per_faq, strict=True):
                self._exact.setdefault(analysis.normalized, len(phrasings))
                phrasings.append(self._weigh(analysis.features))
                faq_of.append(faq_index)
                self._texts.append(text)
        self._phrasings = FeatureIndex(phrasings, len(df))
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
        self._profiles = FeatureIndex(profiles, len(df))

    def _weigh(self, features: dict[str, float]) -> dict[int, float]:
        return {self._features[f]: w * float(self._idf[self._features[f]]) for f, w in features.items()}

    @classmethod
    def from_corpus(
        cls, corpus: Corpus, config: MatcherConfig | None = None, *, resources: Resources | None = None
    ) -> Matcher:
        resources = resources or Resources.default()
        vocabulary: set[str] = set()
        for faq in corpus.faqs:
            for text in (*faq.phrasings, *faq.keywords):
                vocabulary.update(english_words(text))
        keywords = [k for faq in corpus.faqs for k in faq.keywords]
        return cls(
            corpus, config or MatcherConfig(), Analyzer(resources, vocabulary=vocabulary, keywords=keywords)
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
        scored = self._score(analysis, exact)
        if scored is None:
            return MatchResult(query=text, decision=Decision.FALLBACK, language=language)
        ranked, scores, best_phrasing = scored
        top, top_score = ranked[0], scores[0]
        margin = top_score - (scores[1] if len(scores) > 1 else 0.0)
        cfg = self.config
        if exact is not None:
            # The shopper typed one of the shop's own phrasings: that is what the owner wrote it for.
            decision = Decision.ANSWER
        elif top_score >= cfg.answer_score and margin >= cfg.answer_margin:
            decision = Decision.ANSWER
        elif top_score >= cfg.suggest_score and self._on_topic(analysis, best_phrasing):
            decision = Decision.SUGGEST
        else:
            decision = Decision.FALLBACK
        faq = self.corpus.faqs[top]
        floor = max(cfg.suggest_score, top_score * 0.5)
        start = 1 if decision == Decision.ANSWER else 0
        suggestions = [
            Suggestion(
                faq_id=self.corpus.faqs[i].id, question=self.corpus.faqs[i].question, score=round(s, 4)
            )
            for i, s in list(zip(ranked, scores, strict=True))[start : start + cfg.max_suggestions]
            if s >= floor and decision != Decision.FALLBACK
        ]
        return MatchResult(
            query=text,
            decision=decision,
            faq_id=faq.id if decision == Decision.ANSWER else None,
            faq_question=faq.question if decision == Decision.ANSWER else None,
            answer=self._answer(faq, language) if decision == Decision.ANSWER else None,
            language=language,
            score=round(top_score, 4),
            margin=round(margin, 4),
            matched_phrasing=self._texts[best_phrasing],
            suggestions=suggestions,
            explanation=self._explain(analysis, best_phrasing),
        )

    def candidates(self, text: str, k: int = 3) -> list[Suggestion]:
        """The k FAQs closest to `text`, with scores, whatever the decision would be (for the
        admin: which FAQ an unanswered question probably belongs to)."""
        analysis = self.analyzer.analyze(text[: self.config.max_query_chars])
        scored = self._score(analysis, None)
        if scored is None:
            return []
        ranked, scores, _ = scored
        return [
            Suggestion(
                faq_id=self.corpus.faqs[i].id, question=self.corpus.faqs[i].question, score=round(s, 4)
            )
            for i, s in list(zip(ranked, scores, strict=True))[:k]
        ]

    def _query(self, analysis: Analysis) -> Query:
        ids: list[int] = []
        weights: list[float] = []
        unknown = 0.0
        for feature, weight in analysis.features.items():
            index = self._features.get(feature)
            if index is None:
                unknown += weight * self._idf_unknown
            else:
                ids.append(index)
                weights.append(weight * float(self._idf[index]))
        return Query(np.asarray(ids, dtype=np.int64), np.asarray(weights, dtype=np.float64), unknown)

    def _score(self, analysis: Analysis, exact: int | None) -> tuple[list[int], list[float], int] | None:
        """The best FAQs, best first, with their scores and the top FAQ's best phrasing.

        An FAQ's score blends its profile's similarity with its best phrasing's. `exact`, a
        phrasing the query equals, puts its FAQ first.
        """
        query = self._query(analysis)
        docs, sims = self._phrasings.similarity(query, self._weights)
        if docs.size == 0:
            # Nothing in common; a phrasing of only small talk ("你好呀") can still be the owner's.
            return None if exact is None else ([int(self._faq_of[exact])], [1.0], exact)
        cfg = self.config
        n_faqs = len(self.corpus.faqs)
        best = np.zeros(n_faqs, dtype=np.float64)
        np.maximum.at(best, self._faq_of[docs], sims)
        profile_faqs, profile_sims = self._profiles.similarity(query, self._weights)
        blended = (1 - cfg.profile_weight) * best
        blended[profile_faqs] += cfg.profile_weight * profile_sims
        k = min(n_faqs, cfg.max_suggestions + 2)
        top = np.argpartition(-blended, k - 1)[:k] if k < n_faqs else np.arange(n_faqs)
        ranked = [int(i) for i in top[np.argsort(-blended[top], kind="stable")] if blended[i] > 0]
        if exact is not None:
            first = int(self._faq_of[exact])
            ranked = [first] + [i for i in ranked if i != first]
            return ranked, [float(blended[i]) for i in ranked], exact
        if not ranked:
            return None
        of_top = self._faq_of[docs] == ranked[0]
        best_phrasing = int(docs[of_top][np.argmax(sims[of_top])])
        return ranked, [float(blended[i]) for i in ranked], best_phrasing

    def _on_topic(self, analysis: Analysis, phrasing: int) -> bool:
        """Whether the query shares a topical feature (not only a question word) with the phrasing."""
        document = self._phrasings.row(phrasing)
        return any(
            weight >= 0.7 and (index := self._features.get(feature)) is not None and index in document
            for feature, weight in analysis.features.items()
        )

    def _answer(self, faq: FAQ, language: Language) -> str:
        if language == "zh-hant" and "zh-hant" not in faq.answers:
            return to_traditional(faq.answer)
        return faq.answer_for(language)

    def _explain(self, analysis: Analysis, phrasing: int) -> Explanation:
        query = set(analysis.features)
        document = {self._feature_names[i] for i in self._phrasings.row(phrasing)}
        return Explanation(
            tokens=[t.text + (f"→{'/'.join(t.concepts)}" if t.concepts else "") for t in analysis.tokens],
            matched=sorted(query & document),
            missing=sorted(document - query),
            extra=sorted(query - document),
        )
