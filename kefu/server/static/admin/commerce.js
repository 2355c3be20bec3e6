// Orders & identity (订单与身份) in the settings: the shop's identity secret and orders API key
// (GET /api/admin/commerce, rotated by POST …/identity-secret and …/api-key, confirmed first)
// and the form fields of the `commerce` settings object (kefu/store/shops.py CommerceSettings).
// The secrets live outside the settings document: they change at once, not on "Save".

import { h, replace } from "/static/common/dom.js";
import { t } from "./i18n.js";
import { busy, confirmDialog, errorText, nextId, note, toast } from "./ui.js";

// The states an order reply exists for, in the order a shopper meets them; "several" is the
// question the bot asks when a customer has several orders in flight (no placeholders).
export const ORDER_STATES = ["created", "paid", "shipped", "delivered", "refund_requested", "refunded", "cancelled", "several"];
// What an order reply may name (kefu/store/shops.py ORDER_PLACEHOLDERS).
export const PLACEHOLDERS = ["order", "amount", "items", "created", "paid", "shipped", "delivered", "courier", "tracking", "since", "promise"];
const MASK = "•".repeat(32); // the secret's length is no secret, but its characters are
const COPIED_MS = 2000;
// How a shop's server signs a customer id (code reads the same in either language).
const SIGN_SAMPLE = [
  "# Python",
  "hmac.new(SECRET.encode(), customer_id.encode(), hashlib.sha256).hexdigest()",
  "// Node.js",
  'crypto.createHmac("sha256", SECRET).update(customerId).digest("hex")',
].join("\n");

/** Copy `text`; on failure select `node`'s text so the reader can copy it by hand. */
async function copyText(text, node, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = t("com.copied");
    setTimeout(() => {
      button.textContent = t("com.copy");
    }, COPIED_MS);
    return true;
  } catch {
    const range = document.createRange();
    range.selectNodeContents(node);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    return false;
  }
}

/**
 * The identity secret (masked, show, copy, rotate) and the orders API key (set or not, create or
 * rotate, the new key shown once). Built once per visit of the settings tab, so a key shown once
 * stays on screen when the settings form is drawn again after saving. Returns {el}.
 */
export function secretsPanel(ctx) {
  let secret = "";
  let masked = true;
  let keySet = false;

  const error = h("p", { class: "field-error", role: "alert", "data-testid": "commerce-secrets-error", hidden: true });
  const status = h("div", { "data-testid": "commerce-secrets-status" }, note(t("common.loading")));

  // ---- identity secret ----
  const secretValue = h("code", { class: "secret", "data-testid": "commerce-identity-secret", "data-masked": "true" });
  const showButton = h("button", { type: "button", class: "small", "aria-pressed": "false", "data-testid": "commerce-identity-show" });
  const copySecret = h("button", { type: "button", class: "small", "data-testid": "commerce-identity-copy" }, t("com.copy"));
  const rotateSecret = h(
    "button",
    { type: "button", class: "small danger-ghost", "data-testid": "commerce-identity-rotate" },
    t("com.identity_rotate"),
  );

  function paintSecret() {
    replace(secretValue, masked ? MASK : secret);
    secretValue.dataset.masked = String(masked);
    secretValue.setAttribute("aria-label", masked ? t("com.identity_hidden") : t("com.identity"));
    replace(showButton, masked ? t("com.show") : t("com.hide"));
    showButton.setAttribute("aria-pressed", String(!masked));
  }

  showButton.addEventListener("click", () => {
    masked = !masked;
    paintSecret();
  });
  copySecret.addEventListener("click", async () => {
    if (!(await copyText(secret, secretValue, copySecret)) && masked) {
      masked = false; // the fallback selects the text: it has to be there to be selected
      paintSecret();
      await copyText(secret, secretValue, copySecret);
    }
  });
  rotateSecret.addEventListener("click", async () => {
    const ok = await confirmDialog({
      title: t("com.identity_rotate_title"),
      message: t("com.identity_rotate_confirm"),
      ok: t("com.identity_rotate"),
      danger: true,
    });
    if (!ok) return;
    await busy(rotateSecret, async () => {
      hideError();
      try {
        const result = await ctx.api("POST", "/api/admin/commerce/identity-secret");
        secret = result.identity_secret;
        paintSecret();
        toast(t("com.identity_rotated"));
      } catch (err) {
        if (!err.signedOut) showError(err);
      }
    });
  });

  // ---- orders API key ----
  const keyStatus = h("span", { class: "badge", "data-testid": "commerce-api-key-status" });
  const keyButton = h("button", { type: "button", class: "small", "data-testid": "commerce-api-key-rotate" });
  const keyValue = h("code", { class: "secret", "data-testid": "commerce-api-key-value" });
  const copyKey = h("button", { type: "button", class: "small", "data-testid": "commerce-api-key-copy" }, t("com.copy"));
  const doneKey = h("button", { type: "button", class: "small ghost", "data-testid": "commerce-api-key-done" }, t("com.key_done"));
  const keyResult = h(
    "div",
    { class: "once-box", role: "status", "data-testid": "commerce-api-key-result", hidden: true },
    h("p", { class: "once-note", "data-testid": "commerce-api-key-note" }, h("strong", {}, t("com.key_once_title")), " ", t("com.key_once")),
    h("div", { class: "input-row" }, keyValue, copyKey, doneKey),
  );

  function paintKey() {
    replace(keyStatus, keySet ? t("com.key_set") : t("com.key_not_set"));
    keyStatus.dataset.set = String(keySet);
    keyStatus.className = ["badge", keySet ? "badge-ok" : "badge-off"].join(" ");
    replace(keyButton, keySet ? t("com.key_rotate") : t("com.key_create"));
    keyButton.className = keySet ? "small danger-ghost" : "small primary";
  }

  copyKey.addEventListener("click", () => copyText(keyValue.textContent, keyValue, copyKey));
  doneKey.addEventListener("click", () => {
    replace(keyValue); // gone from the page: it cannot be shown again
    keyResult.hidden = true;
    keyButton.focus();
  });
  keyButton.addEventListener("click", async () => {
    if (keySet) {
      const ok = await confirmDialog({
        title: t("com.key_rotate_title"),
        message: t("com.key_rotate_confirm"),
        ok: t("com.key_rotate"),
        danger: true,
      });
      if (!ok) return;
    }
    await busy(keyButton, async () => {
      hideError();
      try {
        const result = await ctx.api("POST", "/api/admin/commerce/api-key");
        keySet = true;
        paintKey();
        replace(keyValue, result.api_key);
        replace(copyKey, t("com.copy"));
        keyResult.hidden = false;
        copyKey.focus();
        toast(t("com.key_made"));
      } catch (err) {
        if (!err.signedOut) showError(err);
      }
    });
  });

  function showError(err) {
    replace(error, t("common.error", errorText(err)));
    error.hidden = false;
  }
  function hideError() {
    replace(error);
    error.hidden = true;
  }

  const endpoint = `POST ${window.location.origin}/api/shops/${ctx.shop}/orders`;
  const body = h(
    "div",
    { class: "secrets", hidden: true },
    h(
      "div",
      { class: "secret-block", "data-testid": "commerce-identity" },
      h("h3", { class: "label" }, t("com.identity")),
      h("p", { class: "help" }, t("com.identity_help")),
      h("pre", { class: "code-sample", "aria-label": t("com.identity_sample") }, SIGN_SAMPLE),
      h("div", { class: "input-row" }, secretValue, showButton, copySecret),
      h("div", { class: "row-actions start" }, rotateSecret, h("span", { class: "help" }, t("com.identity_rotate_help"))),
    ),
    h(
      "div",
      { class: "secret-block", "data-testid": "commerce-api-key" },
      h("h3", { class: "label" }, t("com.key"), " ", keyStatus),
      h("p", { class: "help" }, t("com.key_help"), " ", h("code", { class: "endpoint" }, endpoint)),
      h("div", { class: "row-actions start" }, keyButton, h("span", { class: "help" }, t("com.key_rotate_help"))),
      keyResult,
    ),
  );

  ctx
    .api("GET", "/api/admin/commerce")
    .then((data) => {
      secret = data.identity_secret;
      keySet = !!data.api_key_set;
      paintSecret();
      paintKey();
      replace(status);
      body.hidden = false;
    })
    .catch((err) => {
      if (!err.signedOut) replace(status, note(t("common.load_failed", errorText(err)), "error"));
    });

  return { el: h("div", { class: "secrets-panel" }, status, error, body) };
}

/**
 * The `commerce` settings inside the settings form. `form` gives the form's helpers:
 * input(name, label, control, help, apiKey) → a field() registered for inline errors,
 * pair({name, apiKey, value, legend, short, help}) → {el, read()} for a zh + en text,
 * errors (FormErrors), read (the list of body writers), groups() → the groups typed so far
 * [{id, name}], onGroupsChange(fn). Returns the nodes to put in the section.
 */
export function commerceFields(form, config) {
  const commerce = config.commerce || {};
  const commerceError = h("p", { class: "field-error", "data-testid": "settings-error-commerce", hidden: true });
  form.errors.register("commerce", commerceError, null);

  // A checkbox reads best with its label beside it (field() puts the label above).
  const check = (name) => {
    const id = nextId(name);
    const box = h("input", {
      type: "checkbox",
      id,
      checked: !!commerce[name],
      "data-testid": `settings-field-commerce-${name}`,
      "aria-describedby": `${id}-help ${id}-error`,
    });
    const error = h("p", { class: "field-error", id: `${id}-error`, "data-testid": `settings-error-commerce-${name}`, hidden: true });
    form.errors.register(`commerce.${name}`, error, box);
    const wrap = h(
      "div",
      { class: "field" },
      h("label", { class: "check", for: id }, box, t(`com.${name}`)),
      h("p", { class: "help", id: `${id}-help` }, t(`com.${name}_help`)),
      error,
    );
    return { box, wrap };
  };
  const refuse = check("refuse_unverified");
  const requireExpiry = check("require_claim_expiry");

  const number = (name, min, max) =>
    form.input(
      `commerce-${name}`,
      t(`com.${name}`),
      h("input", { type: "number", min: String(min), max: String(max), step: "1", inputmode: "numeric", value: String(commerce[name] ?? "") }),
      t(`com.${name}_help`),
      `commerce.${name}`,
    );
  const attribution = number("attribution_window_h", 0, 720);
  const retention = number("order_retention_days", 1, 3650);

  // After-sale routing: one of the groups typed above in "Routing to agents", or none.
  const afterSale = form.input("commerce-after_sale_group", t("com.after_sale_group"), h("select", {}), t("com.after_sale_group_help"), "commerce.after_sale_group");
  const fillAfterSale = () => {
    const current = afterSale.control.value || commerce.after_sale_group || "";
    const groups = form.groups();
    const options = [h("option", { value: "" }, t("com.after_sale_none"))].concat(
      groups.map((g) => h("option", { value: g.id }, g.name ? `${g.name} (${g.id})` : g.id)),
    );
    if (current && !groups.some((g) => g.id === current)) options.push(h("option", { value: current }, current));
    replace(afterSale.control, options);
    afterSale.control.value = current;
  };
  fillAfterSale();
  form.onGroupsChange(fillAfterSale);

  const promise = form.pair({
    name: "commerce-dispatch_promise",
    apiKey: "commerce.dispatch_promise",
    value: commerce.dispatch_promise,
    legend: t("com.dispatch_promise"),
    help: t("com.dispatch_promise_help"),
  });

  const replies = commerce.order_replies || {};
  const repliesError = h("p", { class: "field-error", "data-testid": "settings-error-commerce-order_replies", hidden: true });
  form.errors.register("commerce.order_replies", repliesError, null);
  const replyPairs = ORDER_STATES.map((state) => ({
    state,
    pair: form.pair({
      name: `commerce-order_replies-${state}`,
      apiKey: `commerce.order_replies.${state}`,
      value: replies[state],
      legend: t(`com.reply_${state}`),
      help: state === "several" ? t("com.reply_several_help") : null,
    }),
  }));
  const placeholderList = h(
    "ul",
    { class: "placeholders", "data-testid": "settings-placeholders" },
    PLACEHOLDERS.map((name) => h("li", {}, h("code", {}, `{${name}}`), " ", h("span", { class: "muted" }, t(`com.ph_${name}`)))),
  );
  const repliesBox = h(
    "details",
    { class: "more", "data-testid": "settings-order-replies" },
    h("summary", {}, t("com.order_replies")),
    h("p", { class: "help" }, t("com.order_replies_help")),
    placeholderList,
    repliesError,
    replyPairs.map((r) => r.pair.el),
  );

  form.read.push((body) => {
    const number = (f) => {
      const v = f.control.value.trim();
      return v === "" ? null : Number.isFinite(Number(v)) ? Number(v) : v;
    };
    // PUT merges top-level fields only: the whole object goes, unknown parts as they came.
    body.commerce = {
      ...commerce,
      refuse_unverified: refuse.box.checked,
      require_claim_expiry: requireExpiry.box.checked,
      dispatch_promise: promise.read(),
      order_replies: { ...replies, ...Object.fromEntries(replyPairs.map((r) => [r.state, r.pair.read()])) },
      after_sale_group: afterSale.control.value || null,
      attribution_window_h: number(attribution),
      order_retention_days: number(retention),
    };
  });

  return [
    commerceError,
    refuse.wrap,
    requireExpiry.wrap,
    h("div", { class: "grid-3" }, attribution.wrap, retention.wrap, afterSale.wrap),
    promise.el,
    repliesBox,
  ];
}
