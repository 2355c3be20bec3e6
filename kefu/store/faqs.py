"""A shop's FAQ corpus in Redis: one atomic step per change (every instance reloads within a
second), and the unanswered questions the bot counts."""

from __future__ import annotations

import re
from collections.abc import Callable

import orjson
from rapidfuzz import fuzz
from redis.asyncio import Redis
from redis.exceptions import WatchError

from kefu.errors import CorpusError, NotFound, Unprocessable
from kefu.faq.corpus import FAQ, Corpus, parse_corpus
from kefu.faq.normalize import normalize
from kefu.store.events import FaqChanged, publish
from kefu.store.keys import ShopKeys

__all__ = ["SAME_QUESTION", "add_phrasing", "edit_corpus", "forget_miss", "replace_faq"]

_PROBLEM = re.compile(r"^faqs\[(\d+)\] \(([^)]*)\): (.*)$")


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
    await publish(redis, shop, FaqChanged(version=int(version)))
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
