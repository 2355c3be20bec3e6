// The shopper's messages until the server stored them. Each has a client_msg_id; it is sent,
// resent after 8 s without an answer (3 tries, then "failed" with a resend button), resent
// after every reconnect, and kept per tab in sessionStorage so a reload delivers what was typed.
// Resending is safe: the server stores a client_msg_id once (docs/protocol.md).

import { newClientId } from "./state.js";

const ANSWER_WITHIN_MS = 8000;
const TRIES = 3;

export class Outbox {
  /**
   * @param {object} o
   * @param {object} o.tabStore           sessionStorage of the shop (storage.js)
   * @param {import("./log.js").MessageLog} o.log
   * @param {import("./socket.js").ShopperSocket} o.socket
   * @param {Set<string>} o.seen          server ids on screen (state.seen)
   */
  constructor({ tabStore, log, socket, seen }) {
    this.tabStore = tabStore;
    this.log = log;
    this.socket = socket;
    this.seen = seen;
    this.pending = new Map(); // client_msg_id → {text, el, tries, timer, pick}
    this.byClientId = new Map(); // client_msg_id → element, for every shopper message on screen
    // Typed but not stored when the page reloaded: shown and resent after the history, unless
    // the history has them already.
    this.restored = new Map(); // client_msg_id → text
    try {
      for (const p of JSON.parse(tabStore.get("pending") || "[]")) {
        if (p && typeof p.cid === "string" && typeof p.text === "string") this.restored.set(p.cid, p.text);
      }
    } catch (e) {
      tabStore.set("pending", null);
    }
  }

  save() {
    const list = [];
    for (const [cid, p] of this.pending) list.push({ cid: cid, text: p.text });
    for (const [cid, text] of this.restored) list.push({ cid: cid, text: text });
    this.tabStore.set("pending", list.length ? JSON.stringify(list) : null);
  }

  /** Show what was typed before the reload, as pending (sent by the next flush()). */
  restore() {
    for (const [cid, text] of this.restored) {
      const el = this.log.shopper(text, { clientId: cid, status: "pending", ts: Date.now(), own: true });
      this.byClientId.set(cid, el);
      this.pending.set(cid, { text: text, el: el, tries: 0, timer: null });
    }
    this.restored.clear();
    this.save();
  }

  /** A stored line's client_msg_id was among the restored ones: it arrived before the reload. */
  forgetRestored(cid) {
    if (this.restored.delete(cid)) this.save();
  }

  /** Show a new message as pending and remember it; returns its client_msg_id. */
  add(text, pick) {
    const cid = newClientId();
    const el = this.log.shopper(text, { clientId: cid, status: "pending", ts: Date.now(), own: true });
    this.byClientId.set(cid, el);
    this.pending.set(cid, { text: text, el: el, tries: 0, timer: null, pick: pick || null });
    this.save();
    return cid;
  }

  /** A shopper line on screen (from the history, or from another tab). */
  shown(cid, el) {
    this.byClientId.set(cid, el);
  }

  /** Is this client_msg_id ours (pending, or on screen)? */
  has(cid) {
    return this.pending.has(cid) || this.byClientId.has(cid);
  }

  /** Is it on screen? */
  onScreen(cid) {
    return this.byClientId.has(cid);
  }

  trySend(cid) {
    const p = this.pending.get(cid);
    if (!p || !this.socket.isReady) return;
    clearTimeout(p.timer);
    const frame = { type: "message", text: p.text, client_msg_id: cid };
    if (p.pick) frame.pick = p.pick;
    if (!this.socket.send(frame)) return;
    p.tries += 1;
    p.timer = setTimeout(() => {
      if (!this.pending.has(cid)) return;
      if (p.tries >= TRIES) this.log.setStatus(p.el, "failed");
      else this.trySend(cid);
    }, ANSWER_WITHIN_MS);
  }

  /** Send everything not yet stored (a new socket is ready). */
  flush() {
    for (const [cid, p] of this.pending) {
      p.tries = 0;
      this.log.setStatus(p.el, "pending");
      this.trySend(cid);
    }
  }

  /** Another try for what is still pending (after rate_limited). */
  resendUnacked() {
    for (const [cid, p] of this.pending) if (p.el.getAttribute("data-status") === "pending") this.trySend(cid);
  }

  /** The shopper clicked "resend" on a failed message. */
  retry(cid) {
    const p = this.pending.get(cid);
    if (!p) return;
    p.tries = 0;
    this.log.setStatus(p.el, "pending");
    this.socket.want();
    this.trySend(cid);
  }

  /** The server stored it (ack, its echo, or the history after a reconnect). */
  markSent(cid, id) {
    const p = this.pending.get(cid);
    if (p) {
      clearTimeout(p.timer);
      this.pending.delete(cid);
      this.save();
    }
    const el = this.byClientId.get(cid);
    if (el) {
      this.log.setStatus(el, "sent");
      if (id) el.setAttribute("data-id", id);
    }
    if (id) this.seen.add(id);
  }

  /** Another person's chat begins (the page signed a customer in or out): nothing is on screen
   * any more; `keep`: what was not stored yet is shown and sent again in the next session
   * (restore()), else it is dropped. */
  reset(keep) {
    for (const [cid, p] of this.pending) {
      clearTimeout(p.timer);
      if (keep) this.restored.set(cid, p.text);
    }
    if (!keep) this.restored.clear();
    this.pending.clear();
    this.byClientId.clear();
    this.save();
  }

  /** The socket dropped: no timers until the next flush(). */
  pause() {
    for (const p of this.pending.values()) clearTimeout(p.timer);
  }
}
