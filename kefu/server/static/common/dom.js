// Tiny DOM helpers shared by kefu's pages. Text is always set with textContent or text nodes:
// nothing a shopper, agent or admin typed is ever parsed as HTML.

/**
 * Create an element: h("button", {class: "primary", onclick: fn, "aria-label": "Send"}, "Send").
 * Attributes starting with "on" become event listeners; `class` may be a string or an array;
 * children are nodes or strings (strings become text nodes); null/false children are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value" && "value" in el) {
      el.value = value;
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

/** Append children (nodes, strings, arrays of them) to a parent. */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replace all children of `parent`. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

// The time zone pages show times in: the browser's, unless a page sets the shop's (the console
// does, from `hello`, so agents and the admin pages read the same clock).
const clockZone = { zone: undefined };

/** Show every time from now on in `zone` (an IANA name such as "Asia/Shanghai"). */
export function setTimeZone(zone) {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    clockZone.zone = zone;
  } catch (e) {
    clockZone.zone = undefined; // an unknown zone: the browser's
  }
}

/** Format a millisecond timestamp as HH:MM (and the date if not today). */
export function formatTime(ms, lang = "zh") {
  const locale = lang === "en" ? "en-GB" : "zh-CN";
  const zone = clockZone.zone;
  const day = (d) => new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(d);
  const d = new Date(ms);
  const time = new Intl.DateTimeFormat(locale, { timeZone: zone, hour: "2-digit", minute: "2-digit" }).format(d);
  if (day(d) === day(new Date())) return time;
  return new Intl.DateTimeFormat(locale, { timeZone: zone, month: "2-digit", day: "2-digit" }).format(d) + " " + time;
}
