"""Redis transfer queue: keys, Lua scripts, assignment, presence."""

from kefu.queue.agents import agent_groups, register_agent, unregister_agent
from kefu.queue.client import StreamEntry, connect, stream_range
from kefu.queue.keys import EVENTS_PATTERN, SECRET, SHOPS, ShopKeys
from kefu.queue.log import Entry, Speaker
from kefu.queue.presence import Janitor, touch
from kefu.queue.scripts import Scripts
from kefu.queue.transfer import AgentSlots, CloseResult, Queue, TransferResult

__all__ = [
    "EVENTS_PATTERN",
    "SECRET",
    "SHOPS",
    "AgentSlots",
    "CloseResult",
    "Entry",
    "Janitor",
    "Queue",
    "Scripts",
    "StreamEntry",
    "ShopKeys",
    "Speaker",
    "TransferResult",
    "agent_groups",
    "connect",
    "register_agent",
    "stream_range",
    "touch",
    "unregister_agent",
]
