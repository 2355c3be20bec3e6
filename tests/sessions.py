"""Test helpers around the sessions store."""

from __future__ import annotations

from kefu.store.sessions import Conversation, Sessions


async def new_session(sessions: Sessions) -> tuple[str, Conversation]:
    """A shopper's new session, as a socket opening makes it: (session id, its conversation)."""
    opened = await sessions.open(
        None,
        lang="zh",
        group="general",
        greeting=("hi", {"decision": "greeting", "transfer": True}),
        client="test",
        sessions_per_window=1000,
        window_s=60,
        last_id=None,
        history=10,
        presence_ttl_s=30,
    )
    assert opened.conversation is not None
    return opened.session_id, opened.conversation
