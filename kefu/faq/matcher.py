"""The FAQ matcher: an immutable index over a corpus, and the answer/suggest/fallback decision."""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from kefu.faq.analyzer import Analysis, Analyzer, Resources, english_words
from kefu.faq.calibration import (
    FEATURES,
    LEXICAL_FEATURES,
    Calibration,
    Confidence,
    ModelName,
    level_threshold,
)
from kefu.faq.corpus import FAQ, Corpus
from kefu.faq.index import Floats
from kefu.faq.intents import detect_intent, dissatisfied, order_question
from kefu.faq.lexical import LexicalIndex, LexicalQuery, LexicalShape, QueryWords
from kefu.faq.normalize import Language, detect_language, normalize, to_traditional
from kefu.faq.semantic import Encoder, SemanticIndex, SemanticScores, StoredVectors

# The encoder reads this much of an answer: its opening says what it is about (longer costs
# build time and changed nothing on the dev shops).
_ANSWER_CHARS = 80
# …and every sentence of it, up to this many: shoppers often ask in the words of one sentence
# deep in an answer ("does the weight include the ice packs" → the net-weight entry's third
# sentence). Leave one shop out over 24 dev shops, the similarity to the closest sentence lifted
# the answers 66.4 → 71.2 % through the adapter (69.0 % with plain cosines).
_PASSAGES = 6
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;\n])|(?<=\.\s)")
# Shorter pieces ("是的。", "OK. ") say nothing on their own.
_PASSAGE_MIN_CHARS = 4
# A candidate scoped to another product than the one on the shopper's page: its odds fall
# e**3.5 ≈ 33-fold, so it answers only a near-certain match (one that names its product:
# 0.996 → 0.89) and otherwise is a suggestion at most (0.985 → 0.66).
_OUT_OF_SCOPE = 3.5
# A product title is read as far as this (they run long: brand, model, size, colour…).
_TITLE_CHARS = 40
# (id, title) of the product on the shopper's page.
Product = tuple[str, str]

# The features only the encoder gives (0 when it did not run).
_SEMANTIC_FEATURES = tuple(f for f in FEATURES if f not in LEXICAL_FEATURES)
# The scope of a page whose product no entry names (every such page gets the same results).
_OTHER_PRODUCT: Product = ("", "")

__all__ = [
    "Candidate",
    "Decision",
    "Explanation",
    "MatchResult",
    "Matcher",
    "MatcherConfig",
    "Suggestion",
]


class MatcherConfig(BaseModel):
    """Tuning knobs. The similarity shape was chosen on the dev shops; the decision thresholds
    come from the calibration file unless set here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_query_chars: int = Field(default=600, ge=1)
    max_suggestions: int = Field(default=3, ge=0, le=10)
    # Use the sentence encoder (≈ 110 MiB, ≈ 3 ms per new question). Off: lexical signals only.
    semantic: bool = True
    # Phrasings per FAQ given to the encoder (the canonical question first), besides its answer:
    # on the dev shops a second one changed nothing and doubled the build's encoding time.
    semantic_phrasings: int = Field(default=1, ge=1)
    # Candidates scored by the calibrated model: the best few of each signal. Eight rather than
    # four: the holdouts' recall@3 95.2 → 96.2 % (a right FAQ that neither signal puts in its
    # first four still often ranks in the model's first three), answers unchanged (one more wrong
    # answer on one dev shop, beauty), ≈ 0.1 ms.
    candidates: int = Field(default=8, ge=1, le=20)
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
    # Results kept by normalized question (a shop's questions repeat: 包邮吗, 包邮吗？, 包郵嗎
    # are one entry); ≈ 6 KiB each. 0: no cache (benchmarks of the matching itself).
    cache_size: int = Field(default=1024, ge=0)


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
    # The message says the last answer did not help ("不对", "not what I asked").
    dissatisfied: bool = False
    # The message asks about the shopper's own order ("发货了吗", "where is my parcel"): a
    # signed-in customer is answered from their orders (kefu/server/orders.py).
    order_question: bool = False


@dataclass(frozen=True, slots=True)
class Candidate:
    """One FAQ considered for a question: its features and calibrated probability."""

    faq: int
    phrasing: int
    features: dict[str, float]
    p: float


class Matcher:
    """Index of one corpus. Build with `from_corpus`; `match` is pure and safe to share.

    A question is analyzed once; the lexical index scores every FAQ and the "lexical" model
    turns the best few into probabilities. When that is decisive the answer stands; otherwise
    the sentence encoder scores every FAQ too and the "full" model decides over the best few of
    both signals.
    """

    def __init__(
        self,
        corpus: Corpus,
        config: MatcherConfig,
        analyzer: Analyzer,
        *,
        calibration: Calibration | None = None,
        encoder: Encoder | None = None,
        previous: Matcher | None = None,
        stored: StoredVectors | None = None,
    ) -> None:
        self.corpus = corpus
        self.config = config
        self.analyzer = analyzer
        self.calibration = cal = calibration or Calibration.default()
        self.encoder = encoder if config.semantic else None
        self._answer_at = config.answer_confidence if config.answer_confidence is not None else cal.answer
        self._suggest_at = config.suggest_confidence if config.suggest_confidence is not None else cal.suggest
        if self.encoder is None and config.answer_confidence is None:
            self._answer_at = cal.answer_lexical
        shape = LexicalShape(
            config.alpha, config.beta, config.long_query, config.profile_weight, config.profile_power
        )
        self.lexical = LexicalIndex(corpus, analyzer, shape)
        # A result depends on the normalized text and the language only (a matcher never changes:
        # a corpus edit builds a new one). Matching runs on several threads: one lock.
        self._results: OrderedDict[tuple[str, Language, Product | None], MatchResult] = OrderedDict()
        # The products some entry is scoped to: only on their pages does the product change a
        # result (and belong in the cache key).
        self._products = frozenset(p for f in corpus.faqs for p in f.products)
        self._results_lock = threading.Lock()
        self._hits = self._misses = 0
        # A question's normalized text and language by its raw text, as many as results are
        # kept: a repeated question is answered from the cache without normalizing it again.
        self._read = functools.lru_cache(maxsize=config.cache_size)(_read)
        self.semantic: SemanticIndex | None = None
        if self.encoder is not None:
            self.semantic = SemanticIndex(
                [
                    [self.semantic_text(p) for p in f.phrasings[: config.semantic_phrasings]]
                    for f in corpus.faqs
                ],
                [self.semantic_text(f.answer[:_ANSWER_CHARS]) for f in corpus.faqs],
                self.encoder,
                passages=[[self.semantic_text(p) for p in passages(f.answer)] for f in corpus.faqs],
                adapter=cal.adapter,
                previous=previous.semantic if previous is not None else None,
                stored=stored,
            )

    def at_confidence(self, level: Confidence) -> Matcher:
        """This matcher answering at a shop's chosen confidence (see `Confidence`): the same
        index, its own result cache. "balanced" is this matcher itself."""
        if level == "balanced":
            return self
        view = copy.copy(self)
        view._answer_at = level_threshold(level, self._answer_at)
        view._results = OrderedDict()
        view._results_lock = threading.Lock()
        view._hits = view._misses = 0
        return view

    def answers_from(self, semantic: bool) -> float:
        """The calibrated probability from which a question's first FAQ was answered: this
        matcher's level when the encoder ran (or is off); when the lexical model decided alone,
        never below its own certainty (`skip_semantic`) either."""
        if semantic or self.encoder is None:
            return self._answer_at
        return max(self.calibration.skip_semantic, self._answer_at)

    @property
    def suggest_threshold(self) -> float:
        """The calibrated probability below which an FAQ is not worth suggesting."""
        return self._suggest_at

    def semantic_text(self, text: str) -> str:
        """What the encoder reads: normalized and rewritten text (traditional → simplified,
        Cantonese → Mandarin), so that both sides are one variety of Chinese."""
        return self.analyzer.lex.rewrite(normalize(text))

    @classmethod
    def from_corpus(
        cls,
        corpus: Corpus,
        config: MatcherConfig | None = None,
        *,
        resources: Resources | None = None,
        calibration: Calibration | None = None,
        previous: Matcher | None = None,
        stored: StoredVectors | None = None,
    ) -> Matcher:
        """The corpus's matcher. `previous` (the last version's) and `stored` (vectors kept
        outside the process) spare the encoder the texts they already have."""
        resources = resources or Resources.default()
        config = config or MatcherConfig()
        vocabulary: set[str] = set()
        for faq in corpus.faqs:
            for text in (*faq.phrasings, *faq.keywords):
                vocabulary.update(english_words(text))
                vocabulary.update(resources.chinese_words(text))
        return cls(
            corpus,
            config,
            Analyzer(resources, vocabulary=vocabulary),
            calibration=calibration,
            encoder=resources.encoder() if config.semantic else None,
            previous=previous,
            stored=stored,
        )

    # ---- matching ----

    def match(self, text: str, product: Product | None = None) -> MatchResult:
        """The bot's decision for a shopper's question (the same object for a repeated one;
        callers do not modify it). `product`: (id, title) of the product on the shopper's
        page, if any — "这个怎么用" there asks about that product."""
        text = text[: self.config.max_query_chars]
        key = self._key(text, product)
        result = self._cached(key)
        if result is None:
            result = self._match(*key)
            with self._results_lock:
                self._misses += 1
                if self.config.cache_size:
                    self._results[key] = result
                    if len(self._results) > self.config.cache_size:
                        self._results.popitem(last=False)
        return result if result.query == text else result.model_copy(update={"query": text})

    def cached(self, text: str, product: Product | None = None) -> MatchResult | None:
        """The result for a question matched before (in any form that normalizes the same),
        without matching: a few microseconds, so a server may call it on its event loop."""
        text = text[: self.config.max_query_chars]
        result = self._cached(self._key(text, product))
        return result if result is None or result.query == text else result.model_copy(update={"query": text})

    def _key(self, text: str, product: Product | None) -> tuple[str, Language, Product | None]:
        """What a result depends on: the text, its language, and — when some entry is scoped
        to products — which product page it was asked on: one of those products (with the
        part of its title that is read), or any other product (one key for them all)."""
        return (*self._read(text), self.scope(product))

    def scope(self, product: Product | None) -> Product | None:
        """The part of `product` a result depends on (None: none of it)."""
        if product is None or not self._products:
            return None
        if product[0] in self._products:
            return product[0], product[1][:_TITLE_CHARS]
        return _OTHER_PRODUCT

    def _cached(self, key: tuple[str, Language, Product | None]) -> MatchResult | None:
        with self._results_lock:
            result = self._results.get(key)
            if result is not None:
                self._results.move_to_end(key)
                self._hits += 1
        return result

    def cache_info(self) -> tuple[int, int]:
        """Questions answered from the cache, and matched anew, since this matcher was built."""
        return self._hits, self._misses

    def _match(self, text: str, language: Language, product: Product | None = None) -> MatchResult:
        analysis = self.analyzer.analyze(text)
        result = self._decide(text, language, analysis, product)
        result.order_question = result.decision != Decision.TRANSFER and order_question(analysis)
        return result

    def _decide(
        self, text: str, language: Language, analysis: Analysis, product: Product | None = None
    ) -> MatchResult:
        exact = self.lexical.exact(analysis.normalized)
        # One of the shop's own phrasings answers its FAQ, whatever it looks like to the intents.
        intent = detect_intent(analysis) if exact is None else None
        complaint = exact is None and dissatisfied(analysis)
        if intent is not None:
            decision = Decision.TRANSFER if intent == "transfer" else Decision.GREETING
            return MatchResult(query=text, decision=decision, language=language, dissatisfied=complaint)
        candidates, semantic, ambiguous = self.rank(analysis, exact)
        if product is not None and exact is None:
            scoped = self._in_scope(candidates, product, text)
            sure = self.calibration.skip_semantic
            unsure = bool(candidates and scoped) and scoped[0].p < sure <= candidates[0].p
            could_encode = self.semantic is not None and self.encoder is not None
            if unsure and could_encode and not (semantic or ambiguous or self.wordless(analysis)):
                # The page took the lexical verdict's certainty away: the encoder has its say.
                candidates, semantic, ambiguous = self.rank(analysis, exact, always_semantic=True)
                scoped = self._in_scope(candidates, product, text)
            candidates = scoped
        if not candidates:
            return MatchResult(
                query=text,
                decision=Decision.FALLBACK,
                language=language,
                semantic=semantic,
                dissatisfied=complaint,
            )
        top = candidates[0]
        runner_up = candidates[1].p if len(candidates) > 1 else 0.0
        # Without the encoder's opinion, only a decisive lexical verdict answers.
        threshold = self.answers_from(semantic)
        if exact is not None or (top.p >= threshold and not ambiguous):
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
        matched, missing, extra = self.lexical.explain(analysis, top.phrasing)
        return MatchResult(
            query=text,
            decision=decision,
            faq_id=faq.id if answered else None,
            faq_question=faq.question if answered else None,
            answer=self._answer(faq, language) if answered else None,
            language=language,
            score=round(top.p, 4),
            margin=round(top.p - runner_up, 4),
            matched_phrasing=self.lexical.texts[top.phrasing],
            suggestions=suggestions,
            explanation=Explanation(
                tokens=[t.text + (f"→{'/'.join(t.concepts)}" if t.concepts else "") for t in analysis.tokens],
                matched=matched,
                missing=missing,
                extra=extra,
            ),
            semantic=semantic,
            best_faq_id=faq.id,
            dissatisfied=complaint,
        )

    def candidates(self, text: str, k: int = 3) -> list[Suggestion]:
        """The k FAQs closest to `text`, with scores, whatever the decision would be (for the
        admin: which FAQ an unanswered question probably belongs to)."""
        analysis = self.analyzer.analyze(text[: self.config.max_query_chars])
        ranked, _, _ = self.rank(analysis, None)
        return [self._suggestion(c) for c in ranked[:k]]

    def wordless(self, analysis: Analysis) -> bool:
        """Digits alone (an order or phone number), or letters that make no word — none the
        corpus uses, none of the general word lists', no lexicon concept, no Chinese
        ("asdfghjkl") — say nothing the encoder can read: its similarities to them are noise."""
        if not any(ch.isalpha() for ch in analysis.normalized):
            return True
        # Words as written: a stem ("allergen" of "allergens") is often on no word list.
        known = self.analyzer.stats.known
        return not (
            analysis.chinese()
            or any(t.concepts for t in analysis.tokens)
            or any(known(word) for word in english_words(analysis.normalized))
            or self.lexical.knows_any(analysis)
        )

    def encoder_text(self, analysis: Analysis) -> str:
        """What the encoder reads of a question (the same variety of Chinese as the corpus side)."""
        return self.analyzer.lex.rewrite(analysis.normalized)

    def observe(self, text: str) -> tuple[list[Candidate], list[Candidate]]:
        """Lexical-only and full candidates of a question, both computed (for fitting)."""
        analysis = self.analyzer.analyze(text[: self.config.max_query_chars])
        exact = self.lexical.exact(analysis.normalized)
        words = self.lexical.words(analysis)
        lexical = self.lexical.signals(analysis)
        only_lexical = self._score(lexical, None, exact, "lexical", words)
        full, _, _ = self.rank(analysis, exact, always_semantic=True)
        return only_lexical, full

    def _suggestion(self, c: Candidate) -> Suggestion:
        faq = self.corpus.faqs[c.faq]
        return Suggestion(faq_id=faq.id, question=faq.question, score=round(c.p, 4))

    def _in_scope(self, candidates: list[Candidate], product: Product, text: str) -> list[Candidate]:
        """On a product's page a question may leave the product unsaid ("这个怎么用"): the
        entries scoped to that product are read again against the question with the product's
        title before it, and win over shop-wide entries that match about as well; entries
        scoped to other products step back."""
        product_id, title = product

        def mine(c: Candidate) -> bool:
            return product_id in self.corpus.faqs[c.faq].products

        out = [c for c in candidates if not mine(c)]
        out = [
            dataclasses.replace(c, p=_lower_odds(c.p, _OUT_OF_SCOPE))
            if self.corpus.faqs[c.faq].products
            else c
            for c in out
        ]
        scoped = {c.faq: c for c in candidates if mine(c)}
        if title:
            # Read with the title, the question either is about the product (its entry comes
            # first among all) or is not (the shop-wide entries stay ahead).
            again, _, _ = self.rank(self.analyzer.analyze(f"{title[:_TITLE_CHARS]} {text}"), None)
            if again and mine(again[0]) and again[0].p >= self._suggest_at:
                top_other = max((c.p for c in out), default=0.0)
                scoped[again[0].faq] = dataclasses.replace(
                    again[0], p=max(again[0].p, min(1.0, top_other + 1e-6))
                )
        return sorted([*out, *scoped.values()], key=lambda c: -c.p)

    def rank(
        self, analysis: Analysis, exact: int | None, *, always_semantic: bool = False
    ) -> tuple[list[Candidate], bool, bool]:
        """Candidate FAQs, most likely first; whether the encoder was used; whether the question
        is a bare keyword several FAQs share (then it is never answered, only suggested).

        `exact`, a phrasing the question equals, puts its FAQ first.
        """
        if not self.corpus.faqs:
            return [], False, False
        lexical = self.lexical.signals(analysis)
        words = self.lexical.words(analysis)
        ambiguous = self.lexical.ambiguous(words)
        # The lexical half of each candidate's features, computed once for both passes.
        rows: dict[int, tuple[int, dict[str, float]]] = {}
        candidates = self._score(lexical, None, exact, "lexical", words, rows)
        sure = bool(candidates) and candidates[0].p >= self.calibration.skip_semantic
        decisive = exact is not None or sure or ambiguous
        wordless = self.wordless(analysis)
        if self.semantic is None or self.encoder is None or wordless or (decisive and not always_semantic):
            return candidates, False, ambiguous
        vector = self.encoder.encode_one(self.encoder_text(analysis))
        full = self._score(lexical, self.semantic.scores(vector), exact, "full", words, rows)
        return full, True, ambiguous

    def _score(
        self,
        lexical: LexicalQuery,
        semantic: SemanticScores | None,
        exact: int | None,
        model: ModelName,
        words: QueryWords,
        lexical_rows: dict[int, tuple[int, dict[str, float]]] | None = None,
    ) -> list[Candidate]:
        n_faqs = len(self.corpus.faqs)
        k = min(n_faqs, self.config.candidates)
        lex = lexical.lex
        chosen = set(_top(lex, k))
        if semantic is not None:
            chosen.update(_top(semantic.phrasing, k))
        exact_faq = int(self.lexical.faq_of[exact]) if exact is not None else None
        if exact_faq is not None:
            chosen.add(exact_faq)
        faqs = sorted(chosen)
        margins = (
            _Margins(lex),
            None if semantic is None else (_Margins(semantic.phrasing), _Margins(semantic.passage)),
        )
        phrasings, rows = zip(
            *(self._features(i, lexical, semantic, words, margins, lexical_rows) for i in faqs), strict=True
        )
        x = np.asarray([[row[f] for f in FEATURES] for row in rows], dtype=np.float64)
        p = self.calibration.model(model).predict(x)
        candidates = [
            Candidate(i, phrasing, row, float(pi))
            for i, phrasing, row, pi in zip(faqs, phrasings, rows, p.tolist(), strict=True)
        ]
        candidates.sort(key=lambda c: -c.p)
        if exact is not None:
            candidates.sort(key=lambda c: c.faq != exact_faq)
            top = candidates[0]
            candidates[0] = Candidate(top.faq, exact, top.features, 1.0)
        return [c for c in candidates if c.features["lex"] > 0 or c.features["sem"] > 0]

    def _features(
        self,
        i: int,
        lexical: LexicalQuery,
        semantic: SemanticScores | None,
        words: QueryWords,
        margins: tuple[_Margins, tuple[_Margins, _Margins] | None],
        rows: dict[int, tuple[int, dict[str, float]]] | None = None,
    ) -> tuple[int, dict[str, float]]:
        """FAQ `i`'s best phrasing and calibration features (see calibration.FEATURES); the
        lexical half is taken from `rows` when an earlier pass over the question computed it."""
        lex_margins, sem_margins = margins
        known = rows.get(i) if rows is not None else None
        if known is None:
            phrasing, lexical_row = self.lexical.candidate(i, lexical)
            lexical_row.update(self.lexical.word_signals(i, words))
            lexical_row["phrasings"] = math.log1p(len(self.corpus.faqs[i].phrasings))
            lexical_row["lex_margin"] = lex_margins.of(i)
            lexical_row["lex_first"] = float(lex_margins.first == i)
            if rows is not None:
                rows[i] = phrasing, lexical_row
        else:
            phrasing, lexical_row = known
        row = dict(lexical_row)
        if semantic is None or sem_margins is None:
            row.update(dict.fromkeys(_SEMANTIC_FEATURES, 0.0))
            return phrasing, row
        phrasing_margins, passage_margins = sem_margins
        row["sem"] = float(semantic.phrasing[i])
        row["sem_margin"] = phrasing_margins.of(i)
        row["sem_first"] = float(phrasing_margins.first == i)
        row["agree"] = float(row["sem_first"] and row["lex_first"])
        row["sem_answer"] = float(semantic.answer[i])
        row["sem_passage"] = float(semantic.passage[i])
        row["sem_passage_margin"] = passage_margins.of(i)
        return phrasing, row

    def _answer(self, faq: FAQ, language: Language) -> str:
        if language == "zh-hant" and "zh-hant" not in faq.answers:
            return to_traditional(faq.answer)
        return faq.answer_for(language)


def _read(text: str) -> tuple[str, Language]:
    return normalize(text), detect_language(text)


def _lower_odds(p: float, by: float) -> float:
    """p with its log-odds lowered by `by` (a certain 1.0, an exact phrasing, stays near 1)."""
    p = min(max(p, 1e-12), 1.0 - 1e-12)
    return 1.0 / (1.0 + math.exp(by - math.log(p / (1.0 - p))))


def passages(answer: str) -> list[str]:
    """An answer's sentences as the encoder reads them (the first `_PASSAGES`, each cut to
    `_ANSWER_CHARS`); the opening when no sentence is long enough."""
    pieces = [p.strip() for p in _SENTENCE_END.split(answer)]
    out = [p[:_ANSWER_CHARS] for p in pieces if len(p) >= _PASSAGE_MIN_CHARS][:_PASSAGES]
    return out or [answer[:_ANSWER_CHARS]]


def _top(values: Floats, k: int) -> list[int]:
    if k >= len(values):
        return list(range(len(values)))
    top = np.argpartition(-values, k - 1)[:k]
    return [int(i) for i in top]


class _Margins:
    """Each value minus the largest other one (the first's lead, or how far behind the first)."""

    def __init__(self, values: Floats) -> None:
        self.values = values
        if len(values) == 1:
            self.first, self.second = 0, -1
            return
        top = np.argpartition(-values, 1)[:2]
        a, b = int(top[0]), int(top[1])
        self.first, self.second = (a, b) if values[a] >= values[b] else (b, a)

    def of(self, i: int) -> float:
        if self.second < 0:
            return float(self.values[i])
        other = self.second if i == self.first else self.first
        return float(self.values[i] - self.values[other])
