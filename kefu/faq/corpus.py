"""The FAQ corpus: pydantic models, YAML/JSON loading and validation with readable errors."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from kefu.errors import CorpusError
from kefu.faq.lexicon import YamlAliasError, yaml_loader
from kefu.faq.normalize import normalize
from kefu.ids import ExternalId, FaqId, ShopId

__all__ = [
    "FAQ",
    "MAX_ANSWER_CHARS",
    "MAX_FAQS",
    "MAX_KEYWORDS",
    "MAX_LANGUAGES",
    "MAX_PHRASINGS",
    "MAX_PHRASING_CHARS",
    "MAX_TEXT_CHARS",
    "Corpus",
    "default_corpus",
    "load_corpus",
    "parse_corpus",
    "parse_corpus_text",
]

# The limits of a corpus, whichever way it arrives (an upload, `kefu faq import`, the edit form,
# "add as phrasing"): they bound what the matcher indexes, Redis stores and every instance
# reloads. docs/api.md and docs/deployment.md quote them.
MAX_FAQS = 2000  # entries in a corpus
MAX_PHRASINGS = 50  # phrasings of one entry: its question and the similar ones
MAX_KEYWORDS = 20  # keywords of one entry
MAX_PRODUCTS = 50  # product ids one entry is scoped to
MAX_LANGUAGES = 10  # answers of one entry in other languages (`answers`)
MAX_PHRASING_CHARS = 2000  # characters of one phrasing
MAX_ANSWER_CHARS = 4000  # characters of one answer, in any language
MAX_TEXT_CHARS = 2_000_000  # characters of all the corpus's text together (see _text_size)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_PHRASING_CHARS)]
Answer = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ANSWER_CHARS)]
LangCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$", to_lower=True)]


class FAQ(BaseModel):
    """One question the bot can answer, with every phrasing that should reach it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: FaqId
    category: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = ""
    question: Text
    similar: tuple[Text, ...] = Field(default=(), max_length=MAX_PHRASINGS - 1)
    answer: Answer
    answers: dict[LangCode, Answer] = Field(default_factory=dict, max_length=MAX_LANGUAGES)
    keywords: tuple[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)], ...
    ] = Field(default=(), max_length=MAX_KEYWORDS)
    # The shop's product ids this entry is about ("how to descale *this* kettle"): preferred
    # while the shopper is on one of their pages, held back on another product's page.
    products: tuple[ExternalId, ...] = Field(default=(), max_length=MAX_PRODUCTS)

    @property
    def phrasings(self) -> tuple[str, ...]:
        """The canonical question first, then the other phrasings."""
        return (self.question, *self.similar)

    def answer_for(self, language: str) -> str:
        """The answer in `language` ("en", "zh-hant"…) when the corpus has one, else the default."""
        if language in self.answers:
            return self.answers[language]
        base = language.split("-")[0]
        return self.answers.get(base, self.answer)


class Corpus(BaseModel):
    """A shop's FAQ corpus. Phrasings are unique across the corpus once normalized."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shop: ShopId
    faqs: tuple[FAQ, ...] = Field(max_length=MAX_FAQS)

    @model_validator(mode="after")
    def _valid(self) -> Corpus:
        # The budget first: the uniqueness check below normalizes every phrasing.
        size = sum(_text_size(faq) for faq in self.faqs)
        if size > MAX_TEXT_CHARS:
            raise ValueError(
                f"the corpus has {size:,} characters of text, more than the {MAX_TEXT_CHARS:,} "
                "allowed (phrasings, answers, keywords and categories together)"
            )
        seen_ids: set[str] = set()
        owner: dict[str, str] = {}
        problems: list[str] = []
        for index, faq in enumerate(self.faqs):
            if faq.id in seen_ids:
                problems.append(f"faqs[{index}] ({faq.id}): duplicate id {faq.id!r}")
            seen_ids.add(faq.id)
            for phrasing in faq.phrasings:
                key = normalize(phrasing)
                if not key:
                    problems.append(
                        f"faqs[{index}] ({faq.id}): phrasing {phrasing!r} has no letters or digits"
                    )
                    continue
                first = owner.setdefault(key, faq.id)
                if first != faq.id:
                    problems.append(
                        f"faqs[{index}] ({faq.id}): phrasing {phrasing!r} is already a phrasing of {first!r}"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def get(self, faq_id: str) -> FAQ | None:
        return next((faq for faq in self.faqs if faq.id == faq_id), None)

    def __iter__(self) -> Iterator[FAQ]:  # type: ignore[override]
        return iter(self.faqs)

    def __len__(self) -> int:
        return len(self.faqs)

    def to_yaml(self) -> str:
        """Dump in the same format `load_corpus` reads, omitting empty optional fields."""
        data = self.model_dump(mode="json", exclude_defaults=True)
        data["faqs"] = [
            {k: list(v) if isinstance(v, tuple) else v for k, v in faq.items()} for faq in data["faqs"]
        ]
        return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120)


def _text_size(faq: FAQ) -> int:
    """The characters of an entry's text that count against MAX_TEXT_CHARS."""
    texts = (faq.category, *faq.phrasings, faq.answer, *faq.answers.values(), *faq.keywords)
    return sum(len(text) for text in texts)


# What the counted fields count, for the line saying there are too many.
_COUNTED = {
    "faqs": "FAQ entries",
    "similar": f"similar phrasings ({MAX_PHRASINGS} phrasings with the question)",
    "answers": "answers in other languages",
    "keywords": "keywords",
}


def _describe(exc: ValidationError, raw: Any) -> list[str]:
    """Turn pydantic's error list into lines naming the entry (by id) and the field."""
    lines = []
    faqs = raw.get("faqs") if isinstance(raw, dict) else None
    for err in exc.errors():
        loc = list(err["loc"])
        where = ".".join(str(part) for part in loc) or "corpus"
        if len(loc) >= 2 and loc[0] == "faqs" and isinstance(loc[1], int) and isinstance(faqs, list):
            entry = faqs[loc[1]] if loc[1] < len(faqs) else None
            faq_id = entry.get("id") if isinstance(entry, dict) else None
            field = ".".join(str(part) for part in loc[2:]) or "entry"
            where = f"faqs[{loc[1]}] ({faq_id or 'no id'}): {field}"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        elif err["type"] == "too_long" and loc and loc[-1] in _COUNTED:
            ctx = err.get("ctx") or {}
            message = f"at most {ctx.get('max_length')} {_COUNTED[str(loc[-1])]}"
            if ctx.get("actual_length") is not None:
                message += f", not {ctx['actual_length']}"
        if not loc and err["type"] == "value_error":
            # Cross-entry checks (_valid) already name the entry on each of their lines.
            lines.extend(message.split("; "))
            continue
        lines.append(f"{where}: {message}")
    return lines


def parse_corpus(raw: Any, *, source: str = "corpus") -> Corpus:
    """Validate already-parsed YAML/JSON data; raise `CorpusError` with one line per problem."""
    try:
        return Corpus.model_validate(raw)
    except ValidationError as exc:
        raise CorpusError(source, _describe(exc, raw)) from None


def load_corpus(path: str | Path) -> Corpus:
    """Read a YAML (or JSON) corpus file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(source, [f"cannot read: {exc}"]) from None
    return parse_corpus_text(text, source=source)


def parse_corpus_text(text: str, *, source: str = "corpus") -> Corpus:
    """Read a corpus from YAML (or JSON) text; anchors and aliases are refused while parsing."""
    try:
        raw = yaml.load(text, Loader=yaml_loader())
    except YamlAliasError as exc:
        raise CorpusError(source, [str(exc)]) from None
    except yaml.YAMLError as exc:
        raise CorpusError(source, [f"not valid YAML: {exc}"]) from None
    return parse_corpus(raw, source=source)


def default_corpus() -> Corpus:
    """The corpus kefu ships for a typical Chinese online shop (`kefu serve --demo` loads it)."""
    text = resources.files("kefu.faq").joinpath("data/default_corpus.yaml").read_text(encoding="utf-8")
    return parse_corpus_text(text, source="default_corpus.yaml")
