"""Every Redis key kefu uses, in one place.

Each key of a shop carries the hash tag `{shop}`, so all of a shop's keys live in one Redis
Cluster slot and a Lua script or MULTI block can touch any of them. Lua scripts receive `prefix`
(`kefu:{shop}:`) and name keys only through the table `K` that `lua_keys()` generates from the
`ShopKeys` members below (`K.conversation(cid)`, `K.queues`): renaming a key here renames it in
every script, and a test fails when a script builds a key name of its own.
"""

from __future__ import annotations

__all__ = ["EVENTS_PATTERN", "HEALTH_PROBE", "SECRET", "SHOPS", "ShopKeys", "credential_failures", "lua_keys"]

# SET of every shop id (the janitor and `kefu` CLI iterate it). Not tagged: it belongs to no shop.
SHOPS = "kefu:shops"
# STRING: the token-signing secret every instance shares when KEFU_SECRET_KEY is unset.
SECRET = "kefu:secret"
# STRING (expires in seconds): what /healthz and every presence refresh write to learn whether
# Redis still takes writes (a full Redis answers PING but refuses every write that needs memory).
HEALTH_PROBE = "kefu:health"


def credential_failures(client: str) -> str:
    """STRING with TTL: failed logins and wrong orders-API keys of one client over every shop
    and account (not tagged: a client belongs to no shop)."""
    return "kefu:credential-failures:" + client


# Pattern every instance subscribes to; one channel per shop (ShopKeys.events).
EVENTS_PATTERN = "kefu:{*}:events"


class ShopKeys:
    """Key builders of one shop. Cheap to create; `ShopKeys("demo").queue("general")`."""

    __slots__ = ("prefix", "shop")

    def __init__(self, shop: str) -> None:
        self.shop = shop
        # Lua scripts get this and append the same suffixes as the methods below.
        self.prefix = f"kefu:{{{shop}}}:"

    # ---- shop ----
    @property
    def config(self) -> str:  # STRING: ShopConfig JSON
        return self.prefix + "config"

    @property
    def faq(self) -> str:  # STRING: the FAQ corpus as JSON (the source of truth)
        return self.prefix + "faq"

    @property
    def faq_version(self) -> str:  # STRING: INCR on every corpus change; instances poll it
        return self.prefix + "faq:version"

    def faq_vectors(self, model: str) -> str:
        # HASH with TTL: digest of an FAQ text → the encoder's vector of it (base64), the texts
        # of the shop's current corpus only; `model` names the encoder that made them
        return self.prefix + "faq:vectors:" + model

    @property
    def events(self) -> str:  # pub/sub channel: every change a socket may need to hear of
        return self.prefix + "events"

    @property
    def misses(self) -> str:  # ZSET: normalized question → count of fallback/suggest (admin)
        return self.prefix + "misses"

    @property
    def miss_examples(self) -> str:  # HASH: normalized question → latest raw text
        return self.prefix + "misses:examples"

    # ---- learned phrasings (script: learn) ----
    @property
    def learn_votes(self) -> str:  # ZSET: candidate id → distinct shoppers who picked it
        return self.prefix + "learn:votes"

    @property
    def learn_data(self) -> str:  # HASH: candidate id → {text, key, faq_id, first, last} JSON
        return self.prefix + "learn:data"

    @property
    def learn_voters(self) -> str:  # HASH: candidate id → space-separated voter hashes (capped)
        return self.prefix + "learn:voters"

    @property
    def learn_rejected(self) -> str:  # ZSET: candidate id → when an admin rejected it (capped)
        return self.prefix + "learn:rejected"

    @property
    def quick_replies(self) -> str:  # STRING: the shop's canned agent replies as JSON
        return self.prefix + "quick-replies"

    @property
    def tickets(self) -> str:  # STREAM: messages left while the shop was offline
        return self.prefix + "tickets"

    @property
    def tickets_handled(self) -> str:  # HASH: ticket id → handled-by JSON
        return self.prefix + "tickets:handled"

    # ---- commerce: identity, customers, orders (commerce.py; script: order) ----
    @property
    def secrets(self) -> str:  # HASH: identity (HMAC key for customer hashes), api_key (sha256 of the key)
        return self.prefix + "secrets"

    def customer(self, customer_id: str) -> str:  # HASH: session, name, first, last seen (ms)
        return self.prefix + "customer:" + customer_id

    def customer_orders(self, customer_id: str) -> str:  # ZSET: order id → created (ms), newest kept
        return self.prefix + "customer-orders:" + customer_id

    def order(
        self, order_id: str
    ) -> str:  # HASH with TTL: the latest version's JSON, version, status, attribution
        return self.prefix + "order:" + order_id

    @property
    def orders(self) -> str:  # ZSET: order id → created (ms): the shop's cap and retention
        return self.prefix + "orders"

    @property
    def payment_checks(self) -> str:  # ZSET: order id → when its 催付 check is due (ms)
        return self.prefix + "payment-checks"

    # ---- accounts ----
    @property
    def users(self) -> str:  # HASH: username → User JSON (argon2 hash, role, capacity, groups)
        return self.prefix + "users"

    def socket_ticket(self, jti: str) -> str:  # STRING with TTL: a socket ticket already used
        return self.prefix + "ticket:" + jti

    def login_attempts(self, username: str, client: str) -> str:
        # STRING with TTL: logins to the account tried by one client since its last success
        return self.prefix + "login-attempts:" + username + ":" + client

    # ---- limits per client (a keyed hash of its address; kefu/server/guard.py) ----
    def rate(self, kind: str, client: str) -> str:  # STRING with TTL: actions in the current window
        return self.prefix + "rate:" + kind + ":" + client

    def client_waiting(self, client: str) -> str:  # SET with TTL: the client's conversations in a queue
        return self.prefix + "waiting:" + client

    # ---- shoppers ----
    def session(self, session_id: str) -> str:  # HASH: conversation, created, seen
        return self.prefix + "session:" + session_id

    def shopper_token(self, token_hash: str) -> str:  # STRING with TTL: sha256(token) → session id
        return self.prefix + "stoken:" + token_hash

    def log(self, session_id: str) -> str:  # STREAM: everything said in a session (all conversations)
        return self.prefix + "session:" + session_id + ":log"

    def client_ids(self, session_id: str) -> str:  # HASH: client_msg_id → stream id (idempotent resend)
        return self.prefix + "session:" + session_id + ":cmids"

    def shopper_presence(self, session_id: str) -> str:  # STRING with TTL: a socket of the session is open
        return self.prefix + "presence:session:" + session_id

    # ---- conversations and the queue (scripts: transfer, release, drain, janitor) ----
    def conversation(self, conversation_id: str) -> str:  # HASH: state machine and timestamps
        return self.prefix + "conv:" + conversation_id

    @property
    def conversations(self) -> str:  # ZSET: conversation id by creation time (stats, QA, retention)
        return self.prefix + "convs"

    def queue(self, group: str) -> str:  # ZSET: waiting conversation ids, lowest score first
        return self.prefix + "queue:" + group

    def queue_checks(self, group: str) -> str:  # ZSET: waiting conversation → next presence check (ms)
        return self.prefix + "qchecks:" + group

    def queue_since(self, group: str) -> str:  # ZSET: waiting conversation → joined the queue (ms)
        return self.prefix + "qsince:" + group

    @property
    def queues(self) -> str:  # SET: groups whose queue is not empty
        return self.prefix + "queues"

    @property
    def queue_seq(self) -> str:  # STRING: INCR gives FIFO scores
        return self.prefix + "queue:seq"

    @property
    def queue_versions(self) -> str:  # HASH: group → version, +1 per script that changed its queue
        return self.prefix + "queue:versions"

    def handle_times(self, group: str) -> str:  # LIST: recent handling seconds (wait estimates)
        return self.prefix + "handle-times:" + group

    # ---- quality inspection (scripts: release, janitor push; the QA worker pops) ----
    @property
    def qa_pending(self) -> str:  # LIST: closed conversations waiting to be inspected
        return self.prefix + "qa:pending"

    @property
    def qa_flags(self) -> str:  # HASH: flag id → Flag JSON
        return self.prefix + "qa:flags"

    @property
    def qa_index(self) -> str:  # ZSET: flag id by the time of the conversation it flags
        return self.prefix + "qa:index"

    @property
    def qa_ids(self) -> str:  # ZSET: flag ids, all at score 0: a conversation's by ZRANGEBYLEX
        return self.prefix + "qa:ids"

    # ---- agents ----
    @property
    def agents(self) -> str:  # SET: every agent seat of the shop (the janitor walks it)
        return self.prefix + "agents"

    def agent(self, agent_id: str) -> str:  # HASH: status, capacity, name, groups, last_assigned
        return self.prefix + "agent:" + agent_id

    def agent_conversations(self, agent_id: str) -> str:  # SET: conversations assigned to the agent
        return self.prefix + "agent:" + agent_id + ":convs"

    def group_agents(self, group: str) -> str:  # SET: agent ids serving a skill group
        return self.prefix + "group:" + group + ":agents"

    @property
    def agents_online(self) -> str:  # SET: agents whose status is online (take new chats)
        return self.prefix + "agents:online"

    @property
    def agents_present(self) -> str:  # SET: agents online, away or holding chats (the janitor watches them)
        return self.prefix + "agents:present"

    def agent_presence(self, agent_id: str) -> str:  # STRING with TTL: the agent's grace period
        return self.prefix + "presence:agent:" + agent_id

    def agent_live(self, agent_id: str) -> str:  # STRING, short TTL: a socket of the agent is open now
        return self.prefix + "live:agent:" + agent_id


# Placeholders for a key method's arguments while its Lua twin is generated.
_ARGS = ("\x01", "\x02")


def _lua_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def lua_keys() -> str:
    """Lua that defines `K`: one entry per ShopKeys member, built from the prefix `P`.

    A property becomes a string (`K.queues`), a method a function of its arguments
    (`K.queue(group)`), each producing exactly what the Python member produces.
    """
    probe = ShopKeys("\x00")
    lines = ["local K = {}"]
    for name, member in vars(ShopKeys).items():
        if name.startswith("_") or name in ("prefix", "shop"):
            continue
        if isinstance(member, property):
            value = getattr(probe, name)
            lines.append(f"K.{name} = P .. {_lua_string(value.removeprefix(probe.prefix))}")
        elif callable(member):
            arity = member.__code__.co_argcount - 1
            value = member(probe, *_ARGS[:arity]).removeprefix(probe.prefix)
            params = [f"a{i}" for i in range(arity)]
            parts = ["P"]
            for i, arg in enumerate(_ARGS[:arity]):
                before, value = value.split(arg, 1)
                if before:
                    parts.append(_lua_string(before))
                parts.append(params[i])
            if value:
                parts.append(_lua_string(value))
            lines.append(f"function K.{name}({', '.join(params)}) return {' .. '.join(parts)} end")
    return "\n".join(lines) + "\n"
