"""FAQ engine: corpus model, normalization, analysis, matching, evaluation."""

from kefu.faq.analyzer import Analysis, Analyzer, Resources, Token
from kefu.faq.corpus import FAQ, Corpus, default_corpus, load_corpus, parse_corpus, parse_corpus_text
from kefu.faq.evaluate import Case, EvalReport, evaluate, load_cases
from kefu.faq.lexicon import Lexicon
from kefu.faq.matcher import Decision, Explanation, Matcher, MatcherConfig, MatchResult, Suggestion
from kefu.faq.normalize import detect_language, normalize

__all__ = [
    "FAQ",
    "Analysis",
    "Analyzer",
    "Case",
    "Corpus",
    "Decision",
    "EvalReport",
    "Explanation",
    "Lexicon",
    "MatchResult",
    "Matcher",
    "MatcherConfig",
    "Resources",
    "Suggestion",
    "Token",
    "default_corpus",
    "detect_language",
    "evaluate",
    "load_cases",
    "load_corpus",
    "normalize",
    "parse_corpus",
    "parse_corpus_text",
]
