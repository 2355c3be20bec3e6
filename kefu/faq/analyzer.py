"""Text → weighted features: segmentation, word weights, lexicon concepts, character bigrams,
typo repair, English stemming."""

from __future__ import annotations

import functools
import itertools
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources as package_data
from typing import Literal

import jieba
from pypinyin import Style, lazy_pinyin, pinyin
from rapidfuzz import process
from rapidfuzz.distance import OSA

from kefu.faq.lexicon import Lexicon, stem_words
from kefu.faq.normalize import normalize, to_simplified, to_traditional
from kefu.faq.semantic import Encoder
from kefu.faq.wordstats import WordStats

__all__ = ["Analysis", "Analyzer", "Resources", "Token", "english_words"]

_HAN = r"\u3400-\u9fff\uf900-\ufaff"
_CHUNK = re.compile(rf"[{_HAN}]+|[^\s{_HAN}]+")
_IS_HAN = re.compile(rf"[{_HAN}]")
_HAN_RUN = re.compile(rf"[{_HAN}]+")
# "三天", "48小时", "好几天", "一个星期": how long something has taken. "几天" alone asks how long,
# which the lexicon handles, so a bare 几/多少 is not a duration.
# A number is read from where its run begins, never again from inside it, and spaces are taken
# whole: a long run of digits with no unit after it costs its length, not its square (a
# 4,000-character answer of digits held the interpreter for half a second).
_ZH_DURATION = re.compile(
    r"(?<!第)(?:好几|十几|几十|(?<![0-9])[0-9]++|(?<![一二两三四五六七八九十百半])[一二两三四五六七八九十百半]++)"
    r"\s*+个?\s*+(?:天|日|周|星期|礼拜|月|小时|钟头|分钟|工作日)"
)
_EN_DURATION = re.compile(
    r"\b(?:[0-9]+|a|one|two|three|four|five|six|seven|eight|nine|ten|few|several|couple of)"
    r"\s+(?:business\s+|working\s+)?(?:days?|weeks?|hours?|months?)\b"
)
_ROUND_THE_CLOCK = frozenset({"24小时", "二十四小时", "24hours", "24hour"})
# Memo tables of a shop's analyzer (word → tokens, misspelling → repair) stop growing here: a
# shop's vocabulary is smaller, and shoppers' made-up words must not grow them (≈ 0.3 KiB each).
_MEMO_LIMIT = 20_000
# The process-wide memo of jieba's cuts: runs of at most _CUT_CHARS characters (a phrasing's or
# a question's; longer ones are rare and cut anew), at most _CUT_LIMIT of them (then it starts
# over), each kept as its words' lengths: ≈ 0.3 KiB a run, ≈ 15 MiB at most.
_CUT_CHARS = 64
_CUT_LIMIT = 50_000
# Cheap pre-checks: most messages mention no duration at all.
_ZH_UNITS = re.compile(r"[天日周期拜月时钟分]")
_EN_UNITS = re.compile(r"day|week|hour|month")
# Characters so common that a window holding one is never a typo (家的 is not 假的).
_PARTICLES = frozenset("的了吗呢吧啊呀是我你他她它在有不也都就和很这那")
# A guessed typo repair counts this much of what the shopper wrote.
_TYPO = 0.8
# Bigrams count less than words: they back up segmentation, they do not replace it.
_BIGRAM = 0.5
# A run of five or more digits is an order or phone number: it says nothing about the question.
_LONG_NUMBER = re.compile(r"^[0-9]{5,}$")

Kind = Literal["concept", "word", "typo"]


@dataclass(frozen=True, slots=True)
class Token:
    """One unit of meaning: a word (stemmed for English), with the lexicon concepts it stands
    for and how informative it is in general (`weight`, from word frequencies)."""

    text: str
    concepts: tuple[str, ...] = ()
    kind: Kind = "word"
    weight: float = 1.0
    # An English phrase's content words (stem, weight), each matched as a word of its own.
    parts: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Analysis:
    normalized: str
    tokens: tuple[Token, ...]
    # feature → base weight. Three families: "w:" words (weighted by how informative the word is
    # in general), "c:" lexicon concepts (weighted by the lexicon), "b:" Chinese character
    # bigrams (so an unknown or oddly segmented word still matches). Typo repairs count less.
    features: dict[str, float] = field(default_factory=dict)
    # The tokens with every typo repair in place of what was written (人公客服 → 人工客服): what
    # the intent detector reads. The same as `tokens` when nothing was repaired.
    intent_tokens: tuple[Token, ...] = ()
    # Where each clause starts in `intent_tokens`: each run of Chinese (as shoppers type them,
    # "有冇真人 我架車個問題好複雜") and each stretch of other words between them.
    clause_starts: tuple[int, ...] = ()

    @property
    def concepts(self) -> frozenset[str]:
        return frozenset(c for t in self.tokens for c in t.concepts)

    def chinese(self) -> bool:
        """Whether the text has a Chinese character."""
        return bool(_IS_HAN.search(self.normalized))

    def clauses(self) -> list[tuple[Token, ...]]:
        """The intent tokens of each clause (see `clause_starts`; a duration said first, "3天",
        belongs to none)."""
        if not self.clause_starts:
            return []
        ends = (*self.clause_starts[1:], len(self.intent_tokens))
        return [self.intent_tokens[a:b] for a, b in zip(self.clause_starts, ends, strict=True)]


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


def english_words(text: str) -> list[str]:
    """The Latin-alphabet words of `text`, lowercased: what a corpus adds to the typo vocabulary."""
    return re.findall(r"[a-z]+", unicodedata.normalize("NFKC", text).lower())


def _whole(tokenizer: jieba.Tokenizer, term: str, total: float) -> int:
    """The count that makes `term` outscore every split of it (jieba's suggest_freq, without its
    cut of the whole term on every call)."""
    best = 1.0
    for piece in tokenizer.cut(term, HMM=False):
        best *= (tokenizer.FREQ.get(piece) or 1) / total
    return int(best * total) + 1


def _dictionary() -> str | None:
    """jieba's word list: the one wordfreq segments Chinese with (its 39k common words, with
    their frequencies) rather than jieba's 350k, which costs 55 MiB more per process for no
    better matches — character bigrams cover the rare words. jieba's own if it is missing."""
    try:
        path = package_data.files("wordfreq").joinpath("data/jieba_zh.txt")
        if path.is_file():
            return str(path)
    except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover - wordfreq layout change
        pass
    return None  # pragma: no cover


class Resources:
    """Process-wide language resources: lexicon, jieba with the lexicon's terms, word statistics.

    Building one takes about a second (jieba's dictionary); share it between every shop's matcher.
    """

    def __init__(self, lexicon: Lexicon | None = None, wordstats: WordStats | None = None) -> None:
        self.lexicon = lexicon or Lexicon.default()
        self.words = wordstats or WordStats.default()
        logging.getLogger("jieba").setLevel(logging.WARNING)
        self.jieba = jieba.Tokenizer(_dictionary())
        self.jieba.initialize()
        # The dictionary's counts are corpus counts (的: 61 million): a lexicon term gets at least
        # what jieba computes it needs to stay whole (在吗, not 在|吗; 退货|运费, not 退|货运费).
        total = self.jieba.total
        for term in self.lexicon.zh_terms:
            if len(term) > 1:
                self.jieba.add_word(
                    term, freq=max(self.jieba.FREQ.get(term) or 0, _whole(self.jieba, term, total))
                )
        # Homophone repair aims at lexicon terms of two or three characters with real weight.
        self.sound_targets = [
            t
            for t, cs in self.lexicon.zh_terms.items()
            if 2 <= len(t) <= 3 and max(self.lexicon.weight(c) for c in cs) >= 0.8
        ]
        for term in self.sound_targets:
            _term_reading(term)
        # OpenCC reads its dictionaries on a converter's first use (≈ 90 ms on a busy event
        # loop, seen as a stall of every socket): both directions now, with the rest.
        to_simplified("")
        to_traditional("")
        self._encoder: Encoder | None = None
        self._encoder_lock = threading.Lock()
        self._cuts: dict[str, bytes] = {}

    def cut(self, run: str) -> list[str]:
        """jieba's words of a run of Chinese, memoized (a corpus is cut twice when it loads, and
        shoppers repeat themselves). Safe from several threads: a race only cuts twice."""
        words: list[str]
        lengths = self._cuts.get(run)
        if lengths is not None:
            words, start = [], 0
            for length in lengths:
                words.append(run[start : start + length])
                start += length
            return words
        words = self.jieba.lcut(run, HMM=False)
        if len(run) <= _CUT_CHARS and "".join(words) == run:
            if len(self._cuts) >= _CUT_LIMIT:
                self._cuts.clear()
            self._cuts[run] = bytes(len(w) for w in words)
        return words

    def encoder(self) -> Encoder:
        """The sentence encoder, loaded on first use (≈ 1 s, ≈ 110 MiB) and shared."""
        with self._encoder_lock:
            if self._encoder is None:
                self._encoder = Encoder()
            return self._encoder

    def chinese_words(self, text: str) -> list[str]:
        """The words of a text's Chinese runs, as the analyzer segments them (for vocabularies)."""
        normalized = self.lexicon.rewrite(normalize(text))
        return [w for run in _HAN_RUN.findall(normalized) for w in self.cut(run)]

    @classmethod
    @functools.cache
    def default(cls) -> Resources:
        """The shared instance built from kefu's own lexicon (created on first use)."""
        return cls()


class Analyzer:
    """Turns text into tokens and weighted features. Immutable once built; safe to share.

    `vocabulary` holds the words of the shop's own corpus: English typos are repaired towards
    them (and the lexicon), Chinese homophone typos towards lexicon terms and the corpus's own
    informative words.
    """

    def __init__(self, resources: Resources, *, vocabulary: Iterable[str] = ()) -> None:
        self.res = resources
        self.lex = resources.lexicon
        self.stats = resources.words
        self._weights = {name: c.weight for name, c in self.lex.concepts.items()}
        vocabulary = set(vocabulary)
        english = {w for w in vocabulary if w.isascii() and w.isalpha() and len(w) >= 3}
        self._en_targets = sorted(self.lex.en_vocab | english)
        self._en_known = frozenset(self._en_targets) | self.lex.en_stopwords
        self._spell_cache: dict[str, str] = {}
        self._words: dict[str, tuple[Token, ...]] = {}
        self._zh_known = set(self.lex.zh_terms)
        targets = list(resources.sound_targets)
        for word in vocabulary:
            # The shop's own content words (猫砂, 冻干) are typo targets too; common words are not
            # (they would pull real words towards themselves).
            if 2 <= len(word) <= 3 and _IS_HAN.fullmatch(word[0]) and self.stats.weight(word) >= 0.6:
                targets.append(word)
                self._zh_known.add(word)
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
            concept = "hours" if span in _ROUND_THE_CLOCK else "duration"
            tokens.append(Token(span, (concept,), "concept", 0.0))
            return " "

        if _ZH_UNITS.search(rewritten):
            rewritten = _ZH_DURATION.sub(duration, rewritten)
        if _EN_UNITS.search(rewritten):
            rewritten = _EN_DURATION.sub(duration, rewritten)
        english: list[str] = []
        runs: list[str] = []
        intent = list(tokens)
        clauses: list[int] = []
        for chunk in _CHUNK.findall(rewritten):
            if _IS_HAN.match(chunk):
                english_tokens = self._english(english)
                if english_tokens:
                    clauses.append(len(intent))
                tokens.extend(english_tokens)
                intent.extend(english_tokens)
                english = []
                chunk_runs, chunk_tokens, intent_tokens = self._chinese(chunk)
                runs.extend(chunk_runs)
                tokens.extend(chunk_tokens)
                clauses.append(len(intent))
                intent.extend(intent_tokens)
            else:
                english.append(chunk)
        english_tokens = self._english(english)
        if english_tokens:
            clauses.append(len(intent))
        tokens.extend(english_tokens)
        intent.extend(english_tokens)
        return Analysis(
            normalized, tuple(tokens), self._features(tokens, runs), tuple(intent), tuple(clauses)
        )

    def _features(self, tokens: list[Token], runs: list[str]) -> dict[str, float]:
        features: dict[str, float] = {}
        weights = self._weights

        def add(feature: str, weight: float) -> None:
            if weight > 0 and features.get(feature, 0.0) < weight:
                features[feature] = weight

        for token in tokens:
            factor = _TYPO if token.kind == "typo" else 1.0
            if token.parts:
                for stem, weight in token.parts:
                    add(f"w:{stem}", weight * factor)
            elif token.weight > 0:
                add(f"w:{token.text}", token.weight * factor)
            for concept in token.concepts:
                add(f"c:{concept}", weights.get(concept, 1.0) * factor)
        weigh = self.stats.weight
        for run in runs:
            for a, b in itertools.pairwise(run):
                # A bigram says about as much as its characters do (的发 little, 宅配 a lot).
                add(f"b:{a}{b}", _BIGRAM * (weigh(a) + weigh(b)) / 2)
        return features

    # ---- Chinese ----

    def _chinese(self, run: str) -> tuple[list[str], list[Token], list[Token]]:
        """The run's tokens, the runs its bigrams come from, and the tokens for intents.

        A typo repair adds the term it guesses (as a "typo" token, counting less) beside what
        the shopper wrote, never instead of it: a wrong guess then costs little, and a right one
        finds the shop's word. Intents read the repaired text alone.
        """
        words = self.res.cut(run)
        out = [t for word in words for t in self._word(word)]
        fixed, repaired = self._repair_homophones(words)
        if not repaired:
            return [run], out, out
        for term in repaired:
            out.extend(Token(t.text, t.concepts, "typo", t.weight, t.parts) for t in self._word(term))
        intent = [t for word in self.res.cut(fixed) for t in self._word(word)]
        return [run, *repaired], out, intent

    def _word_weight(self, word: str, concepts: tuple[str, ...]) -> float:
        """General informativeness; intent words (greetings, 转人工) say nothing about the topic."""
        if concepts and all(self._weights.get(c, 1.0) == 0 for c in concepts):
            return 0.0
        return self.stats.weight(word)

    def _word(self, word: str) -> tuple[Token, ...]:
        """The tokens of one jieba word, memoized: shop text reuses a small vocabulary."""
        tokens = self._words.get(word)
        if tokens is None:
            concepts = self.lex.zh_terms.get(word)
            if concepts:
                tokens = (Token(word, concepts, "concept", self._word_weight(word, concepts)),)
            elif not word.strip() or word in self.lex.zh_stopwords:
                tokens = ()
            else:
                tokens = tuple(self._decompose(word, "concept"))
            if len(self._words) < _MEMO_LIMIT:
                self._words[word] = tokens
        return tokens

    def _decompose(self, word: str, kind: Kind) -> list[Token]:
        """A word the lexicon does not know, with the concepts of the lexicon terms inside it.

        The word itself stays the token (怀孕 is 怀孕); concepts come from its pieces when the
        whole word is made of lexicon terms (发到 is 发 + 到), or from pieces of two or more
        characters (运费险 holds 运费) — never from one character of an unrelated word (发现,
        to discover, is not 发, to ship).
        """
        weight = self.stats.weight(word)
        if len(word) == 1:
            return [Token(word, (), "word", weight)]
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
                pieces.append((word[i], False))
                i += 1
        covered = all(known for _, known in pieces)
        concepts: list[str] = []
        for piece, known in pieces:
            if known and len(pieces) > 1 and (covered or len(piece) > 1):
                concepts.extend(self.lex.zh_terms[piece])
        return [Token(word, tuple(dict.fromkeys(concepts)), kind if concepts else "word", weight)]

    def _repair_homophones(self, words: list[str]) -> tuple[str, list[str]]:
        """Replace characters that sound like a known term but are spelled otherwise (发或 → 发货).

        Pinyin typing errors keep the sound and usually one character. So a window is repaired
        only when one of its characters stands alone (a typo rarely forms a word), none is one
        of the commonest particles (家的 is not 假的) or part of a word the shop or the lexicon
        uses (敏感 in 敏感皮, when the shop writes 敏感肌), and it shares a character, in place,
        with the term (补钱 is not 不签). Rarer function characters may take part (发或 → 发货,
        过明 → 过敏). The caller keeps what was written beside the guess.
        """
        run = "".join(words)
        if len(run) < 2:
            return run, []
        # Per word: 1 when jieba left a character alone, 0 for a word no list knows, -1 for
        # function words, real words and known terms (never part of a repair). A repair needs an
        # alone character next to another character that is not -1.
        stop = self.lex.zh_stopwords
        kinds = [
            -1
            if w in _PARTICLES or (len(w) > 1 and (w in self._zh_known or w in stop))
            else (0 if len(w) > 1 or w in stop else 1)
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
        if len(word) < 5 or not word.isalpha() or word in self._en_known or self.stats.known(word):
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
        stop = self.lex.en_stopwords
        out: list[Token] = []
        i = 0
        while i < len(stems):
            for size in range(min(self.lex.en_max_len, len(stems) - i), 0, -1):
                concepts = self.lex.en_phrases.get(tuple(stems[i : i + size]))
                if concepts:
                    typo = any(fixed[j] != words[j] for j in range(i, i + size))
                    kind: Kind = "typo" if typo else "concept"
                    # Each content word of the phrase is also a word of its own ("return
                    # label" is return + label), unless the phrase only expresses an intent.
                    parts: tuple[tuple[str, float], ...] = ()
                    if not all(self._weights.get(c, 1.0) == 0 for c in concepts):
                        parts = tuple(
                            (stems[j], self.stats.weight(fixed[j]))
                            for j in range(i, i + size)
                            if fixed[j] not in stop
                        )
                    out.append(
                        Token(
                            " ".join(fixed[i : i + size]),
                            concepts,
                            kind,
                            max((w for _, w in parts), default=0.0),
                            parts,
                        )
                    )
                    i += size
                    break
            else:
                word, stem = fixed[i], stems[i]
                if word not in stop and not _LONG_NUMBER.match(word):
                    kind = "typo" if word != words[i] else "word"
                    out.append(Token(stem, (), kind, self.stats.weight(word)))
                i += 1
        return out
