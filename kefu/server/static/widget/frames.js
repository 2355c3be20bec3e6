// What each server frame does to the widget (docs/protocol.md "Server → shopper"). Frames with
// an id are handled once (ids the page has seen are dropped); `replay` marks frames rebuilt
// from the history after a (re)connect: they draw the chat but count nothing as unread and
// open no form.

import { idAfter } from "./state.js";
import { setBusy } from "./ui.js";

/** Handle one frame; `w` is the Widget (main.js). */
export function handleFrame(w, f, replay) {
  if (f.type === "batch") {
    // Several frames in one write (a bot turn's ack and reply), in order.
    for (const inner of Array.isArray(f.frames) ? f.frames : []) {
      if (inner && typeof inner === "object" && inner.type !== "batch") handleFrame(w, inner, replay);
    }
    return;
  }
  if (f.id) {
    if (w.state.seen.has(f.id)) return; // already on screen
    w.state.seen.add(f.id);
    noteId(w, f.id);
  }
  switch (f.type) {
    case "session":
      return onSession(w, f);
    case "history":
      return onHistory(w, f);
    case "bot":
      return onBot(w, f, replay);
    case "agent":
      return onAgent(w, f, replay);
    case "shopper":
      return onShopperEcho(w, f);
    case "agent_joined":
      return onAgentJoined(w, f);
    case "queued":
      return onQueued(w, f);
    case "offline":
      return onOffline(w, f, replay);
    case "closed":
      return onClosed(w, f);
    case "typing":
      if (!replay && f.from === "agent") w.log.showTyping();
      return;
    case "ack":
      if (f.client_msg_id) w.outbox.markSent(f.client_msg_id, f.id);
      return;
    case "error":
      return onError(w, f);
    default:
      return; // pong, or something newer than this widget
  }
}

// The last log id this page received: a reconnect asks only for what came after it.
function noteId(w, id) {
  if (typeof id === "string" && /^\d+-\d+$/.test(id) && idAfter(id, w.state.lastId)) {
    w.state.lastId = id;
    w.store.set("last_id", id);
  }
}

function onSession(w, f) {
  // Whatever token it carries names this browser's session from now on: a signed-in customer's
  // one session (shared by their devices) comes with a token of its own for this browser.
  if (f.token) w.store.set("token", f.token);
  w.socket.sessionStarted();
  w.identified(f.customer && typeof f.customer === "object" ? f.customer : null);
  if (!f.resumed) {
    // A new session (first visit, or the old token expired): history, if any, is gone.
    w.state.lastId = null;
    w.store.set("last_id", null);
    w.sendProduct();
    w.outbox.restore();
    w.outbox.flush();
  }
  // Resumed: the history frame comes next; the product and pending messages are sent after it
  // (it may show a closed chat, which a product frame would replace with a new one).
}

function onHistory(w, f) {
  const lines = Array.isArray(f.messages) ? f.messages : [];
  for (const line of lines) {
    if (!line || typeof line !== "object") continue;
    if (line.from === "shopper") {
      historyShopper(w, line);
      continue;
    }
    const frame = lineToFrame(line);
    if (frame) handleFrame(w, frame, true);
  }
  w.outbox.restore();
  w.log.toBottom();
  w.sendProduct();
  w.outbox.flush();
}

function historyShopper(w, line) {
  if (line.id) {
    if (w.state.seen.has(line.id)) return;
    w.state.seen.add(line.id);
    noteId(w, line.id);
  }
  const cid = line.client_msg_id;
  if (cid) w.outbox.forgetRestored(cid); // stored before the reload after all
  if (cid && w.outbox.onScreen(cid)) {
    // Ours, stored before the socket dropped: the ack we missed.
    w.outbox.markSent(cid, line.id);
    return;
  }
  const el = w.log.shopper(line.text || "", { id: line.id, clientId: cid, status: "sent", ts: line.ts });
  if (cid) w.outbox.shown(cid, el);
  w.shopperMoved();
}

// A history line as the live frame that would have drawn it.
function lineToFrame(line) {
  const base = { id: line.id, ts: line.ts };
  if (line.from === "bot") {
    return Object.assign(base, {
      type: "bot",
      text: line.text,
      decision: line.decision || "notice",
      faq_id: line.faq_id || null,
      suggestions: line.suggestions || [],
      actions: (line.actions || []).map((a) => ({ type: a.type, label: a.label || null })),
    });
  }
  if (line.from === "agent") return Object.assign(base, { type: "agent", text: line.text, agent: line.agent });
  if (line.from !== "system") return null;
  switch (line.event) {
    case "agent_joined":
      return Object.assign(base, { type: "agent_joined", agent: line.agent });
    case "closed":
      return Object.assign(base, { type: "closed", by: line.by });
    case "offline":
      return Object.assign(base, { type: "offline", text: line.text, leave_message: true });
    default:
      return Object.assign(base, { type: "bot", text: line.text, decision: "notice", suggestions: [], actions: [], event: line.event });
  }
}

function onBot(w, f, replay) {
  const { state } = w;
  const transfer = (Array.isArray(f.actions) ? f.actions : []).find((a) => a && a.type === "transfer");
  if (f.decision === "notice" && !transfer) {
    // A state notice (queued, rated, message left…), live or from history.
    w.log.notice(f.text, { id: f.id, event: f.event, ts: f.ts });
    onNotice(w, f.event, replay);
  } else {
    w.log.bot(f);
    w.countUnread(replay);
  }
  if (transfer) {
    state.transferLabel = transfer.label || state.transferLabel || w.T.transfer;
    setBusy(w.view.transferBtn, false);
    if (state.mode !== "bot") state.hadAgent = false;
    w.setMode("bot"); // only a conversation with the bot offers the transfer
  }
}

function onNotice(w, event, replay) {
  const { state } = w;
  // History tells which event; live notices answer what the shopper just did.
  const answered = event || (state.awaiting === "leave" ? "message_left" : state.awaiting === "rate" ? "rated" : null);
  if (answered === "message_left") {
    w.hideOffline();
    state.awaiting = null;
  } else if (answered === "rated") {
    w.hideRating();
    state.awaiting = null;
  } else if (event === "queued" || event === "transferred" || event === "requeued") {
    w.hideOffline();
    w.setMode("queued");
  } else if (event === "left_queue") {
    w.setMode("bot");
  }
  if (!replay && !event) w.countUnread(false);
}

function onAgent(w, f, replay) {
  const { state } = w;
  w.log.hideTyping();
  if (state.mode !== "agent" || !state.agent || (f.agent && f.agent.id !== state.agent.id)) {
    state.hadAgent = true;
    w.setMode("agent");
    state.agent = f.agent || { id: "", name: w.T.agent };
    w.render();
  }
  w.log.agent(f);
  w.countUnread(replay);
}

// The server echoes every stored shopper line: ours (it doubles as the ack, whichever of the
// two arrives first) or one sent from another tab of the same chat.
function onShopperEcho(w, f) {
  const cid = f.client_msg_id;
  if (cid && w.outbox.has(cid)) {
    w.outbox.markSent(cid, f.id);
    return;
  }
  w.state.seen.delete(f.id); // handleFrame marked it seen; historyShopper renders unseen lines only
  historyShopper(w, { id: f.id, text: f.text, ts: f.ts, client_msg_id: cid });
  w.log.toBottom();
}

function onAgentJoined(w, f) {
  const { state, T } = w;
  const agent = f.agent || { id: "", name: T.agent };
  const same = state.mode === "agent" && state.agent && state.agent.id === agent.id;
  if (f.id || !same) w.log.notice(T.agentJoined(agent.name || T.agent), { id: f.id, event: "agent_joined" });
  setBusy(w.view.transferBtn, false);
  w.hideOffline();
  w.hideRating();
  state.hadAgent = true;
  w.setMode("agent");
  state.agent = agent;
  w.render();
}

function onQueued(w, f) {
  setBusy(w.view.transferBtn, false);
  w.hideOffline();
  w.setMode("queued");
  w.state.queue = { position: f.position, estimated_wait_s: f.estimated_wait_s };
  w.render();
}

function onOffline(w, f, replay) {
  setBusy(w.view.transferBtn, false);
  // `again`: asked once more while the notice is the last thing said — the form, no repeat.
  if (!f.again) w.log.notice(f.text, { id: f.id, event: "offline", ts: f.ts });
  w.setMode("bot");
  if (f.leave_message !== false) w.showOffline(!replay);
  w.countUnread(replay);
}

function onClosed(w, f) {
  const { state, T } = w;
  w.log.notice(f.by === "timeout" ? T.closedTimeout : T.closed, { id: f.id, event: "closed" });
  const rate = !(f.by === "shopper" && !state.hadAgent); // leaving the queue: nothing to rate
  w.hideOffline();
  w.setMode("closed");
  state.hadAgent = false;
  state.awaiting = null;
  if (rate) w.showRating();
}

function onError(w, f) {
  const { state, T } = w;
  const code = f.code || "";
  if (f.in_reply_to && f.in_reply_to.type === "product") {
    // The page's business, not the shopper's: said on the console.
    if (code === "product_url_not_allowed") {
      console.warn("kefu: the product was taken without its url: " + (f.message || code));
      return;
    }
    // Refused: the next socket tries again.
    w.productSent = null;
    console.warn("kefu: the product was not taken: " + (f.message || code));
    return;
  }
  if (code === "rate_limited" || code === "unavailable") {
    // Whatever was refused gets another try: resends carry the same client_msg_id.
    setTimeout(() => w.outbox.resendUnacked(), 2500);
  }
  if (code === "already_rated" || code === "not_closed") w.hideRating();
  if (state.awaiting === "leave" && code !== "session_expired") w.offline.setBusy(false);
  if (state.awaiting === "rate" && code !== "session_expired") w.rating.setBusy(false);
  if (code !== "session_expired" && code !== "already_closed") state.awaiting = null;
  setBusy(w.view.transferBtn, false);
  // Not about a message: the chat could not open (storage full or away); the socket retries.
  if (code === "unavailable" && !f.in_reply_to) return w.view.toast(T.serviceBusy);
  w.view.toast(T.errors[code] || (f.message ? T.genericError + "（" + f.message + "）" : T.genericError));
}
