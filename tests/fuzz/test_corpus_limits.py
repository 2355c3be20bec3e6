"""Limits on the *parsed* corpus (issue 11, item 8).

A 22 kB upload of nested YAML aliases once became a 30 MB corpus: the body limit bounds the
bytes, not what they stand for. Now anchors and aliases are refused while the YAML is parsed,
before anything is shared, and a corpus — whichever way it comes: YAML, CSV, `kefu faq import`,
"add as phrasing" — has at most MAX_FAQS entries, MAX_PHRASINGS phrasings, MAX_KEYWORDS
keywords and MAX_LANGUAGES other answer languages an entry, and MAX_TEXT_CHARS characters of
text in all. Each refusal is a 422 `invalid` that says which limit, and nothing is stored.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from kefu.errors import CorpusError
from kefu.faq.corpus import (
    MAX_ANSWER_CHARS,
    MAX_FAQS,
    MAX_KEYWORDS,
    MAX_LANGUAGES,
    MAX_PHRASINGS,
    MAX_TEXT_CHARS,
    load_corpus,
    parse_corpus,
    parse_corpus_text,
)
from kefu.server.faqs import CSV_COLUMNS
from kefu.store.keys import ShopKeys
from tests.fuzz.conftest import ServerLog
from tests.server.conftest import SHOP, add_agent, login

Client = TestClient[web.Request, web.Application]
KEYS = ShopKeys(SHOP)
LANGUAGES = ["en", "ja", "ko", "fr", "de", "es", "it", "pt", "ru", "vi"]
ALIASES_REFUSED = "YAML anchors and aliases are not allowed"


def alias_bomb(entries: int = 300) -> str:
    """About 20 kB of YAML that PyYAML reads as about 13 MB of otherwise valid corpus: one
    answer, anchored once, stands (through a second, nested alias) for the answer in eleven
    languages of every entry."""
    translations = ", ".join(f"{lang}: *a" for lang in LANGUAGES)
    lines = [
        f"shop: {SHOP}",
        "faqs:",
        "- id: f0",
        "  question: q0",
        f"  answer: &a {'x' * (MAX_ANSWER_CHARS - 10)}",
        f"  answers: &t {{{translations}}}",
    ]
    lines += [f"- {{id: f{i}, question: q{i}, answer: *a, answers: *t}}" for i in range(1, entries)]
    return "\n".join(lines) + "\n"


def billion_laughs(levels: int = 9) -> str:
    """The classic: nine lists of nine aliases of the level below, 9**9 strings once walked."""
    lines = ["shop: demo", "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, levels)]
    return "\n".join([*lines, "faqs: []"]) + "\n"


def entry(i: int, **fields: Any) -> dict[str, Any]:
    return {"id": f"faq-{i}", "question": f"question number {i}", "answer": f"answer {i}", **fields}


def corpus_data(faqs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"shop": SHOP, "faqs": faqs}


def problems(raw: Any) -> list[str]:
    with pytest.raises(CorpusError) as info:
        parse_corpus(raw, source="test")
    return info.value.problems


# What each over-limit corpus is, and the words its refusal must contain.
TOO_MANY_FAQS = [entry(i) for i in range(MAX_FAQS + 1)]
TOO_MANY_PHRASINGS = [entry(0, similar=[f"other phrasing {n}" for n in range(MAX_PHRASINGS)])]
# An ASCII corpus just over the text budget that still fits in the 2 MiB request body.
OVER_BUDGET = [
    entry(i, answer=f"{i} " + "y" * (MAX_ANSWER_CHARS - 60)) for i in range(MAX_TEXT_CHARS // 3900 + 1)
]
OVER_LIMIT = {
    "faqs": (TOO_MANY_FAQS, f"at most {MAX_FAQS} FAQ entries, not {MAX_FAQS + 1}"),
    "phrasings": (TOO_MANY_PHRASINGS, f"{MAX_PHRASINGS} phrasings with the question"),
    "text": (OVER_BUDGET, f"more than the {MAX_TEXT_CHARS:,} allowed"),
}


# ---- the loader: no anchors, no aliases ----


def test_the_bomb_is_one() -> None:
    """Read by PyYAML's own safe loader, 20 kB would have been a 13 MB corpus."""
    text = alias_bomb()
    assert len(text) < 22_000  # the size of the upload
    assert len(json.dumps(yaml.load(text, Loader=yaml.SafeLoader))) > 10_000_000


@pytest.mark.parametrize(
    "text",
    [
        alias_bomb(),
        billion_laughs(),
        "shop: demo\nfaqs:\n- {id: a, question: &q 包邮吗, answer: 包邮}\n",  # an anchor alone
        "shop: demo\nbase: &b {answer: 包邮}\nfaqs:\n- {<<: *b, id: a, question: 包邮吗}\n",  # merge key
    ],
    ids=["alias-bomb", "billion-laughs", "anchor-only", "merge-key"],
)
def test_parse_corpus_text_refuses_anchors_and_aliases_while_parsing(text: str) -> None:
    started = time.perf_counter()
    with pytest.raises(CorpusError) as info:
        parse_corpus_text(text, source="bomb.yaml")
    assert time.perf_counter() - started < 0.5
    [problem] = info.value.problems
    assert ALIASES_REFUSED in problem
    assert "line " in problem  # where: the first anchor


def test_load_corpus_refuses_an_alias_bomb(tmp_path: Path) -> None:
    """`kefu faq import` and `kefu faq check` read files with load_corpus."""
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(), encoding="utf-8")
    with pytest.raises(CorpusError, match=ALIASES_REFUSED) as info:
        load_corpus(path)
    assert info.value.source == str(path)


def test_deep_nesting_is_a_yaml_error_not_a_recursion_error() -> None:
    """PyYAML's composer (now under libyaml's parser) recurses; nesting has a limit of its own."""
    with pytest.raises(CorpusError, match="nested deeper than"):
        parse_corpus_text("[" * 500 + "]" * 500)


# ---- the model: counts and the text budget ----


def test_a_corpus_at_every_limit_is_valid() -> None:
    faqs = [entry(i) for i in range(MAX_FAQS - 1)]
    faqs.append(
        entry(
            MAX_FAQS,
            similar=[f"other phrasing {n}" for n in range(MAX_PHRASINGS - 1)],
            keywords=[f"keyword{n}" for n in range(MAX_KEYWORDS)],
            answers={lang: f"answer in {lang}" for lang in LANGUAGES[:MAX_LANGUAGES]},
        )
    )
    corpus = parse_corpus(corpus_data(faqs))
    assert len(corpus) == MAX_FAQS
    assert len(corpus.faqs[-1].phrasings) == MAX_PHRASINGS


@pytest.mark.parametrize("limit", sorted(OVER_LIMIT))
def test_each_limit_is_refused_with_a_reason(limit: str) -> None:
    faqs, reason = OVER_LIMIT[limit]
    [problem] = problems(corpus_data(faqs))
    assert reason in problem


def test_too_many_keywords_or_languages_name_the_entry_and_field() -> None:
    keywords = [f"keyword{n}" for n in range(MAX_KEYWORDS + 1)]
    assert problems(corpus_data([entry(0, keywords=keywords)])) == [
        f"faqs[0] (faq-0): keywords: at most {MAX_KEYWORDS} keywords, not {MAX_KEYWORDS + 1}"
    ]
    answers = {chr(97 + n) * 2: "an answer" for n in range(MAX_LANGUAGES + 1)}
    [problem] = problems(corpus_data([entry(0, answers=answers)]))
    assert problem.startswith(f"faqs[0] (faq-0): answers: at most {MAX_LANGUAGES} answers in other languages")


def test_an_answer_in_another_language_has_the_answers_length_limit() -> None:
    [problem] = problems(corpus_data([entry(0, answers={"en": "y" * (MAX_ANSWER_CHARS + 1)})]))
    assert problem.startswith("faqs[0] (faq-0): answers.en: String should have at most")


def test_the_text_budget_counts_every_text() -> None:
    """Answers in other languages count: 50 entries of eleven 3990-character answers."""
    long = "z" * (MAX_ANSWER_CHARS - 10)
    faqs = [
        entry(i, category="运费", answer=long, answers=dict.fromkeys(LANGUAGES, long), keywords=["包邮"])
        for i in range(50)
    ]
    size = sum(len(f["question"]) + 11 * len(long) + 2 + 2 for f in faqs)
    assert size > MAX_TEXT_CHARS
    assert problems(corpus_data(faqs)) == [
        f"the corpus has {size:,} characters of text, more than the {MAX_TEXT_CHARS:,} allowed "
        "(phrasings, answers, keywords and categories together)"
    ]


def test_duplicate_phrasings_are_still_refused() -> None:
    assert problems(corpus_data([entry(0), entry(1, similar=["Question number 0!"])])) == [
        "faqs[1] (faq-1): phrasing 'Question number 0!' is already a phrasing of 'faq-0'"
    ]


# ---- the API: a 422 that says why, and nothing stored ----


async def admin_headers(client: Client, redis: Redis) -> dict[str, str]:
    await add_agent(redis, "boss", role="admin")
    return {"Authorization": f"Bearer {await login(client, 'boss')}"}


async def stored(redis: Redis) -> tuple[Any, Any]:
    return await redis.get(KEYS.faq), await redis.get(KEYS.faq_version)


def as_yaml(faqs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump(corpus_data(faqs), allow_unicode=True, sort_keys=False, width=10_000)


def as_csv(faqs: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS)
    writer.writeheader()
    for faq in faqs:
        writer.writerow(
            {
                "id": faq["id"],
                "question": faq["question"],
                "similar": " | ".join(faq.get("similar", [])),
                "answer": faq["answer"],
            }
        )
    return out.getvalue()


async def refused(
    client: Client, headers: dict[str, str], fmt: str, text: str, server_log: ServerLog
) -> dict[str, Any]:
    # (a BytesIO: aiohttp's client warns about large bytes bodies)
    resp = await client.put(
        f"/api/admin/corpus?format={fmt}", data=io.BytesIO(text.encode()), headers=headers
    )
    assert resp.status == 422, await resp.text()
    error: dict[str, Any] = (await resp.json())["error"]
    assert error["code"] == "invalid"
    assert server_log.problems() == []
    return error


async def test_an_alias_bomb_upload_is_a_quick_422_and_changes_nothing(
    client: Client, redis: Redis, server_log: ServerLog, fast_hashing: None
) -> None:
    headers = await admin_headers(client, redis)
    before = await stored(redis)
    started = time.perf_counter()
    error = await refused(client, headers, "yaml", alias_bomb(), server_log)
    assert time.perf_counter() - started < 1.0
    assert "anchors (&name) and aliases (*name) are not allowed" in error["message"]
    [detail] = error["details"]
    assert detail["code"] == "yaml_alias"
    assert detail["message"].startswith(f"found anchor &a: {ALIASES_REFUSED}")
    assert await stored(redis) == before


@pytest.mark.parametrize("fmt", ["yaml", "csv"])
@pytest.mark.parametrize("limit", sorted(OVER_LIMIT))
async def test_an_upload_over_a_limit_is_a_422_naming_it(
    client: Client, redis: Redis, server_log: ServerLog, fast_hashing: None, fmt: str, limit: str
) -> None:
    headers = await admin_headers(client, redis)
    before = await stored(redis)
    faqs, reason = OVER_LIMIT[limit]
    text = as_yaml(faqs) if fmt == "yaml" else as_csv(faqs)
    assert len(text.encode()) < 2 * 1024 * 1024  # under the body limit: the parsed size is refused
    error = await refused(client, headers, fmt, text, server_log)
    assert error["message"].endswith("nothing was changed")
    assert any(reason in d["message"] for d in error["details"]), error["details"]
    assert await stored(redis) == before


async def test_a_csv_with_too_many_rows_is_refused_before_any_row_is_read(
    client: Client, redis: Redis, server_log: ServerLog, fast_hashing: None
) -> None:
    """Rows without an id or question would each be a problem line: the count comes first."""
    headers = await admin_headers(client, redis)
    text = "id,question,answer\n" + "x,,\n" * (MAX_FAQS + 1)
    error = await refused(client, headers, "csv", text, server_log)
    assert error["details"] == [
        {"field": "", "message": f"at most {MAX_FAQS} FAQ entries, not {MAX_FAQS + 1}"}
    ]


async def test_adding_a_phrasing_beyond_the_limit_is_a_422_on_the_similar_field(
    client: Client, redis: Redis, server_log: ServerLog, fast_hashing: None
) -> None:
    """ "Add as phrasing" is how shoppers' questions grow an entry: it stops at MAX_PHRASINGS."""
    headers = await admin_headers(client, redis)
    faq = entry(0, similar=[f"other phrasing {n}" for n in range(MAX_PHRASINGS - 2)])
    resp = await client.put("/api/admin/corpus?format=yaml", data=as_yaml([faq]).encode(), headers=headers)
    assert resp.status == 200, await resp.text()
    path = "/api/admin/faqs/faq-0/phrasings"
    resp = await client.post(path, json={"text": "one more phrasing"}, headers=headers)
    assert resp.status == 200, await resp.text()
    assert len((await resp.json())["similar"]) == MAX_PHRASINGS - 1
    before = await stored(redis)
    resp = await client.post(path, json={"text": "one too many"}, headers=headers)
    assert resp.status == 422, await resp.text()
    [detail] = (await resp.json())["error"]["details"]
    assert detail["field"] == "similar"
    assert detail["message"].startswith(f"similar: at most {MAX_PHRASINGS - 1} similar phrasings")
    assert await stored(redis) == before
    assert server_log.problems() == []


@pytest.mark.parametrize("fmt", ["yaml", "csv"])
async def test_duplicate_phrasings_in_an_upload_are_still_a_422(
    client: Client, redis: Redis, server_log: ServerLog, fast_hashing: None, fmt: str
) -> None:
    headers = await admin_headers(client, redis)
    before = await stored(redis)
    faqs = [entry(0), entry(1, similar=["Question number 0!"])]
    error = await refused(client, headers, fmt, as_yaml(faqs) if fmt == "yaml" else as_csv(faqs), server_log)
    assert "is already a phrasing of 'faq-0'" in error["details"][0]["message"]
    assert await stored(redis) == before


@pytest.mark.parametrize("fmt", ["yaml", "csv"])
async def test_a_normal_corpus_still_imports(
    client: Client, redis: Redis, server_log: ServerLog, fast_hashing: None, fmt: str
) -> None:
    headers = await admin_headers(client, redis)
    exported = await client.get(f"/api/admin/corpus?format={fmt}", headers=headers)
    assert exported.status == 200
    before = await (await client.get("/api/admin/faqs", headers=headers)).json()
    resp = await client.put(f"/api/admin/corpus?format={fmt}", data=await exported.read(), headers=headers)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["faqs"] == len(before["items"])
    after = await (await client.get("/api/admin/faqs", headers=headers)).json()
    assert after["items"] == before["items"]
    # An entry at every per-entry limit imports too.
    faq = entry(
        0,
        similar=[f"other phrasing {n}" for n in range(MAX_PHRASINGS - 1)],
        keywords=[f"keyword{n}" for n in range(MAX_KEYWORDS)],
        answers={lang: f"answer in {lang}" for lang in LANGUAGES[:MAX_LANGUAGES]},
    )
    resp = await client.put("/api/admin/corpus?format=yaml", data=as_yaml([faq]).encode(), headers=headers)
    assert resp.status == 200, await resp.text()
    assert server_log.problems() == []
