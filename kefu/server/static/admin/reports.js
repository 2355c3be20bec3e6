// Shared pieces of the report tabs (Dashboard, Sales, Quality): the period picker (kept in the
// URL hash: #dashboard?range=7d, #qa?range=custom&from=2026-11-01&to=2026-11-07), the shop's
// time zone (periods are whole days there, as the API counts them), number, duration and date
// formatting, and periodReport(), the scaffolding each tab builds on. Everything is set as text
// through h().

import { h, replace } from "/static/common/dom.js";
import { lang, t } from "./i18n.js";
import { nextId } from "./ui.js";

export const RANGES = ["today", "7d", "30d", "custom"];
export const MAX_DAYS = 400; // the API refuses longer periods
const DEFAULT_ZONE = "Asia/Shanghai"; // the API's zone when the shop has no business hours
const DAY_MS = 86_400_000;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const LOCALE = lang === "en" ? "en-GB" : "zh-CN";

// ---- URL hash ----

/** The query part of the hash (#tab?range=7d&agent=…) as URLSearchParams. */
export function hashParams() {
  const hash = window.location.hash;
  const i = hash.indexOf("?");
  return new URLSearchParams(i >= 0 ? hash.slice(i + 1) : "");
}

/** The tab id part of the hash ("dashboard" for #dashboard?range=7d). */
export function hashTab() {
  return window.location.hash.replace(/^#\/?/, "").split(/[?/]/)[0];
}

/** Put the tab's state into the hash without a new history entry (reloads keep it). */
export function setHashParams(tabId, params) {
  const query = params.toString();
  const hash = `#${tabId}${query ? "?" + query : ""}`;
  if (window.location.hash !== hash) history.replaceState(history.state, "", hash);
}

/** {range, from, to} from hash params; null when they name no valid period. */
export function readPeriod(params) {
  const range = params.get("range");
  if (!RANGES.includes(range)) return null;
  if (range !== "custom") return { range, from: "", to: "" };
  const from = params.get("from") || "";
  const to = params.get("to") || "";
  return checkCustom(from, to) ? null : { range, from, to };
}

/** Write {range, from, to} into hash params. */
export function writePeriod(params, period) {
  params.set("range", period.range);
  if (period.range === "custom") {
    params.set("from", period.from);
    params.set("to", period.to);
  }
}

/** Why a custom period is not valid (a message), or "" when it is. */
export function checkCustom(from, to) {
  if (!ISO_DATE.test(from) || !ISO_DATE.test(to)) return t("rep.err_dates");
  if (from > to) return t("rep.err_order");
  if (daysBetween(from, to) + 1 > MAX_DAYS) return t("rep.err_long", MAX_DAYS);
  return "";
}

// ---- time zone and dates ----

/**
 * The shop's time zone as the API uses it for periods (the business-hours zone, else
 * Asia/Shanghai). Null when the browser does not know the zone (dates then follow the browser).
 */
export async function shopZone(ctx) {
  let zone = DEFAULT_ZONE;
  try {
    const config = await ctx.api("GET", "/api/admin/settings");
    zone = (config && config.business_hours && config.business_hours.timezone) || DEFAULT_ZONE;
  } catch (err) {
    if (err.signedOut) throw err;
  }
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return zone;
  } catch {
    return null;
  }
}

/** Today's date (YYYY-MM-DD) in a time zone. */
export function today(zone) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone || undefined,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).formatToParts(new Date());
  const get = (type) => parts.find((p) => p.type === type).value;
  return `${get("year")}-${get("month")}-${get("day")}`;
}

export function addDays(iso, n) {
  const d = new Date(`${iso}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

export function daysBetween(a, b) {
  return Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / DAY_MS);
}

/**
 * The dates of a period: {from, to} (inclusive, shown), {since, until} (sent to the API;
 * until is exclusive) and the chart bucket ("hour" for a single day, else "day").
 */
export function periodDates(period, zone) {
  const now = today(zone);
  let from = now;
  let to = now;
  if (period.range === "7d") from = addDays(now, -6);
  else if (period.range === "30d") from = addDays(now, -29);
  else if (period.range === "custom") {
    from = period.from;
    to = period.to;
  }
  return { from, to, since: from, until: addDays(to, 1), bucket: from === to ? "hour" : "day" };
}

/** "since=…&until=…" for the API. */
export function periodQuery(dates) {
  return new URLSearchParams({ since: dates.since, until: dates.until });
}

/** A readable period: "11月16日 – 11月22日" / "16 Nov – 22 Nov 2026". */
export function periodLabel(dates) {
  const format = (iso, withYear) =>
    new Intl.DateTimeFormat(LOCALE, {
      timeZone: "UTC",
      year: withYear ? "numeric" : undefined,
      month: lang === "en" ? "short" : "long",
      day: "numeric",
    }).format(new Date(`${iso}T00:00:00Z`));
  const thisYear = dates.to.slice(0, 4) === String(new Date().getFullYear());
  if (dates.from === dates.to) return format(dates.from, !thisYear);
  return `${format(dates.from, dates.from.slice(0, 4) !== dates.to.slice(0, 4) || !thisYear)} – ${format(dates.to, !thisYear)}`;
}

/** A chart bucket's label: "14:00" for hours, "11/22" / "22 Nov" for days. */
export function bucketLabel(ms, bucket, zone) {
  const options =
    bucket === "hour"
      ? { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }
      : lang === "en"
        ? { day: "numeric", month: "short" }
        : { month: "numeric", day: "numeric" };
  return new Intl.DateTimeFormat(LOCALE, { timeZone: zone || undefined, ...options }).format(new Date(ms));
}

/** A bucket's long label (tooltips, tables): "11月22日 14:00–15:00" / "Sat 22 Nov 2026". */
export function bucketLongLabel(ms, bucket, zone) {
  const fmt = (ts, options) => new Intl.DateTimeFormat(LOCALE, { timeZone: zone || undefined, ...options }).format(new Date(ts));
  if (bucket === "hour") {
    const day = fmt(ms, { month: lang === "en" ? "short" : "long", day: "numeric" });
    const hour = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    return `${day} ${fmt(ms, hour)}–${fmt(ms + 3_600_000, hour)}`;
  }
  return fmt(ms, { weekday: "short", month: lang === "en" ? "short" : "long", day: "numeric" });
}

/** Date and time of an instant in the shop's zone: "11/22 14:03:05". */
export function dateTime(ms, zone, { seconds = true, date = true } = {}) {
  const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  if (seconds) options.second = "2-digit";
  if (date) {
    options.month = lang === "en" ? "short" : "2-digit";
    options.day = "2-digit";
  }
  return new Intl.DateTimeFormat(LOCALE, { timeZone: zone || undefined, ...options }).format(new Date(ms));
}

// ---- numbers ----

export const DASH = "—";

/** A value for a data-* attribute: "" for null. */
export function raw(value) {
  return value === null || value === undefined ? "" : String(value);
}

/** A 0–1 rate as a percentage ("42.1%"), "—" for null. */
export function percent(value) {
  if (value === null || value === undefined || !Number.isFinite(Number(value))) return DASH;
  return `${trim((Number(value) * 100).toFixed(1))}%`;
}

/** A number with at most `digits` decimals ("3.43", "2"), "—" for null. */
export function decimal(value, digits = 2) {
  if (value === null || value === undefined || !Number.isFinite(Number(value))) return DASH;
  return trim(Number(value).toFixed(digits));
}

function trim(text) {
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}

/** Seconds, human-friendly: "0.5 s", "12 s", "3 min 5 s", "1 h 4 min", "2 d 3 h"; "—" for null. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return DASH;
  const s = Math.max(0, Number(seconds));
  const u = (key, n) => t(`rep.unit_${key}`, n);
  if (s < 10) return u("s", trim(s.toFixed(1)));
  if (s < 60) return u("s", Math.round(s));
  const total = Math.round(s);
  if (total < 3600) {
    const m = Math.floor(total / 60);
    const rest = total % 60;
    return rest ? `${u("min", m)} ${u("s", rest)}` : u("min", m);
  }
  if (total < 86400) {
    const hours = Math.floor(total / 3600);
    const m = Math.round((total % 3600) / 60);
    return m ? `${u("h", hours)} ${u("min", m)}` : u("h", hours);
  }
  const days = Math.floor(total / 86400);
  const hours = Math.round((total % 86400) / 3600);
  return hours ? `${u("d", days)} ${u("h", hours)}` : u("d", days);
}

// ---- KPI cards ----

/** A KPI card: label, value ("—" greyed) and sub-lines; `help` is its tooltip. */
export function kpi(testid, label, value, subs, attrs = {}, help = "") {
  return h(
    "div",
    { class: "kpi", "data-testid": testid, title: help || null, ...attrs },
    h("div", { class: "kpi-label" }, label),
    h("div", { class: ["kpi-value", value === DASH && "is-empty"] }, value),
    subs.filter(Boolean).map((sub) => h("div", { class: "kpi-sub" }, sub)),
  );
}

// ---- the period picker ----

/**
 * Today / 7 days / 30 days / custom dates, as a radio group (arrow keys move between them).
 * `testid` names the group; its options are `${testid}-today|7d|30d|custom`, the custom form
 * `${testid}-from`, `${testid}-to`, `${testid}-apply`, `${testid}-error`. `onChange(period)`
 * runs when a preset is picked or custom dates are applied. Returns {el, set(period, dates)}.
 */
export function periodPicker({ testid, onChange }) {
  const name = nextId("range");
  const radios = RANGES.map((range) =>
    h("input", { type: "radio", name, value: range, id: nextId("range"), "data-testid": `${testid}-${range}` }),
  );
  const group = h(
    "div",
    { class: "segmented", role: "radiogroup", "aria-label": t("rep.period"), "data-testid": testid },
    radios.map((input) => h("label", { for: input.id }, input, h("span", {}, t(`rep.range_${input.value}`)))),
  );
  const fromId = nextId("from");
  const toId = nextId("to");
  const from = h("input", { type: "date", id: fromId, required: true, "data-testid": `${testid}-from` });
  const to = h("input", { type: "date", id: toId, required: true, "data-testid": `${testid}-to` });
  const apply = h("button", { type: "submit", class: "small primary", "data-testid": `${testid}-apply` }, t("rep.apply"));
  const error = h("p", { class: "field-error", role: "alert", id: nextId("range-error"), "data-testid": `${testid}-error`, hidden: true });
  from.setAttribute("aria-describedby", error.id);
  to.setAttribute("aria-describedby", error.id);
  const custom = h(
    "form",
    { class: "custom-range", novalidate: true, hidden: true, "aria-label": t("rep.range_custom") },
    h("label", { for: fromId }, t("rep.from")),
    from,
    h("span", { "aria-hidden": "true" }, "–"),
    h("label", { for: toId }, t("rep.to")),
    to,
    apply,
    error,
  );
  let current = { range: "7d", from: "", to: "" };
  let shown = null; // the dates on screen

  for (const input of radios) {
    input.addEventListener("change", () => {
      if (!input.checked) return;
      if (input.value === "custom") {
        custom.hidden = false;
        if (!from.value && shown) from.value = shown.from;
        if (!to.value && shown) to.value = shown.to;
        from.focus();
        return;
      }
      custom.hidden = true;
      onChange({ range: input.value, from: "", to: "" });
    });
  }
  custom.addEventListener("submit", (event) => {
    event.preventDefault();
    const problem = checkCustom(from.value, to.value);
    replace(error, problem);
    error.hidden = !problem;
    for (const input of [from, to]) {
      if (problem) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }
    if (problem) {
      from.focus();
      return;
    }
    onChange({ range: "custom", from: from.value, to: to.value });
  });

  return {
    el: h("div", { class: "period-picker" }, group, custom),
    /** Show a period (after loading it from the hash or picking it). */
    set(period, dates) {
      current = period;
      shown = dates;
      for (const input of radios) input.checked = input.value === current.range;
      custom.hidden = current.range !== "custom";
      if (current.range === "custom") {
        from.value = current.from;
        to.value = current.to;
      }
      error.hidden = true;
      from.removeAttribute("aria-invalid");
      to.removeAttribute("aria-invalid");
    },
    /** Latest selectable date (today in the shop's zone). */
    setMax(iso) {
      from.max = iso;
      to.max = iso;
    },
  };
}

// ---- the period report ----

/**
 * The scaffolding every report tab shares: its toolbar (the period picker `${testid}-range` and
 * the period label `${testid}-period`), its period and `filters` (other keys of `state`, left out
 * when empty) kept in the hash (#qa?range=7d&agent=…), the shop's time zone, and numbered loads:
 * `load(dates, current)` fetches and shows a period, and `current()` turns false once a later
 * load has started or the tab has closed, so a slow answer never shows over a newer one.
 * `state` is the tab's module-level object: coming back to the tab shows the same period.
 * Returns {toolbar, reload(), changed(), start(), stop()} and the getters alive, dates, zone.
 */
export function periodReport(ctx, { tab, testid, state, filters = [], load }) {
  let alive = true;
  let seq = 0;
  let zone = null;
  let dates = null;

  const picker = periodPicker({
    testid: `${testid}-range`,
    onChange: (period) => {
      state.period = period;
      changed();
    },
  });
  const periodText = h("span", { class: "period-label", "data-testid": `${testid}-period`, "aria-live": "polite" });

  // The part of the state the hash holds: the period and each filter's value(key).
  const held = (period, value) => ({ period, ...Object.fromEntries(filters.map((key) => [key, value(key)])) });

  function writeHash() {
    const params = new URLSearchParams();
    writePeriod(params, state.period);
    for (const key of filters) if (state[key]) params.set(key, state[key]);
    setHashParams(tab, params);
  }

  /** The state the hash names; null when it names none (e.g. the nav link, #qa). */
  function fromHash() {
    const params = hashParams();
    const period = readPeriod(params);
    if (!period && !filters.some((key) => params.has(key))) return null;
    return held(period || state.period, (key) => params.get(key) || "");
  }

  function reload() {
    const mine = ++seq;
    dates = periodDates(state.period, zone);
    picker.set(state.period, dates);
    picker.setMax(today(zone));
    replace(periodText, periodLabel(dates));
    return load(dates, () => alive && mine === seq);
  }

  function changed() {
    writeHash();
    return reload();
  }

  const onHash = () => {
    if (hashTab() !== tab) return;
    const next = fromHash();
    if (!next) writeHash(); // e.g. the nav link (#qa): keep showing the period and filters in the URL
    else if (JSON.stringify(next) !== JSON.stringify(held(state.period, (key) => state[key]))) {
      Object.assign(state, next);
      reload();
    }
  };
  window.addEventListener("hashchange", onHash);

  return {
    toolbar: h("div", { class: "toolbar report-toolbar" }, picker.el, periodText),
    reload,
    /** After the tab changed a filter in `state`: into the hash, and load. */
    changed,
    /** Learn the shop's zone, take the period and filters from the hash (else keep state's), load. */
    async start() {
      try {
        zone = await shopZone(ctx);
      } catch {
        return; // signed out
      }
      if (!alive) return;
      Object.assign(state, fromHash());
      writeHash();
      reload();
    },
    stop() {
      alive = false;
      window.removeEventListener("hashchange", onHash);
    },
    get alive() {
      return alive;
    },
    get dates() {
      return dates;
    },
    get zone() {
      return zone;
    },
  };
}
