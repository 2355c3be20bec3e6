// What each agent-socket frame does to the workspace (docs/protocol.md "Server → agent").
// Requests waiting for an answer sit in `ws.inflight`, so an `error` frame lands on the
// message, transfer or status change it answers.

import { setTimeZone } from "/static/common/dom.js";
import { t, errorText, closedText } from "./i18n.js";
import {
  addLine,
  ackLine,
  createConversation,
  groupName,
  idMs,
  mergeTranscript,
  setGroupNames,
  setProduct,
  shopperLabel,
} from "./model.js";
import { addNudge, restoreNudges, saveNudges } from "./nudges.js";
import { playChime, showNotification } from "./alerts.js";

const TYPING_SHOWN_MS = 6000;

/** Handle one frame; `ws` is the Workspace (workspace.js). */
export function handleFrame(ws, frame) {
  switch (frame.type) {
    case "hello":
      onHello(ws, frame);
      break;
    case "assigned":
      onAssigned(ws, frame.conversation, true);
      break;
    case "message":
      onMessage(ws, frame);
      break;
    case "typing":
      onTyping(ws, frame);
      break;
    case "conversation_closed":
      onClosed(ws, frame);
      break;
    case "queue":
      ws.queue = { waiting: frame.waiting || 0, groups: frame.groups || {} };
      ws.renderTop();
      break;
    case "status":
      ws.takeRequest((r) => r.kind === "status");
      ws.statusRequested = null;
      ws.status = frame.status;
      if (typeof frame.capacity === "number") ws.capacity = frame.capacity;
      ws.renderTop();
      break;
    case "ack":
      onAck(ws, frame);
      break;
    case "transferred":
      onTransferred(ws, frame);
      break;
    case "viewing":
      onViewing(ws, frame);
      break;
    case "payment_due":
      onPaymentDue(ws, frame);
      break;
    case "error":
      onError(ws, frame);
      break;
    default:
      break; // pong and anything newer
  }
}

function onHello(ws, frame) {
  const agent = frame.agent || {};
  if (frame.timezone) {
    setTimeZone(String(frame.timezone)); // times in the shop's clock, as admin shows them
    ws.timezone = String(frame.timezone);
  }
  ws.me = { ...ws.me, id: agent.id || ws.me.id, name: agent.name || ws.me.name, username: agent.username || ws.me.username };
  ws.status = agent.status || "offline";
  if (typeof agent.capacity === "number") ws.capacity = agent.capacity;
  ws.queue = { waiting: (frame.queue && frame.queue.waiting) || 0, groups: (frame.queue && frame.queue.groups) || {} };
  ws.groups = Array.isArray(frame.groups) ? frame.groups : [];
  setGroupNames(frame.group_names);
  const reconnect = ws.helloSeen;
  ws.helloSeen = true;
  const held = new Set();
  for (const raw of frame.conversations || []) {
    held.add(raw.id);
    const conv = ws.conversations.get(raw.id);
    if (conv) {
      conv.caughtUpShopper = 0;
      mergeTranscript(conv, raw.transcript || [], ws.me.id, { live: true });
      conv.group = raw.group || conv.group;
      conv.shopper = raw.shopper || conv.shopper;
      setProduct(conv, raw.product, null);
      if (conv.closed === "gone") conv.closed = null;
      if (conv.caughtUpShopper && !ws.isViewing(conv)) conv.unread += conv.caughtUpShopper;
    } else {
      onAssigned(ws, raw, false);
    }
  }
  for (const conv of ws.conversations.values()) {
    if (!held.has(conv.id) && !conv.closed) markClosed(conv, "gone");
  }
  // Messages typed while disconnected, or sent but never acked: send again (same
  // client_msg_id, so the server stores each once).
  for (const conv of ws.conversations.values()) {
    if (conv.closed) continue;
    for (const line of conv.lines) {
      if (line.local && !line.id && line.state === "pending") ws.transmit(conv, line);
    }
  }
  if (!reconnect && !ws.selectedId && !ws.narrow) {
    const first = [...ws.conversations.values()].find((c) => !c.closed);
    if (first) ws.select(first.id, { focus: false });
  }
  ws.customers.load(ws.selected()); // after a reconnect, if what was fetched is old
  ws.render();
}

function onAssigned(ws, raw, isNew) {
  if (!raw || !raw.id) return;
  let conv = ws.conversations.get(raw.id);
  if (conv) {
    // Ours again (e.g. transferred back): keep what we have, add what is new.
    mergeTranscript(conv, raw.transcript || [], ws.me.id);
    conv.closed = null;
    conv.group = raw.group || conv.group;
    conv.waited_s = raw.waited_s || conv.waited_s;
    conv.shopper = raw.shopper || conv.shopper;
    setProduct(conv, raw.product, null);
  } else {
    conv = createConversation(raw, ws.me.id);
    restoreNudges(conv);
    ws.conversations.set(conv.id, conv);
  }
  if (!isNew) return;
  ws.customers.load(conv, { force: true }); // who it is, beside the chat, before it is opened
  const label = shopperLabel(conv, t);
  const open = () => {
    ws.setTab("chats");
    ws.select(conv.id);
  };
  playChime();
  showNotification(t("newChat"), `${label} · ${groupName(conv.group)}`, `kefu-${conv.id}`, open);
  ws.toast(t("newChatNotice", label), "info", open);
  // Open it when the agent is looking at nothing (on a narrow screen the list stays in view).
  if (!ws.selected() && !ws.narrow) ws.select(conv.id, { focus: false });
  ws.render();
}

function onMessage(ws, frame) {
  const conv = ws.conversations.get(frame.conversation_id);
  if (!conv) return;
  const line = {
    id: frame.id,
    from: frame.from || "shopper",
    text: frame.text || "",
    ts: frame.ts,
    conversation_id: frame.conversation_id,
    live: true,
    fresh: true,
  };
  if (!addLine(conv, line, ws.me.id)) return; // already shown (dedupe by id)
  conv.typingUntil = 0;
  if (line.from === "shopper" && !ws.isViewing(conv)) conv.unread += 1;
  ws.render();
}

/** The shopper opened another product's page: the card follows, the transcript notes it. */
function onViewing(ws, frame) {
  const conv = ws.conversations.get(frame.conversation_id);
  if (!conv || !frame.product || typeof frame.product !== "object") return;
  setProduct(conv, frame.product, frame.id);
  if (frame.id) {
    addLine(
      conv,
      {
        id: frame.id,
        from: "system",
        event: "product",
        product: frame.product,
        text: "",
        ts: idMs(frame.id),
        conversation_id: frame.conversation_id,
        live: true,
      },
      ws.me.id,
    );
  }
  ws.render();
}

/** 催付: an order placed in this chat is still unpaid; nudge the agent (nothing is sent). */
function onPaymentDue(ws, frame) {
  const conv = ws.conversations.get(frame.conversation_id);
  if (!conv) return; // dismissed from the list: the chat is over, nobody to remind
  if (!addNudge(conv, frame)) return;
  saveNudges(ws.conversations);
  const label = shopperLabel(conv, t);
  ws.toast(t("paymentDueToast", label, String(frame.order_id)), "info", () => {
    ws.setTab("chats");
    ws.select(conv.id);
  });
  ws.customers.load(conv, { force: true }); // the order's latest state
  ws.render();
}

function onTyping(ws, frame) {
  const conv = ws.conversations.get(frame.conversation_id);
  if (!conv || conv.closed) return;
  conv.typingUntil = Date.now() + TYPING_SHOWN_MS;
  ws.renderTyping();
}

function onAck(ws, frame) {
  const request = ws.takeRequest((r) => r.kind === "message" && r.cid === frame.client_msg_id);
  const conv = request ? ws.conversations.get(request.conv) : null;
  const candidates = conv ? [conv] : [...ws.conversations.values()];
  for (const c of candidates) {
    if (ackLine(c, frame.client_msg_id, frame.id)) break;
  }
  ws.render();
}

function onTransferred(ws, frame) {
  ws.takeRequest((r) => r.kind === "transfer" && r.conv === frame.conversation_id);
  const conv = ws.conversations.get(frame.conversation_id);
  if (conv) {
    conv.transferring = null;
    conv.transferredTo = frame.group; // the conversation_closed that follows needs no second notice
  }
  ws.toast(t("transferredNotice", groupName(frame.group), frame.status), "ok");
  ws.render();
}

function onClosed(ws, frame) {
  ws.takeRequest((r) => r.kind === "close" && r.conv === frame.conversation_id);
  const conv = ws.conversations.get(frame.conversation_id);
  if (!conv) return;
  if (frame.by === "transferred") {
    const label = shopperLabel(conv, t);
    ws.conversations.delete(conv.id);
    if (ws.selectedId === conv.id) ws.select(null, { focus: false });
    if (!conv.transferredTo) ws.toast(t("transferredAway", label), "info");
    ws.render();
    return;
  }
  markClosed(conv, frame.by || "closed");
  ws.render();
}

/** The chat is no longer ours (`by`: agent, shopper, timeout, left, gone…): read only. */
function markClosed(conv, by) {
  conv.closed = by;
  conv.typingUntil = 0;
  conv.transferring = null;
  for (const line of conv.lines) {
    if (line.local && !line.id && line.state === "pending") {
      line.state = "failed";
      line.error = closedText(by);
    }
  }
  conv.version += 1;
}

function onError(ws, frame) {
  const text = errorText(frame.code, frame.message);
  const request = ws.inflight.shift();
  if (!request) {
    ws.toast(text, "error");
    return;
  }
  const conv = request.conv ? ws.conversations.get(request.conv) : null;
  if (request.kind === "message" && conv) {
    const line = conv.lines.find((l) => l.local && l.client_msg_id === request.cid);
    if (line && !line.id) {
      line.state = "failed";
      line.error = text;
      conv.version += 1;
    }
    if (conv.id === ws.selectedId) ws.pane.showError(text);
    else ws.toast(text, "error");
  } else if (request.kind === "transfer" && conv) {
    conv.transferring = null;
    conv.transferError = text;
  } else if (request.kind === "status") {
    ws.statusRequested = null;
    ws.toast(text, "error");
  } else {
    ws.toast(text, "error");
  }
  // not_assigned: the chat left us; the matching conversation_closed normally arrives too.
  ws.render();
}
