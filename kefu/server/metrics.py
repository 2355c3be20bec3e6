"""Prometheus metrics of one instance (its own registry, served at /metrics).

Labels are bounded: shop, group, decision, result, role, sender, score — never a session or
conversation id. What several instances observe once (an assignment) is observed by the
instance holding the shopper's socket, so summing over instances does not count it twice.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

from kefu.server.workers import METRICS_DIR_ENV

__all__ = ["Metrics"]

_SECONDS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800)
_FAST = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5)
_LONG = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        # With several workers (kefu/server/workers.py) each writes its values to a shared
        # directory and /metrics sums them: open sockets over live workers, the queue length
        # (read from Redis by each) as the largest one.
        self.sockets = Gauge(
            "kefu_sockets_open", "Open websockets", ["role"], registry=r, multiprocess_mode="livesum"
        )
        self.sockets_refused = Counter(
            "kefu_sockets_refused",
            "Sockets refused before the upgrade: their client address had too many open",
            ["role"],
            registry=r,
        )
        self.messages_in = Counter(
            "kefu_messages_received", "Messages received", ["shop", "sender"], registry=r
        )
        self.messages_out = Counter(
            "kefu_messages_delivered",
            "Bot and agent lines delivered to shoppers",
            ["shop", "sender"],
            registry=r,
        )
        self.bot_decisions = Counter("kefu_bot_decisions", "Bot decisions", ["shop", "decision"], registry=r)
        self.transfers = Counter(
            "kefu_transfers", "Requests for a human, by outcome", ["shop", "result"], registry=r
        )
        self.offline_notices = Counter("kefu_offline_notices", "Offline notices shown", ["shop"], registry=r)
        self.queue_length = Gauge(
            "kefu_queue_length",
            "Shoppers waiting",
            ["shop", "group"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.queue_wait = Histogram(
            "kefu_queue_wait_seconds",
            "Queue wait until an agent took the chat",
            ["shop", "group"],
            buckets=_SECONDS,
            registry=r,
        )
        self.assignment_latency = Histogram(
            "kefu_assignment_latency_seconds",
            "From the script that assigned a freed slot to the shopper's socket being told",
            ["shop"],
            buckets=_FAST,
            registry=r,
        )
        self.first_response = Histogram(
            "kefu_agent_first_response_seconds",
            "Agent's first message after taking a chat",
            ["shop"],
            buckets=_SECONDS,
            registry=r,
        )
        self.conversation_duration = Histogram(
            "kefu_conversation_duration_seconds",
            "Conversation start to close",
            ["shop"],
            buckets=_LONG,
            registry=r,
        )
        self.ratings = Counter("kefu_ratings", "Ratings given", ["shop", "score"], registry=r)
        self.unverified_customers = Counter(
            "kefu_unverified_customers",
            "Shopper sockets that claimed a signed-in customer the claim did not vouch for, by why: "
            "hash (forged or a wrong secret), expired, no_expiry (the shop requires one)",
            ["shop", "reason"],
            registry=r,
        )
        self.orders = Counter(
            "kefu_orders", "Order versions received, by what storing them did", ["shop", "result"], registry=r
        )
        self.attributed_orders = Counter(
            "kefu_attributed_orders",
            "Orders that became paid and are attributed to a chat, by who handled it (agent or bot)",
            ["shop", "handler"],
            registry=r,
        )
        self.attributed_sales = Counter(
            "kefu_attributed_sales",
            "Amount of the orders counted in kefu_attributed_orders (the order's currency)",
            ["shop", "handler"],
            registry=r,
        )
        self.order_answers = Counter(
            "kefu_order_answers",
            "Order questions the bot answered from the shop's orders, by the order's status "
            "(none: a verified customer with no order on record)",
            ["shop", "status"],
            registry=r,
        )
        self.match_cache = Gauge(
            "kefu_match_cache",
            "Questions a shop's bot answered from its cache (hit) or matched anew (miss) "
            "since its FAQ was loaded",
            ["shop", "result"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.suggestions_shown = Counter(
            "kefu_suggestions_shown", "Bot replies that offered suggestions", ["shop"], registry=r
        )
        self.suggestion_clicks = Counter(
            "kefu_suggestion_clicks", "Suggestions a shopper clicked", ["shop"], registry=r
        )
        self.learned = Counter(
            "kefu_learned_phrasings",
            "Learned phrasings by outcome: proposed (a vote), retracted, approved, auto_approved, rejected",
            ["shop", "outcome"],
            registry=r,
        )

        # Labelled children of the per-message counters, looked up once (prometheus_client's
        # `labels()` validates and locks on every call). Bounded: shops × a few values.
        self._children: dict[tuple[str, ...], Counter] = {}

    def received(self, shop: str, sender: str) -> Counter:
        return self._child(self.messages_in, "in", shop, sender)

    def delivered(self, shop: str, sender: str) -> Counter:
        return self._child(self.messages_out, "out", shop, sender)

    def decided(self, shop: str, decision: str) -> Counter:
        return self._child(self.bot_decisions, "decision", shop, decision)

    def _child(self, metric: Counter, *key: str) -> Counter:
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*key[1:])
        return child

    def render(self) -> bytes:
        directory = os.environ.get(METRICS_DIR_ENV)
        if directory:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
            return bytes(generate_latest(registry))
        return bytes(generate_latest(self.registry))
