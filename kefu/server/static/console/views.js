// Rendering of the console's parts from state. Everything a shopper, bot or agent wrote goes in
// as text (h() / textContent): never parsed as HTML.

import { h, formatTime } from "/static/common/dom.js";
import { t, LANG, clock, closedText, langName } from "./i18n.js";
import { groupName, isLive, lastMessage, shopperLabel, waitingSince } from "./model.js";

const KNOWN_DECISIONS = ["answer", "suggest", "fallback", "greeting", "notice", "transfer"];

// ---- conversation list ----

/** The children of a conversation list item (the <li> and its button are kept across renders). */
export function conversationItemContent(conv, me) {
  const label = shopperLabel(conv, t);
  const last = lastMessage(conv);
  let preview = "";
  if (last) {
    const prefix = last.from === "agent" ? (last.agent && last.agent.id !== me.id ? `${last.agent.name}：` : t("previewMe")) : last.from === "bot" ? t("previewBot") : "";
    preview = prefix + last.text.replace(/\s+/g, " ");
  }
  const since = waitingSince(conv);
  return [
    h(
      "span",
      { class: "conv-row" },
      h("span", { class: "conv-name" }, label),
      conv.group ? h("span", { class: "tag tag-group", "data-testid": "conversation-group" }, groupName(conv.group)) : null,
      conv.closed
        ? h("span", { class: "tag tag-closed", "data-testid": "conversation-closed-tag" }, t("closedTag"))
        : null,
      conv.paymentDue && conv.paymentDue.length
        ? h(
            "span",
            { class: "tag tag-payment", "data-testid": "payment-due-badge", title: t("paymentDueTagLabel", conv.paymentDue.length) },
            t("paymentDueTag"),
          )
        : null,
      conv.unread > 0
        ? h(
            "span",
            { class: "badge", "data-testid": "unread-badge", "aria-label": t("unreadLabel", conv.unread) },
            conv.unread > 99 ? "99+" : String(conv.unread),
          )
        : null,
    ),
    h("span", { class: "conv-preview" }, preview || "\u00a0"),
    h(
      "span",
      { class: "conv-row conv-meta" },
      h("span", { class: "muted", "data-testid": "conversation-waited" }, t("waited", conv.waited_s || 0)),
      since
        ? h(
            "span",
            { class: "wait-timer", "data-testid": "wait-timer", "data-since": String(since) },
            t("waiting", clock((Date.now() - since) / 1000)),
          )
        : null,
    ),
  ];
}

/** Refresh the live timers ("等待中 mm:ss") in place, once a second. */
export function tickTimers(root) {
  for (const el of root.querySelectorAll("[data-since]")) {
    const since = Number(el.dataset.since);
    el.textContent = t("waiting", clock((Date.now() - since) / 1000));
  }
}

// ---- thread ----

function whoLabel(line, me) {
  if (line.from === "agent") {
    if (line.local || (line.agent && line.agent.id === me.id)) return t("me");
    return line.agent && line.agent.name ? line.agent.name : t("from_agent");
  }
  return t(`from_${line.from}`) || line.from;
}

function eventText(line) {
  if (line.text) return line.text;
  const key = `event_${line.event}`;
  if (line.event === "agent_joined") return t(key, line.agent && line.agent.name);
  const text = t(key);
  return text === key ? line.event || "" : text;
}

function timeOf(line) {
  const ms = line.ts || line.recvAt;
  return ms ? formatTime(ms, LANG) : "";
}

export function renderLine(line, me, phase, onRetry) {
  if (line.from === "system" && line.event === "product" && line.product && line.product.title) {
    // The shopper opened a product's page: a small note, in the agent's language.
    return h(
      "div",
      {
        class: "line line-system line-product",
        "data-testid": "transcript-line",
        "data-from": "system",
        "data-event": "product",
        "data-phase": phase,
        "data-message-id": line.id || "",
      },
      h("span", { class: "system-text product-note", "data-testid": "product-note" }, t("viewingNote", String(line.product.title))),
      h("time", { class: "line-time" }, timeOf(line)),
    );
  }
  if (line.from === "system") {
    return h(
      "div",
      {
        class: "line line-system",
        "data-testid": "transcript-line",
        "data-from": "system",
        "data-event": line.event || "",
        "data-phase": phase,
        "data-message-id": line.id || "",
      },
      h("span", { class: "system-text" }, eventText(line)),
      h("time", { class: "line-time" }, timeOf(line)),
    );
  }
  const mine = line.from === "agent" && (line.local || !line.agent || line.agent.id === me.id);
  const tags = [];
  if (line.from === "bot") {
    if (line.decision) {
      const known = KNOWN_DECISIONS.includes(line.decision);
      tags.push(
        h(
          "span",
          {
            class: ["tag", "tag-decision", `decision-${known ? line.decision : "other"}`],
            "data-testid": "decision-tag",
            "data-decision": line.decision,
            title: t("decision"),
          },
          known ? t(`decision_${line.decision}`) : line.decision,
        ),
      );
    }
    if (line.faq_id) {
      tags.push(
        h("span", { class: "tag tag-faq", "data-testid": "faq-tag", "data-faq-id": line.faq_id, title: "FAQ" }, `FAQ ${line.faq_id}`),
      );
    }
  }
  let status = null;
  if (line.local) {
    status = h(
      "span",
      { class: ["msg-state", `state-${line.state}`], "data-testid": "message-state" },
      t(line.state),
      line.state === "failed" && line.error ? ` · ${line.error}` : "",
      line.state === "failed" && onRetry
        ? h(
            "button",
            { type: "button", class: "btn btn-link", "data-testid": "retry-button", onclick: () => onRetry(line) },
            t("retry"),
          )
        : null,
    );
  }
  const suggestions =
    Array.isArray(line.suggestions) && line.suggestions.length
      ? h(
          "div",
          { class: "suggestions" },
          t("suggestions"),
          line.suggestions
            .map((s) => (typeof s === "string" ? s : s.question || s.faq_id || ""))
            .filter(Boolean)
            .join(" / "),
        )
      : null;
  return h(
    "div",
    {
      class: ["line", `line-${line.from}`, mine && "line-mine", line.from === "agent" && !mine && "line-other-agent"],
      "data-testid": "transcript-line",
      "data-from": line.from,
      "data-phase": phase,
      "data-message-id": line.id || "",
      "data-client-msg-id": line.local ? line.client_msg_id : null,
      "data-state": line.local ? line.state : null,
    },
    h(
      "div",
      { class: "bubble" },
      h(
        "div",
        { class: "line-head" },
        h("span", { class: "who" }, whoLabel(line, me)),
        h("time", { class: "line-time" }, timeOf(line)),
        tags,
      ),
      h("div", { class: "line-text" }, line.text || ""),
      suggestions,
    ),
    status,
  );
}

function lineKey(line) {
  return line.local ? `c:${line.client_msg_id}` : `m:${line.id}`;
}

function lineSig(line) {
  return [line.id || "", line.state || "", line.error || "", line.text || "", line.ts || ""].join("\u0001");
}

/**
 * The thread of one conversation: the transcript before the agent joined (the bot's answers
 * with their FAQ and decision), then the live chat. Lines are keyed and only new or changed
 * ones touch the DOM, so the log's live region announces just what is new.
 */
export class ThreadView {
  constructor(conv, me, onRetry) {
    this.conv = conv;
    this.me = me;
    this.onRetry = onRetry;
    this.caches = { history: new Map(), live: new Map() };
    this.title = h("h3", { class: "section-title" });
    this.historyLines = h("div", { class: "lines" });
    this.historyEmpty = h("p", { class: "muted small" }, t("botTranscriptEmpty"));
    // Lines the server left out of a very long transcript (it sends the latest ones).
    this.earlier = h("p", { class: "muted small", "data-testid": "earlier-lines", hidden: true });
    this.dividerText = h("span");
    this.liveLines = h("section", { class: "live", "data-testid": "live-chat", "aria-label": t("liveChat") });
    this.nodes = [
      h(
        "section",
        { class: "history", "data-testid": "bot-transcript", "aria-label": t("botTranscript") },
        this.title,
        this.earlier,
        this.historyLines,
        this.historyEmpty,
      ),
      h("div", { class: "divider", role: "separator", "data-testid": "live-divider" }, this.dividerText),
      this.liveLines,
    ];
    this.version = -1;
  }

  update() {
    const conv = this.conv;
    if (this.version === conv.version) return false;
    this.version = conv.version;
    const history = [];
    const live = [];
    let joined = null;
    let humans = false; // an earlier agent spoke before this one joined (a transferred chat)
    for (const line of conv.lines) {
      if (line.from === "system" && line.event === "agent_joined" && line.id === conv.liveFrom) {
        joined = line;
      } else if (isLive(conv, line)) {
        live.push(line);
      } else {
        if (line.from === "agent") humans = true;
        history.push(line);
      }
    }
    this.title.textContent = humans ? t("historyTranscript") : t("botTranscript");
    this.historyEmpty.hidden = history.length > 0 || conv.earlier > 0;
    this.earlier.hidden = !(conv.earlier > 0);
    this.earlier.textContent = conv.earlier > 0 ? t("earlierLines", conv.earlier) : "";
    this.dividerText.textContent = t("liveChat") + (joined ? ` · ${eventText(joined)} ${timeOf(joined)}` : "");
    this.sync(this.historyLines, history, this.caches.history, "bot");
    this.sync(this.liveLines, live, this.caches.live, "live");
    return true;
  }

  sync(container, lines, cache, phase) {
    const seen = new Set();
    let previous = null;
    for (const line of lines) {
      const key = lineKey(line);
      const sig = lineSig(line);
      seen.add(key);
      let entry = cache.get(key);
      if (!entry || entry.sig !== sig) {
        const el = renderLine(line, this.me, phase, this.onRetry);
        if (entry && entry.el.parentNode === container) entry.el.replaceWith(el);
        entry = { el, sig };
        cache.set(key, entry);
      }
      const expected = previous ? previous.nextSibling : container.firstChild;
      if (expected !== entry.el) container.insertBefore(entry.el, expected);
      previous = entry.el;
    }
    for (const [key, entry] of cache) {
      if (!seen.has(key)) {
        entry.el.remove();
        cache.delete(key);
      }
    }
  }
}

export function chatHeadInfo(conv) {
  const since = waitingSince(conv);
  return [
    h("h2", { class: "chat-title", "data-testid": "chat-title" }, shopperLabel(conv, t)),
    h(
      "div",
      { class: "chat-meta" },
      conv.group ? h("span", { class: "tag tag-group" }, `${t("group")}: ${groupName(conv.group)}`) : null,
      h("span", { class: "tag" }, `${t("language")}: ${langName(conv.shopper && conv.shopper.lang)}`),
      h("span", { class: "muted small" }, t("waited", conv.waited_s || 0)),
      since
        ? h("span", { class: "wait-timer", "data-since": String(since) }, t("waiting", clock((Date.now() - since) / 1000)))
        : null,
      conv.closed ? h("span", { class: "tag tag-closed" }, t("closedTag")) : null,
    ),
  ];
}

export { closedText };
