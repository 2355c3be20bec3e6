"""Everything kefu keeps in Redis: the keys (keys.py), the Lua scripts, and one store per kind
of record — sessions and their log, shops and their corpus, accounts, the transfer queue,
presence, learned phrasings. Nothing else in kefu talks to Redis directly."""

from kefu.store.accounts import Accounts, Claims, Passwords, Role, User, UserView, load_secret
from kefu.store.agents import agent_groups, register_agent, unregister_agent
from kefu.store.client import StreamEntry, connect, stream_range
from kefu.store.faqs import SAME_QUESTION, add_phrasing, edit_corpus, forget_miss, replace_faq
from kefu.store.keys import EVENTS_PATTERN, SECRET, SHOPS, ShopKeys
from kefu.store.learned import LearnedPhrasing, LearnedPhrasings
from kefu.store.log import Entry, Speaker, is_stream_id
from kefu.store.presence import Janitor, touch
from kefu.store.scripts import Scripts
from kefu.store.sessions import Conversation, Sessions, Stored, now_ms
from kefu.store.shops import ShopConfig, ShopStore, shop_exists
from kefu.store.transfer import AgentSlots, CloseResult, Queue, TransferResult

__all__ = [
    "EVENTS_PATTERN",
    "SAME_QUESTION",
    "SECRET",
    "SHOPS",
    "Accounts",
    "AgentSlots",
    "Claims",
    "CloseResult",
    "Conversation",
    "Entry",
    "Janitor",
    "LearnedPhrasing",
    "LearnedPhrasings",
    "Passwords",
    "Queue",
    "Role",
    "Scripts",
    "Sessions",
    "ShopConfig",
    "ShopKeys",
    "ShopStore",
    "Speaker",
    "Stored",
    "StreamEntry",
    "TransferResult",
    "User",
    "UserView",
    "add_phrasing",
    "agent_groups",
    "connect",
    "edit_corpus",
    "forget_miss",
    "is_stream_id",
    "load_secret",
    "now_ms",
    "register_agent",
    "replace_faq",
    "shop_exists",
    "stream_range",
    "touch",
    "unregister_agent",
]
