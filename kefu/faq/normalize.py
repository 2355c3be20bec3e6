"""Surface normalization of shopper text: width, case, script, punctuation, emoji, repeats."""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Literal

import opencc

__all__ = ["Language", "detect_language", "normalize", "to_simplified", "to_traditional"]

Language = Literal["zh", "zh-hant", "en"]

# Letters and digits survive (str.isalnum, which is what \w means besides "_"); marks,
# punctuation, symbols (emoji), separators and control/format characters become spaces. Lone
# surrogates must go before OpenCC sees the text, and they are not alphanumeric either.
_NOT_ALNUM = re.compile(r"[\W_]+")
# A character repeated three or more times ("啊啊啊", "sooooo") says no more than two of it.
_REPEATS = re.compile(r"(\D)\1{2,}")
_LATIN = re.compile(r"[a-z]")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@functools.cache
def _converter(config: str) -> opencc.OpenCC:
    # Built on first use (a few ms), never at import; the converter is immutable and thread-safe.
    return opencc.OpenCC(config)


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese; other scripts pass through unchanged."""
    return str(_converter("t2s").convert(text))


def to_traditional(text: str) -> str:
    """Simplified → traditional Chinese (Taiwan standard with phrases), for answering in kind."""
    return str(_converter("s2twp").convert(text))


def normalize(text: str) -> str:
    """Return the canonical surface form used for matching.

    NFKC folds full-width forms (ＡＢＣ１２３, ？) and compatibility characters; casefold lowers
    Latin; OpenCC turns traditional into simplified characters; everything that is neither a
    letter nor a digit becomes a single space. The result is idempotent: normalizing it again
    changes nothing.
    """
    text = _NOT_ALNUM.sub(" ", unicodedata.normalize("NFKC", text).casefold())
    text = to_simplified(text)
    # casefold/OpenCC can produce characters that NFKC maps further (e.g. "ﬁ"), so fold once more.
    text = _NOT_ALNUM.sub(" ", unicodedata.normalize("NFKC", text)).casefold()
    text = _REPEATS.sub(r"\1\1", text)
    return " ".join(text.split())


def detect_language(text: str) -> Language:
    """Guess the shopper's language from raw text: English, traditional or simplified Chinese."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    han = _HAN.findall(folded)
    if not han:
        return "en" if _LATIN.search(folded) else "zh"
    if len(_LATIN.findall(folded)) > 3 * len(han) + 6:
        # A long English sentence that quotes a Chinese product name is still English.
        return "en"
    joined = "".join(han)
    return "zh-hant" if to_simplified(joined) != joined else "zh"
