"""Judging a chaos run: what the clients were shown, against what Redis holds afterwards.

Figures (all counts are of the raw protocol; no client-side dedupe):
- acked_lost: acked messages missing from Redis, or never shown to the other side
  (agent lines to the shopper; shopper lines to an agent whenever the chat had one);
- duplicates_shown: one id shown twice to a client (shopper: live frames and history; agent:
  live `message` frames, and a live frame repeating a line of the same socket's transcript);
- duplicate_ids: one message shown or stored under two different ids (by client_msg_id and text);
- order_violations: sequence numbers of a conversation arriving out of order (and shopper log
  ids not increasing);
- queue_order_inversions: two shoppers waiting before the fault, assigned in the other order;
- shoppers_not_resumed: a reconnect after the fault answered with resumed=false.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kefu.store.keys import ShopKeys
from tests.chaos.clients import Observation, Sent, id_key, parse_text
from tests.chaos.cluster import SHOP, Cluster

if TYPE_CHECKING:
    from tests.chaos.run import Run

__all__ = ["KEYS", "judge", "report", "server_logs"]

KEYS = ShopKeys(SHOP)
MAX_DETAILS = 12


@dataclass
class Truth:
    """What Redis holds after the run: every line of every session's log, every conversation."""

    # Stream ids are per session log: (session, id) → fields.
    entries: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    texts: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    convs: dict[str, dict[str, str]] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)


async def read_truth(run: Run) -> Truth:
    redis = run.cluster.client
    truth = Truth()
    sessions = {sid for s in run.shoppers for sid in s.sessions}
    for sid in sorted(sessions):
        for entry_id, fields in await redis.xrange(KEYS.log(sid)):
            truth.entries[(sid, str(entry_id))] = {str(k): str(v) for k, v in fields.items()}
            if parse_text(fields.get("t", "")):
                truth.texts[fields["t"]].append(f"{sid}/{entry_id}")
    conv_ids = {f.get("c", "") for f in truth.entries.values()} | set(run.queue_before)
    for conv in sorted(c for c in conv_ids if c):
        truth.convs[conv] = {
            str(k): str(v) for k, v in (await redis.hgetall(KEYS.conversation(conv))).items()
        }
    truth.state = await read_state(run)
    return truth


async def read_state(run: Run) -> dict[str, Any]:
    """Where the unfinished chats and the agents stand in Redis (for the report)."""
    redis = run.cluster.client
    state: dict[str, Any] = {}
    for s in run.shoppers:
        if s.done or not s.session_id:
            continue
        conv = await redis.hget(KEYS.session(s.session_id), "conv")
        record = await redis.hgetall(KEYS.conversation(str(conv))) if conv else {}
        rank = await redis.zrank(KEYS.queue(record.get("group", "general")), str(conv)) if conv else None
        presence = await redis.pttl(KEYS.shopper_presence(s.session_id))
        state[s.name] = {"conv": conv, "queue_rank": rank, "presence_ttl_ms": presence, **record}
    for a in run.agents:
        agent_id = await agent_id_of(run, a.name)
        record = await redis.hgetall(KEYS.agent(agent_id))
        state[a.name] = {
            "id": agent_id,
            "status": record.get("status"),
            "convs": sorted(await redis.smembers(KEYS.agent_conversations(agent_id))),
            "presence_ttl_ms": await redis.pttl(KEYS.agent_presence(agent_id)),
            "live_ttl_ms": await redis.pttl(KEYS.agent_live(agent_id)),
            "client_holds": sorted(a.convs),
        }
    state["queue"] = [str(c) for c in await redis.zrange(KEYS.queue("general"), 0, -1)]
    return state


async def agent_id_of(run: Run, username: str) -> str:
    raw = await run.cluster.client.hget(KEYS.users, username)
    return str(json.loads(raw)["id"]) if raw else "?"


class Judge:
    def __init__(self, run: Run, truth: Truth) -> None:
        self.run = run
        self.truth = truth
        self.figures: dict[str, Any] = {}
        self.problems: list[str] = []
        self.by_client: defaultdict[str, list[Observation]] = defaultdict(list)
        for o in run.observations:
            self.by_client[o.client].append(o)
        self.agent_names = {a.name for a in run.agents}
        self.lost: set[str] = set()
        self.replays = self.resume_replays()

    def resume_replays(self) -> list[Observation]:
        """Live frames on a resumed shopper socket for lines the client already had (id at or
        below the `last_id` it resumed with) or that the same socket's history holds: the
        server replaying the log on resume (see test_reconnect_storm). Counted on their own
        and left out of the duplicate and order figures, which then show any other cause."""
        out = []
        for s in self.run.shoppers:
            observed = self.by_client.get(s.name, [])
            for conn, info in enumerate(s.connections):
                if not info["resumed"]:
                    continue
                history = [o.id for o in observed if o.conn == conn and o.source == "history" and o.id]
                marks = [m for m in [info["last_id"], *history] if m]
                if not marks:
                    continue
                top = max(id_key(m) for m in marks)
                out += [
                    o
                    for o in observed
                    if o.conn == conn and o.source == "live" and o.id and id_key(o.id) <= top
                ]
        return out

    def counted(self, observed: list[Observation]) -> list[Observation]:
        replayed = {id(o) for o in self.replays}
        return [o for o in observed if id(o) not in replayed]

    def problem(self, kind: str, details: list[str]) -> None:
        if details:
            shown = details[:MAX_DETAILS]
            more = f" (and {len(details) - MAX_DETAILS} more)" if len(details) > MAX_DETAILS else ""
            self.problems.append(f"{kind}: {len(details)}{more}\n    " + "\n    ".join(shown))

    # ---- messages ----

    def messages(self) -> None:
        sent = list(self.run.sent.values())
        acked = [s for s in sent if s.ids]
        refused = [s for s in sent if not s.ids and any(e != "rate_limited" for e in s.errors)]
        never = [s for s in sent if not s.ids and s not in refused]
        self.figures.update(
            messages_sent=len(sent),
            messages_acked=len(acked),
            shopper_acked=sum(1 for s in acked if s.sender == "shopper"),
            agent_acked=sum(1 for s in acked if s.sender == "agent"),
            resent=sum(1 for s in sent if s.sends > 1),
            refused=dict(Counter(e for s in refused for e in s.errors)),
            never_acked=len(never),
        )
        self.problem("sent but never acked (and not refused)", [describe(s) for s in never])
        shown: defaultdict[str, set[str]] = defaultdict(set)
        for o in self.run.observations:
            if o.id:
                shown[o.client].add(o.id)
        agents_saw = {(o.conv, o.id) for o in self.run.observations if o.client in self.agent_names and o.id}
        missing, undelivered, echo = [], [], []
        for s in acked:
            entry = self.truth.entries.get((s.session or "", s.ids[0]))
            if entry is None or entry.get("t") != s.text:
                missing.append(describe(s) + f"; Redis has {entry!r}")
                self.lost.add(s.cmid)
                continue
            if s.sender == "agent":
                shopper = self.run.shopper_of.get(s.session or "")
                if shopper is None or s.ids[0] not in shown[shopper.name]:
                    undelivered.append(describe(s) + f"; never shown to {shopper and shopper.name}")
                    self.lost.add(s.cmid)
                continue
            if s.ids[0] not in shown[s.who]:
                echo.append(describe(s) + "; the shopper's own line never came back")
            conv = self.truth.convs.get(entry.get("c", ""), {})
            if conv.get("first_assigned_at") and (conv.get("id"), s.ids[0]) not in agents_saw:
                undelivered.append(describe(s) + f"; conversation {conv.get('id')} had an agent, none saw it")
                self.lost.add(s.cmid)
        self.figures.update(
            acked_lost=len(missing) + len(undelivered),
            acked_missing_in_redis=len(missing),
            acked_not_delivered=len(undelivered),
            own_line_not_shown=len(echo),
        )
        self.problem("acked but missing in Redis", missing)
        self.problem("acked but never delivered", undelivered)
        self.problem("acked shopper line never shown back to the shopper", echo)
        latencies = sorted(s.acked_at - s.first_sent for s in acked if s.acked_at is not None)
        if latencies:
            self.figures["ack_latency_p50_s"] = round(latencies[len(latencies) // 2], 3)
            self.figures["ack_latency_max_s"] = round(latencies[-1], 3)

    def watched(self) -> None:
        """Groups of messages a fault singled out (e.g. acked just before Redis was killed)."""
        for name, cmids in self.run.watch.items():
            self.figures[name] = len(cmids)
            self.figures[f"{name}_lost"] = len(self.lost & set(cmids))

    # ---- duplicates ----

    def duplicates(self) -> None:
        same_id: list[str] = []
        for name, observed in self.by_client.items():
            if name in self.agent_names:
                same_id += self.agent_repeats(name, observed)
            else:
                counts = Counter(o.id for o in self.counted(observed) if o.id)
                same_id += [
                    f"{name} shown {entry_id} {n}x: " + seen_as(observed, entry_id)
                    for entry_id, n in counts.items()
                    if n > 1
                ]
        two_ids = self.two_ids()
        stored_twice = [f"{t!r} stored as {ids}" for t, ids in self.truth.texts.items() if len(ids) > 1]
        self.figures.update(
            duplicates_shown=len(same_id),
            duplicate_ids=len(two_ids),
            duplicates_stored=len(stored_twice),
            replayed_on_resume=len(self.replays),
            shoppers_with_replay=len({o.client for o in self.replays}),
        )
        self.problem(
            "lines replayed on resume (known race, see test_reconnect_storm)",
            [f"{o.client} socket {o.conn} t={o.at:.3f}: {o.kind} {o.id} {o.text!r}" for o in self.replays],
        )
        self.problem("one id shown twice", same_id)
        self.problem("one message under two ids", two_ids)
        self.problem("one message stored twice", stored_twice)

    @staticmethod
    def agent_repeats(name: str, observed: list[Observation]) -> list[str]:
        """Live lines already shown live (any socket) or in this socket's transcripts."""
        out = []
        live_before: set[tuple[str | None, str]] = set()
        snapshot: defaultdict[int, set[tuple[str | None, str]]] = defaultdict(set)
        for o in observed:
            if not o.id:
                continue
            key = (o.conv, o.id)  # ids are per session log: the conversation tells which
            if o.source == "live":
                if key in live_before or key in snapshot[o.conn]:
                    out.append(
                        f"{name} shown {o.id} of {o.conv} again live (socket {o.conn}): "
                        + seen_as([x for x in observed if x.conv == o.conv], o.id)
                    )
                live_before.add(key)
            snapshot[o.conn].add(key)
        return out

    def two_ids(self) -> list[str]:
        by_text: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
        by_cmid: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
        for o in self.run.observations:
            if o.id and parse_text(o.text):
                by_text[(o.client, o.text)].add(o.id)
            if o.id and o.cmid:
                by_cmid[(o.client, o.cmid)].add(o.id)
        for s in self.run.sent.values():
            by_cmid[(s.who, s.cmid)].update(s.ids)
        return [
            f"{who} got {text!r} as {sorted(ids)}" for (who, text), ids in by_text.items() if len(ids) > 1
        ] + [
            f"{who}: client_msg_id {cmid} answered with {sorted(ids)}"
            for (who, cmid), ids in by_cmid.items()
            if len(ids) > 1
        ]

    # ---- order ----

    def order(self) -> None:
        out: list[str] = []
        for name, observed in self.by_client.items():
            if name in self.agent_names:
                out += self.agent_order(name, observed)
            else:
                out += self.shopper_order(name, observed)
        self.figures["order_violations"] = len(out)
        self.problem("out of order", out)

    def shopper_order(self, name: str, observed: list[Observation]) -> list[str]:
        out = []
        last_seq: dict[str, int] = {}
        last_id: dict[str, str] = {}
        shopper = next(s for s in self.run.shoppers if s.name == name)
        for o in self.counted(observed):
            session = shopper.connections[o.conn]["session"] if o.conn < len(shopper.connections) else "?"
            if o.id:
                previous = last_id.get(session)
                if previous is not None and id_key(o.id) < id_key(previous):
                    out.append(f"{name} socket {o.conn}: id {o.id} ({o.kind} {o.text!r}) after {previous}")
                if previous is None or id_key(o.id) > id_key(previous):
                    last_id[session] = o.id
            parsed = parse_text(o.text)
            if parsed is None or o.kind not in ("agent", "shopper"):
                continue
            key = parsed[1]
            if key in last_seq and parsed[2] < last_seq[key]:
                out.append(f"{name} socket {o.conn} ({o.source}): {o.text!r} after seq {last_seq[key]}")
            last_seq[key] = max(parsed[2], last_seq.get(key, 0))
        return out

    @staticmethod
    def agent_order(name: str, observed: list[Observation]) -> list[str]:
        out = []
        last: dict[tuple[int, str], int] = {}
        for o in observed:
            if o.kind == "transcript":
                last.pop((o.conn, str(o.conv)), None)  # a transcript starts from the beginning
                continue
            parsed = parse_text(o.text)
            if parsed is None or o.conv is None:
                continue
            key = (o.conn, o.conv)
            if key in last and parsed[2] < last[key]:
                out.append(
                    f"{name} socket {o.conn} ({o.source}) conv {o.conv}: {o.text!r} after seq {last[key]}"
                )
            last[key] = max(parsed[2], last.get(key, 0))
        return out

    # ---- queue ----

    def queue_order(self) -> None:
        before = self.run.queue_before
        times = [(conv, self.truth.convs.get(conv, {}).get("first_assigned_at")) for conv in before]
        never = [conv for conv, t in times if not t]
        assigned = [(conv, int(t)) for conv, t in times if t]
        inversions = [
            f"{a} (queue position {before.index(a) + 1}, {self.shopper_name(a)}) assigned at {ta}, "
            f"after {b} (position {before.index(b) + 1}, {self.shopper_name(b)}) at {tb}"
            for i, (a, ta) in enumerate(assigned)
            for b, tb in assigned[i + 1 :]
            if ta > tb
        ]
        left = [o for o in self.run.observations if o.event == "left_queue"]
        self.figures.update(
            queued_at_fault=len(before),
            queue_order_inversions=len(inversions),
            queued_never_assigned=len(never),
            left_queue_notices=len(left),
        )
        self.problem("queue order changed", inversions)
        self.problem(
            "waiting before the fault, never assigned",
            [f"{c} ({self.shopper_name(c)}): {self.truth.convs.get(c)}" for c in never],
        )

    def shopper_name(self, conv: str) -> str:
        session = self.truth.convs.get(conv, {}).get("session", "")
        shopper = self.run.shopper_of.get(session)
        return shopper.name if shopper else "?"

    # ---- resuming ----

    def resumption(self) -> None:
        start = self.run.marks.get("fault_start", 0.0)
        dropped, resumed, refused, stranded = 0, 0, [], []
        for s in self.run.shoppers:
            drops = [d for d in s.disconnects if d["at"] >= start and not d["done"]]
            if not drops:
                continue
            dropped += 1
            after = [c for c in s.connections if c["at"] >= drops[0]["at"]]
            refused += [
                f"{s.name} at {c['at']:.2f} on {c['instance']}: resumed=false"
                for c in after
                if not c["resumed"]
            ]
            if not after:
                stranded.append(f"{s.name}: dropped at {drops[0]['at']:.2f}, never reconnected")
            elif all(c["resumed"] for c in after):
                resumed += 1
        agents_back = sum(1 for a in self.run.agents if any(c["at"] >= start for c in a.connections[1:]))
        self.figures.update(
            shoppers_dropped=dropped,
            shoppers_resumed=resumed,
            shoppers_not_resumed=len(refused),
            shoppers_not_reconnected=len(stranded),
            agents_reconnected=agents_back,
            reconnects=sum(len(c.connections) - 1 for c in [*self.run.shoppers, *self.run.agents]),
            close_codes=dict(
                Counter(
                    str(d["code"])
                    for c in [*self.run.shoppers, *self.run.agents]
                    for d in c.disconnects
                    if not d["done"]
                )
            ),
        )
        self.problem("reconnect not resumed", refused)
        self.problem("dropped and never back", stranded)

    def only_before_hello(self) -> list[str]:
        out = []
        for a in self.run.agents:
            observed = self.by_client.get(a.name, [])
            for conn in range(len(a.connections)):
                mine = [o for o in observed if o.conn == conn]
                hello = next((i for i, o in enumerate(mine) if o.kind == "hello"), len(mine))
                snapshot = {(o.conv, o.id) for o in mine[hello:] if o.source == "snapshot"}
                out += [
                    f"{a.name} socket {conn} t={o.at:.3f}: {o.id} {o.text!r} of {o.conv}"
                    for o in mine[:hello]
                    if o.source == "live" and o.kind == "shopper" and (o.conv, o.id) not in snapshot
                ]
        return out

    def completion(self) -> None:
        unfinished = [
            f"{s.name}: state {s.state}, session {s.session_id}, {len(s.unacked)} unacked, "
            f"{s.assigned_sent} lines to the agent"
            for s in self.run.shoppers
            if not s.done
        ]
        self.figures.update(
            shoppers=len(self.run.shoppers),
            shoppers_done=len(self.run.shoppers) - len(unfinished),
            agents=len(self.run.agents),
            conversations=len({c for c in self.run.agent_seq}),
            errors=dict(self.run.errors),
            client_connect_failures=sum(len(c.failures) for c in [*self.run.shoppers, *self.run.agents]),
        )
        self.figures["protocol_violations"] = len(self.run.early)
        hidden = self.only_before_hello()
        self.figures["agent_lines_only_before_hello"] = len(hidden)
        self.problem(
            "shopper lines an agent was shown only before `hello`, missing from it "
            "(a console that opens fresh drops them: lost for that agent)",
            hidden,
        )
        self.problem("shopper never finished", unfinished)
        self.problem("protocol violations (frame order on a new socket)", self.run.early)
        self.problem("harness crash", self.run.client_crashes)


def describe(s: Sent) -> str:
    ids = ",".join(s.ids) or "-"
    acked = f"{s.acked_at:.3f}" if s.acked_at is not None else "-"
    return (
        f"{s.cmid} {s.text!r} ({s.sender} {s.who}, session {s.session}) "
        f"sent t={s.first_sent:.3f} x{s.sends}, acked t={acked} as {ids}, errors {s.errors}"
    )


def seen_as(observed: list[Observation], entry_id: str) -> str:
    return "; ".join(
        f"t={o.at:.3f} socket {o.conn} {o.source} {o.kind} {o.text!r}" for o in observed if o.id == entry_id
    )


async def judge(run: Run) -> dict[str, Any]:
    truth = await read_truth(run)
    j = Judge(run, truth)
    j.completion()
    j.messages()
    j.watched()
    j.duplicates()
    j.order()
    j.queue_order()
    j.resumption()
    figures = {**j.figures, **run.extra, **{f"t_{k}": v for k, v in run.marks.items()}}
    return {"figures": figures, "problems": j.problems, "notes": run.notes, "state": truth.state}


def server_logs(cluster: Cluster) -> dict[str, Any]:
    """Per instance: warnings and errors by event, and the first few of them in full."""
    out: dict[str, Any] = {}
    for instance in cluster.instances:
        lines = instance.log_lines()
        bad = [
            line for line in lines if line.get("level") in ("warning", "error", "critical") or "raw" in line
        ]
        raw = [
            line["raw"] for line in lines if "raw" in line and not line["raw"].startswith("kefu is listening")
        ]
        out[instance.name] = {
            "starts": instance.starts,
            "exit_codes": instance.exit_codes,
            "by_event": dict(Counter(str(line.get("event", "raw")) for line in bad)),
            "first": [str(line)[:600] for line in bad[:8]],
            "raw_lines": len(raw),
        }
    redis_log = [line for line in cluster.redis_log().splitlines() if line.strip()]
    out["redis"] = redis_log[-12:]
    return out


def report(verdict: dict[str, Any]) -> str:
    """The figures, the problems with their details, the timeline and the server's complaints."""
    figures = verdict["figures"]
    lines = [f"== chaos: {figures.get('scenario')}"]
    lines += [f"  {k:<28} {v}" for k, v in figures.items() if k != "scenario"]
    if verdict["problems"]:
        lines.append("-- problems")
        lines += ["  " + p for p in verdict["problems"]]
    lines.append("-- timeline")
    lines += ["  " + n for n in verdict["notes"][:60]]
    if verdict["problems"]:
        lines.append("-- state in Redis afterwards (unfinished shoppers, agents, queue)")
        lines += [f"  {k}: {v}" for k, v in verdict.get("state", {}).items()]
    lines.append("-- server logs")
    for name, summary in verdict.get("server", {}).items():
        if name == "redis":
            lines += [f"  redis: {line}" for line in summary]
            continue
        lines.append(
            f"  {name}: starts {summary['starts']}, exits {summary['exit_codes']}, {summary['by_event']}"
        )
        lines += ["    " + line for line in summary["first"]]
    return "\n".join(lines)
