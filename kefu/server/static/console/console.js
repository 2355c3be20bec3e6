// kefu agent console (/console): login, the agent websocket (/ws/agent, docs/protocol.md
// "Agent socket"), my conversations with the bot transcript, quick replies and offline tickets.
// Plain ES modules, no build step; the page runs under a strict CSP (no inline script/style).
//
// data-testid attributes (stable, for tests):
//   login-form, login-shop, login-username, login-password, login-submit, login-error
//   agent-name, status-select, queue-count, capacity, connection (data-state), logout,
//   notify-toggle (aria-pressed), sound-toggle (aria-pressed), chats-tab, tickets-tab, tickets-count
//   conversation-list, conversation-item (data-conversation-id, data-state=open|closed,
//     aria-current when selected), conversation-group, conversation-closed-tag, conversation-waited,
//     unread-badge, wait-timer, dismiss-conversation
//   chat-pane, chat-empty, chat-title, chat-back, bot-transcript, live-divider, live-chat,
//   transcript-line (data-from=bot|shopper|agent|system, data-phase=bot|live, data-message-id,
//     data-event on system lines, data-state=pending|acked|failed on my own messages),
//   decision-tag (data-decision), faq-tag (data-faq-id), message-state, retry-button,
//   typing-indicator, closed-banner, chat-dismiss, chat-notice
//   composer-input, send-button, composer-error, close-conversation, confirm-dialog, confirm-ok,
//   confirm-cancel, transfer-select, transfer-button, transfer-error
//   quick-replies-button, quick-reply-panel, quick-reply-filter, quick-reply-item (data-shortcut),
//   quick-reply-menu, quick-reply-menu-item (data-shortcut), quick-reply-error
//   tickets-view, tickets-filter-open, tickets-filter-handled, tickets-filter-all, tickets-refresh,
//   ticket-list, ticket-item (data-ticket-id, data-handled), ticket-handle, ticket-handled-by,
//   tickets-empty, tickets-error
//   toast (data-kind)

import { h, replace } from "/static/common/dom.js";
import { api, ApiError, getToken, setToken, socketUrl } from "/static/common/api.js";
import { t, LANG, errorText, closedText } from "./i18n.js";
import { AgentSocket } from "./socket.js";
import {
  addLine,
  addPending,
  ackLine,
  createConversation,
  mergeTranscript,
  newClientMsgId,
  shopperLabel,
} from "./model.js";
import { ThreadView, chatHeadInfo, conversationItemContent, tickTimers } from "./views.js";
import { QuickReplies } from "./quickreplies.js";
import { Tickets } from "./tickets.js";
import {
  maybeRequestNotify,
  notifyEnabled,
  notifyPermission,
  playChime,
  requestNotifyPermission,
  setNotifyPreference,
  setSoundEnabled,
  showNotification,
  soundEnabled,
  unlockAudio,
} from "./alerts.js";

const SHOP_KEY = "kefu.console.shop";
const TYPING_EVERY_MS = 3000;
const TYPING_SHOWN_MS = 6000;
const MAX_TEXT = 2000;

const root = document.getElementById("app");
document.documentElement.lang = LANG === "en" ? "en" : "zh-CN";
document.title = t("title");

// Unlock audio on the first gesture anywhere (browsers block sound before one).
for (const type of ["pointerdown", "keydown"]) {
  window.addEventListener(type, unlockAudio, { capture: true, passive: true });
}

// =====================================================================================
// Login
// =====================================================================================

let loginTimer = null;

async function requestLogin(shop, username, password) {
  // Not api(): the lockout answer's Retry-After header says when to try again.
  const response = await fetch("/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ shop, username, password }),
    credentials: "omit",
  });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const e = (body && body.error) || { code: `http_${response.status}`, message: response.statusText };
    const err = new ApiError(response.status, e.code, e.message, e.details);
    err.retryAfter = Number(response.headers.get("Retry-After")) || null;
    throw err;
  }
  setToken(body.token);
  return body;
}

function showLogin(message) {
  clearInterval(loginTimer);
  const params = new URLSearchParams(window.location.search);
  const shopValue = params.get("shop") || localStorage.getItem(SHOP_KEY) || "";
  const field = (id, label, attrs) =>
    h("div", { class: "field" }, h("label", { for: id }, label), h("input", { id, class: "input", required: true, ...attrs }));
  const error = h("p", { class: "form-error", role: "alert", "data-testid": "login-error", "aria-live": "assertive" }, message || "");
  error.hidden = !message;
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block", "data-testid": "login-submit" }, t("signIn"));
  const form = h(
    "form",
    { class: "login-card", "data-testid": "login-form", novalidate: true, "aria-labelledby": "login-title" },
    h("div", { class: "login-brand" }, h("span", { class: "logo", "aria-hidden": "true" }, "客"), h("span", {}, t("brand"))),
    h("h1", { id: "login-title" }, t("loginTitle")),
    h("p", { class: "muted" }, t("loginIntro")),
    field("login-shop", t("shop"), { name: "shop", autocomplete: "organization", value: shopValue, "data-testid": "login-shop", maxlength: 64 }),
    field("login-username", t("username"), { name: "username", autocomplete: "username", "data-testid": "login-username", maxlength: 64 }),
    field("login-password", t("password"), { name: "password", type: "password", autocomplete: "current-password", "data-testid": "login-password", maxlength: 256 }),
    error,
    submit,
  );
  const showError = (text) => {
    error.textContent = text;
    error.hidden = !text;
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    unlockAudio();
    clearInterval(loginTimer);
    const shop = form.elements.shop.value.trim();
    const username = form.elements.username.value.trim();
    const password = form.elements.password.value;
    if (!shop || !username || !password) {
      showError(t("fieldsRequired"));
      (!shop ? form.elements.shop : !username ? form.elements.username : form.elements.password).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = t("signingIn");
    showError("");
    try {
      const result = await requestLogin(shop, username, password);
      localStorage.setItem(SHOP_KEY, shop);
      startWorkspace(result);
    } catch (err) {
      submit.disabled = false;
      submit.textContent = t("signIn");
      form.elements.password.value = "";
      if (err instanceof ApiError && err.code === "rate_limited") {
        const until = Date.now() + (err.retryAfter || 60) * 1000;
        const update = () => {
          const left = Math.ceil((until - Date.now()) / 1000);
          if (left <= 0) {
            clearInterval(loginTimer);
            showError(t("lockedOut"));
            return;
          }
          showError(`${t("lockedOut")}${LANG === "en" ? "; " : "，"}${t("retryIn", left)}`);
        };
        update();
        loginTimer = setInterval(update, 1000);
      } else if (err instanceof ApiError && err.code === "bad_credentials") {
        showError(t("badCredentials"));
      } else if (err instanceof ApiError) {
        showError(err.message || t("errorGeneric"));
      } else {
        showError(t("serverUnreachable"));
      }
      form.elements.password.focus();
    }
  });
  replace(root, h("main", { class: "login-wrap" }, form));
  root.className = "app app-login";
  (shopValue ? form.elements.username : form.elements.shop).focus();
}

// =====================================================================================
// Workspace
// =====================================================================================

let app = null; // the running workspace, null on the login form

function startWorkspace({ shop, user }) {
  if (app) app.destroy();
  app = new Workspace(shop, user);
}

function authFailed() {
  if (app) app.destroy();
  app = null;
  setToken(null);
  showLogin(t("sessionExpired"));
}

class Workspace {
  constructor(shop, user) {
    this.shop = shop;
    this.me = { id: user.id, name: user.name || user.username, username: user.username };
    this.status = "offline";
    this.capacity = user.capacity || 0;
    this.queue = { waiting: 0, groups: {} };
    this.groups = [];
    this.conversations = new Map(); // id → conversation, in arrival order
    this.selectedId = null;
    this.tab = "chats";
    this.connection = "connecting";
    this.retryAt = 0;
    this.inflight = []; // frames awaiting an answer, to pin an `error` frame on its request
    this.lastTypingSent = 0;
    this.helloSeen = false;
    this.ticketCount = null;
    this.threadView = null;
    this.listItems = new Map();
    this.destroyed = false;

    this.build();
    this.socket = new AgentSocket({
      url: () => socketUrl("/ws/agent", { token: getToken() || "" }),
      onFrame: (frame) => this.onFrame(frame),
      onState: (state, info) => this.onConnection(state, info),
      checkAuth: async () => {
        try {
          await api("GET", "/api/me");
          return "ok";
        } catch (err) {
          return err instanceof ApiError && err.status === 401 ? "unauthorized" : "error";
        }
      },
      onAuthFailed: () => authFailed(),
    });
    this.socket.start();
    this.quick.load();
    this.tickets.start();
    this.clock = setInterval(() => this.tick(), 1000);
    this.onVisibility = () => {
      if (!document.hidden) this.markSelectedRead();
    };
    document.addEventListener("visibilitychange", this.onVisibility);
    this.onResize = () => this.layoutMode();
    window.addEventListener("resize", this.onResize);
    this.render();
  }

  destroy() {
    this.destroyed = true;
    this.socket.stop();
    this.tickets.stop();
    clearInterval(this.clock);
    document.removeEventListener("visibilitychange", this.onVisibility);
    window.removeEventListener("resize", this.onResize);
    if (this.dialog.open) this.dialog.close();
  }

  // ---------------------------------------------------------------- skeleton

  build() {
    const tabButton = (id, label, extra) =>
      h(
        "button",
        {
          type: "button",
          role: "tab",
          class: "tab",
          id: `tab-${id}`,
          "aria-controls": `view-${id}`,
          "data-testid": `${id}-tab`,
          onclick: () => this.setTab(id),
        },
        label,
        extra,
      );
    this.ticketBadge = h("span", { class: "badge badge-soft", "data-testid": "tickets-count", hidden: true });
    this.chatsBadge = h("span", { class: "badge", hidden: true });
    this.tabs = { chats: tabButton("chats", t("chatsTab"), this.chatsBadge), tickets: tabButton("tickets", t("ticketsTab"), this.ticketBadge) };

    this.queueEl = h("span", { class: "pill pill-queue", "data-testid": "queue-count", title: t("queueTitle"), "aria-live": "polite" });
    this.capacityEl = h("span", { class: "pill", "data-testid": "capacity", title: t("capacityTitle") });
    this.statusSelect = h(
      "select",
      { id: "status-select", class: "select", "data-testid": "status-select", onchange: () => this.changeStatus() },
      ["online", "away", "offline"].map((s) => h("option", { value: s }, t(`status_${s}`))),
    );
    this.statusWrap = h(
      "div",
      { class: "status-wrap" },
      h("span", { class: "status-dot", "aria-hidden": "true" }),
      h("label", { for: "status-select", class: "sr-only" }, t("statusLabel")),
      this.statusSelect,
    );
    this.notifyBtn = h("button", { type: "button", class: "btn btn-ghost btn-sm", "data-testid": "notify-toggle", onclick: () => this.toggleNotify() });
    this.soundBtn = h("button", { type: "button", class: "btn btn-ghost btn-sm", "data-testid": "sound-toggle", onclick: () => this.toggleSound() });
    this.connEl = h(
      "button",
      { type: "button", class: "conn", "data-testid": "connection", onclick: () => this.socket.reconnectNow() },
      h("span", { class: "conn-dot", "aria-hidden": "true" }),
      h("span", { class: "conn-text" }),
    );
    const topbar = h(
      "header",
      { class: "topbar" },
      h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }, "客"), h("span", { class: "brand-name" }, t("brand")), h("span", { class: "brand-sub" }, t("brandSub"))),
      h(
        "nav",
        {
          class: "tabs",
          role: "tablist",
          "aria-label": t("title"),
          onkeydown: (e) => {
            if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
            e.preventDefault();
            const next = this.tab === "chats" ? "tickets" : "chats";
            this.setTab(next);
            this.tabs[next].focus();
          },
        },
        this.tabs.chats,
        this.tabs.tickets,
      ),
      h("div", { class: "top-spacer" }),
      h(
        "div",
        { class: "top-status" },
        this.queueEl,
        h("span", { class: "pill-label" }, t("capacityLabel")),
        this.capacityEl,
        this.statusWrap,
        this.notifyBtn,
        this.soundBtn,
        this.connEl,
        h("span", { class: "agent-name", "data-testid": "agent-name", title: `${this.me.username} @ ${this.shop}` }, this.me.name),
        h("button", { type: "button", class: "btn btn-ghost btn-sm", "data-testid": "logout", onclick: () => this.logout() }, t("logout")),
      ),
    );

    // conversation list
    this.listCount = h("span", { class: "muted small" });
    this.list = h("ul", { class: "conv-list", "data-testid": "conversation-list", "aria-label": t("myChats") });
    this.listEmpty = h("div", { class: "list-empty" }, h("p", {}, t("noChats")), h("p", { class: "muted small" }, t("noChatsHint")));
    const sidebar = h(
      "aside",
      { class: "sidebar", "aria-labelledby": "my-chats-title" },
      h("div", { class: "sidebar-head" }, h("h2", { id: "my-chats-title", class: "view-title" }, t("myChats")), this.listCount),
      this.list,
      this.listEmpty,
    );

    // chat pane
    this.chatEmpty = h(
      "div",
      { class: "chat-empty", "data-testid": "chat-empty" },
      h("div", { class: "chat-empty-icon", "aria-hidden": "true" }, "💬"),
      h("p", {}, t("selectChat")),
      h("p", { class: "muted small" }, t("selectChatHint")),
    );
    this.headInfo = h("div", { class: "chat-head-info" });
    this.transferSelect = h("select", {
      id: "transfer-select",
      class: "select select-sm",
      "data-testid": "transfer-select",
      onchange: () => this.renderChatControls(),
    });
    this.transferBtn = h(
      "button",
      { type: "button", class: "btn btn-ghost btn-sm", "data-testid": "transfer-button", onclick: () => this.transfer() },
      t("transfer"),
    );
    this.transferError = h("span", { class: "inline-error", role: "alert", "data-testid": "transfer-error" });
    this.closeBtn = h(
      "button",
      { type: "button", class: "btn btn-danger btn-sm", "data-testid": "close-conversation", onclick: () => this.confirmClose() },
      t("closeChat"),
    );
    this.dismissBtn = h(
      "button",
      { type: "button", class: "btn btn-ghost btn-sm", "data-testid": "chat-dismiss", onclick: () => this.dismiss(this.selectedId) },
      t("dismiss"),
    );
    this.chatActions = h(
      "div",
      { class: "chat-actions" },
      h("div", { class: "transfer" }, h("label", { for: "transfer-select", class: "sr-only" }, t("transferTo")), this.transferSelect, this.transferBtn, this.transferError),
      this.closeBtn,
      this.dismissBtn,
    );
    const head = h(
      "header",
      { class: "chat-head" },
      h("button", { type: "button", class: "btn btn-ghost btn-sm back", "data-testid": "chat-back", "aria-label": t("back"), onclick: () => this.select(null) }, "‹"),
      this.headInfo,
      this.chatActions,
    );
    this.thread = h("div", { class: "thread", role: "log", "aria-live": "polite", "aria-relevant": "additions", tabindex: "0", "aria-label": t("liveChat") });
    this.typingEl = h("div", { class: "typing", "data-testid": "typing-indicator", hidden: true, "aria-live": "polite" }, h("span", { class: "dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")), t("typing"));
    this.closedBanner = h("div", { class: "closed-banner", "data-testid": "closed-banner", role: "status", hidden: true });
    this.noticeEl = h("div", { class: "chat-notice", "data-testid": "chat-notice", role: "status", hidden: true });

    // composer
    this.textarea = h("textarea", {
      id: "composer",
      class: "composer-input",
      rows: "3",
      maxlength: String(MAX_TEXT),
      placeholder: t("composerPlaceholder"),
      "data-testid": "composer-input",
      role: "combobox",
      onkeydown: (e) => this.composerKeydown(e),
      oninput: () => this.composerInput(),
    });
    this.quick = new QuickReplies({
      textarea: this.textarea,
      onInsert: (text, mode) => this.insertReply(text, mode),
      onAuthError: () => authFailed(),
    });
    this.composerError = h("p", { class: "inline-error composer-error", role: "alert", "data-testid": "composer-error", hidden: true });
    this.sendBtn = h("button", { type: "submit", class: "btn btn-primary", "data-testid": "send-button" }, t("send"));
    this.composer = h(
      "form",
      { class: "composer", onsubmit: (e) => { e.preventDefault(); this.send(); } },
      this.quick.panel,
      this.quick.menu,
      this.composerError,
      h("label", { for: "composer", class: "sr-only" }, t("composerLabel")),
      this.textarea,
      h("div", { class: "composer-bar" }, this.quick.button, h("span", { class: "hint" }, t("composerHint")), this.sendBtn),
    );
    this.chatBody = h("div", { class: "chat-body" }, head, this.thread, this.typingEl, this.closedBanner, this.noticeEl, this.composer);
    this.chatPane = h("section", { class: "chat-pane", "data-testid": "chat-pane", "aria-label": t("liveChat") }, this.chatEmpty, this.chatBody);

    this.chatsView = h("div", { class: "chats-view", id: "view-chats", role: "tabpanel", "aria-labelledby": "tab-chats" }, sidebar, this.chatPane);
    this.tickets = new Tickets({
      onAuthError: () => authFailed(),
      onCount: (n) => this.setTicketCount(n),
      toast: (text, kind) => this.toast(text, kind),
    });
    this.tickets.el.id = "view-tickets";
    this.tickets.el.setAttribute("role", "tabpanel");
    this.tickets.el.setAttribute("aria-labelledby", "tab-tickets");

    this.toasts = h("div", { class: "toasts", "aria-live": "polite", "aria-atomic": "false" });

    // confirmation dialog (closing a chat)
    this.dialogOk = h("button", { type: "button", class: "btn btn-danger", "data-testid": "confirm-ok" }, t("confirm"));
    this.dialogCancel = h("button", { type: "button", class: "btn btn-ghost", "data-testid": "confirm-cancel", onclick: () => this.dialog.close() }, t("cancel"));
    this.dialogTitle = h("h2", { id: "confirm-title" }, t("closeConfirmTitle"));
    this.dialogText = h("p", { class: "muted" }, t("closeConfirmText"));
    this.dialog = h(
      "dialog",
      { class: "dialog", "data-testid": "confirm-dialog", "aria-labelledby": "confirm-title" },
      this.dialogTitle,
      this.dialogText,
      h("div", { class: "dialog-actions" }, this.dialogCancel, this.dialogOk),
    );

    replace(root, topbar, h("main", { class: "main" }, this.chatsView, this.tickets.el), this.toasts, this.dialog);
    root.className = "app app-workspace";
    this.layoutMode();
  }

  layoutMode() {
    root.classList.toggle("narrow", window.matchMedia("(max-width: 860px)").matches);
  }

  // ---------------------------------------------------------------- socket frames

  onConnection(state, info) {
    if (this.destroyed) return;
    this.connection = state;
    if (info && info.retryAt) this.retryAt = info.retryAt;
    if (state !== "open") {
      this.inflight = []; // unanswered requests: messages are resent after the next hello
      this.statusRequested = null;
      for (const conv of this.conversations.values()) conv.transferring = null;
    }
    this.renderTop();
    this.renderChatControls();
  }

  send_(frame, pending) {
    if (!this.socket.send(frame)) return false;
    if (pending) this.inflight.push(pending);
    return true;
  }

  onFrame(frame) {
    if (this.destroyed) return;
    switch (frame.type) {
      case "hello":
        this.onHello(frame);
        break;
      case "assigned":
        this.onAssigned(frame.conversation, true);
        break;
      case "message":
        this.onMessage(frame);
        break;
      case "typing":
        this.onTyping(frame);
        break;
      case "conversation_closed":
        this.onClosed(frame);
        break;
      case "queue":
        this.queue = { waiting: frame.waiting || 0, groups: frame.groups || {} };
        this.renderTop();
        break;
      case "status":
        this.takeRequest((r) => r.kind === "status");
        this.statusRequested = null;
        this.status = frame.status;
        if (typeof frame.capacity === "number") this.capacity = frame.capacity;
        this.renderTop();
        break;
      case "ack":
        this.onAck(frame);
        break;
      case "transferred":
        this.onTransferred(frame);
        break;
      case "error":
        this.onError(frame);
        break;
      default:
        break; // pong and anything newer
    }
  }

  takeRequest(match) {
    const index = this.inflight.findIndex(match);
    return index >= 0 ? this.inflight.splice(index, 1)[0] : null;
  }

  onHello(frame) {
    const agent = frame.agent || {};
    this.me = { ...this.me, id: agent.id || this.me.id, name: agent.name || this.me.name, username: agent.username || this.me.username };
    this.status = agent.status || "offline";
    if (typeof agent.capacity === "number") this.capacity = agent.capacity;
    this.queue = { waiting: (frame.queue && frame.queue.waiting) || 0, groups: (frame.queue && frame.queue.groups) || {} };
    this.groups = Array.isArray(frame.groups) ? frame.groups : [];
    const reconnect = this.helloSeen;
    this.helloSeen = true;
    const held = new Set();
    for (const raw of frame.conversations || []) {
      held.add(raw.id);
      const conv = this.conversations.get(raw.id);
      if (conv) {
        conv.caughtUpShopper = 0;
        mergeTranscript(conv, raw.transcript || [], this.me.id, { live: true });
        conv.group = raw.group || conv.group;
        if (conv.closed === "gone") conv.closed = null;
        if (conv.caughtUpShopper && !this.isViewing(conv)) conv.unread += conv.caughtUpShopper;
      } else {
        this.onAssigned(raw, false);
      }
    }
    for (const conv of this.conversations.values()) {
      if (!held.has(conv.id) && !conv.closed) this.markClosed(conv, "gone");
    }
    // Messages typed while disconnected, or sent but never acked: send again (same
    // client_msg_id, so the server stores each once).
    for (const conv of this.conversations.values()) {
      if (conv.closed) continue;
      for (const line of conv.lines) {
        if (line.local && !line.id && line.state === "pending") this.transmit(conv, line);
      }
    }
    if (!reconnect && !this.selectedId && !root.classList.contains("narrow")) {
      const first = [...this.conversations.values()].find((c) => !c.closed);
      if (first) this.select(first.id, { focus: false });
    }
    this.render();
  }

  onAssigned(raw, isNew) {
    if (!raw || !raw.id) return;
    let conv = this.conversations.get(raw.id);
    if (conv) {
      // Ours again (e.g. transferred back): keep what we have, add what is new.
      mergeTranscript(conv, raw.transcript || [], this.me.id);
      conv.closed = null;
      conv.group = raw.group || conv.group;
      conv.waited_s = raw.waited_s || conv.waited_s;
    } else {
      conv = createConversation(raw, this.me.id);
      this.conversations.set(conv.id, conv);
    }
    if (!isNew) return;
    const label = shopperLabel(conv, t);
    playChime();
    showNotification(t("newChat"), `${label} · ${conv.group}`, `kefu-${conv.id}`, () => {
      this.setTab("chats");
      this.select(conv.id);
    });
    this.toast(t("newChatNotice", label), "info", () => {
      this.setTab("chats");
      this.select(conv.id);
    });
    // Open it when the agent is looking at nothing (on a narrow screen the list stays in view).
    if (!this.selected() && !root.classList.contains("narrow")) this.select(conv.id, { focus: false });
    this.render();
  }

  onMessage(frame) {
    const conv = this.conversations.get(frame.conversation_id);
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
    if (!addLine(conv, line, this.me.id)) return; // already shown (dedupe by id)
    conv.typingUntil = 0;
    if (line.from === "shopper" && !this.isViewing(conv)) conv.unread += 1;
    this.render();
  }

  onTyping(frame) {
    const conv = this.conversations.get(frame.conversation_id);
    if (!conv || conv.closed) return;
    conv.typingUntil = Date.now() + TYPING_SHOWN_MS;
    this.renderTyping();
  }

  onAck(frame) {
    const request = this.takeRequest((r) => r.kind === "message" && r.cid === frame.client_msg_id);
    const conv = request ? this.conversations.get(request.conv) : null;
    const candidates = conv ? [conv] : [...this.conversations.values()];
    for (const c of candidates) {
      if (ackLine(c, frame.client_msg_id, frame.id)) break;
    }
    this.render();
  }

  onTransferred(frame) {
    this.takeRequest((r) => r.kind === "transfer" && r.conv === frame.conversation_id);
    const conv = this.conversations.get(frame.conversation_id);
    if (conv) {
      conv.transferring = null;
      conv.transferredTo = frame.group; // the conversation_closed that follows needs no second notice
    }
    this.toast(t("transferredNotice", frame.group, frame.status), "ok");
    this.render();
  }

  onClosed(frame) {
    this.takeRequest((r) => r.kind === "close" && r.conv === frame.conversation_id);
    const conv = this.conversations.get(frame.conversation_id);
    if (!conv) return;
    if (frame.by === "transferred") {
      const label = shopperLabel(conv, t);
      this.conversations.delete(conv.id);
      if (this.selectedId === conv.id) this.select(null, { focus: false });
      if (!conv.transferredTo) this.toast(t("transferredAway", label), "info");
      this.render();
      return;
    }
    this.markClosed(conv, frame.by || "closed");
    this.render();
  }

  markClosed(conv, by) {
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

  onError(frame) {
    const text = errorText(frame.code, frame.message);
    const request = this.inflight.shift();
    if (!request) {
      this.toast(text, "error");
      return;
    }
    const conv = request.conv ? this.conversations.get(request.conv) : null;
    if (request.kind === "message" && conv) {
      const line = conv.lines.find((l) => l.local && l.client_msg_id === request.cid);
      if (line && !line.id) {
        line.state = "failed";
        line.error = text;
        conv.version += 1;
      }
      if (conv.id === this.selectedId) this.showComposerError(text);
      else this.toast(text, "error");
    } else if (request.kind === "transfer" && conv) {
      conv.transferring = null;
      conv.transferError = text;
    } else if (request.kind === "status") {
      this.statusRequested = null;
      this.toast(text, "error");
    } else {
      this.toast(text, "error");
    }
    if (frame.code === "not_assigned" && conv && !conv.closed) {
      // The chat left us; the matching conversation_closed normally arrives too.
    }
    this.render();
  }

  // ---------------------------------------------------------------- actions

  isViewing(conv) {
    return this.selectedId === conv.id && this.tab === "chats" && !document.hidden;
  }

  markSelectedRead() {
    const conv = this.selected();
    if (conv && this.isViewing(conv) && conv.unread) {
      conv.unread = 0;
      this.renderList();
      this.renderTitle();
    }
  }

  selected() {
    return this.selectedId ? this.conversations.get(this.selectedId) || null : null;
  }

  select(id, { focus = true } = {}) {
    const previous = this.selected();
    if (previous) previous.draft = this.textarea.value;
    this.selectedId = id && this.conversations.has(id) ? id : null;
    const conv = this.selected();
    this.quick.reset();
    this.textarea.value = conv ? conv.draft || "" : "";
    this.showComposerError("");
    if (conv && !document.hidden) conv.unread = 0;
    this.lastTypingSent = 0;
    this.render();
    if (conv && focus && !conv.closed) this.textarea.focus();
  }

  dismiss(id) {
    const conv = this.conversations.get(id);
    if (!conv || !conv.closed) return;
    this.conversations.delete(id);
    if (this.selectedId === id) {
      const next = [...this.conversations.values()].find((c) => !c.closed);
      this.select(next ? next.id : null, { focus: false });
    }
    this.render();
    const first = this.list.querySelector("button.conv-item");
    if (first) first.focus();
  }

  setTab(tab) {
    this.tab = tab;
    if (tab === "tickets") this.tickets.show();
    else this.tickets.hide();
    this.chatsView.hidden = tab !== "chats";
    this.markSelectedRead();
    this.render();
  }

  changeStatus() {
    const status = this.statusSelect.value;
    if (status === "online") {
      unlockAudio();
      maybeRequestNotify().then(() => this.renderTop());
    }
    if (this.send_({ type: "status", status }, { kind: "status" })) {
      this.statusRequested = status; // shown until the server's `status` answer
    } else {
      this.toast(t("conn_closed"), "error");
    }
    this.renderTop();
  }

  async toggleNotify() {
    unlockAudio();
    if (notifyEnabled()) {
      setNotifyPreference(false);
    } else {
      const permission = notifyPermission();
      if (permission === "unsupported") {
        this.toast(t("notifyUnsupported"), "error");
      } else {
        setNotifyPreference(true);
        const result = await requestNotifyPermission();
        if (result === "denied") this.toast(t("notifyDenied"), "error");
      }
    }
    this.renderTop();
  }

  toggleSound() {
    unlockAudio();
    setSoundEnabled(!soundEnabled());
    if (soundEnabled()) playChime();
    this.renderTop();
  }

  logout() {
    // No new chats for an agent who left; open chats go back to the queue after the grace period.
    this.socket.send({ type: "status", status: "offline" });
    this.destroy();
    app = null;
    setToken(null);
    showLogin("");
  }

  composerKeydown(event) {
    if (this.quick.onKeydown(event)) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      this.send();
    }
  }

  composerInput() {
    this.quick.onInput();
    const conv = this.selected();
    if (!conv || conv.closed) return;
    conv.draft = this.textarea.value;
    if (this.composerError.textContent) this.showComposerError("");
    const now = Date.now();
    if (this.textarea.value.trim() && now - this.lastTypingSent >= TYPING_EVERY_MS && this.socket.isOpen) {
      this.lastTypingSent = now;
      this.socket.send({ type: "typing", conversation_id: conv.id });
    }
  }

  insertReply(text, mode) {
    const ta = this.textarea;
    if (mode === "slash" || !ta.value.trim()) {
      ta.value = text;
      ta.setSelectionRange(text.length, text.length);
    } else {
      const start = ta.selectionStart ?? ta.value.length;
      const end = ta.selectionEnd ?? ta.value.length;
      ta.setRangeText(text, start, end, "end");
    }
    const conv = this.selected();
    if (conv) conv.draft = ta.value;
    ta.focus();
  }

  send() {
    const conv = this.selected();
    if (!conv || conv.closed) return;
    const text = this.textarea.value.trim();
    if (!text) return;
    if (text.length > MAX_TEXT) {
      this.showComposerError(errorText("text_too_long"));
      return;
    }
    const line = addPending(conv, text, newClientMsgId(), this.me);
    this.textarea.value = "";
    conv.draft = "";
    this.quick.reset();
    this.showComposerError("");
    this.transmit(conv, line);
    this.render();
    this.scrollToBottom(true);
  }

  transmit(conv, line) {
    line.state = "pending";
    line.error = null;
    this.send_(
      { type: "message", conversation_id: conv.id, text: line.text, client_msg_id: line.client_msg_id },
      { kind: "message", conv: conv.id, cid: line.client_msg_id },
    );
    // Not connected: stays pending and goes out after the next hello.
  }

  retry(line) {
    const conv = this.selected();
    if (!conv || conv.closed) return;
    this.transmit(conv, line);
    conv.version += 1;
    this.render();
  }

  confirmClose() {
    const conv = this.selected();
    if (!conv || conv.closed) return;
    this.dialogOk.onclick = () => {
      this.dialog.close();
      if (!this.send_({ type: "close", conversation_id: conv.id }, { kind: "close", conv: conv.id })) {
        this.toast(t("conn_closed"), "error");
      }
    };
    this.dialog.showModal();
    this.dialogCancel.focus();
  }

  transfer() {
    const conv = this.selected();
    const group = this.transferSelect.value;
    if (!conv || conv.closed || !group) return;
    conv.transferError = null;
    if (this.send_({ type: "transfer", conversation_id: conv.id, group }, { kind: "transfer", conv: conv.id, group })) {
      conv.transferring = group;
    } else {
      conv.transferError = t("conn_closed");
    }
    this.renderChatControls();
  }

  showComposerError(text) {
    this.composerError.textContent = text || "";
    this.composerError.hidden = !text;
  }

  setTicketCount(n) {
    this.ticketCount = n;
    this.ticketBadge.textContent = n ? String(n) : "";
    this.ticketBadge.hidden = !n;
  }

  toast(text, kind = "info", onClick) {
    const item = h(
      onClick ? "button" : "div",
      { class: ["toast", `toast-${kind}`], "data-testid": "toast", "data-kind": kind, type: onClick ? "button" : null, role: kind === "error" ? "alert" : "status" },
      text,
    );
    if (onClick) item.addEventListener("click", () => { item.remove(); onClick(); });
    this.toasts.append(item);
    while (this.toasts.children.length > 4) this.toasts.firstElementChild.remove();
    setTimeout(() => item.remove(), kind === "error" ? 8000 : 5000);
  }

  tick() {
    tickTimers(root);
    const conv = this.selected();
    if (conv && conv.typingUntil && conv.typingUntil < Date.now()) {
      conv.typingUntil = 0;
      this.renderTyping();
    }
    if (this.connection === "reconnecting") this.renderTop();
  }

  // ---------------------------------------------------------------- rendering

  render() {
    if (this.destroyed) return;
    this.renderTop();
    this.renderList();
    this.renderChat();
    this.renderTitle();
  }

  renderTitle() {
    let unread = 0;
    for (const conv of this.conversations.values()) unread += conv.unread;
    document.title = (unread ? `(${unread}) ` : "") + t("title");
    this.chatsBadge.textContent = unread ? String(unread) : "";
    this.chatsBadge.hidden = !unread;
  }

  renderTop() {
    for (const [id, tab] of Object.entries(this.tabs)) {
      tab.setAttribute("aria-selected", id === this.tab ? "true" : "false");
    }
    this.queueEl.textContent = t("queue", this.queue.waiting || 0);
    const groups = Object.entries(this.queue.groups || {}).map(([g, n]) => `${g}: ${n}`).join(", ");
    this.queueEl.title = groups ? `${t("queueTitle")} (${groups})` : t("queueTitle");
    this.queueEl.classList.toggle("has-waiting", (this.queue.waiting || 0) > 0);
    const active = [...this.conversations.values()].filter((c) => !c.closed).length;
    this.capacityEl.textContent = `${active}/${this.capacity}`;
    this.capacityEl.classList.toggle("full", this.capacity > 0 && active >= this.capacity);
    this.statusSelect.value = this.statusRequested || this.status;
    this.statusWrap.dataset.status = this.status;
    this.statusSelect.disabled = this.connection !== "open";
    const notifyOn = notifyEnabled();
    replace(this.notifyBtn, h("span", { class: "toggle-long" }, notifyOn ? t("notifyOn") : t("notifyOff")), h("span", { class: "toggle-short", "aria-hidden": "true" }, t("notifyShort")));
    this.notifyBtn.setAttribute("aria-pressed", notifyOn ? "true" : "false");
    this.notifyBtn.title = notifyOn ? t("notifyOn") : t("notifyOff");
    const soundOn = soundEnabled();
    replace(this.soundBtn, h("span", { class: "toggle-long" }, soundOn ? t("soundOn") : t("soundOff")), h("span", { class: "toggle-short", "aria-hidden": "true" }, t("soundShort")));
    this.soundBtn.setAttribute("aria-pressed", soundOn ? "true" : "false");
    this.soundBtn.title = soundOn ? t("soundOn") : t("soundOff");
    this.connEl.dataset.state = this.connection;
    let connText = t(`conn_${this.connection}`);
    if (this.connection === "reconnecting" && this.retryAt > Date.now()) {
      connText = t("conn_reconnectIn", Math.ceil((this.retryAt - Date.now()) / 1000));
    }
    this.connEl.querySelector(".conn-text").textContent = connText;
    this.connEl.title = connText;
  }

  renderList() {
    const convs = [...this.conversations.values()];
    const open = convs.filter((c) => !c.closed).length;
    this.listCount.textContent = convs.length ? `${open}/${convs.length}` : "";
    this.listEmpty.hidden = convs.length > 0;
    const seen = new Set();
    let previous = null;
    for (const conv of convs) {
      seen.add(conv.id);
      let entry = this.listItems.get(conv.id);
      if (!entry) {
        const button = h("button", { type: "button", class: "conv-item", "data-testid": "conversation-item", "data-conversation-id": conv.id, onclick: () => this.select(conv.id) });
        const dismiss = h("button", { type: "button", class: "conv-dismiss btn btn-ghost btn-sm", "data-testid": "dismiss-conversation", onclick: () => this.dismiss(conv.id) }, t("dismiss"));
        entry = { li: h("li", { class: "conv" }, button, dismiss), button, dismiss };
        this.listItems.set(conv.id, entry);
      }
      const { li, button, dismiss } = entry;
      const selected = conv.id === this.selectedId;
      button.dataset.state = conv.closed ? "closed" : "open";
      li.classList.toggle("selected", selected);
      li.classList.toggle("closed", !!conv.closed);
      if (selected) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
      replace(button, conversationItemContent(conv, this.me));
      dismiss.hidden = !conv.closed;
      dismiss.setAttribute("aria-label", t("dismissLabel", shopperLabel(conv, t)));
      const expected = previous ? previous.nextSibling : this.list.firstChild;
      if (expected !== li) this.list.insertBefore(li, expected);
      previous = li;
    }
    for (const [id, entry] of this.listItems) {
      if (!seen.has(id)) {
        entry.li.remove();
        this.listItems.delete(id);
      }
    }
  }

  renderChat() {
    const conv = this.selected();
    root.classList.toggle("chat-open", !!conv);
    this.chatEmpty.hidden = !!conv;
    this.chatBody.hidden = !conv;
    if (!conv) {
      this.threadView = null;
      return;
    }
    replace(this.headInfo, chatHeadInfo(conv));
    const atBottom = this.thread.scrollHeight - this.thread.scrollTop - this.thread.clientHeight < 80;
    const switched = !this.threadView || this.threadView.conv !== conv;
    if (switched) {
      this.threadView = new ThreadView(conv, this.me, (line) => this.retry(line));
      replace(this.thread, this.threadView.nodes);
    }
    this.threadView.update();
    this.renderTyping();
    this.renderChatControls();
    // Follow the conversation unless the agent scrolled up to read older lines.
    if (switched || atBottom) this.scrollToBottom(true);
  }

  scrollToBottom(force) {
    if (force) this.thread.scrollTop = this.thread.scrollHeight;
  }

  renderTyping() {
    const conv = this.selected();
    const hidden = !(conv && !conv.closed && conv.typingUntil > Date.now());
    if (this.typingEl.hidden === hidden) return;
    const atBottom = this.thread.scrollHeight - this.thread.scrollTop - this.thread.clientHeight < 80;
    this.typingEl.hidden = hidden;
    if (atBottom) this.scrollToBottom(true);
  }

  renderChatControls() {
    const conv = this.selected();
    if (!conv) return;
    const closed = !!conv.closed;
    const connected = this.connection === "open";
    // transfer: every group but the current one
    const options = this.groups.filter((g) => g !== conv.group);
    const current = this.transferSelect.value;
    replace(
      this.transferSelect,
      options.length
        ? [h("option", { value: "" }, t("transferTo")), options.map((g) => h("option", { value: g }, g))]
        : h("option", { value: "" }, t("noOtherGroup")),
    );
    this.transferSelect.value = options.includes(current) ? current : "";
    this.transferSelect.disabled = closed || !options.length || !!conv.transferring;
    this.transferBtn.disabled = closed || !connected || !this.transferSelect.value || !!conv.transferring;
    this.transferBtn.textContent = conv.transferring ? "…" : t("transfer");
    this.transferError.textContent = conv.transferError || "";
    this.transferError.hidden = !conv.transferError;
    this.closeBtn.hidden = closed;
    this.closeBtn.disabled = !connected;
    this.dismissBtn.hidden = !closed;
    this.chatActions.querySelector(".transfer").hidden = closed;
    // closed: read only
    this.closedBanner.hidden = !closed;
    this.closedBanner.textContent = closed ? `${closedText(conv.closed)} · ${t("closedReadOnly")}` : "";
    this.textarea.disabled = closed;
    this.textarea.placeholder = closed ? t("composerClosed") : t("composerPlaceholder");
    this.sendBtn.disabled = closed;
    this.quick.button.disabled = closed;
    this.chatBody.classList.toggle("is-closed", closed);
    this.noticeEl.hidden = connected || closed;
    this.noticeEl.textContent = connected || closed ? "" : t("offlineNotice");
  }
}

// =====================================================================================
// Boot
// =====================================================================================

async function boot() {
  if (!getToken()) {
    showLogin("");
    return;
  }
  try {
    const me = await api("GET", "/api/me");
    startWorkspace(me);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      setToken(null);
      showLogin(t("sessionExpired"));
    } else {
      showLogin(t("serverUnreachable"));
    }
  }
}

boot();
