// What the widget knows about the chat, in one object (no module-level state), and the ids it
// compares and makes.

/** A fresh state; main.js owns it and passes it to the parts that read or change it. */
export function createState() {
  return {
    open: false, // the panel is shown
    mode: "bot", // bot | queued | agent | closed
    agent: null, // {id, name}
    hadAgent: false, // an agent was in the current conversation (rating makes sense)
    transferLabel: null, // set by the first bot frame carrying the transfer action
    queue: null, // {position, estimated_wait_s}
    seen: new Set(), // server ids rendered (or acked)
    lastId: null, // last log id received by this page (memory only: a reload asks for everything)
    awaiting: null, // "leave" | "rate": the next notice answers it
    unread: 0,
    refused: null, // unknown_shop | invalid_shop | origin_not_allowed: the chat cannot work here
  };
}

/** Stream ids "1732290000000-0": is `a` after `b` (compared as (ms, seq))? Anything is after null. */
export function idAfter(a, b) {
  if (!b) return true;
  const pa = a.split("-").map(Number);
  const pb = b.split("-").map(Number);
  return pa[0] !== pb[0] ? pa[0] > pb[0] : pa[1] > pb[1];
}

/** A new client_msg_id (docs/protocol.md: [A-Za-z0-9_.:-]{1,64}). */
export function newClientId() {
  try {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
  } catch (e) {
    /* not a secure context */
  }
  let rand = "";
  try {
    const bytes = new Uint8Array(8);
    window.crypto.getRandomValues(bytes);
    bytes.forEach((b) => (rand += b.toString(16).padStart(2, "0")));
  } catch (e) {
    rand = Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
  }
  return "w" + Date.now().toString(36) + "-" + rand;
}
