// Dashboard (数据看板): a shop's numbers over a period at a glance, from GET /api/admin/stats
// (definitions in kefu/reports/stats.py) and the most asked unanswered questions from
// GET /api/admin/unanswered. The period lives in the hash (#dashboard?range=7d) so a reload
// keeps it. Charts are inline SVG (charts.js), each with a data table under "Show the numbers".

import { h, replace } from "/static/common/dom.js";
import { t } from "./i18n.js";
import { barFill, busy, errorText, note } from "./ui.js";
import { groupedHBarChart, stackedBarChart } from "./charts.js";
import { renderAgentStats } from "./agentstats.js";
import {
  DASH,
  bucketLabel,
  bucketLongLabel,
  decimal,
  duration,
  kpi,
  percent,
  periodLabel,
  periodQuery,
  periodReport,
  raw,
} from "./reports.js";

const TOP_UNANSWERED = 10;
// Kept across tab switches: coming back shows the same period and sort order.
const state = { period: { range: "7d", from: "", to: "" }, sort: { key: "conversations", dir: "desc" } };
// Segments of the conversations chart, bottom to top. "other": the shopper asked for a human
// (button, words or the offline notice) but no agent ever took the chat.
const SEGMENTS = [
  { key: "bot_only", className: "seg-bot", label: "dash.seg_bot" },
  { key: "with_agent", className: "seg-agent", label: "dash.seg_agent" },
  { key: "other", className: "seg-other", label: "dash.seg_other" },
];

export function mount(container, ctx) {
  let stats = null;
  let lastWidth = 0;

  const period = periodReport(ctx, { tab: "dashboard", testid: "dashboard", state, load });
  const refreshButton = h("button", { type: "button", "data-testid": "dashboard-refresh" }, t("common.refresh"));
  const status = h("div", { "data-testid": "dashboard-status" });
  const empty = h("div", { hidden: true });
  const kpis = h("div", { class: "kpi-grid", "aria-label": t("dash.kpis"), role: "group" });
  const seriesBox = h("div", { class: "chart-box" });
  const seriesLegend = h("ul", { class: "chart-legend", "data-testid": "chart-series-legend" });
  const seriesTable = h("div");
  const pctBox = h("div", { class: "chart-box" });
  const pctTable = h("div");
  const csatBox = h("div", { class: "chart-box" });
  const csatTable = h("div");
  const seriesTitle = h("h2", { class: "card-title" });
  const csatTitle = h("h2", { class: "card-title" }, t("dash.chart_csat"));
  const agentsBody = h("div");
  const unansweredBody = h("div", {}, note(t("common.loading")));

  const report = h(
    "div",
    { class: "report", hidden: true },
    kpis,
    h(
      "section",
      { class: "card chart-card" },
      seriesTitle,
      h("p", { class: "help" }, t("dash.chart_series_help")),
      seriesLegend,
      seriesBox,
      dataDetails(seriesTable),
    ),
    h(
      "div",
      { class: "chart-pair" },
      h(
        "section",
        { class: "card chart-card" },
        h("h2", { class: "card-title" }, t("dash.chart_pct")),
        h("p", { class: "help" }, t("dash.chart_pct_help")),
        h(
          "ul",
          { class: "chart-legend" },
          h("li", {}, h("span", { class: "swatch seg-p50", "aria-hidden": "true" }), t("dash.p50_long")),
          h("li", {}, h("span", { class: "swatch seg-p90", "aria-hidden": "true" }), t("dash.p90_long")),
        ),
        pctBox,
        dataDetails(pctTable),
      ),
      h("section", { class: "card chart-card" }, csatTitle, h("p", { class: "help" }, t("dash.chart_csat_help")), csatBox, dataDetails(csatTable)),
    ),
    h(
      "section",
      { class: "card" },
      h("h2", { class: "card-title" }, t("dash.agents")),
      h("p", { class: "help" }, t("dash.agents_help")),
      agentsBody,
    ),
  );
  const unansweredCard = h(
    "section",
    { class: "card" },
    h(
      "div",
      { class: "card-head" },
      h("h2", { class: "card-title" }, t("dash.top_unanswered")),
      h("a", { href: "#unanswered", class: "more-link", "data-testid": "top-unanswered-link" }, t("dash.all_unanswered")),
    ),
    h("p", { class: "help" }, t("dash.top_unanswered_help")),
    unansweredBody,
  );

  replace(
    container,
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("h1", {}, t("dash.title")), h("p", { class: "lead" }, t("dash.intro"))),
      h("div", { class: "head-actions" }, refreshButton),
    ),
    period.toolbar,
    status,
    empty,
    report,
    unansweredCard,
  );

  // ---- loading ----

  async function load(dates, current) {
    replace(status, note(t("common.loading")));
    const query = periodQuery(dates);
    query.set("bucket", dates.bucket);
    try {
      const data = await ctx.api("GET", `/api/admin/stats?${query}`);
      if (!current()) return;
      stats = data;
      replace(status);
      render();
    } catch (err) {
      if (!current() || err.signedOut) return;
      report.hidden = true;
      empty.hidden = true;
      replace(status, note(t("common.load_failed", errorText(err)), "error"));
    }
  }

  async function loadUnanswered() {
    try {
      const data = await ctx.api("GET", `/api/admin/unanswered?limit=${TOP_UNANSWERED}`);
      if (period.alive) renderUnanswered((data.items || []).slice(0, TOP_UNANSWERED));
    } catch (err) {
      if (period.alive && !err.signedOut) replace(unansweredBody, note(t("common.load_failed", errorText(err)), "error"));
    }
  }

  function render() {
    if (!stats.conversations) {
      report.hidden = true;
      empty.hidden = false;
      replace(
        empty,
        h(
          "div",
          { class: "note note-empty empty-state", "data-testid": "dashboard-empty" },
          h("strong", {}, t("dash.empty_title")),
          h("span", {}, t("dash.empty", periodLabel(period.dates))),
        ),
      );
      return;
    }
    empty.hidden = true;
    report.hidden = false;
    renderKpis();
    renderCharts(true);
    renderAgentStats(agentsBody, stats.agents || [], state);
  }

  // ---- KPI cards ----

  function renderKpis() {
    const st = stats;
    const wait = st.queue_wait_s;
    const first = st.first_response_s;
    const handling = st.handling_time_s;
    const measured = (p) => (p.count ? t("dash.measured", p.count) : t("dash.not_measured"));
    replace(
      kpis,
      kpi("kpi-conversations", t("dash.kpi_conversations"), String(st.conversations), [t("dash.kpi_conversations_sub")], {
        "data-value": String(st.conversations),
      }),
      kpi(
        "kpi-containment",
        t("dash.kpi_containment"),
        percent(st.bot_containment_rate),
        [t("dash.kpi_containment_sub")],
        { "data-value": raw(st.bot_containment_rate) },
        t("dash.kpi_containment_help"),
      ),
      kpi(
        "kpi-transfer",
        t("dash.kpi_transfer"),
        percent(st.transfer_rate),
        [t("dash.kpi_transfer_sub")],
        { "data-value": raw(st.transfer_rate) },
        t("dash.kpi_transfer_help"),
      ),
      kpi(
        "kpi-offline",
        t("dash.kpi_offline"),
        percent(st.offline_notice_rate),
        [t("dash.kpi_offline_sub")],
        { "data-value": raw(st.offline_notice_rate) },
        t("dash.kpi_offline_help"),
      ),
      kpi(
        "kpi-wait",
        t("dash.kpi_wait"),
        duration(wait.p50),
        [t("dash.p90_is", duration(wait.p90)), measured(wait)],
        { "data-p50": raw(wait.p50), "data-p90": raw(wait.p90) },
        t("dash.kpi_wait_help"),
      ),
      kpi(
        "kpi-first-response",
        t("dash.kpi_first"),
        duration(first.p50),
        [t("dash.p90_is", duration(first.p90)), measured(first)],
        { "data-p50": raw(first.p50), "data-p90": raw(first.p90) },
        t("dash.kpi_first_help"),
      ),
      kpi(
        "kpi-handling",
        t("dash.kpi_handling"),
        duration(handling.avg),
        [t("dash.kpi_handling_sub", duration(handling.p50), duration(handling.p90)), measured(handling)],
        { "data-value": raw(handling.avg) },
        t("dash.kpi_handling_help"),
      ),
      kpi(
        "kpi-csat",
        t("dash.kpi_csat"),
        st.csat_avg === null || st.csat_avg === undefined ? DASH : t("dash.csat_value", decimal(st.csat_avg)),
        [t("dash.ratings", st.ratings || 0)],
        { "data-value": raw(st.csat_avg), "data-ratings": String(st.ratings || 0) },
      ),
    );
  }

  // ---- charts ----

  function chartWidth(box) {
    return Math.max(240, Math.floor(box.clientWidth || box.parentElement.clientWidth || 600));
  }

  function renderCharts(force = false) {
    if (!stats || report.hidden) return;
    const width = chartWidth(seriesBox);
    if (!force && width === lastWidth) return;
    lastWidth = width;
    renderSeries(width);
    renderPercentiles(chartWidth(pctBox));
    renderCsat(chartWidth(csatBox));
  }

  function renderSeries(width) {
    const bucket = period.dates.bucket;
    replace(seriesTitle, t(bucket === "hour" ? "dash.chart_series_hour" : "dash.chart_series_day"));
    const rows = (stats.series || []).map((b) => {
      const other = Math.max(0, b.conversations - b.bot_only - b.with_agent);
      const long = bucketLongLabel(b.start, bucket, period.zone);
      return {
        label: bucketLabel(b.start, bucket, period.zone),
        long,
        total: b.conversations,
        values: { bot_only: b.bot_only, with_agent: b.with_agent, other },
        tip: t("dash.series_tip", long, b.conversations, b.bot_only, b.with_agent, other),
        attrs: {
          "data-start": String(b.start),
          "data-conversations": String(b.conversations),
          "data-bot-only": String(b.bot_only),
          "data-with-agent": String(b.with_agent),
        },
      };
    });
    const sum = (key) => rows.reduce((n, r) => n + r.values[key], 0);
    const busiest = rows.reduce((best, r) => (r.total > (best ? best.total : 0) ? r : best), null);
    const label = t(
      "dash.series_aria",
      periodLabel(period.dates),
      stats.conversations,
      sum("bot_only"),
      sum("with_agent"),
      sum("other"),
      busiest ? busiest.long : DASH,
      busiest ? busiest.total : 0,
    );
    replace(
      seriesLegend,
      SEGMENTS.map((seg) =>
        h("li", {}, h("span", { class: `swatch ${seg.className}`, "aria-hidden": "true" }), `${t(seg.label)} (${sum(seg.key)})`),
      ),
    );
    replace(
      seriesBox,
      stackedBarChart({
        width,
        rows,
        segments: SEGMENTS,
        label,
        testid: "chart-series",
        barTestid: "chart-series-bar",
        height: width < 480 ? 200 : 240,
      }),
    );
    replace(
      seriesTable,
      dataTable(
        [t(bucket === "hour" ? "dash.col_hour" : "dash.col_day"), t("dash.col_conversations"), ...SEGMENTS.map((seg) => t(seg.label))],
        rows.map((r) => [r.long, r.total, r.values.bot_only, r.values.with_agent, r.values.other]),
      ),
    );
  }

  function renderPercentiles(width) {
    const metrics = [
      { label: t("dash.kpi_wait"), p: stats.queue_wait_s, key: "queue_wait" },
      { label: t("dash.kpi_first"), p: stats.first_response_s, key: "first_response" },
    ];
    const groups = metrics.map((m) => ({
      label: m.label,
      bars: ["p50", "p90"].map((q) => ({
        label: q.toUpperCase(),
        value: m.p[q],
        text: duration(m.p[q]),
        className: `seg-${q}`,
        tip: t("dash.pct_tip", m.label, q.toUpperCase(), duration(m.p[q]), m.p.count),
        attrs: { "data-metric": m.key, "data-quantile": q, "data-value": raw(m.p[q]) },
      })),
    }));
    const label = t(
      "dash.pct_aria",
      ...metrics.flatMap((m) => [m.label, duration(m.p.p50), duration(m.p.p90)]),
    );
    replace(
      pctBox,
      groupedHBarChart({ width, groups, label, testid: "chart-percentiles", barTestid: "chart-percentiles-bar", valueW: 96 }),
    );
    replace(
      pctTable,
      dataTable(
        [t("dash.col_metric"), "P50", "P90", t("dash.col_avg"), t("dash.col_count")],
        metrics.map((m) => [m.label, duration(m.p.p50), duration(m.p.p90), duration(m.p.avg), m.p.count]),
      ),
    );
  }

  function renderCsat(width) {
    const dist = stats.csat_distribution || {};
    const total = stats.ratings || 0;
    const scores = [5, 4, 3, 2, 1];
    const share = (n) => (total ? Math.round((n / total) * 100) : 0);
    replace(
      csatTitle,
      t("dash.chart_csat"),
      " ",
      h("span", { class: "muted title-note" }, stats.csat_avg === null ? t("dash.ratings", total) : t("dash.csat_title_note", decimal(stats.csat_avg), total)),
    );
    const groups = [
      {
        label: "",
        bars: scores.map((score) => {
          const n = Number(dist[String(score)] || 0);
          return {
            label: `${score} ★`,
            value: n,
            text: total ? `${n} (${share(n)}%)` : "0",
            className: `csat-${score}`,
            tip: t("dash.csat_tip", score, n, share(n)),
            attrs: { "data-score": String(score), "data-count": String(n) },
          };
        }),
      },
    ];
    const label = total
      ? t("dash.csat_aria", total, decimal(stats.csat_avg), scores.map((sc) => t("dash.csat_part", sc, dist[String(sc)] || 0)).join(t("dash.list_sep")))
      : t("dash.csat_aria_none");
    replace(
      csatBox,
      groupedHBarChart({ width, groups, label, testid: "chart-csat", barTestid: "chart-csat-bar", barH: 20, gap: 8, labelW: 40, valueW: 76 }),
      total ? null : h("p", { class: "help chart-empty" }, t("dash.no_ratings")),
    );
    replace(
      csatTable,
      dataTable([t("dash.col_score"), t("dash.col_ratings"), t("dash.col_share")], scores.map((sc) => [`${sc} ★`, dist[String(sc)] || 0, `${share(dist[String(sc)] || 0)}%`])),
    );
  }

  // ---- unanswered ----

  function renderUnanswered(items) {
    if (!items.length) {
      replace(unansweredBody, h("p", { class: "note note-empty", "data-testid": "top-unanswered" }, t("dash.no_unanswered")));
      return;
    }
    const max = Math.max(1, ...items.map((i) => i.count || 0));
    replace(
      unansweredBody,
      h(
        "ol",
        { class: "top-list", "data-testid": "top-unanswered" },
        items.map((item, i) =>
          h(
            "li",
            { "data-testid": "top-unanswered-item", "data-count": String(item.count || 0) },
            h("span", { class: "rank", "aria-hidden": "true" }, String(i + 1)),
            h("span", { class: "top-text" }, item.text || (item.examples || [])[0] || ""),
            h("span", { class: "top-bar", "aria-hidden": "true" }, barFill((item.count || 0) / max)),
            h("span", { class: "count-badge" }, t("un.count", item.count || 0)),
          ),
        ),
      ),
    );
  }

  // ---- wiring ----

  refreshButton.addEventListener("click", () => busy(refreshButton, () => Promise.all([period.reload(), loadUnanswered()])));

  let frame = 0;
  const observer = typeof ResizeObserver === "function"
    ? new ResizeObserver(() => {
        cancelAnimationFrame(frame);
        frame = requestAnimationFrame(() => renderCharts());
      })
    : null;
  if (observer) observer.observe(seriesBox);

  replace(status, note(t("common.loading")));
  loadUnanswered();
  period.start();

  return () => {
    period.stop();
    if (observer) observer.disconnect();
    cancelAnimationFrame(frame);
  };
}

/** "Show the numbers": the chart's data as a table, for screen readers and keyboard users. */
function dataDetails(body) {
  return h("details", { class: "chart-data" }, h("summary", {}, t("dash.show_numbers")), body);
}

function dataTable(headers, rows) {
  return h(
    "div",
    { class: "table-wrap flat" },
    h(
      "table",
      { class: "data-table compact" },
      h("thead", {}, h("tr", {}, headers.map((x, i) => h("th", { scope: "col", class: i ? "col-num" : null }, x)))),
      h(
        "tbody",
        {},
        rows.map((row) =>
          h(
            "tr",
            {},
            row.map((x, i) => (i ? h("td", { class: "col-num", "data-label": headers[i] }, String(x)) : h("th", { scope: "row" }, String(x)))),
          ),
        ),
      ),
    ),
  );
}
