// kefu admin pages: login, navigation (URL hash) and the tabs Dashboard · Sales · FAQ · Try a
// question · Unanswered · Quality · Settings · Agents. Plain ES modules, no build step; every
// piece of data is set as text through h() (see /static/common/dom.js). Strict CSP: no inline
// scripts or styles.
//
// data-testid attributes (stable, for tests). "X / Y" = a form field and its inline error
// element; every error element exists (hidden) until the server names its field in a 422.
//
// Shell
//   login-form, login-shop, login-username, login-password, login-submit, login-error
//   app-shell, current-shop, current-user, logout, tab-faq|tab-try|… (the tab's container)
//   nav-dashboard, nav-sales, nav-faq, nav-try, nav-unanswered, nav-qa, nav-settings, nav-agents
//   (links; aria-current="page")
//   toasts, toast; confirm-dialog, confirm-ok, confirm-cancel, confirm-dialog-close
//
// Dashboard (#dashboard?range=today|7d|30d|custom&from=YYYY-MM-DD&to=YYYY-MM-DD)
//   dashboard-range (radio group) with options dashboard-range-today, dashboard-range-7d,
//   dashboard-range-30d, dashboard-range-custom (radios); custom dates: dashboard-range-from,
//   dashboard-range-to, dashboard-range-apply, dashboard-range-error; dashboard-period (the
//   period as text), dashboard-refresh, dashboard-status, dashboard-empty (no conversations)
//   KPI cards: kpi-conversations, kpi-containment, kpi-transfer, kpi-offline, kpi-handling,
//   kpi-csat (data-value = the raw number, "" for null; kpi-csat also data-ratings),
//   kpi-wait, kpi-first-response (data-p50, data-p90 in seconds)
//   Charts (<svg role="img" aria-label>): chart-series, chart-series-bar (a bucket: data-start
//   = epoch ms, data-conversations, data-bot-only, data-with-agent), chart-series-legend,
//   chart-percentiles, chart-percentiles-bar (data-metric=queue_wait|first_response,
//   data-quantile=p50|p90, data-value), chart-csat, chart-csat-bar (data-score, data-count)
//   agents-stats-table, agent-stats-row (data-agent-id), agents-stats-empty;
//   top-unanswered, top-unanswered-item (data-count), top-unanswered-link
//
// Sales (#sales?range=…&from=…&to=…)
//   sales-range (radio group, options sales-range-today|7d|30d|custom, sales-range-from,
//   sales-range-to, sales-range-apply, sales-range-error), sales-period, sales-refresh,
//   sales-status, sales-empty (no chats nor orders in the period)
//   KPI cards (data-value = the raw number or decimal string): sales-kpi-sales,
//   sales-kpi-conversion, sales-kpi-average, sales-kpi-shop (also data-orders)
//   chart-sales (<svg>), chart-sales-bar (data-by = agent id | bot, data-sales)
//   sales-table; sales-row (agents by sales, then the bot), sales-team-row and sales-shop-row,
//   each with data-by, data-inquiries, data-buyers, data-orders, data-conversion, data-sales,
//   data-average-order (the shop row: data-orders, data-sales, data-average-order), cells
//   td[data-col=inquiries|buyers|orders|conversion|sales|average_order|vs_shop];
//   sales-definitions (<details>)
//
// FAQ (#faq)
//   faq-search, faq-category-filter, faq-count, faq-new, faq-export-yaml, faq-export-csv,
//   faq-import (button), faq-import-file (the <input type=file>), faq-import-errors (422 list),
//   faq-list-status, faq-table, faq-row (data-faq-id="ID"), and in each row faq-edit, faq-delete
//   Form: faq-dialog, faq-dialog-close, faq-form, faq-form-error (errors of the whole entry),
//   faq-field-id / faq-error-id, faq-field-category / faq-error-category,
//   faq-field-question / faq-error-question, faq-field-similar / faq-error-similar (textarea,
//   one phrasing per line), faq-field-answer / faq-error-answer,
//   faq-field-answer-en / faq-error-answer-en (API field answers.en),
//   faq-field-keywords / faq-error-keywords (comma separated), faq-save, faq-cancel
//
// Try a question (#try)
//   try-form, try-input, try-submit, try-example (sample questions), try-error, try-result,
//   try-decision (data-decision="answer|suggest|fallback|transfer|greeting"), try-decision-text,
//   try-faq (data-faq-id), try-edit-faq, try-answer, try-score / try-margin (data-value),
//   try-phrasing, try-suggestions, try-suggestion (data-faq-id), try-explanation, try-tokens,
//   try-token, try-matched, try-missing, try-extra, try-legend,
//   try-add-select, try-add-phrasing, try-add-error (add the question as a phrasing)
//
// Unanswered (#unanswered)
//   unanswered-refresh, unanswered-status, unanswered-list,
//   unanswered-row (data-text="the question as the API gives it"), and in each row
//   unanswered-count (data-count), unanswered-examples, unanswered-best (data-faq-id),
//   unanswered-faq-select, unanswered-add-phrasing, unanswered-new-faq, unanswered-dismiss,
//   unanswered-error
//
// Quality (#qa?range=…&from=…&to=…&agent=ID&rule=RULE)
//   qa-range (radio group, options qa-range-today|7d|30d|custom, qa-range-from, qa-range-to,
//   qa-range-apply, qa-range-error), qa-period, qa-agent-filter, qa-rule-filter (selects),
//   qa-rerun, qa-counts, qa-total (data-count), qa-count (per rule, a toggle button: data-rule,
//   data-count, aria-pressed), qa-status, qa-empty, qa-list,
//   qa-flag (data-rule, data-conversation-id, data-flag-id, data-agent-id), and in each
//   qa-flag-rule, qa-flag-agent, qa-flag-time, qa-flag-detail, qa-evidence (the evidence
//   lines: li[data-message-id]), qa-view-transcript
//   Transcript: transcript-dialog (data-conversation-id), transcript-dialog-close,
//   transcript-line (data-message-id, data-from, data-event on system lines,
//   data-evidence="true" on the flag's evidence lines)
//
// Settings (#settings)
//   settings-form, settings-form-error, settings-save, settings-saved,
//   settings-field-KEY / settings-error-KEY for KEY in
//     name, greeting-zh, greeting-en, transfer_label-zh, transfer_label-en, offline-zh,
//     offline-en, fallback-zh, fallback-en, and inside settings-more-texts (<details>):
//     greeting_reply-*, suggest-*, offer_transfer-*, queued-*, left_queue-*, requeued-*,
//     message_left-*, rated-*, closed-* (* = zh|en),
//     timezone, groups (one per line), default_group, queue_timeout_s, idle_close_s,
//     auto_offer_after, allowed_origins (one per line)
//   Business hours: settings-field-hours-mode (radio group) with settings-hours-always and
//   settings-hours-custom, settings-error-business_hours, settings-range (data-index) with
//   settings-range-day (checkbox, data-day=1…7, 1 = Monday), settings-range-open,
//   settings-range-close, settings-range-remove, settings-range-error; settings-add-range
//   Quality rules (API field qa.NAME): settings-field-qa-NAME / settings-error-qa-NAME for NAME
//     in slow_first_response_s, slow_reply_s, over_messaging_ratio, over_messaging_window_s,
//     left_waiting_s, sales_patterns, recommend_patterns, needs_patterns (one per line),
//     and in settings-qa-payment (催付) payment_reminder_after_min,
//     payment_reminder_chat_window_min, payment_reminder_patterns (one per line);
//     settings-error-qa (errors of the whole qa object)
//   Orders & identity (settings-commerce; settings-jump-commerce scrolls to it):
//     commerce-secrets-status, commerce-secrets-error; commerce-identity (block),
//     commerce-identity-secret (data-masked="true|false"), commerce-identity-show
//     (aria-pressed), commerce-identity-copy, commerce-identity-rotate (asks confirm-dialog);
//     commerce-api-key (block), commerce-api-key-status (data-set="true|false"),
//     commerce-api-key-rotate (create, or rotate after confirm-dialog), commerce-api-key-result
//     (the new key, shown once) with commerce-api-key-note, commerce-api-key-value,
//     commerce-api-key-copy, commerce-api-key-done
//     Fields (API field commerce.NAME): settings-field-commerce-NAME /
//     settings-error-commerce-NAME for NAME in refuse_unverified (checkbox),
//     attribution_window_h, order_retention_days, after_sale_group (select, "" = none),
//     dispatch_promise-zh|en, and inside settings-order-replies (<details>, with the
//     placeholder list settings-placeholders) order_replies-STATE-zh|en for STATE in created,
//     paid, shipped, delivered, refund_requested, refunded, cancelled, several;
//     settings-error-commerce, settings-error-commerce-order_replies (whole objects)
//
// Agents (#agents)
//   agents-new, agents-status, agents-table, agent-row (data-username), and in each row
//   agent-edit, agent-toggle-disabled, agent-reset-password
//   Form: agent-dialog, agent-form, agent-form-error, agent-save, agent-cancel,
//   agent-field-username / agent-error-username, agent-field-password / agent-error-password,
//   agent-generate-password, agent-field-name / agent-error-name,
//   agent-field-role / agent-error-role, agent-field-capacity / agent-error-capacity,
//   agent-field-groups (fieldset of agent-group checkboxes, value = group) / agent-error-groups
//   Password: password-dialog, password-form, password-input, password-generate,
//   password-error, password-save; then password-result, password-value, password-copy
//   (also shown once after adding an account)
//   Quick replies: qr-status, qr-list, qr-row, qr-shortcut, qr-text, qr-up, qr-down,
//   qr-remove, qr-row-error, qr-add, qr-save, qr-error (whole list), qr-saved

import { h, replace } from "/static/common/dom.js";
import { api, ApiError, getToken, login, logout } from "/static/common/api.js";
import { lang, t } from "./i18n.js";
import { errorText, note } from "./ui.js";
import * as dashboard from "./dashboard.js";
import * as sales from "./sales.js";
import * as faq from "./faq.js";
import * as tryTab from "./try.js";
import * as unanswered from "./unanswered.js";
import * as qa from "./qa.js";
import * as settings from "./settings.js";
import * as agents from "./agents.js";

// The tabs, in navigation order. Each module exports mount(container, ctx) and may return a
// cleanup function. A tab may keep its own state in the hash after "?" (#dashboard?range=7d):
// the router only looks at the id before it, so changing the query does not mount it again.
const TABS = [
  { id: "dashboard", label: "nav.dashboard", mount: dashboard.mount },
  { id: "sales", label: "nav.sales", mount: sales.mount },
  { id: "faq", label: "nav.faq", mount: faq.mount },
  { id: "try", label: "nav.try", mount: tryTab.mount },
  { id: "unanswered", label: "nav.unanswered", mount: unanswered.mount },
  { id: "qa", label: "nav.qa", mount: qa.mount },
  { id: "settings", label: "nav.settings", mount: settings.mount },
  { id: "agents", label: "nav.agents", mount: agents.mount },
];
const DEFAULT_TAB = "faq"; // the page after signing in (the Dashboard is one click away)
const SHOP_KEY = "kefu.admin.shop"; // the last shop signed in to (not a secret)

const root = document.getElementById("app");
let session = null; // {shop, user}
let cleanup = null;
let mountedTab = null;

document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
document.title = t("app.title");

/**
 * The API for the tabs: api() that sends a 401 (expired token) or a 403 on /api/admin/*
 * (not an admin) back to the login form. The error is still thrown (flagged `signedOut`).
 */
async function adminApi(method, path, body, options) {
  try {
    return await api(method, path, body, options);
  } catch (err) {
    if (err instanceof ApiError && session) {
      if (err.status === 401) {
        err.signedOut = true;
        signOut(t("login.expired"));
      } else if (err.status === 403 && path.startsWith("/api/admin/")) {
        err.signedOut = true;
        signOut(t("login.admin_required"));
      }
    }
    throw err;
  }
}

function signOut(message) {
  logout();
  session = null;
  if (cleanup) cleanup();
  cleanup = null;
  mountedTab = null;
  for (const dialog of document.querySelectorAll("dialog")) dialog.remove();
  showLogin(message);
}

// ---- login ----

function showLogin(message = "") {
  const params = new URLSearchParams(window.location.search);
  const shop = h("input", {
    name: "shop",
    autocomplete: "organization",
    required: true,
    placeholder: t("login.shop_hint"),
    "data-testid": "login-shop",
    value: params.get("shop") || localStorage.getItem(SHOP_KEY) || "",
  });
  const username = h("input", { name: "username", autocomplete: "username", required: true, "data-testid": "login-username" });
  const password = h("input", {
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
    "data-testid": "login-password",
  });
  const error = h("p", { class: "form-error", role: "alert", "data-testid": "login-error", hidden: !message }, message);
  const submit = h("button", { type: "submit", class: "primary wide", "data-testid": "login-submit" }, t("login.submit"));
  const row = (label, input) => {
    input.id = `login-${input.name}`;
    return h("div", { class: "field" }, h("label", { for: input.id }, label), input);
  };
  const form = h(
    "form",
    { class: "login-card", "data-testid": "login-form", novalidate: true, "aria-labelledby": "login-title" },
    h("div", { class: "brand brand-large" }, h("span", { class: "brand-mark", "aria-hidden": "true" }, "客"), t("app.brand")),
    h("h1", { id: "login-title" }, t("login.title")),
    error,
    row(t("login.shop"), shop),
    row(t("login.username"), username),
    row(t("login.password"), password),
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = [shop.value.trim(), username.value.trim(), password.value];
    const empty = [shop, username, password].find((input, i) => !values[i]);
    if (empty) {
      empty.focus();
      return;
    }
    error.hidden = true;
    submit.disabled = true;
    submit.textContent = t("login.busy");
    try {
      const result = await login(...values);
      localStorage.setItem(SHOP_KEY, result.shop);
      if (result.user.role !== "admin") {
        logout();
        throw new Error(t("login.admin_required"));
      }
      session = { shop: result.shop, user: result.user };
      showApp();
    } catch (err) {
      let text = errorText(err);
      if (err instanceof ApiError && err.code === "bad_credentials") text = t("login.bad_credentials");
      else if (err instanceof ApiError && err.code === "rate_limited") text = t("login.rate_limited");
      else if (err instanceof ApiError && err.status === 422) text = t("login.bad_credentials");
      replace(error, text);
      error.hidden = false;
      password.value = "";
      password.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = t("login.submit");
    }
  });
  replace(root, h("main", { class: "login-page" }, form));
  (shop.value ? username : shop).focus();
}

// ---- the app ----

function currentTabId() {
  const id = window.location.hash.replace(/^#\/?/, "").split(/[?/]/)[0];
  return TABS.some((tab) => tab.id === id) ? id : DEFAULT_TAB;
}

function showApp() {
  const nav = h(
    "nav",
    { class: "tabs", "aria-label": t("nav.label") },
    h(
      "ul",
      {},
      TABS.map((tab) =>
        h("li", {}, h("a", { href: `#${tab.id}`, "data-tab": tab.id, "data-testid": `nav-${tab.id}` }, t(tab.label))),
      ),
    ),
  );
  const logoutButton = h("button", { type: "button", class: "ghost", "data-testid": "logout" }, t("top.logout"));
  logoutButton.addEventListener("click", () => signOut(""));
  const header = h(
    "header",
    { class: "topbar" },
    h("div", { class: "brand" }, h("span", { class: "brand-mark", "aria-hidden": "true" }, "客"), t("app.brand")),
    nav,
    h(
      "div",
      { class: "who" },
      h("span", { class: "shop-badge", "data-testid": "current-shop", title: t("top.shop") }, session.shop),
      h("span", { class: "user-name", "data-testid": "current-user" }, session.user.name || session.user.username),
      logoutButton,
    ),
  );
  const main = h("main", { class: "content", id: "content", tabindex: "-1" });
  replace(root, h("div", { class: "shell", "data-testid": "app-shell" }, header, main));
  mountedTab = null;
  route();
}

function route() {
  if (!session) return;
  const id = currentTabId();
  if (id === mountedTab) return;
  const tab = TABS.find((x) => x.id === id);
  for (const link of document.querySelectorAll(".tabs a")) {
    if (link.dataset.tab === id) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (cleanup) cleanup();
  cleanup = null;
  mountedTab = id;
  const main = document.getElementById("content");
  const container = h("section", { class: "tab", "data-testid": `tab-${id}` });
  replace(main, container);
  document.title = `${t(tab.label)} · ${t("app.title")}`;
  try {
    const result = tab.mount(container, context);
    cleanup = typeof result === "function" ? result : null;
  } catch (err) {
    replace(container, note(t("common.load_failed", errorText(err)), "error"));
  }
}

/** What every tab gets. */
const context = {
  api: adminApi,
  lang,
  t,
  get shop() {
    return session && session.shop;
  },
  get user() {
    return session && session.user;
  },
  navigate(tabId) {
    window.location.hash = `#${tabId}`;
  },
};

window.addEventListener("hashchange", route);

async function start() {
  if (!getToken()) {
    showLogin();
    return;
  }
  try {
    const me = await api("GET", "/api/me");
    if (me.user.role !== "admin") {
      logout();
      showLogin(t("login.admin_required"));
      return;
    }
    session = { shop: me.shop, user: me.user };
    showApp();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      logout();
      showLogin(t("login.expired"));
    } else {
      showLogin(errorText(err));
    }
  }
}

start();
