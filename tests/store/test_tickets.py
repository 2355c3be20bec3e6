"""Left messages (kefu/store/tickets.py) on a real Redis: the record of handled ones does not
outgrow the stream of tickets, and the list reads only what it shows."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from kefu.store.keys import ShopKeys
from kefu.store.tickets import Tickets

KEYS = ShopKeys("demo")
BY = {"id": "a1", "name": "Alice"}


async def test_handled_records_of_trimmed_tickets_are_forgotten(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kefu.store.tickets.TICKETS_MAX", 2)
    tickets = Tickets(redis, "demo")
    ids = [
        await tickets.add(session_id="s", conversation_id="c", text=f"留言 {i}", contact="", lang="zh")
        for i in range(8)
    ]
    for ticket_id in ids[:5]:
        await tickets.handle(ticket_id, by=BY, note=None)
    await redis.xtrim(KEYS.tickets, maxlen=3, approximate=False)  # what MAXLEN ~ does over time
    assert await tickets.handle(ids[6], by=BY, note="回电了") is not None
    assert {str(k) for k in await redis.hkeys(KEYS.tickets_handled)} == {ids[6]}
    shown = await tickets.list()
    assert [(t.id, t.handled, t.note) for t in shown] == [
        (ids[7], False, None),
        (ids[6], True, "回电了"),
        (ids[5], False, None),
    ]
