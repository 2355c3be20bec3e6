// The customer beside the open chat, as 千牛 shows it: who the shopper is (a signed-in customer
// the shop's site vouched for, or an anonymous visitor), the product they are looking at, their
// orders and their earlier chats. GET /api/conversations/{id}/customer fills it when a chat is
// assigned or opened (again at most every 30 s); `viewing` frames move the product card.
// Everything in it came from the shop or the shopper: text goes in as text, links and images
// only with an http(s) URL.

import { h, replace } from "/static/common/dom.js";
import { api, ApiError } from "/static/common/api.js";
import { t, LANG } from "./i18n.js";
import { setProduct } from "./model.js";

const FRESH_MS = 30000; // a chat opened again within this shows what was fetched, no request
const STATUSES = ["created", "paid", "shipped", "delivered", "refund_requested", "refunded", "cancelled"];

// ---- formatting ----

/** `url` if it is an absolute http(s) URL, else null (never javascript:, data:, relative…). */
export function webUrl(url) {
  if (typeof url !== "string" || !/^https?:\/\//i.test(url)) return null;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch {
    return null;
  }
}

/** "¥199.00" for ("199.00", "CNY"); the amount and code as given when Intl cannot format them. */
export function money(amount, currency = "CNY") {
  const text = amount === null || amount === undefined ? "" : String(amount);
  const value = Number(text);
  if (text === "" || !Number.isFinite(value)) return text;
  try {
    return new Intl.NumberFormat(LANG === "en" ? "en-GB" : "zh-CN", { style: "currency", currency }).format(value);
  } catch {
    return `${value.toFixed(2)} ${currency || ""}`.trim();
  }
}

function validZone(zone) {
  if (!zone) return undefined;
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return zone;
  } catch {
    return undefined; // unknown zone: the browser's
  }
}

/** Date and time on the shop's clock (`zone`), the year only when it is not this year's. */
export function dateTime(ms, zone) {
  if (!Number.isFinite(ms) || ms <= 0) return "";
  const timeZone = validZone(zone);
  const d = new Date(ms);
  const year = (x) => new Intl.DateTimeFormat("en", { timeZone, year: "numeric" }).format(x);
  const options = { timeZone, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  if (year(d) !== year(new Date())) options.year = "numeric";
  return new Intl.DateTimeFormat(LANG === "en" ? "en-GB" : "zh-CN", options).format(d);
}

function isoMs(value) {
  const ms = typeof value === "string" ? Date.parse(value) : NaN;
  return Number.isFinite(ms) ? ms : null;
}

function text(value) {
  return typeof value === "string" || typeof value === "number" ? String(value) : "";
}

// ---- loading ----

/** The REST view, reduced to what the panel reads (shapes checked: it is someone's input). */
function normalize(raw) {
  const data = raw && typeof raw === "object" ? raw : {};
  const customer = data.customer && typeof data.customer === "object" && data.customer.id ? data.customer : null;
  const product = data.product && typeof data.product === "object" && data.product.title ? data.product : null;
  const orders = (Array.isArray(data.orders) ? data.orders : []).filter((o) => o && o.order && o.order.id);
  const conversations = (Array.isArray(data.conversations) ? data.conversations : []).filter((c) => c && c.id);
  return { customer, product, orders, conversations };
}

/**
 * Fetches a conversation's customer view into `conv.profile` ({state: loading|ok|error|gone,
 * data, at, version}); `onChange(conv)` after each change. One request per chat at a time.
 */
export class CustomerLoader {
  /**
   * @param {object} o
   * @param {(conv: object) => void} o.onChange
   * @param {() => void} o.onAuthError   a 401: back to the login form
   */
  constructor({ onChange, onAuthError }) {
    this.onChange = onChange;
    this.onAuthError = onAuthError;
  }

  /** Fetch unless a fresh view is there (`force`: fetch anyway, after the one in flight). */
  async load(conv, { force = false } = {}) {
    if (!conv) return;
    const p = conv.profile || (conv.profile = { state: "idle", data: null, at: 0, version: 0, loading: false, again: false });
    if (conv.closed) return; // the server answers 403 once the chat is not ours: keep what we have
    if (p.loading) {
      p.again = p.again || force;
      return;
    }
    if (!force && p.data && Date.now() - p.at < FRESH_MS) return;
    p.loading = true;
    if (!p.data) {
      p.state = "loading";
      p.version += 1;
      this.onChange(conv);
    }
    const productSeq = conv.productSeq || 0;
    try {
      const data = normalize(await api("GET", `/api/conversations/${encodeURIComponent(conv.id)}/customer`));
      p.data = data;
      p.state = "ok";
      p.at = Date.now();
      // A `viewing` frame that came while the request was out is newer than its answer.
      if ((conv.productSeq || 0) === productSeq) setProduct(conv, data.product, null);
    } catch (err) {
      p.loading = false;
      if (err instanceof ApiError && err.status === 401) {
        this.onAuthError();
        return;
      }
      p.state = err instanceof ApiError && (err.status === 403 || err.status === 404) ? "gone" : "error";
      p.again = false;
    }
    p.loading = false;
    p.version += 1;
    this.onChange(conv);
    if (p.again) {
      p.again = false;
      this.load(conv, { force: true });
    }
  }
}

// ---- the panel ----

function section(title, testid, ...children) {
  return h("section", { class: "cp-section", "data-testid": testid }, h("h3", { class: "cp-title" }, title), children);
}

function identityView(conv, data, zone) {
  const claimed = conv.shopper && conv.shopper.customer;
  const customer = (data && data.customer) || (claimed && claimed.id ? claimed : null);
  if (!customer) {
    const sid = text(conv.shopper && conv.shopper.session_id) || conv.id;
    return h(
      "section",
      { class: "cp-section cp-identity", "data-testid": "customer-identity", "data-verified": "false" },
      h(
        "div",
        { class: "cp-who" },
        h("span", { class: "cp-name", "data-testid": "customer-name" }, t("visitor", sid.slice(-4))),
        h("span", { class: "tag tag-visitor", "data-testid": "customer-anonymous" }, t("anonymous")),
      ),
      h("p", { class: "muted small" }, t("anonymousHint")),
    );
  }
  const facts = [[t("customerId"), text(customer.id), "customer-id"]];
  if (customer.first_seen > 0) facts.push([t("firstSeen"), dateTime(customer.first_seen, zone)]);
  if (customer.last_seen > 0) facts.push([t("lastSeen"), dateTime(customer.last_seen, zone)]);
  return h(
    "section",
    { class: "cp-section cp-identity", "data-testid": "customer-identity", "data-verified": "true" },
    h(
      "div",
      { class: "cp-who" },
      h("span", { class: "cp-name", "data-testid": "customer-name" }, text(customer.name) || text(customer.id)),
      h("span", { class: "tag tag-verified", "data-testid": "customer-verified", title: t("verifiedTitle") }, "✓ ", t("verified")),
    ),
    h(
      "dl",
      { class: "cp-facts" },
      facts.map(([label, value, testid]) => h("div", {}, h("dt", {}, label), h("dd", { "data-testid": testid || null }, value))),
    ),
  );
}

function sameOrigin(url) {
  if (!url) return null;
  try {
    return new URL(url).origin === window.location.origin ? url : null;
  } catch {
    return null;
  }
}

function productView(conv, zone) {
  const product = conv.product;
  if (!product || !product.title) {
    return section(t("productTitle"), "product-card", h("p", { class: "muted small", "data-testid": "product-none" }, t("productNone")));
  }
  // Only a picture kefu itself serves is loaded: a shopper names the URL, and loading it from
  // anywhere would tell that address when this agent opened the chat (the page's policy
  // refuses other sites' pictures anyway). Others leave the blank tile; the link still works.
  const image = sameOrigin(webUrl(product.image));
  const link = webUrl(product.url);
  const img = image
    ? h("img", {
        class: "cp-product-image",
        src: image,
        alt: "",
        loading: "lazy",
        referrerpolicy: "no-referrer",
        "data-testid": "product-image",
      })
    : null;
  const thumb = h("div", { class: "cp-product-thumb", "aria-hidden": "true" }, img);
  // A picture that does not load leaves the blank tile.
  if (img) img.addEventListener("error", () => img.remove(), { once: true });
  const price = product.price !== undefined && product.price !== null && text(product.price) !== "" ? money(product.price) : "";
  const since = conv.productAt ? t("productSince", dateTime(conv.productAt, zone)) : "";
  return section(
    t("productTitle"),
    "product-card",
    h(
      "div",
      { class: "cp-product", "data-product-id": text(product.id) },
      thumb,
      h(
        "div",
        { class: "cp-product-body" },
        h("p", { class: "cp-product-title", "data-testid": "product-title" }, text(product.title)),
        price ? h("p", { class: "cp-price", "data-testid": "product-price" }, price) : null,
        link
          ? h(
              "a",
              { class: "cp-link", href: link, target: "_blank", rel: "noopener noreferrer", "data-testid": "product-link" },
              // The site it leads to, always in view: a shopper's page names any address.
              `${t("productOpen")} · ${new URL(link).host}`,
            )
          : null,
        since ? h("p", { class: "muted small" }, since) : null,
        h("p", { class: "muted small", "data-testid": "product-reported" }, t("productReported")),
      ),
    ),
  );
}

function statusLabel(status) {
  return STATUSES.includes(status) ? t(`order_${status}`) : text(status);
}

function orderView(stored, conv, zone) {
  const order = stored.order;
  const status = text(order.status);
  const due = (conv.paymentDue || []).some((n) => n.order_id === order.id);
  const items = (Array.isArray(order.items) ? order.items : []).filter((i) => i && i.title);
  const times = [
    [t("orderPlaced"), order.created_at],
    [t("orderPaid"), order.paid_at],
    [t("orderShipped"), order.shipped_at],
    [t("orderDelivered"), order.delivered_at],
  ]
    .map(([label, at]) => [label, isoMs(at)])
    .filter(([, ms]) => ms);
  const parcel = [text(order.courier), text(order.tracking_number)].filter(Boolean);
  return h(
    "li",
    { class: ["cp-order", due && "is-due"], "data-testid": "order-item", "data-order-id": text(order.id), "data-status": status },
    h(
      "div",
      { class: "cp-order-head" },
      h("span", { class: "cp-order-id", "data-testid": "order-id" }, text(order.id)),
      h("span", { class: ["tag", "order-status", `status-${STATUSES.includes(status) ? status : "other"}`], "data-testid": "order-status" }, statusLabel(status)),
      h("span", { class: "cp-order-amount", "data-testid": "order-amount" }, money(order.amount, text(order.currency) || "CNY")),
    ),
    due || stored.conversation_id === conv.id
      ? h(
          "div",
          { class: "cp-order-flags" },
          due ? h("span", { class: "tag tag-payment" }, t("paymentDueTag")) : null,
          stored.conversation_id === conv.id ? h("span", { class: "tag tag-group" }, t("orderThisChat")) : null,
        )
      : null,
    items.length
      ? h(
          "ul",
          { class: "cp-order-items", "data-testid": "order-items", "aria-label": t("orderItems") },
          items.map((item) =>
            h(
              "li",
              {},
              h("span", { class: "cp-item-title" }, text(item.title)),
              h("span", { class: "cp-item-qty" }, `×${Number(item.quantity) || 1}`),
              item.price !== undefined && item.price !== null ? h("span", { class: "muted" }, money(item.price, text(order.currency) || "CNY")) : null,
            ),
          ),
        )
      : null,
    parcel.length
      ? h(
          "p",
          { class: "cp-parcel", "data-testid": "order-tracking" },
          h("span", { class: "muted" }, `${t("orderTracking")}：`),
          parcel.map((part, i) => h("span", { class: i ? "cp-tracking-number" : null }, part)),
        )
      : null,
    times.length
      ? h(
          "dl",
          { class: "cp-times", "data-testid": "order-times" },
          times.map(([label, ms]) => h("div", {}, h("dt", {}, label), h("dd", {}, dateTime(ms, zone)))),
        )
      : null,
  );
}

function ordersView(conv, data, zone) {
  if (!data || !data.customer) return null; // a visitor has no orders to look up
  return section(
    t("ordersTitle"),
    "customer-orders",
    data.orders.length
      ? h("ul", { class: "cp-orders" }, data.orders.map((o) => orderView(o, conv, zone)))
      : h("p", { class: "muted small", "data-testid": "orders-none" }, t("ordersNone")),
  );
}

function stars(rating) {
  const n = Math.max(0, Math.min(5, Math.round(Number(rating) || 0)));
  return h("span", { class: "cp-stars", "data-testid": "past-rating", "data-rating": String(n), "aria-label": t("ratingLabel", n), role: "img" }, "★".repeat(n) + "☆".repeat(5 - n));
}

function pastView(data, me, zone) {
  if (!data) return null;
  return section(
    t("pastTitle"),
    "past-conversations",
    data.conversations.length
      ? h(
          "ul",
          { class: "cp-past" },
          data.conversations.map((c) =>
            h(
              "li",
              { "data-testid": "past-conversation", "data-conversation-id": text(c.id) },
              h("span", { class: "cp-past-time" }, dateTime(Number(c.created), zone)),
              h("span", { class: "muted" }, c.agent ? (me && c.agent === me.id ? t("pastByMe") : t("pastByOther")) : t("pastByBot")),
              c.state !== "closed" ? h("span", { class: "tag" }, t("pastOpen")) : null,
              typeof c.rating === "number" ? stars(c.rating) : h("span", { class: "muted small" }, t("notRated")),
            ),
          ),
        )
      : h("p", { class: "muted small" }, t("pastNone")),
  );
}

/** The side panel; `paint(conv, {me, zone})` redraws only what changed. */
export class CustomerPanel {
  /**
   * @param {object} o
   * @param {() => void} o.onHide     collapse the panel
   * @param {() => void} o.onRetry    fetch again after an error
   */
  constructor({ onHide, onRetry }) {
    this.conv = null;
    this.keys = { identity: "", product: "", rest: "" };
    this.hideBtn = h(
      "button",
      { type: "button", class: "btn btn-ghost btn-sm", "data-testid": "customer-hide", "aria-label": t("customerHide"), onclick: () => onHide() },
      "×",
    );
    this.status = h("div", { class: "cp-status", "data-testid": "customer-status", role: "status" });
    this.retryBtn = h("button", { type: "button", class: "btn btn-link", "data-testid": "customer-retry", onclick: () => onRetry() }, t("retry"));
    this.identity = h("div");
    this.product = h("div");
    this.rest = h("div");
    this.el = h(
      "aside",
      { id: "customer-panel", class: "customer-panel", "data-testid": "customer-panel", "aria-labelledby": "customer-panel-title", tabindex: "-1" },
      h("header", { class: "cp-head" }, h("h2", { id: "customer-panel-title", class: "view-title" }, t("customerPanel")), this.hideBtn),
      h("div", { class: "cp-body" }, this.status, this.identity, this.product, this.rest),
    );
  }

  paint(conv, { me, zone }) {
    this.conv = conv;
    if (!conv) {
      this.keys = { identity: "", product: "", rest: "" };
      replace(this.identity);
      replace(this.product);
      replace(this.rest);
      replace(this.status);
      return;
    }
    const p = conv.profile || { state: "idle", data: null, version: 0 };
    const data = p.data;
    const base = `${conv.id}|${p.version}|${zone || ""}`;
    const nudges = (conv.paymentDue || []).map((n) => n.order_id).join(",");
    const claimed = (conv.shopper && conv.shopper.customer && conv.shopper.customer.id) || "";
    this.paintPart("identity", `${base}|${claimed}`, () => identityView(conv, data, zone));
    this.paintPart("product", `${conv.id}|${conv.productSeq || 0}|${zone || ""}`, () => productView(conv, zone));
    this.paintPart("rest", `${base}|${nudges}`, () => [ordersView(conv, data, zone), pastView(data, me, zone)]);
    const message =
      p.state === "loading" ? t("customerLoading") : p.state === "error" ? t("customerUnavailable") : p.state === "gone" && !conv.closed ? t("customerGone") : "";
    const statusKey = `${conv.id}|${p.state}|${message}`;
    if (this.keys.status !== statusKey) {
      this.keys.status = statusKey;
      replace(this.status, message ? h("span", {}, message) : null, p.state === "error" ? this.retryBtn : null);
      this.status.hidden = !message;
      this.status.dataset.state = p.state;
    }
  }

  paintPart(name, key, build) {
    if (this.keys[name] === key) return;
    this.keys[name] = key;
    replace(this[name], build());
  }
}
