"""One matcher per shop (kefu/server/bot.py) on a real Redis: a corpus change is picked up,
and one shop's edit after edit cannot keep rebuilding its matcher back to back."""

from __future__ import annotations

import base64

import numpy as np
from redis.asyncio import Redis

from kefu.faq import MatcherConfig, Resources
from kefu.faq.corpus import FAQ
from kefu.faq.semantic import StoredVectors, encoder_model
from kefu.server.bot import KEEP_VECTORS_FROM, Bots
from kefu.store.faqs import add_phrasing
from kefu.store.keys import ShopKeys
from kefu.store.shops import ShopStore
from kefu.store.vectors import TTL_S
from tests.conftest import counting_encoder
from tests.server.conftest import SHOP, setup_shop

# The vector tests' own shop: a kefu process other tests leave running on the same Redis (the
# browser tests') serves "demo", and would rebuild and keep its vectors too.
VECTORS = "vectors"


async def test_an_edit_waits_while_the_shop_has_no_rebuild_time_left(
    redis: Redis, shop: str, resources: Resources
) -> None:
    config = MatcherConfig(semantic=False)
    # A budget of rebuild time the first build spends at once, hardly refilled; and the default.
    spent = Bots(redis, resources, poll_s=0.1, config=config, rebuild_burst_s=1e-6, rebuild_share=1e-9)
    eager = Bots(redis, resources, poll_s=0.1, config=config)
    first, other = await spent.matcher(SHOP), await eager.matcher(SHOP)
    await add_phrasing(redis, SHOP, "ship-when", "啥时候能寄出来呀")
    await spent.refresh(SHOP)
    await eager.refresh(SHOP)
    assert await spent.matcher(SHOP) is first  # no rebuild time left: as it was
    rebuilt = await eager.matcher(SHOP)
    assert rebuilt is not other and rebuilt.match("啥时候能寄出来呀").faq_id == "ship-when"


async def test_another_instance_builds_the_index_without_encoding_the_corpus_again(
    redis: Redis, resources: Resources
) -> None:
    await setup_shop(redis, VECTORS)
    config = MatcherConfig(cache_size=0)
    with counting_encoder(resources) as encoded:
        first = await Bots(redis, resources, poll_s=0.1, config=config, keep_vectors_from=0).matcher(VECTORS)
        assert len(encoded) > 100  # the default corpus: its phrasings and answers' sentences
        encoded.clear()
        # A second instance (or this one restarted, or a new worker) on the same Redis.
        second = await Bots(redis, resources, poll_s=0.1, config=config, keep_vectors_from=0).matcher(VECTORS)
        assert encoded == []
    questions = ["亲 付款后多久发货啊", "退货运费谁出", "can I return it", "你们家的猫粮好吃吗"]
    for question in questions:
        a, b = first.match(question), second.match(question)
        assert (a.decision, a.faq_id, a.score, a.semantic) == (b.decision, b.faq_id, b.score, b.semantic)


async def test_the_kept_vectors_follow_the_corpus_and_expire(redis: Redis, resources: Resources) -> None:
    await setup_shop(redis, VECTORS)
    config = MatcherConfig(cache_size=0)
    key = ShopKeys(VECTORS).faq_vectors(encoder_model())
    bots = Bots(redis, resources, poll_s=0.1, config=config, keep_vectors_from=0)
    matcher = await bots.matcher(VECTORS)
    assert matcher.semantic is not None
    kept = await redis.hlen(key)
    assert kept == len(set(matcher.semantic.vectors()))  # one per distinct text the encoder read
    assert 0 < await redis.ttl(key) <= TTL_S
    # An edit: only the new entry's texts are encoded, and they stay.
    store = ShopStore(redis, VECTORS)
    corpus = await store.corpus()
    engraving = FAQ(id="engraving", question="可以刻字吗", answer="可以刻字，下单时备注要刻的字即可。")
    with counting_encoder(resources) as encoded:
        await store.save_corpus(corpus.model_copy(update={"faqs": (*corpus.faqs, engraving)}))
        await bots.refresh(VECTORS)
        rebuilt = await bots.matcher(VECTORS)
    assert rebuilt is not matcher
    assert sorted(encoded) == sorted(rebuilt.semantic_text(t) for t in (engraving.question, engraving.answer))
    assert await redis.hlen(key) == kept + 2
    # A vector that is not one (damaged, or another encoder's) is encoded again, not used.
    await redis.hset(key, StoredVectors.digest(encoded[0]), base64.b64encode(b"\0" * 2048).decode())
    with counting_encoder(resources) as again:
        mixed = await Bots(redis, resources, poll_s=0.1, config=config, keep_vectors_from=0).matcher(VECTORS)
    assert again == [encoded[0]]
    # Each text's vector is its own, whichever way it came (kept, or encoded again).
    assert mixed.semantic is not None and rebuilt.semantic is not None
    built, reference = mixed.semantic.vectors(), rebuilt.semantic.vectors()
    assert built.keys() == reference.keys()
    assert all(np.allclose(built[text], reference[text], atol=1e-5) for text in built)
    # Texts the corpus no longer has are dropped when the index is next built with new text.
    await store.save_corpus(
        corpus.model_copy(update={"faqs": (engraving.model_copy(update={"answer": "可以的。"}),)})
    )
    await bots.refresh(VECTORS)
    final = await bots.matcher(VECTORS)
    assert final.semantic is not None
    assert set(await redis.hkeys(key)) == {StoredVectors.digest(text) for text in final.semantic.vectors()}
    assert 0 < await redis.ttl(key) <= TTL_S


async def test_a_redis_that_cannot_keep_the_vectors_only_costs_encoding(
    redis: Redis, resources: Resources
) -> None:
    await setup_shop(redis, VECTORS)
    # Something else at the key (a command on it fails): the index is built all the same.
    key = ShopKeys(VECTORS).faq_vectors(encoder_model())
    await redis.set(key, "not a hash")
    with counting_encoder(resources) as encoded:
        matcher = await Bots(
            redis, resources, poll_s=0.1, config=MatcherConfig(), keep_vectors_from=0
        ).matcher(VECTORS)
    assert len(encoded) > 100
    assert matcher.match("亲 付款后多久发货啊").faq_id == "ship-when"


async def test_a_small_corpus_keeps_nothing_in_redis(redis: Redis, resources: Resources) -> None:
    """Below KEEP_VECTORS_FROM entries a start encodes the corpus again (a fraction of a second)
    rather than hold megabytes of Redis for every small shop a host serves."""
    await setup_shop(redis, VECTORS)
    assert len((await ShopStore(redis, VECTORS).corpus()).faqs) < KEEP_VECTORS_FROM
    matcher = await Bots(redis, resources, poll_s=0.1, config=MatcherConfig()).matcher(VECTORS)
    assert matcher.semantic is not None
    assert not await redis.exists(ShopKeys(VECTORS).faq_vectors(encoder_model()))
