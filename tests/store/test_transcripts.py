"""A conversation's transcript out of its session's log (kefu/store/sessions.py), read in
pieces: the agent's view gets the newest lines and the count of the rest, whatever the log's
length and however its conversations follow each other."""

from __future__ import annotations

from redis.asyncio import Redis

from kefu.store.scripts import Scripts
from kefu.store.sessions import LOG_CHUNK, Sessions
from tests.sessions import new_session


async def test_a_long_log_gives_each_conversation_its_own_lines(redis: Redis) -> None:
    sessions = Sessions(redis, Scripts(redis), "demo", token_ttl_s=600, retention_s=600)
    session_id, first = await new_session(sessions)
    second = await sessions.new_conversation(session_id, lang="zh", group="general")
    lines = 2 * LOG_CHUNK + 37  # several reads, the last one short
    for n in range(lines):
        conversation = first.id if n % 3 else second.id
        await sessions.append(session_id, conversation, "shopper", f"第{n}句")
    said = {
        c: [f"第{n}句" for n in range(lines) if (n % 3 != 0) == (c == first.id)]
        for c in (first.id, second.id)
    }
    whole = await sessions.transcript(session_id, first.id)
    assert [e.text for e in whole] == ["hi", *said[first.id]]  # the greeting opened the first
    tail, total = await sessions.transcript_tail(session_id, second.id, 5)
    assert [e.text for e in tail] == said[second.id][-5:] and total == len(said[second.id])
    tail, total = await sessions.transcript_tail(session_id, first.id, 10_000)
    assert [e.text for e in tail] == [e.text for e in whole] and total == len(whole)
