"""Text → weighted features: segmentation, lexicon concepts, typo repair, English stemming."""

from __future__ import annotations

import functools
import gzip
import itertools
import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

import jieba
from pypinyin import Style, lazy_pinyin, pinyin
from rapidfuzz import process
from rapidfuzz.distance import OSA

from kefu.faq.lexicon import Lexicon, stem_words
from kefu.faq.normalize import normalize

__all__ = ["Analysis", "Analyzer", "Resources", "Token", "english_words"]

_HAN = r"\u3400-\u9fff\uf900-\ufaff"
_CHUNK = re.compile(rf"[{_HAN}]+|[^\s{_HAN}]+")
_IS_HAN = re.compile(rf"[{_HAN}]")
# "三天", "48小时", "好几天", "一个星期": how long something has taken. "几天" alone asks how long,
# which the lexicon handles, so a bare 几/多少 is not a duration.
_ZH_DURATION = re.compile(
    r"(?<!第)(?:好几|十几|几十|[0-9]+|[一二两三四五六七八九十百半]+)\s*个?\s*(?:天|日|周|星期|礼拜|月|小时|钟头|分钟|工作日)"
)
_EN_DURATION = re.compile(
    r"\b(?:[0-9]+|a|one|two|three|four|five|six|seven|eight|nine|ten|few|several|couple of)"
    r"\s+(?:business\s+|working\s+)?(?:days?|weeks?|hours?|months?)\b"
)
_ROUND_THE_CLOCK = frozenset({"24小时", "二十四小时", "24hours", "24hour"})
# Memo tables (word → tokens, misspelling → repair) stop growing here; a shop's vocabulary is smaller.
_MEMO_LIMIT = 200_000
# Cheap pre-checks: most messages mention no duration at all.
_ZH_UNITS = re.compile(r"[天日周期拜月时钟分]")
_EN_UNITS = re.compile(r"day|week|hour|month")
# A run of five or more digits is an order or phone number: it says nothing about the question.
_LONG_NUMBER = re.compile(r"^[0-9]{5,}$")

Kind = Literal["concept", "word", "typo"]


@dataclass(frozen=True, slots=True)
class Token:
    """One unit of meaning: a lexicon term (with its concepts) or a plain word."""

    text: str
    concepts: tuple[str, ...] = ()
    kind: Kind = "word"

    @property
    def features(self) -> tuple[str, ...]:
        if self.concepts:
            return tuple(f"c:{c}" for c in self.concepts)
        return (f"w:{self.text}",)


@dataclass(frozen=True, slots=True)
class Analysis:
    normalized: str
    tokens: tuple[Token, ...]
    # feature → base weight (lexicon weight; typo-repaired tokens count a little less).
    features: dict[str, float] = field(default_factory=dict)

    @property
    def concepts(self) -> frozenset[str]:
        return frozenset(c for t in self.tokens for c in t.concepts)


def _fuzzy_syllable(syllable: str) -> str:
    """Fold what pinyin typists commonly confuse ("fuzzy pinyin"): zh/z, ch/c, sh/s and -ng/-n."""
    for retroflex in ("zh", "ch", "sh"):
        if syllable.startswith(retroflex):
            syllable = retroflex[0] + syllable[2:]
    if syllable.endswith("ng") and len(syllable) > 2:
        syllable = syllable[:-1]
    return syllable


@functools.lru_cache(maxsize=16384)
def _readings(text: str, fuzzy: bool) -> tuple[tuple[str, ...], ...]:
    """The readings of each character (曾 is both zeng and ceng), most common first, three at most."""
    fold = _fuzzy_syllable if fuzzy else str
    readings = pinyin(text, style=Style.NORMAL, heteronym=True)
    return tuple(tuple(dict.fromkeys(fold(r) for r in rs))[:3] for rs in readings)


def _keys(readings: Sequence[tuple[str, ...]]) -> list[str]:
    return [" ".join(combo) for combo in itertools.islice(itertools.product(*readings), 27)]


@functools.lru_cache(maxsize=65536)
def _term_reading(term: str) -> tuple[str, ...]:
    """A term's reading in context (还款 is huan kuan, not hai kuan)."""
    return tuple(lazy_pinyin(term, style=Style.NORMAL))


def _sound_index(terms: Iterable[str], *, fuzzy: bool) -> dict[str, str]:
    """Pinyin key → the one term that sounds like it (keys shared by different terms are dropped).

    A term is keyed by its reading in context; the shopper's characters are tried in all their
    readings, since a typo has no context to pick one.
    """
    fold = _fuzzy_syllable if fuzzy else str
    index: dict[str, str | None] = {}
    for term in terms:
        key = " ".join(fold(r) for r in _term_reading(term))
        index[key] = term if index.get(key, term) == term else None
    return {k: v for k, v in index.items() if v is not None}


def _english_words() -> frozenset[str]:
    """General English vocabulary, so that real words are never 'corrected' into shop words.

    pyspellchecker ships a word-frequency list; reading its resource directly takes ~0.1 s where
    building a SpellChecker takes ~0.8 s.
    """
    try:
        data = resources.files("spellchecker").joinpath("resources/en.json.gz").read_bytes()
        return frozenset(json.loads(gzip.decompress(data)))
    except (FileNotFoundError, ModuleNotFoundError, OSError, ValueError):  # pragma: no cover - layout change
        from spellchecker import SpellChecker

        return frozenset(SpellChecker().word_frequency.dictionary)


def english_words(text: str) -> list[str]:
    """The Latin-alphabet words of `text`, lowercased: what a corpus adds to the typo vocabulary."""
    return re.findall(r"[a-z]+", unicodedata.normalize("NFKC", text).lower())


class Resources:
    """Process-wide language resources: lexicon, jieba with the lexicon's terms, English words.

    Building one takes about a second (jieba's dictionary); share it between every shop's matcher.
    """

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        self.lexicon = lexicon or Lexicon.default()
        logging.getLogger("jieba").setLevel(logging.WARNING)
        self.jieba = jieba.Tokenizer()
        self.jieba.initialize()
        for term in self.lexicon.zh_terms:
            if len(term) > 1:
                # High enough that jieba keeps shop terms whole (退货|运费, not 退|货运费).
                self.jieba.add_word(term, freq=max(self.jieba.FREQ.get(term) or 0, 3000 * len(term)))
        self.english = _english_words()
        # Homophone repair aims at lexicon terms of two or three characters with real weight.
        self.sound_targets = [
            t
            for t, cs in self.lexicon.zh_terms.items()
            if 2 <= len(t) <= 3 and max(self.lexicon.weight(c) for c in cs) >= 0.8
        ]
        for term in self.sound_targets:
            _term_reading(term)

    @classmethod
    @functools.cache
    def default(cls) -> Resources:
        """The shared instance built from kefu's own lexicon (created on first use)."""
        return cls()


class Analyzer:
    """Turns text into tokens and weighted features. Immutable once built; safe to share.

    `vocabulary` holds words of the shop's own corpus: English typos are repaired towards them
    (and the lexicon), Chinese homophone typos towards lexicon terms and the corpus keywords.
    """

    def __init__(
        self, resources: Resources, *, vocabulary: Iterable[str] = (), keywords: Iterable[str] = ()
    ) -> None:
        self.res = resources
        self.lex = resources.lexicon
        self._weights = {name: c.weight for name, c in self.lex.concepts.items()}
        vocab = {w for w in vocabulary if w.isascii() and w.isalpha() and len(w) >= 3}
        self._en_targets = sorted(self.lex.en_vocab | vocab)
        self._en_known = frozenset(self._en_targets) | self.lex.en_stopwords
        self._spell_cache: dict[str, str] = {}
        self._words: dict[str, tuple[Token, ...]] = {}
        self._zh_known = set(self.lex.zh_terms)
        targets = list(resources.sound_targets)
        for kw in keywords:
            kw = normalize(kw).replace(" ", "")
            if 2 <= len(kw) <= 3 and _IS_HAN.fullmatch(kw[0]):
                targets.append(kw)
                self._zh_known.add(kw)
        # Exact homophones first (曾品 → 赠品); fuzzy ones (zh/z, -ng/-n) only where they are unique,
        # since 赠品 and 正品 fold to the same fuzzy sound.
        # Never guess a request for a human from a near-sound (征人 is not 真人): a false transfer
        # costs more than a missed typo.
        careful = {
            t for t in targets if set(self.lex.zh_terms.get(t, ())) & {"human", "staff", "to_human", "bot"}
        }
        self._homophones = (
            _sound_index(targets, fuzzy=False),
            _sound_index([t for t in targets if t not in careful], fuzzy=True),
        )

    # ---- public ----

    def analyze(self, text: str) -> Analysis:
        normalized = normalize(text)
        rewritten = self.lex.rewrite(normalized)
        tokens: list[Token] = []

        def duration(match: re.Match[str]) -> str:
            # "24小时" is round-the-clock service, not time that has passed.
            span = match.group(0).replace(" ", "")
            tokens.append(Token(span, ("hours",) if span in _ROUND_THE_CLOCK else ("duration",), "concept"))
            return " "

        if _ZH_UNITS.search(rewritten):
            rewritten = _ZH_DURATION.sub(duration, rewritten)
        if _EN_UNITS.search(rewritten):
            rewritten = _EN_DURATION.sub(duration, rewritten)
        english: list[str] = []
        for chunk in _CHUNK.findall(rewritten):
            if _IS_HAN.match(chunk):
                tokens.extend(self._english(english))
                english = []
                tokens.extend(self._chinese(chunk))
            else:
                english.append(chunk)
        tokens.extend(self._english(english))
        return Analysis(normalized, tuple(tokens), self._features(tokens))

    def _features(self, tokens: list[Token]) -> dict[str, float]:
        features: dict[str, float] = {}
        weights = self._weights
        for token in tokens:
            factor = 0.9 if token.kind == "typo" else 1.0
            if not token.concepts:
                feature = f"w:{token.text}"
                if features.get(feature, 0.0) < factor:
                    features[feature] = factor
                continue
            for concept in token.concepts:
                weight = weights.get(concept, 1.0) * factor
                feature = f"c:{concept}"
                if weight > 0 and features.get(feature, 0.0) < weight:
                    features[feature] = weight
        return features

    # ---- Chinese ----

    def _chinese(self, run: str) -> list[Token]:
        words = self.res.jieba.lcut(run, HMM=False)
        fixed, repaired = self._repair_homophones(words)
        if repaired:
            words = self.res.jieba.lcut(fixed, HMM=False)
        out: list[Token] = []
        for word in words:
            tokens = self._word(word)
            if word in repaired:
                tokens = tuple(Token(t.text, t.concepts, "typo") for t in tokens)
            out.extend(tokens)
        return out

    def _word(self, word: str) -> tuple[Token, ...]:
        """The tokens of one jieba word, memoized: shop text reuses a small vocabulary."""
        tokens = self._words.get(word)
        if tokens is None:
            concepts = self.lex.zh_terms.get(word)
            if concepts:
                tokens = (Token(word, concepts, "concept"),)
            elif not word.strip() or word in self.lex.zh_stopwords:
                tokens = ()
            else:
                tokens = tuple(self._decompose(word, "concept"))
            if len(self._words) < _MEMO_LIMIT:
                self._words[word] = tokens
        return tokens

    def _decompose(self, word: str, kind: Kind) -> list[Token]:
        """Split a word the lexicon does not know into lexicon terms, longest first.

        Single-character pieces count only when the whole word is made of lexicon terms: 发到 is
        发 + 到, but 发现 (to discover) is not 发 (to ship) + 现.
        """
        if len(word) == 1:
            return [Token(word)]
        pieces: list[tuple[str, bool]] = []
        i = 0
        while i < len(word):
            for size in range(min(len(word) - i, 6), 0, -1):
                piece = word[i : i + size]
                if piece in self.lex.zh_terms:
                    pieces.append((piece, True))
                    i += size
                    break
            else:
                if pieces and not pieces[-1][1]:
                    pieces[-1] = (pieces[-1][0] + word[i], False)
                else:
                    pieces.append((word[i], False))
                i += 1
        covered = all(known for _, known in pieces)
        if len(pieces) == 1 or not any(known and (covered or len(p) > 1) for p, known in pieces):
            return [] if word in self.lex.zh_stopwords else [Token(word)]
        out = []
        for piece, known in pieces:
            if known and (covered or len(piece) > 1):
                out.append(Token(piece, self.lex.zh_terms[piece], kind))
            elif piece not in self.lex.zh_stopwords:
                out.append(Token(piece))
        return out

    def _repair_homophones(self, words: list[str]) -> tuple[str, list[str]]:
        """Replace characters that sound like a lexicon term but are spelled otherwise (发或 → 发货).

        Pinyin typing errors keep the sound and usually one character. So a window is repaired
        only when jieba left each of its characters standing alone (a typo rarely forms a word,
        while 几岁 must not become 碎), none is a function word (家的 is not 假的), and it shares
        a character, in place, with the term (补钱 is not 不签).
        """
        run = "".join(words)
        if len(run) < 2:
            return run, []
        # Per word: 1 when jieba left a character alone, 0 for a word the lexicon does not know,
        # -1 for function words and lexicon terms (never part of a repair). A repair needs an
        # alone character next to another character that is not -1.
        stop = self.lex.zh_stopwords
        kinds = [
            -1 if w in stop or (len(w) > 1 and w in self._zh_known) else (1 if len(w) == 1 else 0)
            for w in words
        ]
        if not any(
            (a == 1 and b != -1) or (a != -1 and b == 1) for a, b in zip(kinds, kinds[1:], strict=False)
        ):
            return run, []
        state = [k for k, w in zip(kinds, words, strict=True) for _ in w]
        out: list[str] = []
        repaired: list[str] = []
        i = 0
        while i < len(run):
            for size in (3, 2):
                window = run[i : i + size]
                states = state[i : i + size]
                if len(window) < size or -1 in states or 1 not in states:
                    continue
                target = self._sounds_like(window)
                if target is not None:
                    out.append(target)
                    repaired.append(target)
                    i += size
                    break
            else:
                out.append(run[i])
                i += 1
        return "".join(out), repaired

    def _sounds_like(self, window: str) -> str | None:
        for fuzzy, index in enumerate(self._homophones):
            for key in _keys(_readings(window, bool(fuzzy))):
                term = index.get(key)
                if (
                    term is not None
                    and term != window
                    and any(a == b for a, b in zip(term, window, strict=True))
                ):
                    return term
        return None

    # ---- English ----

    def _spell(self, word: str) -> str:
        if len(word) < 5 or not word.isalpha() or word in self._en_known or word in self.res.english:
            return word
        cached = self._spell_cache.get(word)
        if cached is None:
            cutoff = 1 if len(word) < 8 else 2
            best = process.extractOne(word, self._en_targets, scorer=OSA.distance, score_cutoff=cutoff)
            cached = best[0] if best else word
            if len(self._spell_cache) < _MEMO_LIMIT:
                self._spell_cache[word] = cached
        return cached

    def _english(self, words: list[str]) -> list[Token]:
        if not words:
            return []
        fixed = [self._spell(w) for w in words]
        stems = stem_words(fixed)
        out: list[Token] = []
        i = 0
        while i < len(stems):
            for size in range(min(self.lex.en_max_len, len(stems) - i), 0, -1):
                concepts = self.lex.en_phrases.get(tuple(stems[i : i + size]))
                if concepts:
                    typo = any(fixed[j] != words[j] for j in range(i, i + size))
                    out.append(Token(" ".join(fixed[i : i + size]), concepts, "typo" if typo else "concept"))
                    i += size
                    break
            else:
                word, stem = fixed[i], stems[i]
                if word not in self.lex.en_stopwords and not _LONG_NUMBER.match(word):
                    out.append(Token(stem, (), "typo" if word != words[i] else "word"))
                i += 1
        return out
