// 催付 nudges: the server's `payment_due` frame says an order the customer placed during this
// chat is still unpaid and the agent has not reminded them. The chat gets a banner (and a badge
// in the list) whose button puts a polite reminder into the composer — never sent by itself.
// A nudge goes when dismissed or when the agent sends a message naming the order. The server
// sends each nudge once, so they are kept in sessionStorage across a reload of the console.

import { h } from "/static/common/dom.js";
import { t, paymentReminder } from "./i18n.js";
import { money } from "./customer.js";

const STORE_KEY = "kefu.console.nudges";

function stored() {
  try {
    const value = JSON.parse(sessionStorage.getItem(STORE_KEY) || "{}");
    return value && typeof value === "object" ? value : {};
  } catch {
    return {};
  }
}

/** Keep the nudges of the chats in the list (the others are dropped). */
export function saveNudges(conversations) {
  const out = {};
  for (const conv of conversations.values()) {
    if (conv.paymentDue && conv.paymentDue.length) out[conv.id] = conv.paymentDue;
  }
  try {
    sessionStorage.setItem(STORE_KEY, JSON.stringify(out));
  } catch {
    /* storage full or off: they live until the page goes */
  }
}

/** The nudges saved for `conv` before a reload. */
export function restoreNudges(conv) {
  const saved = stored()[conv.id];
  conv.paymentDue = Array.isArray(saved) ? saved.filter((n) => n && typeof n.order_id === "string") : [];
}

/** Add the nudge of a `payment_due` frame; false if that order is nudged already. */
export function addNudge(conv, frame) {
  const orderId = String(frame.order_id || "");
  if (!orderId) return false;
  conv.paymentDue = conv.paymentDue || [];
  if (conv.paymentDue.some((n) => n.order_id === orderId)) return false;
  conv.paymentDue.push({ order_id: orderId, amount: String(frame.amount ?? ""), currency: String(frame.currency || "CNY") });
  return true;
}

export function dropNudge(conv, orderId) {
  const before = (conv.paymentDue || []).length;
  conv.paymentDue = (conv.paymentDue || []).filter((n) => n.order_id !== orderId);
  return conv.paymentDue.length !== before;
}

/** Whether `text` names order `orderId` as a whole word ("SO-12" does not name "SO-1"). */
function names(text, orderId) {
  const escaped = orderId.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp("(?<![A-Za-z0-9])" + escaped + "(?![A-Za-z0-9])", "i").test(text);
}

/** The agent reminded the customer of an order by naming it: its nudge is done. */
export function dropNudgesMentioned(conv, text) {
  const before = (conv.paymentDue || []).length;
  conv.paymentDue = (conv.paymentDue || []).filter((n) => !names(text, n.order_id));
  return conv.paymentDue.length !== before;
}

/** The reminder to put in the composer, in the customer's language. */
export function reminderFor(conv, orderId) {
  return paymentReminder(conv.shopper && conv.shopper.lang, orderId);
}

/** The banners of `conv`'s nudges; `on`: {remind(orderId), dismiss(orderId)}. */
export function nudgeBanners(conv, on) {
  const closed = !!conv.closed;
  return (conv.paymentDue || []).map((nudge) =>
    h(
      "div",
      { class: "nudge", "data-testid": "payment-nudge", "data-order-id": nudge.order_id, role: "status" },
      h(
        "div",
        { class: "nudge-text" },
        h("strong", {}, t("paymentDueTitle")),
        h("span", {}, t("paymentDueText", nudge.order_id, money(nudge.amount, nudge.currency))),
        closed ? h("span", { class: "muted small" }, t("paymentDueClosed")) : null,
      ),
      h(
        "div",
        { class: "nudge-actions" },
        h(
          "button",
          { type: "button", class: "btn btn-primary btn-sm", "data-testid": "payment-remind", disabled: closed, onclick: () => on.remind(nudge.order_id) },
          t("paymentRemind"),
        ),
        h(
          "button",
          {
            type: "button",
            class: "btn btn-ghost btn-sm",
            "data-testid": "payment-dismiss",
            "aria-label": t("paymentDismissLabel", nudge.order_id),
            onclick: () => on.dismiss(nudge.order_id),
          },
          t("paymentDismiss"),
        ),
      ),
    ),
  );
}
