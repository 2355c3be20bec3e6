"""Editing a shop's FAQ corpus from the admin pages: one atomic step per change, readable
errors tied to form fields, YAML and CSV import/export."""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Callable
from typing import Any

import orjson
import yaml
from pydantic import ValidationError
from rapidfuzz import fuzz
from redis.asyncio import Redis
from redis.exceptions import WatchError

from kefu.errors import CorpusError, NotFound, Unprocessable
from kefu.faq.corpus import FAQ, Corpus, parse_corpus
from kefu.faq.lexicon import yaml_loader
from kefu.faq.normalize import normalize
from kefu.queue.keys import ShopKeys

__all__ = [
    "CSV_COLUMNS",
    "add_phrasing",
    "forget_miss",
    "corpus_from_csv",
    "corpus_from_yaml",
    "corpus_to_csv",
    "edit_corpus",
    "faq_from_form",
    "new_faq_id",
    "replace_faq",
]

CSV_COLUMNS = ("id", "category", "question", "similar", "answer", "answer_en", "keywords")
_SEPARATOR = " | "
_PROBLEM = re.compile(r"^faqs\[(\d+)\] \(([^)]*)\): (.*)$")


def _details_from_validation(exc: ValidationError) -> list[dict[str, str]]:
    details = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        # similar.3 → similar; answers.en → answers.en (the form has one field per language)
        field = (
            "answers." + loc[1] if loc and loc[0] == "answers" and len(loc) > 1 else (loc[0] if loc else "")
        )
        message = (
            "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        )
        details.append({"field": field, "message": message})
    return details


def faq_from_form(data: dict[str, Any]) -> FAQ:
    """An FAQ from the admin form's JSON; 422 with field-level details if it is not valid."""
    try:
        return FAQ.model_validate(data)
    except ValidationError as exc:
        details = _details_from_validation(exc)
        raise Unprocessable(
            "the FAQ is not valid: " + "; ".join(d["message"] for d in details), details=details
        ) from None


def new_faq_id(corpus: Corpus) -> str:
    taken = {faq.id for faq in corpus.faqs}
    while (candidate := f"faq-{secrets.token_hex(3)}") in taken:
        pass
    return candidate


def _corpus_details(exc: CorpusError, edited: FAQ | None) -> list[dict[str, str]]:
    """CorpusError lines ("faqs[3] (id): phrasing '…' is already…") as form fields when they
    concern the edited entry, else as whole-form messages."""
    details = []
    for problem in exc.problems:
        match = _PROBLEM.match(problem)
        field = ""
        if match and edited is not None and match.group(2) == edited.id:
            text = match.group(3)
            if text.startswith("duplicate id"):
                field = "id"
            elif text.startswith("phrasing "):
                quoted = re.match(r"phrasing '(.*)' ", text)
                field = "question" if quoted and quoted.group(1) == edited.question else "similar"
            elif ":" in text:
                field = text.split(":", 1)[0].split(".")[0]
            problem = text
        details.append({"field": field, "message": problem})
    return details


def replace_faq(corpus: Corpus, old_id: str | None, faq: FAQ) -> Corpus:
    """The corpus with `old_id` replaced by `faq` (appended when old_id is None)."""
    faqs = list(corpus.faqs)
    if old_id is None:
        faqs.append(faq)
    else:
        index = next((i for i, f in enumerate(faqs) if f.id == old_id), None)
        if index is None:
            raise NotFound(f"no FAQ {old_id!r}")
        faqs[index] = faq
    return _validated(corpus.shop, faqs, faq)


def _validated(shop: str, faqs: list[FAQ], edited: FAQ | None = None) -> Corpus:
    raw = {"shop": shop, "faqs": [f.model_dump(mode="json") for f in faqs]}
    try:
        return parse_corpus(raw, source="corpus")
    except CorpusError as exc:
        details = _corpus_details(exc, edited)
        raise Unprocessable("; ".join(d["message"] for d in details), details=details) from None


async def edit_corpus(redis: Redis, shop: str, change: Callable[[Corpus], Corpus]) -> tuple[Corpus, int]:
    """Apply `change` to the stored corpus in one optimistic transaction (retried when another
    edit raced it). `change` raises to refuse; then nothing is written. Every instance reloads
    within a second (an event now, a version poll as backstop)."""
    keys = ShopKeys(shop)
    async with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(keys.faq)
                raw = await pipe.get(keys.faq)
                current = (
                    parse_corpus(orjson.loads(raw), source=f"shop {shop}")
                    if raw is not None
                    else Corpus(shop=shop, faqs=())
                )
                changed = change(current)
                data = changed.model_dump(mode="json", exclude_defaults=True)
                data["shop"] = shop
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.set(keys.faq, orjson.dumps(data))
                pipe.incr(keys.faq_version)
                _, version = await pipe.execute()
                break
            except WatchError:
                continue
    await redis.publish(keys.events, orjson.dumps({"e": "faq", "version": version}))
    return changed, int(version)


# Unanswered questions this close (rapidfuzz ratio, 0–100) are one group: "包邮吗" and "包邮吗亲".
SAME_QUESTION = 80


async def forget_miss(redis: Redis, shop: str, key: str) -> None:
    """Drop an unanswered question (normalized) and every near-identical one grouped with it."""
    keys = ShopKeys(shop)
    members = [str(m) for m in await redis.zrange(keys.misses, 0, -1)]
    doomed = [m for m in members if m == key or fuzz.ratio(m, key) >= SAME_QUESTION] or [key]
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zrem(keys.misses, *doomed)
        pipe.hdel(keys.miss_examples, *doomed)
        await pipe.execute()


async def add_phrasing(redis: Redis, shop: str, faq_id: str, text: str) -> FAQ:
    """Add `text` as a phrasing of an FAQ (live on every instance within a second) and drop it
    from the unanswered questions. 404 for an unknown FAQ, 422 when another FAQ has it."""
    updated: list[FAQ] = []

    def change(corpus: Corpus) -> Corpus:
        faq = corpus.get(faq_id)
        if faq is None:
            raise NotFound(f"no FAQ {faq_id!r}")
        new = faq.model_copy(update={"similar": (*faq.similar, text)})
        updated.append(new)
        return replace_faq(corpus, faq_id, new)

    await edit_corpus(redis, shop, change)
    await forget_miss(redis, shop, normalize(text)[:200])
    return updated[-1]


# ---- files ----


def corpus_to_csv(corpus: Corpus) -> str:
    out = io.StringIO()
    out.write("\ufeff")  # spreadsheet programs need the BOM to read UTF-8 Chinese correctly
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for faq in corpus.faqs:
        writer.writerow(
            [
                faq.id,
                faq.category,
                faq.question,
                _SEPARATOR.join(faq.similar),
                faq.answer,
                faq.answers.get("en", ""),
                _SEPARATOR.join(faq.keywords),
            ]
        )
    return out.getvalue()


def corpus_from_csv(text: str, shop: str) -> Corpus:
    """Read the CSV export format; 422 naming the row for every problem."""
    columns, rows = _read_csv(text)
    missing = [c for c in ("id", "question", "answer") if c not in columns]
    if missing:
        raise Unprocessable(
            f"CSV needs the columns {', '.join(CSV_COLUMNS)}; missing: {', '.join(missing)}",
            details=[{"field": "", "message": f"missing column {c}"} for c in missing],
        )
    faqs: list[dict[str, Any]] = []
    for row in rows:
        # Cells beyond the header's columns (DictReader lists them under None) are not read.
        if not any(v.strip() for k, v in row.items() if k is not None and v):
            continue

        def split(key: str, row: dict[str, str] = row) -> list[str]:
            return [part.strip() for part in (row.get(key) or "").split("|") if part.strip()]

        entry: dict[str, Any] = {
            "id": (row.get("id") or "").strip(),
            "category": (row.get("category") or "").strip(),
            "question": row.get("question") or "",
            "similar": split("similar"),
            "answer": row.get("answer") or "",
            "keywords": split("keywords"),
        }
        if (row.get("answer_en") or "").strip():
            entry["answers"] = {"en": row["answer_en"]}
        faqs.append(entry)
    try:
        return parse_corpus({"shop": shop, "faqs": faqs}, source="CSV")
    except CorpusError as exc:
        raise _file_error(exc, row_offset=2) from None


def _read_csv(text: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The header and the rows; 422 when the csv module cannot read the file (a field over its
    131072-character limit, for one)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    columns: list[str] | None = None
    rows: list[dict[str, Any]] = []
    try:
        columns = list(reader.fieldnames or [])
        rows.extend(reader)
    except csv.Error as exc:
        row = 1 if columns is None else len(rows) + 2  # as _file_error counts: the header is row 1
        raise Unprocessable(
            "not a readable CSV file", details=[{"field": "", "message": f"row {row}: {exc}"}]
        ) from None
    return columns, rows


def corpus_from_yaml(text: str, shop: str) -> Corpus:
    """Read a YAML (or JSON) corpus file for `shop` (its own `shop:` line may name another)."""
    try:
        raw = yaml.load(text, Loader=yaml_loader())
    except yaml.YAMLError as exc:
        raise Unprocessable("not valid YAML", details=[{"field": "", "message": str(exc)}]) from None
    if isinstance(raw, dict):
        raw = {**raw, "shop": shop}
    try:
        return parse_corpus(raw, source="YAML")
    except CorpusError as exc:
        raise _file_error(exc) from None


def _file_error(exc: CorpusError, *, row_offset: int | None = None) -> Unprocessable:
    details = []
    for problem in exc.problems:
        match = _PROBLEM.match(problem)
        if match and row_offset is not None:
            problem = f"row {int(match.group(1)) + row_offset} ({match.group(2)}): {match.group(3)}"
        details.append({"field": "", "message": problem})
    return Unprocessable(f"the file has {len(details)} problem(s); nothing was changed", details=details)
