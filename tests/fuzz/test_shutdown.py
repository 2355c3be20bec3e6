"""Shutdown must finish even when a cancellation gets lost on its way through redis-py.

Found while fuzzing: about one app teardown in a few hundred hung for good (pytest-timeout
at 60 s) in `Hub.stop`, awaiting the janitor task. redis-py writes commands under
`asyncio.wait_for(…, socket_timeout)`, and on Python 3.11 `wait_for` returns normally when the
inner write finished in the same loop turn as the cancel arrived (CPython gh-86296, fixed in
3.12): the CancelledError is swallowed, `Janitor.run` goes on looping and `Hub.stop` waits
forever. kefu's loops (janitor, FAQ watch, QA worker, backstop, presence, events) only stop
when CancelledError reaches them. The test below makes that lost cancellation happen every
time instead of by chance.
"""

from __future__ import annotations

import asyncio

import pytest

from kefu.server.app import create_app
from kefu.settings import Settings
from kefu.store.presence import Janitor
from tests.fuzz.conftest import BACKGROUND_TASKS, start_client


async def test_shutdown_finishes_when_a_cancellation_is_lost(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = asyncio.Event()

    async def run_once_losing_the_cancel(self: Janitor) -> None:
        ran.set()
        try:
            await asyncio.sleep(0.05)  # stands for a Redis command
        except asyncio.CancelledError:
            pass  # what asyncio.wait_for does on 3.11 when the inner write completed in the same turn

    monkeypatch.setattr(Janitor, "run_once", run_once_losing_the_cancel)
    client = await start_client(create_app(settings))
    await asyncio.wait_for(ran.wait(), timeout=5)
    closing = asyncio.ensure_future(client.close())
    done, _ = await asyncio.wait({closing}, timeout=3.0)
    hung = not done
    monkeypatch.undo()  # let the loop end now, so nothing is left running after the test
    while not closing.done():
        for task in asyncio.all_tasks():
            if task.get_name() in BACKGROUND_TASKS and task.cancelling() and not task.done():
                task.cancel()
        await asyncio.sleep(0.1)
    closing.result()
    assert not hung, "the app was still shutting down 3 s after it was asked to"
