// The agent's workspace once logged in: the agent socket, my conversations and what the agent
// does with them (select, send, retry, transfer, close, dismiss, status, alerts, 催付). The
// parts on screen — top bar (topbar.js), conversation list (chatlist.js), chat pane
// (chatpane.js), customer panel (customer.js), tickets (tickets.js) — paint what it tells
// them; frames.js applies the server's frames.

import { h, replace } from "/static/common/dom.js";
import { api, ApiError, socketUrl } from "/static/common/api.js";
import { t, errorText } from "./i18n.js";
import { AgentSocket } from "./socket.js";
import { handleFrame } from "./frames.js";
import { addPending, newClientMsgId } from "./model.js";
import { tickTimers } from "./views.js";
import { TopBar } from "./topbar.js";
import { ConversationList } from "./chatlist.js";
import { ChatPane } from "./chatpane.js";
import { Tickets } from "./tickets.js";
import { CustomerLoader, CustomerPanel } from "./customer.js";
import { dropNudge, dropNudgesMentioned, reminderFor, saveNudges } from "./nudges.js";
import {
  maybeRequestNotify,
  notifyEnabled,
  notifyPermission,
  playChime,
  requestNotifyPermission,
  setNotifyPreference,
  setSoundEnabled,
  soundEnabled,
  unlockAudio,
} from "./alerts.js";

const TYPING_EVERY_MS = 3000;
const MAX_TEXT = 2000;
const CUSTOMER_KEY = "kefu.console.customerPanel"; // "0": the agent collapsed it (wide screens)
// Below this width the customer panel is a drawer over the chat, opened on demand.
const DRAWER_QUERY = "(max-width: 1100px)";

export class Workspace {
  /**
   * @param {object} o
   * @param {HTMLElement} o.root
   * @param {string} o.shop
   * @param {object} o.user          {id, name, username, capacity}
   * @param {(reason?: string) => void} o.onAuthFailed   the login ended (reason: the socket's
   *                                        close reason — logout, disabled, password, expired…)
   * @param {() => void} o.onLogout
   */
  constructor({ root, shop, user, onAuthFailed, onLogout }) {
    this.root = root;
    this.shop = shop;
    this.onAuthFailed = onAuthFailed;
    this.onLogout = onLogout;
    this.me = { id: user.id, name: user.name || user.username, username: user.username };
    this.status = "offline";
    this.statusRequested = null; // asked for, shown until the server's `status` answer
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
    this.destroyed = false;
    this.timezone = null; // the shop's, from hello
    this.customerWide = localStorage.getItem(CUSTOMER_KEY) !== "0"; // beside the chat on wide screens
    this.customerDrawer = false; // opened over the chat on narrow ones

    this.build();
    this.socket = new AgentSocket({
      url: async () => {
        const { ticket } = await api("POST", "/api/socket-ticket");
        return socketUrl("/ws/agent", { ticket });
      },
      onFrame: (frame) => {
        if (!this.destroyed) handleFrame(this, frame);
      },
      onState: (state, info) => this.onConnection(state, info),
      checkAuth: async () => {
        try {
          await api("GET", "/api/me");
          return "ok";
        } catch (err) {
          return err instanceof ApiError && err.status === 401 ? "unauthorized" : "error";
        }
      },
      onAuthFailed: (reason) => this.onAuthFailed(reason),
    });
    this.socket.start();
    this.pane.quick.load();
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
    if (this.pane.dialog.open) this.pane.dialog.close();
  }

  build() {
    this.top = new TopBar({
      me: this.me,
      shop: this.shop,
      on: {
        tab: (id) => this.setTab(id),
        status: (value) => this.changeStatus(value),
        notify: () => this.toggleNotify(),
        sound: () => this.toggleSound(),
        reconnect: () => this.socket.reconnectNow(),
        logout: () => this.logout(),
      },
    });
    this.list = new ConversationList({ onSelect: (id) => this.select(id), onDismiss: (id) => this.dismiss(id) });
    this.pane = new ChatPane({
      on: {
        back: () => this.select(null),
        transfer: (group) => this.transfer(group),
        close: () => this.confirmClose(),
        dismiss: () => this.dismiss(this.selectedId),
        send: () => this.send(),
        input: (text) => this.composerInput(text),
        draft: (text) => {
          const conv = this.selected();
          if (conv) conv.draft = text;
        },
        retry: (line) => this.retry(line),
        authFailed: () => this.onAuthFailed(),
        toggleCustomer: () => this.toggleCustomer(),
        remind: (orderId) => this.remindPayment(orderId),
        dismissNudge: (orderId) => this.dismissNudge(orderId),
      },
    });
    this.customers = new CustomerLoader({
      onChange: (conv) => {
        if (conv.id === this.selectedId) this.renderCustomer();
      },
      onAuthError: () => this.onAuthFailed(),
    });
    this.customerPanel = new CustomerPanel({
      onHide: () => this.toggleCustomer(),
      onRetry: () => this.customers.load(this.selected(), { force: true }),
    });
    this.customerPanel.el.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && this.drawerMode && this.customerDrawer) this.toggleCustomer();
    });
    this.chatsView = h(
      "div",
      { class: "chats-view", id: "view-chats", role: "tabpanel", "aria-labelledby": "tab-chats" },
      this.list.el,
      this.pane.el,
      this.customerPanel.el,
    );
    this.tickets = new Tickets({
      onAuthError: () => this.onAuthFailed(),
      onCount: (n) => this.top.setTicketCount(n),
      toast: (text, kind) => this.toast(text, kind),
    });
    this.tickets.el.id = "view-tickets";
    this.tickets.el.setAttribute("role", "tabpanel");
    this.tickets.el.setAttribute("aria-labelledby", "tab-tickets");
    this.toasts = h("div", { class: "toasts", "aria-live": "polite", "aria-atomic": "false" });
    replace(this.root, this.top.el, h("main", { class: "main" }, this.chatsView, this.tickets.el), this.toasts, this.pane.dialog);
    this.root.className = "app app-workspace";
    this.layoutMode();
  }

  layoutMode() {
    this.root.classList.toggle("narrow", window.matchMedia("(max-width: 860px)").matches);
    if (this.customerPanel) this.renderCustomer();
  }

  /** The customer panel is a drawer over the chat (narrow) rather than a column beside it. */
  get drawerMode() {
    return window.matchMedia(DRAWER_QUERY).matches;
  }

  /** A narrow screen shows the list or a chat, not both. */
  get narrow() {
    return this.root.classList.contains("narrow");
  }

  // ---------------------------------------------------------------- the socket

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

  /** Send a frame; `pending` describes the request if an answer (or error) is expected. */
  request(frame, pending) {
    if (!this.socket.send(frame)) return false;
    if (pending) this.inflight.push(pending);
    return true;
  }

  takeRequest(match) {
    const index = this.inflight.findIndex(match);
    return index >= 0 ? this.inflight.splice(index, 1)[0] : null;
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
    if (previous) previous.draft = this.pane.text;
    this.selectedId = id && this.conversations.has(id) ? id : null;
    const conv = this.selected();
    this.pane.quick.reset();
    this.pane.text = conv ? conv.draft || "" : "";
    this.pane.showError("");
    if (conv && !document.hidden) conv.unread = 0;
    this.lastTypingSent = 0;
    if (conv && conv !== previous) this.customerDrawer = false;
    this.render();
    this.customers.load(conv);
    if (conv && focus && !conv.closed) this.pane.focusComposer();
  }

  dismiss(id) {
    const conv = this.conversations.get(id);
    if (!conv || !conv.closed) return;
    this.conversations.delete(id);
    if (conv.paymentDue && conv.paymentDue.length) saveNudges(this.conversations);
    if (this.selectedId === id) {
      const next = [...this.conversations.values()].find((c) => !c.closed);
      this.select(next ? next.id : null, { focus: false });
    }
    this.render();
    this.list.focusFirst();
  }

  setTab(tab) {
    this.tab = tab;
    if (tab === "tickets") this.tickets.show();
    else this.tickets.hide();
    this.chatsView.hidden = tab !== "chats";
    this.markSelectedRead();
    this.render();
  }

  changeStatus(status) {
    if (status === "online") {
      unlockAudio();
      maybeRequestNotify().then(() => this.renderTop());
    }
    if (this.request({ type: "status", status }, { kind: "status" })) {
      this.statusRequested = status;
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
    // The server hands the open chats back to the queue at once and ends every token of this
    // login; the form comes back whether or not it could be told (offline: the grace period).
    api("POST", "/api/logout").catch(() => {});
    this.destroy();
    this.onLogout();
  }

  composerInput(text) {
    const conv = this.selected();
    if (!conv || conv.closed) return;
    conv.draft = text;
    if (this.pane.hasError) this.pane.showError("");
    const now = Date.now();
    if (text.trim() && now - this.lastTypingSent >= TYPING_EVERY_MS && this.socket.isOpen) {
      this.lastTypingSent = now;
      this.socket.send({ type: "typing", conversation_id: conv.id });
    }
  }

  send() {
    const conv = this.selected();
    if (!conv || conv.closed) return;
    const text = this.pane.text.trim();
    if (!text) return;
    if (text.length > MAX_TEXT) {
      this.pane.showError(errorText("text_too_long"));
      return;
    }
    const line = addPending(conv, text, newClientMsgId(), this.me);
    this.pane.clearComposer();
    conv.draft = "";
    if (dropNudgesMentioned(conv, text)) saveNudges(this.conversations); // reminded: done
    this.transmit(conv, line);
    this.render();
    this.pane.scrollToBottom();
  }

  transmit(conv, line) {
    line.state = "pending";
    line.error = null;
    this.request(
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
    this.pane.confirm(() => {
      if (!this.request({ type: "close", conversation_id: conv.id }, { kind: "close", conv: conv.id })) {
        this.toast(t("conn_closed"), "error");
      }
    });
  }

  transfer(group) {
    const conv = this.selected();
    if (!conv || conv.closed || !group) return;
    conv.transferError = null;
    if (this.request({ type: "transfer", conversation_id: conv.id, group }, { kind: "transfer", conv: conv.id, group })) {
      conv.transferring = group;
    } else {
      conv.transferError = t("conn_closed");
    }
    this.renderChatControls();
  }

  /** 催付: put the polite reminder for `orderId` into the composer; the agent sends it. */
  remindPayment(orderId) {
    const conv = this.selected();
    if (!conv || conv.closed) return;
    this.pane.insertReply(reminderFor(conv, orderId), "caret");
  }

  dismissNudge(orderId) {
    const conv = this.selected();
    if (!conv || !dropNudge(conv, orderId)) return;
    saveNudges(this.conversations);
    this.render();
    this.pane.focusComposer();
  }

  /** Show or hide the customer panel: a column remembered per browser, or a drawer. */
  toggleCustomer() {
    if (this.drawerMode) {
      this.customerDrawer = !this.customerDrawer;
    } else {
      this.customerWide = !this.customerWide;
      localStorage.setItem(CUSTOMER_KEY, this.customerWide ? "1" : "0");
    }
    this.renderCustomer();
    if (this.customerShown) this.customerPanel.el.focus();
    else this.pane.customerBtn.focus();
  }

  toast(text, kind = "info", onClick) {
    const item = h(
      onClick ? "button" : "div",
      { class: ["toast", `toast-${kind}`], "data-testid": "toast", "data-kind": kind, type: onClick ? "button" : null, role: kind === "error" ? "alert" : "status" },
      text,
    );
    if (onClick) {
      item.addEventListener("click", () => {
        item.remove();
        onClick();
      });
    }
    this.toasts.append(item);
    while (this.toasts.children.length > 4) this.toasts.firstElementChild.remove();
    setTimeout(() => item.remove(), kind === "error" ? 8000 : 5000);
  }

  tick() {
    tickTimers(this.root);
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
    this.top.setUnread(unread);
  }

  renderTop() {
    this.top.paint({
      tab: this.tab,
      queue: this.queue,
      active: [...this.conversations.values()].filter((c) => !c.closed).length,
      capacity: this.capacity,
      status: this.status,
      statusRequested: this.statusRequested,
      connection: this.connection,
      retryAt: this.retryAt,
    });
  }

  renderList() {
    this.list.paint([...this.conversations.values()], this.selectedId, this.me);
  }

  get controls() {
    return { groups: this.groups, connected: this.connection === "open" };
  }

  renderChat() {
    const conv = this.selected();
    this.root.classList.toggle("chat-open", !!conv);
    this.pane.paint(conv, this.me, this.controls);
    this.renderCustomer();
  }

  /** Whether the customer panel is in view for the selected chat. */
  get customerShown() {
    return !!this.selected() && (this.drawerMode ? this.customerDrawer : this.customerWide);
  }

  renderCustomer() {
    const conv = this.selected();
    const shown = this.customerShown;
    this.chatsView.classList.toggle("has-customer", !!conv && !this.drawerMode && this.customerWide);
    this.chatsView.classList.toggle("customer-drawer", !!conv && this.drawerMode && this.customerDrawer);
    this.customerPanel.el.hidden = !shown;
    this.pane.paintCustomerToggle(shown);
    this.customerPanel.paint(conv, { me: this.me, zone: this.timezone });
  }

  renderTyping() {
    this.pane.paintTyping(this.selected());
  }

  renderChatControls() {
    this.pane.paintControls(this.selected(), this.controls);
  }
}
