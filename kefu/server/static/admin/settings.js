// Shop settings: a form over GET/PUT /api/admin/settings (ShopConfig, see kefu/store/shops.py),
// and the shop's commerce secrets (commerce.js), which change at once rather than on "Save".

import { h, replace } from "/static/common/dom.js";
import { t } from "./i18n.js";
import { busy, errorText, field, formErrorBox, FormErrors, nextId, note, splitLines, toast } from "./ui.js";
import { commerceFields, secretsPanel } from "./commerce.js";

const P = "settings";
// Localized texts shown up front, and the rest (collapsed under "more texts").
const MAIN_TEXTS = ["greeting", "transfer_label", "offline", "fallback"];
const MORE_TEXTS = ["greeting_reply", "suggest", "offer_transfer", "queued", "left_queue", "requeued", "message_left", "rated", "closed"];
const SHORT_TEXTS = new Set(["transfer_label", "suggest", "rated", "closed"]);
const DEFAULT_RANGE = { days: [1, 2, 3, 4, 5, 6, 7], open: "09:00", close: "23:00" };

export function mount(container, ctx) {
  replace(
    container,
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, t("set.title")))),
    note(t("common.loading")),
  );
  let alive = true;
  let secrets = null; // made once: a key shown once stays when the form is drawn again
  ctx
    .api("GET", "/api/admin/settings")
    .then((config) => {
      if (!alive) return;
      secrets = secretsPanel(ctx);
      renderForm(container, ctx, config, secrets);
    })
    .catch((err) => {
      if (alive && !err.signedOut) {
        replace(
          container,
          h("div", { class: "page-head" }, h("div", {}, h("h1", {}, t("set.title")))),
          note(t("common.load_failed", errorText(err)), "error"),
        );
      }
    });
  return () => {
    alive = false;
  };
}

function renderForm(container, ctx, config, secrets) {
  const top = formErrorBox("settings-form-error");
  const errors = new FormErrors(top);
  const read = []; // functions that put their field's value into the body

  // ---- simple fields ----
  function input(name, label, control, help, apiKey = name) {
    const f = field({ prefix: P, name, label, control, help });
    errors.register(apiKey, f.error, f.control);
    return f;
  }
  function numberField(key, label, help, max) {
    const f = input(
      key,
      label,
      h("input", { type: "number", min: "0", max: String(max), step: "1", inputmode: "numeric", value: String(config[key] ?? "") }),
      help,
    );
    read.push((body) => {
      const v = f.control.value.trim();
      body[key] = v === "" ? null : Number.isFinite(Number(v)) ? Number(v) : v;
    });
    return f.wrap;
  }

  // How sure the bot must be to answer (else it suggests): one of three calibrated levels.
  const confidence = input(
    "bot_confidence",
    t("set.bot_confidence"),
    h(
      "select",
      {},
      ["cautious", "balanced", "bold"].map((level) =>
        h("option", { value: level, selected: (config.bot_confidence || "balanced") === level }, t(`set.confidence_${level}`)),
      ),
    ),
    t("set.bot_confidence_help"),
  );
  read.push((body) => {
    body.bot_confidence = confidence.control.value;
  });

  const name = input("name", t("set.name"), h("input", { value: config.name || "", maxlength: "80", autocomplete: "organization" }));
  read.push((body) => {
    body.name = name.control.value.trim();
  });

  // ---- localized texts ----
  // A text in Chinese and English: fields settings-field-NAME-zh|en, errors under API field
  // apiKey (.zh, .en). Returns {el, read() → {zh, en}}.
  function pair({ name, apiKey, value, legend, short = false, help = null }) {
    const text = value || { zh: "", en: "" };
    const make = (lng) =>
      short
        ? h("input", { value: text[lng] || "", lang: lng === "en" ? "en" : "zh", maxlength: "1000" })
        : h("textarea", { rows: 2, value: text[lng] || "", lang: lng === "en" ? "en" : "zh", maxlength: "1000" });
    const zh = field({ prefix: P, name: `${name}-zh`, label: t("common.zh"), control: make("zh") });
    const en = field({ prefix: P, name: `${name}-en`, label: t("common.en"), control: make("en") });
    errors.register(apiKey, zh.error, zh.control);
    errors.register(`${apiKey}.zh`, zh.error, zh.control);
    errors.register(`${apiKey}.en`, en.error, en.control);
    const el = h(
      "fieldset",
      { class: "pair" },
      h("legend", {}, legend),
      help ? h("p", { class: "help" }, help) : null,
      h("div", { class: "grid-2" }, zh.wrap, en.wrap),
    );
    return { el, read: () => ({ zh: zh.control.value.trim(), en: en.control.value.trim() }) };
  }
  function localized(key) {
    const text = pair({ name: key, apiKey: key, value: config[key], legend: t(`set.${key}`), short: SHORT_TEXTS.has(key) });
    read.push((body) => {
      body[key] = text.read();
    });
    return text.el;
  }

  const moreTexts = h(
    "details",
    { class: "more", "data-testid": "settings-more-texts" },
    h("summary", {}, t("set.more_texts")),
    MORE_TEXTS.map(localized),
  );

  // ---- business hours ----
  const hours = config.business_hours;
  const radioName = nextId("hours");
  const always = h("input", { type: "radio", name: radioName, value: "always", checked: !hours, "data-testid": "settings-hours-always", id: nextId("r") });
  const custom = h("input", { type: "radio", name: radioName, value: "custom", checked: !!hours, "data-testid": "settings-hours-custom", id: nextId("r") });
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  const zoneList = nextId("zones");
  const timezone = input(
    "timezone",
    t("set.timezone"),
    h("input", { value: (hours && hours.timezone) || "Asia/Shanghai", list: zoneList, autocomplete: "off", spellcheck: "false" }),
    null,
    "business_hours.timezone",
  );
  const hoursError = h("p", { class: "field-error", "data-testid": "settings-error-business_hours", hidden: true });
  errors.register("business_hours", hoursError, null);
  errors.register("business_hours.ranges", hoursError, null);
  let ranges = hours ? hours.ranges.map((r) => ({ days: [...r.days], open: hhmm(r.open), close: hhmm(r.close) })) : [];
  const rangeList = h("div", { class: "ranges" });
  const addRange = h("button", { type: "button", class: "small", "data-testid": "settings-add-range" }, t("set.add_range"));
  const hoursBody = h(
    "div",
    { class: "hours-body" },
    h("div", { class: "narrow" }, timezone.wrap, h("datalist", { id: zoneList }, zones.map((z) => h("option", { value: z })))),
    h("div", { class: "ranges-head" }, h("span", { class: "label" }, t("set.ranges")), h("span", { class: "help" }, t("set.overnight"))),
    rangeList,
    addRange,
  );

  function renderRanges() {
    errors.unregisterPrefix("business_hours.ranges"); // the rows' keys are registered again below
    errors.register("business_hours.ranges", hoursError, null);
    replace(
      rangeList,
      ranges.map((range, index) => {
        const dayBoxes = t("set.days").map((label, i) => {
          const day = i + 1;
          const id = nextId("day");
          const box = h("input", {
            type: "checkbox",
            id,
            value: String(day),
            checked: range.days.includes(day),
            "data-testid": "settings-range-day",
            "data-day": String(day),
            "aria-label": t("set.days_long")[i],
          });
          box.addEventListener("change", () => {
            range.days = box.checked ? [...new Set([...range.days, day])].sort((a, b) => a - b) : range.days.filter((d) => d !== day);
          });
          return h("label", { class: "day", for: id }, box, h("span", { "aria-hidden": "true" }, label));
        });
        const openId = nextId("open");
        const closeId = nextId("close");
        const open = h("input", { type: "time", id: openId, value: range.open, "data-testid": "settings-range-open" });
        const close = h("input", { type: "time", id: closeId, value: range.close, "data-testid": "settings-range-close" });
        open.addEventListener("input", () => {
          range.open = open.value;
        });
        close.addEventListener("input", () => {
          range.close = close.value;
        });
        const remove = h(
          "button",
          { type: "button", class: "small ghost", "data-testid": "settings-range-remove", "aria-label": t("set.remove_range") },
          t("common.remove"),
        );
        remove.addEventListener("click", () => {
          ranges.splice(index, 1);
          renderRanges();
          addRange.focus();
        });
        const error = h("p", { class: "field-error", "data-testid": "settings-range-error", hidden: true });
        errors.register(`business_hours.ranges.${index}`, error, null, (rest) => {
          const part = rest.split(".")[0];
          return part === "open" ? t("set.open") : part === "close" ? t("set.close") : part === "days" ? t("set.range_days") : rest;
        });
        return h(
          "div",
          { class: "range", "data-testid": "settings-range", "data-index": String(index) },
          h("fieldset", { class: "days" }, h("legend", { class: "sr-only" }, t("set.range_days")), dayBoxes),
          h("div", { class: "times" }, h("label", { for: openId }, t("set.open")), open, h("span", { "aria-hidden": "true" }, "–"), h("label", { for: closeId }, t("set.close")), close),
          remove,
          error,
        );
      }),
    );
  }
  addRange.addEventListener("click", () => {
    ranges.push({ ...DEFAULT_RANGE, days: [...DEFAULT_RANGE.days] });
    renderRanges();
    const last = rangeList.lastElementChild;
    if (last) last.querySelector("input").focus();
  });
  const syncHours = () => {
    hoursBody.hidden = !custom.checked;
    if (custom.checked && !ranges.length) {
      ranges.push({ ...DEFAULT_RANGE, days: [...DEFAULT_RANGE.days] });
      renderRanges();
    }
  };
  always.addEventListener("change", syncHours);
  custom.addEventListener("change", syncHours);
  renderRanges();
  syncHours();
  read.push((body) => {
    body.business_hours = custom.checked
      ? { timezone: timezone.control.value.trim(), ranges: ranges.map((r) => ({ days: [...r.days], open: r.open, close: r.close })) }
      : null;
  });

  // ---- routing ----
  // One group per line: its id, then optionally the name people read ("presale 售前").
  const groupNames = config.group_names || {};
  const groups = input(
    "groups",
    t("set.groups"),
    h("textarea", {
      rows: 3,
      value: (config.groups || []).map((g) => (groupNames[g] ? `${g} ${groupNames[g]}` : g)).join("\n"),
      spellcheck: "false",
    }),
    t("set.groups_help"),
  );
  errors.register("group_names", groups.error, groups.control);
  const parseGroups = () =>
    splitLines(groups.control.value).map((line) => {
      const [id, ...rest] = line.split(/\s+/);
      return { id, name: rest.join(" ") };
    });
  const defaultGroup = input("default_group", t("set.default_group"), h("select", {}));
  const fillGroups = () => {
    const parsed = parseGroups();
    const ids = parsed.map((g) => g.id);
    const current = defaultGroup.control.value || config.default_group;
    const options = parsed.map((g) => h("option", { value: g.id }, g.name ? `${g.name} (${g.id})` : g.id));
    if (current && !ids.includes(current)) options.unshift(h("option", { value: current }, current));
    replace(defaultGroup.control, options);
    defaultGroup.control.value = current;
  };
  const groupWatchers = [fillGroups];
  groups.control.addEventListener("input", () => groupWatchers.forEach((fn) => fn()));
  fillGroups();
  read.push((body) => {
    const parsed = parseGroups();
    body.groups = parsed.map((g) => g.id);
    body.group_names = Object.fromEntries(parsed.filter((g) => g.name).map((g) => [g.id, g.name]));
    body.default_group = defaultGroup.control.value;
  });

  const origins = input(
    "allowed_origins",
    t("set.origins"),
    h("textarea", { rows: 3, value: (config.allowed_origins || []).join("\n"), spellcheck: "false", placeholder: "https://shop.example.com" }),
    t("set.origins_help"),
  );
  read.push((body) => {
    body.allowed_origins = splitLines(origins.control.value);
  });

  // ---- quality rules (the qa object: kefu/reports/qa.py QaRules) ----
  const qa = config.qa || {};
  const qaError = h("p", { class: "field-error", "data-testid": "settings-error-qa", hidden: true });
  errors.register("qa", qaError, null);
  const qaRead = []; // functions that put one rule field into body.qa
  function qaNumber(name, { max, min = 0, decimal = false }) {
    const f = input(
      `qa-${name}`,
      t(`set.qa_${name}`),
      h("input", {
        type: "number",
        min: String(min),
        max: String(max),
        step: decimal ? "any" : "1",
        inputmode: decimal ? "decimal" : "numeric",
        value: String(qa[name] ?? ""),
      }),
      t(`set.qa_${name}_help`),
      `qa.${name}`,
    );
    qaRead.push((rules) => {
      const v = f.control.value.trim();
      rules[name] = v === "" ? null : Number.isFinite(Number(v)) ? Number(v) : v;
    });
    return f.wrap;
  }
  function qaPatterns(name) {
    const f = input(
      `qa-${name}`,
      t(`set.qa_${name}`),
      h("textarea", { rows: 6, value: (qa[name] || []).join("\n"), spellcheck: "false" }),
      t(`set.qa_${name}_help`),
      `qa.${name}`,
    );
    qaRead.push((rules) => {
      rules[name] = splitLines(f.control.value);
    });
    return f.wrap;
  }
  const qaSection = section(
    t("set.qa"),
    t("set.qa_help"),
    qaError,
    h(
      "div",
      { class: "grid-3" },
      qaNumber("slow_first_response_s", { max: 3600 }),
      qaNumber("slow_reply_s", { max: 86400 }),
      qaNumber("left_waiting_s", { max: 86400 }),
      qaNumber("over_messaging_ratio", { max: 1000, decimal: true }),
      qaNumber("over_messaging_window_s", { min: 10, max: 3600 }),
    ),
    h(
      "fieldset",
      { class: "pair" },
      h("legend", {}, t("set.qa_patterns")),
      h("p", { class: "help" }, t("set.qa_patterns_help")),
      h("div", { class: "grid-3" }, qaPatterns("sales_patterns"), qaPatterns("recommend_patterns"), qaPatterns("needs_patterns")),
    ),
    h(
      "fieldset",
      { class: "pair", "data-testid": "settings-qa-payment" },
      h("legend", {}, t("set.qa_payment")),
      h("p", { class: "help" }, t("set.qa_payment_help")),
      h(
        "div",
        { class: "grid-3" },
        qaNumber("payment_reminder_after_min", { max: 1440 }),
        qaNumber("payment_reminder_chat_window_min", { max: 1440 }),
        qaPatterns("payment_reminder_patterns"),
      ),
    ),
  );
  qaSection.setAttribute("data-testid", "settings-qa");
  read.push((body) => {
    const rules = { ...qa };
    for (const fn of qaRead) fn(rules);
    body.qa = rules;
  });

  // ---- orders & identity (the commerce object; the secrets apart from the form's save) ----
  const commerceSection = section(
    t("com.title"),
    t("com.intro"),
    secrets.el,
    h("h3", { class: "subsection" }, t("com.settings")),
    commerceFields(
      {
        input,
        pair,
        errors,
        read,
        groups: () => parseGroups().filter((g) => g.id),
        onGroupsChange: (fn) => groupWatchers.push(fn),
      },
      config,
    ),
  );
  commerceSection.setAttribute("data-testid", "settings-commerce");
  commerceSection.id = "settings-commerce";

  // ---- save ----
  const save = h("button", { type: "submit", class: "primary", "data-testid": "settings-save" }, t("common.save"));
  const saved = h("span", { class: "saved", role: "status", "data-testid": "settings-saved", hidden: true }, "✓ " + t("set.saved"));
  const form = h(
    "form",
    { class: "form settings-form", "data-testid": "settings-form", novalidate: true },
    top,
    section(t("set.basics"), null, h("div", { class: "narrow" }, name.wrap)),
    section(t("set.texts"), t("set.texts_help"), MAIN_TEXTS.map(localized), moreTexts),
    section(
      t("set.hours"),
      t("set.hours_help"),
      h(
        "div",
        { class: "radios", role: "radiogroup", "aria-label": t("set.hours"), "data-testid": "settings-field-hours-mode" },
        h("label", { for: always.id }, always, " ", t("set.always_open")),
        h("label", { for: custom.id }, custom, " ", t("set.custom_hours")),
      ),
      hoursError,
      hoursBody,
    ),
    section(t("set.bot"), null, h("div", { class: "narrow" }, confidence.wrap)),
    section(
      t("set.routing"),
      null,
      h("div", { class: "grid-2" }, groups.wrap, defaultGroup.wrap),
      h(
        "div",
        { class: "grid-3" },
        numberField("queue_timeout_s", t("set.queue_timeout"), t("set.queue_timeout_help"), 86400),
        numberField("idle_close_s", t("set.idle_close"), t("set.idle_close_help"), 7 * 86400),
        numberField("auto_offer_after", t("set.auto_offer"), t("set.auto_offer_help"), 20),
        numberField("learn_auto_approve", t("set.learn_auto"), t("set.learn_auto_help"), 100),
      ),
      origins.wrap,
    ),
    commerceSection,
    qaSection,
    h("div", { class: "save-bar" }, save, saved),
  );
  form.addEventListener("input", () => {
    saved.hidden = true;
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.clear();
    saved.hidden = true;
    const body = { ...config };
    for (const fn of read) fn(body);
    await busy(
      save,
      async () => {
        try {
          const result = await ctx.api("PUT", "/api/admin/settings", body);
          renderForm(container, ctx, result || body, secrets);
          const again = container.querySelector('[data-testid="settings-saved"]');
          if (again) again.hidden = false;
          const saveAgain = container.querySelector('[data-testid="settings-save"]');
          if (saveAgain) saveAgain.focus();
          toast(t("set.saved"));
        } catch (err) {
          if (err.signedOut) return;
          errors.show(err);
          // Errors inside a collapsed part ("more texts", order replies) must be visible.
          let opened = false;
          for (const part of form.querySelectorAll("details")) {
            if (!part.open && part.querySelector(".field-error:not([hidden])")) {
              part.open = true;
              opened = true;
            }
          }
          if (opened) {
            const bad = form.querySelector('[aria-invalid="true"]');
            if (bad && top.hidden) bad.focus();
          }
        }
      },
      t("common.saving"),
    );
  });

  // The orders & identity part is far down a long page: a way to it from the top.
  const jump = h("button", { type: "button", class: "ghost", "data-testid": "settings-jump-commerce" }, t("com.jump"));
  jump.addEventListener("click", () => {
    commerceSection.scrollIntoView({ block: "start" });
    const first = commerceSection.querySelector("button, input, select, textarea");
    if (first) first.focus({ preventScroll: true });
  });
  replace(
    container,
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, t("set.title"))), h("div", { class: "head-actions" }, jump)),
    form,
  );
}

function section(title, help, ...children) {
  return h(
    "section",
    { class: "card form-section" },
    h("h2", { class: "card-title" }, title),
    help ? h("p", { class: "help" }, help) : null,
    children,
  );
}

/** "09:00:00" → "09:00" (what <input type=time> shows without seconds). */
function hhmm(value) {
  const m = /^(\d{1,2}):(\d{2})/.exec(String(value || ""));
  return m ? `${m[1].padStart(2, "0")}:${m[2]}` : "";
}
