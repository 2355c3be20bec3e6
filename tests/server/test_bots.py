"""One matcher per shop (kefu/server/bot.py) on a real Redis: a corpus change is picked up,
and one shop's edit after edit cannot keep rebuilding its matcher back to back."""

from __future__ import annotations

from redis.asyncio import Redis

from kefu.faq import MatcherConfig, Resources
from kefu.server.bot import Bots
from kefu.store.faqs import add_phrasing
from tests.server.conftest import SHOP


async def test_an_edit_waits_for_the_shops_rest_after_a_rebuild(
    redis: Redis, shop: str, resources: Resources
) -> None:
    config = MatcherConfig(semantic=False)
    resting = Bots(redis, resources, poll_s=0.1, config=config, rest=10_000)  # a rest nobody sees end
    eager = Bots(redis, resources, poll_s=0.1, config=config, rest=0)
    first, other = await resting.matcher(SHOP), await eager.matcher(SHOP)
    await add_phrasing(redis, SHOP, "ship-when", "啥时候能寄出来呀")
    await resting.refresh(SHOP)
    await eager.refresh(SHOP)
    assert await resting.matcher(SHOP) is first  # its last build's rest is not over: as it was
    rebuilt = await eager.matcher(SHOP)
    assert rebuilt is not other and rebuilt.match("啥时候能寄出来呀").faq_id == "ship-when"
