// Shared building blocks of the admin pages: form fields with inline errors, dialogs, toasts,
// downloads. Everything is built with h(): data is only ever set as text.

import { h, replace } from "/static/common/dom.js";
import { ApiError } from "/static/common/api.js";
import { t } from "./i18n.js";

let uid = 0;
/** A unique DOM id (labels and aria-describedby need them). */
export function nextId(prefix = "f") {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A readable message for any error (ApiError, network failure, anything else). */
export function errorText(err) {
  if (err instanceof ApiError) return err.message || err.code;
  if (err instanceof TypeError) return t("common.network"); // fetch() failed: offline, server down
  return (err && err.message) || String(err);
}

/**
 * A 422 detail in the reader's language: by its code (verr.<code>, with {param} from its params)
 * when the UI knows the code, else the server's English message.
 */
export function detailText(detail) {
  const key = `verr.${detail.code}`;
  const template = detail.code ? t(key) : key;
  if (typeof template !== "string" || template === key) return String(detail.message || "").replace(/^Value error, /, "");
  const params = detail.params || {};
  return template.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}

/**
 * A labelled form control with help text and an (initially hidden) error element.
 * `control` is an input/textarea/select; it gets an id, data-testid `${prefix}-field-${name}`
 * and aria-describedby; the error element gets data-testid `${prefix}-error-${name}`.
 */
export function field({ prefix, name, label, control, help, className }) {
  const id = control.id || nextId(prefix);
  control.id = id;
  control.setAttribute("data-testid", `${prefix}-field-${name}`);
  const helpEl = help ? h("p", { class: "help", id: `${id}-help` }, help) : null;
  const error = h("p", { class: "field-error", id: `${id}-error`, "data-testid": `${prefix}-error-${name}`, hidden: true });
  control.setAttribute("aria-describedby", [helpEl && helpEl.id, error.id].filter(Boolean).join(" "));
  const wrap = h(
    "div",
    { class: ["field", className] },
    h("label", { for: id }, label),
    control,
    helpEl,
    error,
  );
  return { wrap, control, error, help: helpEl };
}

/**
 * Inline errors of one form. Register each error element under the API field name it shows
 * ("question", "answers.en", "business_hours.ranges.0"); `show(err)` puts every 422 detail next
 * to the longest registered name that is a prefix of its field (by dotted parts) and the rest at
 * the top of the form.
 */
export class FormErrors {
  constructor(top) {
    this.top = top; // element for whole-form errors
    this.slots = new Map();
    this.clear();
  }

  register(key, errorEl, control = null, describe = null) {
    this.slots.set(key, { errorEl, control, describe });
  }

  unregisterPrefix(prefix) {
    for (const key of [...this.slots.keys()]) {
      if (key === prefix || key.startsWith(prefix + ".")) this.slots.delete(key);
    }
  }

  clear() {
    replace(this.top);
    this.top.hidden = true;
    for (const { errorEl, control } of this.slots.values()) {
      replace(errorEl);
      errorEl.hidden = true;
      if (control) control.removeAttribute("aria-invalid");
    }
  }

  /** Show an error: `codes` maps error codes without details to a field ({user_exists: "username"}). */
  show(err, { codes = {}, messages = {} } = {}) {
    this.clear();
    let details = err instanceof ApiError && err.details && err.details.length ? err.details : null;
    if (!details && err instanceof ApiError && codes[err.code] !== undefined) {
      details = [{ field: codes[err.code], message: messages[err.code] || err.message }];
    }
    if (!details) {
      this.addTop(errorText(err));
      return;
    }
    let firstControl = null;
    let firstError = null;
    for (const detail of details) {
      const field = String(detail.field || "");
      const message = detailText(detail);
      const slot = this.find(field);
      if (!slot) {
        this.addTop(field && field !== "body" ? `${field}: ${message}` : message);
        continue;
      }
      const rest = slot.rest;
      let prefix = "";
      if (rest) prefix = (slot.describe ? slot.describe(rest) : describeRest(rest)) + ": ";
      slot.errorEl.append(h("span", {}, prefix + message));
      slot.errorEl.hidden = false;
      firstError = firstError || slot.errorEl;
      if (slot.control) {
        slot.control.setAttribute("aria-invalid", "true");
        firstControl = firstControl || slot.control;
      }
    }
    if (!this.top.hidden) this.top.scrollIntoView({ block: "nearest" });
    else if (firstControl) firstControl.focus();
    else if (firstError) firstError.scrollIntoView({ block: "center" });
  }

  addTop(message) {
    this.top.append(h("p", {}, message));
    this.top.hidden = false;
  }

  find(field) {
    const parts = field.split(".");
    for (let n = parts.length; n > 0; n -= 1) {
      const key = parts.slice(0, n).join(".");
      const slot = this.slots.get(key);
      if (slot) return { ...slot, rest: parts.slice(n).join(".") };
    }
    return null;
  }
}

function describeRest(rest) {
  const first = rest.split(".")[0];
  if (/^\d+$/.test(first)) {
    const tail = rest.split(".").slice(1).join(".");
    return t("common.line", Number(first) + 1) + (tail ? ` (${tail})` : "");
  }
  return rest;
}

/** The top-of-form error box. */
export function formErrorBox(testid) {
  return h("div", { class: "form-error", role: "alert", "data-testid": testid, hidden: true });
}

/** Lines of a textarea: trimmed, empty ones dropped. */
export function splitLines(text) {
  return String(text || "")
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Comma separated values (also Chinese commas and 、), trimmed, empty ones dropped. */
export function splitList(text) {
  return String(text || "")
    .split(/[,，、;；\n]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

// ---- toasts ----

let toastRegion = null;

/** A short message at the bottom of the screen (announced to screen readers). */
export function toast(message, kind = "ok") {
  if (!toastRegion || !toastRegion.isConnected) {
    toastRegion = h("div", { class: "toasts", role: "status", "aria-live": "polite", "data-testid": "toasts" });
    document.body.append(toastRegion);
  }
  const item = h("div", { class: ["toast", `toast-${kind}`], "data-testid": "toast" }, message);
  toastRegion.append(item);
  while (toastRegion.children.length > 3) toastRegion.firstElementChild.remove();
  setTimeout(() => item.classList.add("toast-hide"), 3500);
  setTimeout(() => item.remove(), 4000);
}

// ---- dialogs ----

/**
 * A modal dialog (native <dialog>: Escape closes it, focus stays inside). `body` and `footer`
 * are nodes. Returns {dialog, close}. The dialog is removed from the page when closed.
 */
export function modal({ title, body, footer, testid, wide = false, onClose }) {
  const previous = document.activeElement;
  const titleId = nextId("dlg");
  const closeButton = h(
    "button",
    { type: "button", class: "icon-button", "aria-label": t("common.close"), "data-testid": `${testid}-close` },
    "×",
  );
  const dialog = h(
    "dialog",
    { class: ["modal", wide && "modal-wide"], "aria-labelledby": titleId, "data-testid": testid },
    h("div", { class: "modal-head" }, h("h2", { id: titleId }, title), closeButton),
    h("div", { class: "modal-body" }, body),
    footer ? h("div", { class: "modal-foot" }, footer) : null,
  );
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    if (dialog.open) dialog.close();
    dialog.remove();
    if (onClose) onClose();
    if (previous && previous.isConnected && typeof previous.focus === "function") previous.focus();
  };
  closeButton.addEventListener("click", close);
  dialog.addEventListener("cancel", (event) => {
    event.preventDefault();
    close();
  });
  dialog.addEventListener("close", close);
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, close };
}

/** Ask for confirmation; resolves true (OK) or false. */
export function confirmDialog({ title, message, ok = t("common.confirm"), danger = false }) {
  return new Promise((resolve) => {
    let answer = false;
    const okButton = h(
      "button",
      { type: "button", class: danger ? "danger" : "primary", "data-testid": "confirm-ok" },
      ok,
    );
    const cancelButton = h("button", { type: "button", "data-testid": "confirm-cancel" }, t("common.cancel"));
    const { close } = modal({
      title,
      body: h("p", {}, message),
      footer: [cancelButton, okButton],
      testid: "confirm-dialog",
      onClose: () => resolve(answer),
    });
    okButton.addEventListener("click", () => {
      answer = true;
      close();
    });
    cancelButton.addEventListener("click", close);
    cancelButton.focus();
  });
}

/** Run `fn` with `button` disabled (and labelled `busyLabel`) until it settles. */
export async function busy(button, fn, busyLabel = null) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  if (busyLabel) button.textContent = busyLabel;
  try {
    return await fn();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    if (busyLabel) button.textContent = label;
  }
}

/** Call `fn` `ms` after the last call. */
export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

/** Offer a Blob as a file download. */
export function downloadBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename, class: "hidden" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** A 0–1 value as a percentage for a style property ("42.5%"), clamped to 0–100 %. */
export function cssPercent(value) {
  return `${Math.max(0, Math.min(100, (Number(value) || 0) * 100))}%`;
}

/** The fill of a bar track, `value` (0–1) of its width. */
export function barFill(value) {
  const fill = h("span", { class: "bar-fill" });
  fill.style.width = cssPercent(value);
  return fill;
}

/**
 * A horizontal bar for a 0–1 value, with marks at 0–1 thresholds. Sizes are set through
 * el.style from script, which the CSP allows (it forbids style attributes in markup).
 */
export function bar(value, { marks = [], kind = "" } = {}) {
  return h(
    "span",
    { class: ["bar", kind && `bar-${kind}`], "aria-hidden": "true" },
    barFill(value),
    marks.map((m) => {
      const mark = h("span", { class: "bar-mark" });
      mark.style.left = cssPercent(m);
      return mark;
    }),
  );
}

/** A status message line (loading, empty, error) inside a container. */
export function note(text, kind = "") {
  return h("p", { class: ["note", kind && `note-${kind}`] }, text);
}

/** A random password of 14 characters without look-alikes (0/O, 1/l/I). */
export function generatePassword(length = 14) {
  const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  const bytes = new Uint32Array(length);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

/**
 * A <select> of FAQs ("question (id)"), grouped by category, with an empty first option.
 * `faqs` are FAQ objects; `selected` the preselected id.
 */
export function faqSelect(faqs, selected, testid) {
  const groups = new Map();
  for (const faq of faqs) {
    const cat = faq.category || "";
    if (!groups.has(cat)) groups.set(cat, []);
    groups.get(cat).push(faq);
  }
  const option = (faq) => h("option", { value: faq.id }, `${faq.question} (${faq.id})`);
  const select = h(
    "select",
    { "data-testid": testid },
    h("option", { value: "" }, "—"),
    [...groups.entries()].map(([cat, list]) => (cat ? h("optgroup", { label: cat }, list.map(option)) : list.map(option))),
  );
  if (selected && !faqs.some((f) => f.id === selected)) select.append(h("option", { value: selected }, selected));
  select.value = selected || "";
  return select;
}
