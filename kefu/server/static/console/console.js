// kefu agent console (/console): login, the agent websocket (/ws/agent, docs/protocol.md
// "Agent socket"), my conversations with the bot transcript, quick replies and offline tickets.
// Plain ES modules, no build step; the page runs under a strict CSP (no inline script/style).
//
// Modules: login (the form) · workspace (state and actions) · frames (server frames) · socket
// (reconnecting websocket) · model (conversations and lines) · topbar · chatlist · chatpane ·
// views (thread and list item rendering) · customer (the customer panel: identity, product,
// orders, earlier chats) · nudges (催付) · quickreplies · tickets · alerts (sound,
// notifications) · i18n.
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
//   customer-toggle (aria-expanded), customer-panel, customer-hide, customer-status (data-state),
//     customer-retry, customer-identity (data-verified), customer-name, customer-verified,
//     customer-anonymous, customer-id, product-card, product-none, product-image, product-title,
//     product-price, product-link, customer-orders, orders-none, order-item (data-order-id,
//     data-status), order-id, order-status, order-amount, order-items, order-tracking,
//     order-times, past-conversations, past-conversation (data-conversation-id), past-rating
//     (data-rating), product-note (a transcript line with data-event=product)
//   payment-due-badge, payment-nudges, payment-nudge (data-order-id), payment-remind,
//     payment-dismiss

import { api, ApiError, getToken, setToken } from "/static/common/api.js";
import { t, LANG } from "./i18n.js";
import { unlockAudio } from "./alerts.js";
import { showLogin } from "./login.js";
import { Workspace } from "./workspace.js";

const root = document.getElementById("app");
document.documentElement.lang = LANG === "en" ? "en" : "zh-CN";
document.title = t("title");

// Unlock audio on the first gesture anywhere (browsers block sound before one).
for (const type of ["pointerdown", "keydown"]) {
  window.addEventListener(type, unlockAudio, { capture: true, passive: true });
}

let app = null; // the running workspace, null on the login form

function login(message) {
  showLogin(root, message, startWorkspace);
}

function startWorkspace({ shop, user }) {
  if (app) app.destroy();
  app = new Workspace({
    root,
    shop,
    user,
    onAuthFailed: (reason) => {
      if (app) app.destroy();
      app = null;
      setToken(null);
      login(!reason || reason === "expired" ? t("sessionExpired") : t("signedOut"));
    },
    onLogout: () => {
      app = null;
      setToken(null);
      login("");
    },
  });
}

async function boot() {
  if (!getToken()) {
    login("");
    return;
  }
  try {
    const me = await api("GET", "/api/me");
    startWorkspace(me);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      setToken(null);
      login(t("sessionExpired"));
    } else {
      login(t("serverUnreachable"));
    }
  }
}

boot();
