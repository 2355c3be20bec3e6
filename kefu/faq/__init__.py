"""FAQ engine: corpus model, normalization, analysis, matching, evaluation."""

import os

# pypinyin loads a 50 MiB dictionary of multi-character readings at import unless told not to;
# homophone repair reads characters one at a time, so kefu does without it (set before the
# analyzer imports pypinyin; a value set by the user wins).
os.environ.setdefault("PYPINYIN_NO_PHRASES", "1")

# The environment must be set before these imports.
from kefu.faq.analyzer import Analysis, Analyzer, Resources, Token  # noqa: E402
from kefu.faq.calibration import Calibration  # noqa: E402
from kefu.faq.corpus import (  # noqa: E402
    FAQ,
    Corpus,
    default_corpus,
    load_corpus,
    parse_corpus,
    parse_corpus_text,
)
from kefu.faq.evaluate import Case, EvalReport, ShopSet, evaluate, load_cases, load_manifest  # noqa: E402
from kefu.faq.lexicon import Lexicon  # noqa: E402
from kefu.faq.matcher import (  # noqa: E402
    Decision,
    Explanation,
    Matcher,
    MatcherConfig,
    MatchResult,
    Suggestion,
)
from kefu.faq.normalize import detect_language, normalize  # noqa: E402
from kefu.faq.semantic import Adapter, Encoder  # noqa: E402
from kefu.faq.wordstats import WordStats  # noqa: E402

__all__ = [
    "FAQ",
    "Adapter",
    "Analysis",
    "Analyzer",
    "Calibration",
    "Case",
    "Corpus",
    "Decision",
    "Encoder",
    "EvalReport",
    "Explanation",
    "Lexicon",
    "MatchResult",
    "Matcher",
    "MatcherConfig",
    "Resources",
    "ShopSet",
    "Suggestion",
    "Token",
    "WordStats",
    "default_corpus",
    "detect_language",
    "evaluate",
    "load_cases",
    "load_manifest",
    "load_corpus",
    "normalize",
    "parse_corpus",
    "parse_corpus_text",
]
