"""General word statistics: how informative a word is, from wordfreq's Chinese and English lists."""

from __future__ import annotations

import functools
import math

import wordfreq

from kefu.faq.normalize import to_simplified

__all__ = ["WordStats"]

# Zipf scale (log10 of occurrences per billion words): 的 7.8, 可以 6.3, 怀孕 4.7, 退货 3.3. The
# "small" lists stop at zipf 3; anything rarer (宅配, moisturizer, a product name) is as
# informative as a word gets.
_COMMON = 7.0
_RARE = 3.0
# Even the commonest word keeps a little weight, so a question made only of common words
# ("可以吗") still has something to match.
_FLOOR = 0.04


class WordStats:
    """Word → zipf frequency for Chinese (simplified) and English, and the weight derived from it.

    Uses wordfreq's "small" lists (≈ 39k Chinese and 29k English words, ≈ 9 MiB): a word not on
    them is rarer than one in a million, which is all the matcher needs to know.
    """

    def __init__(self) -> None:
        zipf: dict[str, float] = {}
        for lang in ("zh", "en"):
            for word, freq in wordfreq.get_frequency_dict(lang, wordlist="small").items():
                # wordfreq folds Chinese to simplified already; the text is normalized the same way.
                key = to_simplified(word) if lang == "zh" else word
                value = round(math.log10(freq) + 9, 2)
                if value > zipf.get(key, 0.0):
                    zipf[key] = value
        self._zipf = zipf

    @classmethod
    @functools.cache
    def default(cls) -> WordStats:
        return cls()

    def zipf(self, word: str) -> float:
        """wordfreq's zipf frequency, 0 for words rarer than the lists reach."""
        return self._zipf.get(word, 0.0)

    def known(self, word: str) -> bool:
        """Whether the word is a common word of Chinese or English (zipf ≥ 3)."""
        return word in self._zipf

    def weight(self, word: str) -> float:
        """How much a word says, in (0, 1]: ~0 for 的/the, ~0.2 for 可以/how, 1 for rare words."""
        z = self._zipf.get(word)
        if z is None:
            return 1.0
        return max(_FLOOR, min(1.0, (_COMMON - z) / (_COMMON - _RARE)))
