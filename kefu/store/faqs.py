"""A shop's FAQ corpus in Redis: one atomic step per change (every instance reloads within a
second), and the unanswered questions the bot counts."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any, cast

import orjson
from rapidfuzz import fuzz, process
from redis.asyncio import Redis
from redis.exceptions import WatchError

from kefu.errors import CorpusError, NotFound, Unprocessable
from kefu.faq.corpus import FAQ, Corpus, parse_corpus
from kefu.faq.normalize import normalize
from kefu.store.events import FaqChanged, publish
from kefu.store.keys import ShopKeys
from kefu.store.stored import stored_corpus

__all__ = [
    "SAME_QUESTION",
    "add_phrasing",
    "edit_corpus",
    "forget_miss",
    "group_misses",
    "misses",
    "replace_faq",
]

_PROBLEM = re.compile(r"^faqs\[(\d+)\] \(([^)]*)\): (.*)$")


_TAKEN = re.compile(r"^phrasing '(.*)' is already a phrasing of '(.*)'$")


def _corpus_details(exc: CorpusError, edited: FAQ | None) -> list[dict[str, object]]:
    """CorpusError lines ("faqs[3] (id): phrasing '…' is already…") as form fields when they
    concern the edited entry, else as whole-form messages; the two cross-entry problems a form
    can cause get a code (`duplicate_id`, `phrasing_taken`) to be said in the reader's language."""
    details: list[dict[str, object]] = []
    for problem in exc.problems:
        match = _PROBLEM.match(problem)
        detail: dict[str, object] = {"field": "", "message": problem}
        if match and edited is not None and match.group(2) == edited.id:
            text = detail["message"] = match.group(3)
            if text.startswith("duplicate id"):
                detail.update(field="id", code="duplicate_id", params={"id": edited.id})
            elif taken := _TAKEN.match(text):
                phrasing, owner = taken.groups()
                detail.update(
                    field="question" if phrasing == edited.question else "similar",
                    code="phrasing_taken",
                    params={"phrasing": phrasing, "faq": owner},
                )
            elif ":" in text:
                detail["field"] = text.split(":", 1)[0].split(".")[0]
        details.append(detail)
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
        raise Unprocessable("; ".join(str(d["message"]) for d in details), details=details) from None


def _changed(raw: str | bytes | None, shop: str, change: Callable[[Corpus], Corpus]) -> tuple[Corpus, bytes]:
    current = stored_corpus(raw, shop, editing=True) if raw is not None else Corpus(shop=shop, faqs=())
    changed = change(current)
    data = changed.model_dump(mode="json", exclude_defaults=True)
    data["shop"] = shop
    return changed, orjson.dumps(data)


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
                # Read, changed and written out off the event loop (most of a second for a
                # corpus at its caps).
                changed, blob = await asyncio.to_thread(_changed, raw, shop, change)
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.set(keys.faq, blob)
                pipe.incr(keys.faq_version)
                _, version = await pipe.execute()
                break
            except WatchError:
                continue
    await publish(redis, shop, FaqChanged(version=int(version)))
    return changed, int(version)


# Unanswered questions this close (rapidfuzz ratio, 0–100) are one group: "包邮吗" and "包邮吗亲".
SAME_QUESTION = 80


async def misses(redis: Redis, shop: str, limit: int) -> list[tuple[str, int, str]]:
    """The most counted unanswered questions: (normalized text, count, latest raw text)."""
    keys = ShopKeys(shop)
    ranked = cast(list[tuple[str, float]], await redis.zrevrange(keys.misses, 0, limit - 1, withscores=True))
    if not ranked:
        return []
    examples = await redis.hmget(keys.miss_examples, [text for text, _ in ranked])
    return [
        (str(text), int(count), str(example or text))
        for (text, count), example in zip(ranked, examples, strict=True)
    ]


def group_misses(rows: list[tuple[str, int, str]]) -> list[dict[str, Any]]:
    """Near-identical unanswered questions ("包邮吗" / "包邮吗亲") as one group, most asked
    first: {text, count, examples (up to 5)}. One rapidfuzz matrix, not a Python double loop
    (a few hundred questions: milliseconds; callers run it off the event loop all the same)."""
    if not rows:
        return []
    texts = [text for text, _, _ in rows]
    similar = process.cdist(texts, texts, scorer=fuzz.ratio, score_cutoff=SAME_QUESTION, workers=1)
    groups: list[dict[str, Any]] = []
    heads: list[int] = []  # the row each group started with
    for i, (text, count, example) in enumerate(rows):
        home = next((g for g, head in enumerate(heads) if similar[head][i] >= SAME_QUESTION), None)
        if home is None:
            heads.append(i)
            groups.append({"text": text, "count": int(count), "examples": [example or text]})
        else:
            groups[home]["count"] += int(count)
            if len(groups[home]["examples"]) < 5:
                groups[home]["examples"].append(example or text)
    groups.sort(key=lambda g: -g["count"])
    return groups


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
