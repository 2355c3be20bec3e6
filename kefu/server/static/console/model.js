// The console's conversation model: transcript lines merged from `hello`, `assigned`, live
// `message` frames and the agent's own sent messages, deduplicated by message id.

const groupNames = new Map();

/** The shop's group display names, from hello.group_names ({presale: "售前"}). */
export function setGroupNames(names) {
  groupNames.clear();
  for (const [id, name] of Object.entries(names || {})) {
    if (typeof name === "string" && name) groupNames.set(id, name);
  }
}

/** What an agent reads for group `id`: its display name, else the id itself. */
export function groupName(id) {
  return groupNames.get(id) || id;
}

/** Compare Redis stream ids ("1732290000000-0"): negative, 0 or positive. */
export function compareIds(a, b) {
  const [am, as = "0"] = String(a).split("-");
  const [bm, bs = "0"] = String(b).split("-");
  const dm = Number(am) - Number(bm);
  return dm !== 0 ? dm : Number(as) - Number(bs);
}

/** Milliseconds of a stream id ("1732290000000-0"), or null. */
export function idMs(id) {
  const ms = Number(String(id || "").split("-")[0]);
  return Number.isFinite(ms) && ms > 0 ? ms : null;
}

/** A conversation as the console keeps it. `raw` is hello.conversations[i] or assigned.conversation. */
export function createConversation(raw, agentId) {
  const conv = {
    id: raw.id,
    group: raw.group || "",
    waited_s: raw.waited_s || 0,
    earlier: raw.earlier || 0, // older transcript lines the server did not send
    shopper: raw.shopper || {},
    lines: [], // sorted by id; the agent's unacknowledged messages (no id yet) last
    ids: new Set(),
    liveFrom: null, // id of the last agent_joined line: later lines are the live chat
    unread: 0,
    closed: null, // null while open, else who/why: agent, shopper, timeout, left, gone…
    typingUntil: 0,
    draft: "",
    version: 0,
    assignedAt: Date.now(),
    notice: null, // {kind, text} shown above the composer
    product: null, // the product the shopper looks at (its card in the customer panel)
    productSeq: 0, // counts product changes, so a late REST answer cannot undo a newer one
    productAt: null, // ms, when the shopper opened that product's page
    profile: null, // the customer view (customer.js), fetched when the chat is assigned or opened
    paymentDue: [], // 催付 nudges (nudges.js)
  };
  mergeTranscript(conv, raw.transcript || [], agentId);
  setProduct(conv, raw.product, null);
  // Shopper lines nobody answered yet count as unread for a chat the agent has not opened.
  let unread = 0;
  for (const line of conv.lines) {
    if (line.from === "agent") unread = 0;
    else if (line.from === "shopper") unread += 1;
  }
  conv.unread = unread;
  return conv;
}

export function shopperLabel(conv, t) {
  const customer = conv.shopper && conv.shopper.customer;
  if (customer && customer.id) return String(customer.name || customer.id);
  const sid = (conv.shopper && conv.shopper.session_id) || conv.id || "";
  return t("visitor", sid.slice(-4));
}

/**
 * The shopper is on `product`'s page (from `assigned`/`hello`, or a `viewing` frame with the
 * id of its transcript line); null/undefined leaves the card as it is. True if it changed.
 */
export function setProduct(conv, product, entryId) {
  if (!product || typeof product !== "object" || !product.title) return false;
  let at = idMs(entryId);
  if (!at) {
    // When it was opened: the transcript's last product line, if it is that product.
    const line = [...conv.lines].reverse().find((l) => l.from === "system" && l.event === "product");
    if (line && line.product && line.product.id === product.id) at = idMs(line.id);
  }
  const same = JSON.stringify(conv.product) === JSON.stringify(product);
  if (same && (!at || at === conv.productAt)) return false;
  conv.product = product;
  conv.productAt = at || (same ? conv.productAt : null);
  conv.productSeq += 1;
  return true;
}

/** Merge transcript lines (from hello or assigned); returns how many were new. */
export function mergeTranscript(conv, transcript, agentId, { live = false } = {}) {
  let added = 0;
  for (const raw of transcript) {
    const line = { ...raw };
    if (live) line.live = true; // caught up after a reconnect: part of the live chat
    if (addLine(conv, line, agentId)) {
      added += 1;
      if (live && line.from === "shopper") conv.caughtUpShopper = (conv.caughtUpShopper || 0) + 1;
    }
  }
  let joined = null;
  for (const line of conv.lines) {
    if (line.from === "system" && line.event === "agent_joined" && line.id) joined = line.id;
  }
  conv.liveFrom = joined;
  if (added) conv.version += 1;
  return added;
}

/** Add one line unless its id is known; the echo of an own pending message fills it in. */
export function addLine(conv, line, agentId) {
  if (line.id && conv.ids.has(line.id)) return false;
  if (line.from === "agent" && line.client_msg_id && line.id) {
    const prefix = agentId ? `${agentId}:` : null;
    const cid =
      prefix && line.client_msg_id.startsWith(prefix) ? line.client_msg_id.slice(prefix.length) : line.client_msg_id;
    const pending = conv.lines.find((l) => l.local && !l.id && l.client_msg_id === cid);
    if (pending) {
      pending.id = line.id;
      pending.ts = line.ts || pending.ts;
      pending.state = "acked";
      conv.ids.add(line.id);
      sortLines(conv);
      conv.version += 1;
      return true;
    }
  }
  if (!line.recvAt) line.recvAt = Date.now();
  if (line.id) conv.ids.add(line.id);
  conv.lines.push(line);
  sortLines(conv);
  conv.version += 1;
  return true;
}

function sortLines(conv) {
  conv.lines.sort((a, b) => {
    if (a.id && b.id) return compareIds(a.id, b.id);
    if (a.id) return -1;
    if (b.id) return 1;
    return (a.recvAt || 0) - (b.recvAt || 0);
  });
}

/** The agent's own message, pending until acked. */
export function addPending(conv, text, clientMsgId, agent) {
  const line = {
    id: null,
    local: true,
    from: "agent",
    text,
    ts: Date.now(),
    recvAt: Date.now(),
    client_msg_id: clientMsgId,
    agent: { id: agent.id, name: agent.name },
    state: "pending",
  };
  conv.lines.push(line);
  conv.version += 1;
  return line;
}

/** Apply an `ack`: the pending line gets its id (dropped if that id is already shown). */
export function ackLine(conv, clientMsgId, id) {
  const line = conv.lines.find((l) => l.local && l.client_msg_id === clientMsgId);
  if (!line) return false;
  if (line.id === id && line.state === "acked") return true;
  if (id && conv.ids.has(id) && line.id !== id) {
    conv.lines.splice(conv.lines.indexOf(line), 1); // the transcript already had it
  } else {
    line.id = id;
    line.state = "acked";
    if (id) conv.ids.add(id);
    sortLines(conv);
  }
  conv.version += 1;
  return true;
}

export function isLive(conv, line) {
  if (!line.id) return true;
  if (line.live) return true;
  return conv.liveFrom !== null && compareIds(line.id, conv.liveFrom) > 0;
}

/** Local ms time since which the shopper waits for an answer, or null. */
export function waitingSince(conv) {
  if (conv.closed) return null;
  let since = null;
  for (let i = conv.lines.length - 1; i >= 0; i--) {
    const line = conv.lines[i];
    if (line.from === "system") continue;
    if (line.from !== "shopper") break;
    since = line.fresh ? line.recvAt : line.ts || line.recvAt;
  }
  return since;
}

/** The last line worth a preview in the list. */
export function lastMessage(conv) {
  for (let i = conv.lines.length - 1; i >= 0; i--) {
    const line = conv.lines[i];
    if (line.from !== "system" && line.text) return line;
  }
  return null;
}

let counter = 0;
export function newClientMsgId() {
  counter = (counter + 1) % 1e6;
  const rand = Math.random().toString(36).slice(2, 8);
  return `c${Date.now().toString(36)}${counter.toString(36)}${rand}`;
}
