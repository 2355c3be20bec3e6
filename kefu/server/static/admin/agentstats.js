// The dashboard's per-agent table (客服表现): conversations, first response, replies per
// shopper message and CSAT per agent, sortable by any column (empty values last).

import { h, replace } from "/static/common/dom.js";
import { t } from "./i18n.js";
import { DASH, decimal, duration, raw } from "./reports.js";

const COLUMNS = [
  { key: "name", label: "dash.col_agent", value: (a) => a.name || a.agent_id, text: true },
  { key: "conversations", label: "dash.col_conversations", value: (a) => a.conversations, num: true },
  { key: "fr_p50", label: "dash.col_fr_p50", value: (a) => a.first_response_s.p50, num: true },
  { key: "fr_p90", label: "dash.col_fr_p90", value: (a) => a.first_response_s.p90, num: true },
  { key: "rpsm", label: "dash.col_rpsm", value: (a) => a.replies_per_shopper_message, num: true, help: "dash.col_rpsm_help" },
  { key: "csat", label: "dash.col_csat", value: (a) => a.csat_avg, num: true },
];

function sortedAgents(agents, sort) {
  const col = COLUMNS.find((c) => c.key === sort.key) || COLUMNS[1];
  const dir = sort.dir === "asc" ? 1 : -1;
  return [...agents].sort((a, b) => {
    const va = col.value(a);
    const vb = col.value(b);
    const na = va === null || va === undefined;
    const nb = vb === null || vb === undefined;
    if (na || nb) return na === nb ? 0 : na ? 1 : -1; // empty values last, either way
    if (col.text) return String(va).localeCompare(String(vb), "zh") * dir;
    return (va - vb) * dir;
  });
}

/**
 * The per-agent table in `body`, sorted by `state.sort` ({key, dir}; the header buttons change
 * it, and the dashboard keeps `state` across tab switches).
 */
export function renderAgentStats(body, agents, state) {
  if (!agents.length) {
    replace(body, h("p", { class: "note", "data-testid": "agents-stats-empty" }, t("dash.no_agents")));
    return;
  }
  const headers = COLUMNS.map((col) => {
    const active = state.sort.key === col.key;
    const sortButton = h(
      "button",
      { type: "button", class: "sort-button", "data-sort": col.key, title: col.help ? t(col.help) : null },
      t(col.label),
      h("span", { class: "sort-icon", "aria-hidden": "true" }, active ? (state.sort.dir === "asc" ? "▲" : "▼") : "↕"),
    );
    sortButton.addEventListener("click", () => {
      state.sort = {
        key: col.key,
        dir: active ? (state.sort.dir === "asc" ? "desc" : "asc") : col.text ? "asc" : "desc",
      };
      renderAgentStats(body, agents, state);
      const again = body.querySelector(`[data-sort="${col.key}"]`);
      if (again) again.focus();
    });
    return h(
      "th",
      { scope: "col", class: col.num ? "col-num" : null, "aria-sort": active ? (state.sort.dir === "asc" ? "ascending" : "descending") : null },
      sortButton,
    );
  });
  const rows = sortedAgents(agents, state.sort).map((a) => {
    const cell = (key, content, attrs = {}) => {
      const col = COLUMNS.find((c) => c.key === key);
      return h("td", { class: col.num ? "col-num" : null, "data-label": t(col.label), ...attrs }, content);
    };
    return h(
      "tr",
      { "data-testid": "agent-stats-row", "data-agent-id": a.agent_id },
      h(
        "th",
        { scope: "row", "data-label": t("dash.col_agent") },
        a.name && a.name !== a.agent_id ? a.name : h("span", { class: "muted" }, t("dash.unknown_agent", a.agent_id)),
      ),
      cell("conversations", String(a.conversations)),
      cell("fr_p50", duration(a.first_response_s.p50)),
      cell("fr_p90", duration(a.first_response_s.p90)),
      cell("rpsm", decimal(a.replies_per_shopper_message)),
      cell("csat", a.csat_avg === null ? DASH : `${decimal(a.csat_avg)} (${t("dash.ratings", a.ratings)})`, {
        "data-value": raw(a.csat_avg),
      }),
    );
  });
  replace(
    body,
    h(
      "div",
      { class: "table-wrap flat" },
      h(
        "table",
        { class: "data-table stats-table", "data-testid": "agents-stats-table" },
        h("caption", { class: "sr-only" }, t("dash.agents_caption")),
        h("thead", {}, h("tr", {}, headers)),
        h("tbody", {}, rows),
      ),
    ),
  );
}
