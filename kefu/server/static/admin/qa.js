// Quality inspection (质检): the flags the rules raised on agent conversations of a period
// (GET /api/admin/qa, rules in kefu/reports/qa.py), filtered by agent and rule, each with the
// lines that show it and the whole transcript (GET /api/conversations/{id}) in a dialog.
// "Re-inspect" runs the rules again over the period (POST /api/admin/qa/run), e.g. after the
// rules changed in Settings. Period and filters live in the hash (#qa?range=7d&rule=…).

import { h, replace } from "/static/common/dom.js";
import { lang, t } from "./i18n.js";
import { busy, errorText, modal, nextId, note, toast } from "./ui.js";
import { dateTime, periodLabel, periodQuery, periodReport } from "./reports.js";

export const RULES = ["slow_first_response", "slow_reply", "over_messaging", "no_needs_discovery", "left_waiting", "no_payment_reminder"];
const SENDERS = ["shopper", "bot", "agent", "system"];
// Kept across tab switches.
const state = { period: { range: "7d", from: "", to: "" }, agent: "", rule: "" };

/** A rule's readable name ("slow_reply" → 回复慢 / Slow reply); unknown rules as they are. */
export function ruleName(rule) {
  return RULES.includes(rule) ? t(`qa.rule_${rule}`) : rule;
}

export function mount(container, ctx) {
  let rules = [...RULES];
  let agents = {};

  const period = periodReport(ctx, { tab: "qa", testid: "qa", state, filters: ["agent", "rule"], load });
  const agentId = nextId("qa-agent");
  const ruleId = nextId("qa-rule");
  const agentSelect = h("select", { id: agentId, "data-testid": "qa-agent-filter" });
  const ruleSelect = h("select", { id: ruleId, "data-testid": "qa-rule-filter" });
  const rerunHelpId = nextId("qa-rerun-help");
  const rerun = h("button", { type: "button", class: "primary", "data-testid": "qa-rerun", "aria-describedby": rerunHelpId }, t("qa.rerun"));
  const counts = h("div", { class: "qa-counts", role: "group", "aria-label": t("qa.counts"), "data-testid": "qa-counts" });
  const status = h("div", { "data-testid": "qa-status", "aria-live": "polite" });
  const list = h("ol", { class: "qa-list", "data-testid": "qa-list", "aria-label": t("qa.list") });

  replace(
    container,
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("h1", {}, t("qa.title")), h("p", { class: "lead" }, t("qa.intro"))),
      h(
        "div",
        { class: "head-actions rerun-box" },
        rerun,
        h("p", { class: "help", id: rerunHelpId }, t("qa.rerun_help"), " ", h("a", { href: "#settings" }, t("qa.edit_rules"))),
      ),
    ),
    period.toolbar,
    h(
      "div",
      { class: "toolbar" },
      h("div", { class: "field inline" }, h("label", { for: agentId }, t("qa.agent")), agentSelect),
      h("div", { class: "field inline" }, h("label", { for: ruleId }, t("qa.rule")), ruleSelect),
    ),
    counts,
    status,
    list,
  );

  // ---- filters ----

  function renderFilters() {
    const names = Object.entries(agents).sort((a, b) => String(a[1]).localeCompare(String(b[1]), "zh"));
    if (state.agent && !(state.agent in agents)) names.push([state.agent, state.agent]);
    replace(
      agentSelect,
      h("option", { value: "" }, t("qa.all_agents")),
      names.map(([id, name]) => h("option", { value: id }, name && name !== id ? name : id)),
    );
    agentSelect.value = state.agent;
    const known = rules.includes(state.rule) || !state.rule ? rules : [...rules, state.rule];
    replace(ruleSelect, h("option", { value: "" }, t("qa.all_rules")), known.map((r) => h("option", { value: r }, ruleName(r))));
    ruleSelect.value = state.rule;
  }

  agentSelect.addEventListener("change", () => {
    state.agent = agentSelect.value;
    period.changed();
  });
  ruleSelect.addEventListener("change", () => {
    state.rule = ruleSelect.value;
    period.changed();
  });

  // ---- loading ----

  function query(dates, withRule = true) {
    const params = periodQuery(dates);
    if (state.agent) params.set("agent", state.agent);
    if (withRule && state.rule) params.set("rule", state.rule);
    return params;
  }

  async function load(dates, current) {
    renderFilters();
    if (!list.children.length) replace(status, note(t("common.loading")));
    list.setAttribute("aria-busy", "true");
    try {
      // The list with every filter; the counts per rule without the rule filter.
      const [data, all] = await Promise.all([
        ctx.api("GET", `/api/admin/qa?${query(dates)}`),
        state.rule ? ctx.api("GET", `/api/admin/qa?${query(dates, false)}`) : null,
      ]);
      if (!current()) return;
      rules = data.rules && data.rules.length ? data.rules : RULES;
      agents = data.agents || {};
      renderFilters();
      renderCounts((all || data).items || []);
      renderList(data.items || []);
    } catch (err) {
      if (!current() || err.signedOut) return;
      replace(list);
      replace(counts);
      replace(status, note(t("common.load_failed", errorText(err)), "error"));
    } finally {
      if (current()) list.removeAttribute("aria-busy");
    }
  }

  function renderCounts(items) {
    const by = new Map(rules.map((r) => [r, 0]));
    for (const item of items) by.set(item.rule, (by.get(item.rule) || 0) + 1);
    replace(
      counts,
      h("span", { class: "count", "data-testid": "qa-total", "data-count": String(items.length) }, t("qa.total", items.length)),
      [...by.entries()].map(([rule, n]) => {
        const chip = h(
          "button",
          {
            type: "button",
            class: ["qa-count", `rule-${rule}`, n === 0 && "is-zero"],
            "data-testid": "qa-count",
            "data-rule": rule,
            "data-count": String(n),
            "aria-pressed": state.rule === rule ? "true" : "false",
            title: t(`qa.rule_${rule}_help`),
          },
          h("span", {}, ruleName(rule)),
          h("strong", {}, String(n)),
        );
        chip.addEventListener("click", () => {
          state.rule = state.rule === rule ? "" : rule;
          period.changed();
        });
        return chip;
      }),
    );
  }

  function renderList(items) {
    if (!items.length) {
      replace(list);
      replace(
        status,
        h(
          "p",
          { class: "note note-empty", "data-testid": "qa-empty" },
          state.agent || state.rule ? t("qa.empty_filtered") : t("qa.empty", periodLabel(period.dates)),
        ),
      );
      return;
    }
    replace(status);
    replace(list, items.map(flagItem));
  }

  function agentLabel(flag) {
    if (flag.agent_name) return flag.agent_name;
    if (flag.agent_id) return agents[flag.agent_id] || flag.agent_id;
    return t("qa.no_agent");
  }

  function flagItem(flag) {
    const view = h("button", { type: "button", class: "small", "data-testid": "qa-view-transcript" }, t("qa.view_transcript"));
    view.addEventListener("click", () => openTranscript(ctx, flag, { zone: period.zone, agentName: agentLabel(flag) }));
    return h(
      "li",
      {
        class: "card qa-flag",
        "data-testid": "qa-flag",
        "data-rule": flag.rule,
        "data-conversation-id": flag.conversation_id,
        "data-flag-id": flag.id,
        "data-agent-id": flag.agent_id || "",
      },
      h(
        "div",
        { class: "qa-flag-head" },
        h("span", { class: ["badge", "rule-badge", `rule-${flag.rule}`], "data-testid": "qa-flag-rule", title: t(`qa.rule_${flag.rule}_help`) }, ruleName(flag.rule)),
        h("span", { class: ["qa-agent", !flag.agent_id && "muted"], "data-testid": "qa-flag-agent" }, agentLabel(flag)),
        h("time", { class: "muted", datetime: new Date(flag.at).toISOString(), "data-testid": "qa-flag-time" }, dateTime(flag.at, period.zone)),
        h("span", { class: "spacer" }),
        view,
      ),
      detailLine(flag),
      (flag.evidence || []).length
        ? h(
            "ol",
            { class: "qa-evidence", "data-testid": "qa-evidence", "aria-label": t("qa.evidence") },
            flag.evidence.map((e, i) => evidenceLine(flag, e, i, period.zone)),
          )
        : null,
    );
  }

  // ---- re-inspect ----

  rerun.addEventListener("click", () =>
    busy(
      rerun,
      async () => {
        if (!period.dates) return; // still loading
        try {
          const result = await ctx.api("POST", `/api/admin/qa/run?${periodQuery(period.dates)}`);
          if (!period.alive) return;
          toast(t("qa.rerun_done", result.conversations_flagged, result.flags));
          await period.reload();
        } catch (err) {
          if (period.alive && !err.signedOut) toast(t("common.error", errorText(err)), "error");
        }
      },
      t("qa.rerun_busy"),
    ),
  );

  replace(status, note(t("common.loading")));
  period.start();

  return () => period.stop();
}

// The API writes `detail` in English (kefu/reports/qa.py). Its sentences have fixed shapes:
// the Chinese page shows them in Chinese; anything else is shown as the API wrote it.
const DETAILS = [
  [/^first reply (\d+) s after taking the chat \(limit (\d+) s\)$/, "qa.d_first_reply"],
  [/^no reply in (\d+) s with the chat$/, "qa.d_no_reply"],
  [/^shopper waited (\d+) s for an answer \(limit (\d+) s\)$/, "qa.d_waited_answer"],
  [/^shopper message never answered \((\d+) s until the chat ended\)$/, "qa.d_never_answered"],
  [/^(\d+) agent sentences to (\d+) from the shopper within (\d+) s \(limit ([\d.]+) per shopper sentence\)$/, "qa.d_over_messaging"],
  [/^recommended \(\u201c(.*)\u201d\) before asking what the shopper needs$/s, "qa.d_no_needs"],
  [/^waited (\d+) s in the queue \(limit (\d+) s\)$/, "qa.d_queue_wait"],
  [/^left the queue before an agent came \((.*)\)$/s, "qa.d_left_queue"],
  [/^order (.+) placed during the chat is unpaid after (\d+) min and the agent sent no payment reminder$/s, "qa.d_no_payment_reminder"],
];
const LEFT_REASONS = ["closed", "gone", "timeout"];

/** The flag's detail in the page's language (see DETAILS). */
export function flagDetailText(detail) {
  const text = String(detail || "");
  if (lang === "en") return text;
  for (const [pattern, key] of DETAILS) {
    const m = pattern.exec(text);
    if (!m) continue;
    const args = m.slice(1);
    if (key === "qa.d_left_queue" && LEFT_REASONS.includes(args[0])) args[0] = t(`qa.reason_${args[0]}`);
    return t(key, ...args);
  }
  return text;
}

// Evidence lines of system events carry no text (nor event) in the API; what they are
// follows from the rule (kefu/reports/qa.py): [rule][position] → event.
const SYSTEM_EVIDENCE = {
  slow_first_response: ["agent_joined"],
  left_waiting: ["queued", null], // the second: agent_joined with an agent, else left/closed
};

function systemEvent(flag, index) {
  const events = SYSTEM_EVIDENCE[flag.rule];
  if (!events || index >= events.length) return "";
  if (events[index]) return events[index];
  return flag.agent_id ? "agent_joined" : "left_queue";
}

/** The flag's detail in the page's language. */
function flagDetail(flag) {
  return lang !== "en" && flag.detail_zh ? String(flag.detail_zh) : flagDetailText(flag.detail);
}

/** The flag's detail; the API's own (English) sentence stays in the tooltip when translated.
 * Flags carry their Chinese detail (`detail_zh`); older stored ones are translated by pattern. */
function detailLine(flag) {
  const text = flagDetail(flag);
  const translated = text !== flag.detail;
  return h(
    "p",
    { class: "qa-detail", "data-testid": "qa-flag-detail", lang: translated ? null : "en", title: translated ? flag.detail : null },
    text,
  );
}

function senderName(sender, line) {
  if (sender === "agent" && line && line.agent && line.agent.name) return line.agent.name;
  return SENDERS.includes(sender) ? t(`qa.from_${sender}`) : sender;
}

function evidenceLine(flag, e, index, zone) {
  const event = !e.text && e.sender === "system" ? systemEvent(flag, index) : "";
  return h(
    "li",
    { class: ["evidence-line", `from-${e.sender}`], "data-message-id": e.message_id || "" },
    h("span", { class: "ev-sender" }, senderName(e.sender)),
    h("time", { class: "ev-time muted", datetime: new Date(e.ts).toISOString() }, dateTime(e.ts, zone, { date: false })),
    h("span", { class: ["ev-text", !e.text && "muted"] }, e.text || (event ? t(`qa.event_${event}`) : t("qa.system_event"))),
  );
}

/** The FAQs the bot offered under a reply ("did you mean…"), as the shopper saw them. */
function suggestionList(line) {
  const offered = Array.isArray(line.suggestions) ? line.suggestions : [];
  const labels = offered.map((s) => (typeof s === "string" ? s : s.question || s.faq_id || "")).filter(Boolean);
  if (!labels.length) return null;
  return h(
    "div",
    { class: "tline-suggestions", "data-testid": "transcript-suggestions" },
    h("span", { class: "muted" }, t("qa.suggested")),
    labels.map((label) => h("span", { class: "chip" }, label)),
  );
}

/** The whole conversation in a dialog, the flag's evidence lines highlighted. */
export function openTranscript(ctx, flag, { zone = null, agentName = "" } = {}) {
  const body = h("div", { class: "transcript-body" }, note(t("common.loading")));
  const { dialog } = modal({
    title: t("qa.transcript_title", ruleName(flag.rule)),
    body,
    testid: "transcript-dialog",
    wide: true,
  });
  dialog.setAttribute("data-conversation-id", flag.conversation_id);
  const evidence = flag.evidence || [];
  const ids = new Set(evidence.map((e) => e.message_id).filter(Boolean));
  const isEvidence = (line) =>
    ids.has(line.id) || evidence.some((e) => !e.message_id && e.ts === line.ts && e.sender === line.from);

  ctx
    .api("GET", `/api/conversations/${encodeURIComponent(flag.conversation_id)}`)
    .then((data) => {
      if (!dialog.isConnected) return;
      const record = data.conversation || {};
      const lines = data.transcript || [];
      const meta = [
        [t("qa.meta_conversation"), h("code", {}, flag.conversation_id)],
        [t("qa.meta_started"), record.created ? dateTime(Number(record.created), zone) : "—"],
        [t("qa.meta_agent"), agentName || "—"],
        [t("qa.meta_rating"), record.rating ? `${record.rating} ★` : "—"],
      ];
      let first = null;
      const items = lines.map((line) => {
        const hit = isEvidence(line);
        const item = h(
          "li",
          {
            class: ["tline", `from-${line.from}`, hit && "is-evidence"],
            "data-testid": "transcript-line",
            "data-message-id": line.id || "",
            "data-from": line.from,
            "data-evidence": hit ? "true" : null,
            "data-event": line.event || null,
          },
          h(
            "div",
            { class: "tline-meta" },
            h("span", { class: "tline-sender" }, senderName(line.from, line)),
            h("time", { class: "muted", datetime: new Date(line.ts).toISOString() }, dateTime(line.ts, zone)),
            hit ? h("span", { class: "evidence-tag" }, t("qa.evidence_tag")) : null,
          ),
          h("div", { class: "tline-text" }, line.text || (line.event ? line.event : "")),
          suggestionList(line),
        );
        if (hit && !first) first = item;
        return item;
      });
      replace(
        body,
        h("p", { class: "qa-detail transcript-flag" }, h("span", { class: ["badge", "rule-badge", `rule-${flag.rule}`] }, ruleName(flag.rule)), " ", flagDetail(flag)),
        h("dl", { class: "meta-list" }, meta.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
        lines.length
          ? h("ol", { class: "transcript", "aria-label": t("qa.transcript") }, items)
          : note(t("qa.transcript_empty"), "empty"),
      );
      if (first) first.scrollIntoView({ block: "center" });
    })
    .catch((err) => {
      if (!dialog.isConnected || err.signedOut) return;
      replace(body, note(t("common.load_failed", errorText(err)), "error"));
    });
}
