// The message list: bot, agent, shopper and system lines, time separators, the agent's typing
// indicator, and scrolling that follows new lines while the shopper is at the bottom.
// Everything anyone wrote goes in as text.

import { h } from "../common/dom.js";
import { icon, initial, timeText } from "./ui.js";

const TIME_GAP_MS = 5 * 60 * 1000; // a time line when this much passed since the last message
const TYPING_SHOWN_MS = 4000;

export class MessageLog {
  /**
   * @param {object} o
   * @param {object} o.T                    the widget's strings
   * @param {string} o.lang
   * @param {(question: string, pick: object|null) => void} o.onPick   a suggestion chip clicked
   * @param {(clientId: string) => void} o.onRetry                      "resend" clicked
   */
  constructor({ T, lang, onPick, onRetry }) {
    this.T = T;
    this.lang = lang;
    this.onPick = onPick;
    this.onRetry = onRetry;
    this.lastTs = 0;
    this.pinned = true; // the list is scrolled to the bottom: keep it there as things grow
    this.typingTimer = null;
    this.list = h("div", { class: "kefu-log", role: "log", "aria-live": "polite", "aria-label": T.log, "data-testid": "kefu-messages" });
    this.typing = h(
      "div",
      { class: "kefu-typing", "data-testid": "kefu-typing", hidden: true },
      h("span", { class: "kefu-typing-dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")),
      h("span", { class: "kefu-typing-text" }, T.typing),
    );
    this.el = h("div", { class: "kefu-scroll" }, this.list, this.typing);
    this.el.addEventListener("scroll", () => {
      this.pinned = this.el.scrollHeight - this.el.scrollTop - this.el.clientHeight < 48;
    });
    if (typeof ResizeObserver === "function") new ResizeObserver(() => this.keepPinned()).observe(this.el);
  }

  // ---------------------------------------------------------------- scrolling

  toBottom() {
    this.el.scrollTop = this.el.scrollHeight;
    this.pinned = true;
  }

  keepPinned() {
    if (this.pinned) this.toBottom();
  }

  append(el, ts, own) {
    const wasPinned = this.pinned;
    if (ts && ts - this.lastTs > TIME_GAP_MS) {
      this.list.appendChild(h("div", { class: "kefu-time", "aria-hidden": "true" }, timeText(ts, this.lang)));
    }
    if (ts) this.lastTs = Math.max(this.lastTs, ts);
    this.list.appendChild(el);
    if (wasPinned || own) this.toBottom();
  }

  /** Nothing on screen any more (another person's chat begins). */
  clear() {
    this.list.replaceChildren();
    this.lastTs = 0;
    this.hideTyping();
    this.toBottom();
  }

  // ---------------------------------------------------------------- lines

  bot(f) {
    const T = this.T;
    const body = h(
      "div",
      { class: "kefu-body" },
      h("span", { class: "sr-only" }, T.bot + T.colon),
      h("div", { class: "kefu-bubble", "data-testid": "kefu-message-text" }, f.text || ""),
    );
    const suggestions = Array.isArray(f.suggestions) ? f.suggestions.filter((s) => s && s.question) : [];
    if (suggestions.length) {
      body.appendChild(
        h(
          "div",
          { class: "kefu-suggestions", role: "group", "aria-label": T.suggestions },
          suggestions.map((s) =>
            h(
              "button",
              {
                type: "button",
                class: "kefu-chip",
                "data-testid": "kefu-suggestion",
                "data-faq-id": s.faq_id || null,
                // The FAQ and the bot line that offered it: the bot learns the question before.
                onclick: () => this.onPick(String(s.question), f.id && s.faq_id ? { faq_id: String(s.faq_id), message_id: String(f.id) } : null),
              },
              String(s.question),
            ),
          ),
        ),
      );
    }
    const el = h(
      "div",
      { class: "kefu-msg kefu-msg--bot", "data-testid": "kefu-message", "data-from": "bot", "data-id": f.id || null, "data-decision": f.decision || null, title: timeText(f.ts, this.lang) || null },
      h("div", { class: "kefu-avatar", "aria-hidden": "true" }, icon("bot")),
      body,
    );
    this.append(el, f.ts);
  }

  agent(f) {
    const T = this.T;
    const name = (f.agent && f.agent.name) || T.agent;
    const el = h(
      "div",
      { class: "kefu-msg kefu-msg--agent", "data-testid": "kefu-message", "data-from": "agent", "data-id": f.id || null, title: timeText(f.ts, this.lang) || null },
      h("div", { class: "kefu-avatar kefu-avatar--agent", "aria-hidden": "true" }, initial(name)),
      h(
        "div",
        { class: "kefu-body" },
        h("div", { class: "kefu-msg-name", "data-testid": "kefu-message-agent" }, name),
        h("span", { class: "sr-only" }, T.colon),
        h("div", { class: "kefu-bubble", "data-testid": "kefu-message-text" }, f.text || ""),
      ),
    );
    this.append(el, f.ts);
  }

  /** A shopper line; opts: {id, clientId, status: pending|sent|failed, ts, own}. Returns it. */
  shopper(text, opts) {
    const T = this.T;
    const statusLine = h("div", { class: "kefu-msg-status" });
    const el = h(
      "div",
      {
        class: "kefu-msg kefu-msg--shopper",
        "data-testid": "kefu-message",
        "data-from": "shopper",
        "data-id": opts.id || null,
        "data-client-msg-id": opts.clientId || null,
        "data-status": opts.status,
        title: timeText(opts.ts, this.lang) || null,
      },
      h(
        "div",
        { class: "kefu-body" },
        h("span", { class: "sr-only" }, T.you + T.colon),
        h("div", { class: "kefu-bubble", "data-testid": "kefu-message-text" }, text),
        statusLine,
      ),
    );
    el._status = statusLine;
    this.setStatus(el, opts.status);
    this.append(el, opts.ts, opts.own);
    return el;
  }

  /** pending ("sending…"), sent, or failed (with a resend button). */
  setStatus(el, status) {
    const T = this.T;
    el.setAttribute("data-status", status);
    const line = el._status;
    if (!line) return;
    line.replaceChildren();
    if (status === "pending") line.appendChild(document.createTextNode(T.sending));
    if (status === "failed") {
      const cid = el.getAttribute("data-client-msg-id");
      line.appendChild(document.createTextNode(T.failed + " · "));
      line.appendChild(h("button", { type: "button", class: "kefu-link", "data-testid": "kefu-retry", onclick: () => this.onRetry(cid) }, T.retry));
    }
  }

  /** A centred system line; opts: {id, event, ts}. */
  notice(text, opts) {
    if (!text) return;
    const el = h(
      "div",
      { class: "kefu-msg kefu-msg--system", "data-testid": "kefu-message", "data-from": "system", "data-id": (opts && opts.id) || null, "data-event": (opts && opts.event) || null },
      h("span", { class: "kefu-notice", "data-testid": "kefu-message-text" }, text),
    );
    this.append(el, opts && opts.ts);
  }

  // ---------------------------------------------------------------- the agent is typing

  showTyping() {
    const wasPinned = this.pinned;
    this.typing.hidden = false;
    if (wasPinned) this.toBottom();
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.hideTyping(), TYPING_SHOWN_MS);
  }

  hideTyping() {
    clearTimeout(this.typingTimer);
    this.typing.hidden = true;
  }
}
