"""The general e-commerce lexicon: concepts and their terms, rewrites and stopwords."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import snowballstemmer
import yaml

from kefu.errors import LexiconError
from kefu.faq.normalize import normalize

__all__ = ["MAX_YAML_DEPTH", "Concept", "Lexicon", "YamlAliasError", "stem_words", "yaml_loader"]

_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[a-z]")


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    # Snowball stemmers keep state while stemming, so each call gets its own (cached per word).
    return str(snowballstemmer.stemmer("english").stemWord(word))


def stem_words(words: list[str]) -> list[str]:
    """English light stemming (Snowball/Porter2: shipping → ship, refunds → refund)."""
    return [_stem(w) for w in words]


@dataclass(frozen=True, slots=True)
class Concept:
    name: str
    weight: float


@dataclass(frozen=True)
class Lexicon:
    """Immutable lookup tables built from `data/lexicon.yaml` (or any dict of the same shape)."""

    concepts: dict[str, Concept]
    # Chinese (or digit-only) term → the concepts it stands for.
    zh_terms: dict[str, tuple[str, ...]]
    # English phrase as a tuple of stems → concepts; single words are 1-tuples.
    en_phrases: dict[tuple[str, ...], tuple[str, ...]]
    en_max_len: int
    # Surface English words the lexicon knows (typo correction aims at these).
    en_vocab: frozenset[str]
    # Chinese rewrites, longest first; English ones (whole words only) as one pattern and table.
    zh_rewrites: tuple[tuple[str, str], ...]
    en_rewrite_re: re.Pattern[str] | None
    en_rewrites: dict[str, str]
    zh_stopwords: frozenset[str]
    en_stopwords: frozenset[str]

    @classmethod
    def default(cls) -> Lexicon:
        text = resources.files("kefu.faq").joinpath("data/lexicon.yaml").read_text(encoding="utf-8")
        return cls.from_dict(yaml.load(text, Loader=yaml_loader()))

    @classmethod
    def from_dict(cls, data: Any) -> Lexicon:
        if not isinstance(data, dict) or not isinstance(data.get("concepts"), dict):
            raise LexiconError("lexicon needs a 'concepts' mapping")
        concepts: dict[str, Concept] = {}
        zh_terms: dict[str, list[str]] = {}
        en_phrases: dict[tuple[str, ...], list[str]] = {}
        en_vocab: set[str] = set()
        for name, spec in data["concepts"].items():
            if not isinstance(spec, dict):
                raise LexiconError(f"concept {name!r} must be a mapping")
            concepts[name] = Concept(name, float(spec.get("weight", 1.0)))
            for raw in spec.get("zh", []) or []:
                term = normalize(str(raw)).replace(" ", "")
                if not term:
                    continue
                if _HAN.search(term) and re.search(r"[a-z0-9]", term):
                    # Mixed forms (s码) are split apart by the analyzer anyway.
                    continue
                if _HAN.search(term):
                    _add(zh_terms, term, name)
                else:
                    _add(en_phrases, tuple(stem_words(term.split())), name)
                    en_vocab.update(term.split())
            for raw in spec.get("en", []) or []:
                words = normalize(str(raw)).split()
                if words:
                    _add(en_phrases, tuple(stem_words(words)), name)
                    en_vocab.update(words)
        rewrites = sorted(
            (
                (normalize(str(k)).replace(" ", ""), normalize(str(v)))
                for k, v in (data.get("rewrite") or {}).items()
            ),
            key=lambda kv: -len(kv[0]),
        )
        # Traditional keys may fold to their own value once normalized (瞭解 → 了解): nothing to do.
        zh_rewrites = tuple((k, v.replace(" ", "")) for k, v in rewrites if k and not k.isascii() and k != v)
        en_rewrites = {k: v for k, v in rewrites if k and k.isascii()}
        for key, value in zh_rewrites:
            if any(other in value for other, _ in zh_rewrites):
                raise LexiconError(f"rewrite {key!r} → {value!r} produces another rewrite's key")
        en_rewrite_re = (
            re.compile(r"\b(?:" + "|".join(re.escape(k) for k in en_rewrites) + r")\b")
            if en_rewrites
            else None
        )
        stop = data.get("stopwords") or {}
        zh_stop = frozenset(normalize(str(w)).replace(" ", "") for w in stop.get("zh", []) or [])
        # English stopwords are compared after normalization ("i'm" → "i m"), so take each piece.
        en_stop = {piece for w in stop.get("en", []) or [] for piece in normalize(str(w)).split()}
        en_stop |= {"s", "m", "t", "d", "ll", "re", "ve"}
        return cls(
            concepts=concepts,
            zh_terms={k: tuple(dict.fromkeys(v)) for k, v in zh_terms.items()},
            en_phrases={k: tuple(dict.fromkeys(v)) for k, v in en_phrases.items()},
            en_max_len=max((len(k) for k in en_phrases), default=1),
            en_vocab=frozenset(en_vocab),
            zh_rewrites=zh_rewrites,
            en_rewrite_re=en_rewrite_re,
            en_rewrites=en_rewrites,
            zh_stopwords=zh_stop,
            en_stopwords=frozenset(stem_words(sorted(en_stop))) | frozenset(en_stop),
        )

    def weight(self, concept: str) -> float:
        c = self.concepts.get(concept)
        return c.weight if c else 1.0

    def rewrite(self, text: str) -> str:
        """Replace colloquial spellings (咋 → 怎么, 木有 → 没有, hw → how), longest first.

        Plain substring replacement is much faster than one big alternation, and it is safe
        because no replacement produces another key (checked when the lexicon loads).
        """
        for key, value in self.zh_rewrites:
            if key in text:
                text = text.replace(key, value)
        if self.en_rewrite_re is not None and _LATIN.search(text):
            table = self.en_rewrites
            text = self.en_rewrite_re.sub(lambda m: table[m.group(0)], text)
        return text


# Nesting deeper than this is refused while composing: kefu's files need a handful of levels, and
# PyYAML's composer recurses, three Python frames a level (libyaml's parser allows 1000 levels:
# a RecursionError, not a YAMLError, long before that).
MAX_YAML_DEPTH = 64

if TYPE_CHECKING:
    _FastestSafeLoader = yaml.SafeLoader
else:
    _CSafeLoader = getattr(yaml, "CSafeLoader", None)
    if _CSafeLoader is not None:
        # libyaml's parser when PyYAML was built with it (about five times faster than the pure one),
        # under PyYAML's own composer: libyaml composes in C, where no hook sees an alias event.
        class _FastestSafeLoader(yaml.composer.Composer, _CSafeLoader):
            def __init__(self, stream):
                _CSafeLoader.__init__(self, stream)
                yaml.composer.Composer.__init__(self)

    else:
        _FastestSafeLoader = yaml.SafeLoader


class YamlAliasError(yaml.composer.ComposerError):
    """An anchor (`&name`) or an alias (`*name`) in a YAML file: kefu refuses them."""


class _SafeLoader(_FastestSafeLoader):
    """PyYAML's safe loader, failing only with yaml.YAMLError. Its scalar constructors hand the
    text to int(), datetime() or a dict lookup and let what those raise through (`2020-02-30`,
    `!!bool maybe`, `!!int ''`, an integer of 5000 digits): here that becomes a ConstructorError
    that names the value and where it is.

    Anchors and aliases are refused at their parser event, before any node is shared: nested
    aliases let a few kilobytes stand for gigabytes once anything walks the data (a billion
    laughs), and no file kefu reads has a use for them."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        # Called only with a node or alias event next. (types-PyYAML leaves peek_event untyped.)
        event = self.peek_event()  # type: ignore[no-untyped-call]
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            found = f"alias *{anchor}" if isinstance(event, yaml.AliasEvent) else f"anchor &{anchor}"
            raise YamlAliasError(
                None,
                None,
                f"found {found}: YAML anchors and aliases are not allowed (write each value out)",
                event.start_mark,
            )
        if self._depth >= MAX_YAML_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {MAX_YAML_DEPTH} levels", event.start_mark
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # anything: the constructors are pure functions of the text
            value = node.value if isinstance(node, yaml.ScalarNode) else ""
            shown = repr(value if len(value) <= 40 else value[:40] + "…")
            why = f" ({str(exc)[:200]})" if isinstance(exc, ValueError) else ""
            kind = node.tag.rsplit(":", 1)[-1]
            raise yaml.constructor.ConstructorError(
                None, None, f"{shown} is not a valid {kind}{why}", node.start_mark
            ) from None


def yaml_loader() -> type[yaml.SafeLoader]:
    """The safe loader kefu reads every YAML file with: libyaml's parser when PyYAML has it, no
    anchors or aliases (a YamlAliasError), and any unreadable value a yaml.YAMLError with its
    line and column."""
    return _SafeLoader


def _add(table: dict[Any, list[str]], key: Any, concept: str) -> None:
    table.setdefault(key, []).append(concept)
