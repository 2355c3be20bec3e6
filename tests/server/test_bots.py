"""One matcher per shop (kefu/server/bot.py) on a real Redis: a corpus change is picked up,
and one shop's edit after edit cannot keep rebuilding its matcher back to back."""

from __future__ import annotations

from redis.asyncio import Redis

from kefu.faq import MatcherConfig, Resources
from kefu.server.bot import Bots
from kefu.store.faqs import add_phrasing
from tests.server.conftest import SHOP


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
