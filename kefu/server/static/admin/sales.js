// Sales (销售业绩): what the support team sold over a period, from GET /api/admin/sales
// (definitions in kefu/reports/sales.py and docs/metrics.md) — per agent, for the bot and for
// the team: inquiries (询单人数), buyers (下单人数), orders, conversion (询单转化率), sales
// (客服销售额) and average order value (客单价) beside the shop's own average. The period lives in
// the hash (#sales?range=7d) like the Dashboard's.

import { h, replace } from "/static/common/dom.js";
import { lang, t } from "./i18n.js";
import { busy, errorText, note } from "./ui.js";
import { groupedHBarChart } from "./charts.js";
import { DASH, kpi, percent, periodLabel, periodQuery, periodReport } from "./reports.js";

const LOCALE = lang === "en" ? "en-GB" : "zh-CN";
// Kept across tab switches: coming back shows the same period.
const state = { period: { range: "7d", from: "", to: "" } };
// The table's columns after the name: [key, label, help].
const COLUMNS = [
  ["inquiries", "sales.col_inquiries", "sales.def_inquiries"],
  ["buyers", "sales.col_buyers", "sales.def_buyers"],
  ["orders", "sales.col_orders", "sales.def_orders"],
  ["conversion", "sales.col_conversion", "sales.def_conversion"],
  ["sales", "sales.col_sales", "sales.def_sales"],
  ["average_order", "sales.col_average", "sales.def_average"],
  ["vs_shop", "sales.col_vs_shop", "sales.def_vs_shop"],
];

/** An amount ("1234.50", a decimal string) with its currency: "¥1,234.50"; "—" for nothing. */
export function money(amount, currency = "CNY") {
  const value = Number(amount);
  if (amount === null || amount === undefined || amount === "" || !Number.isFinite(value)) return DASH;
  try {
    // narrowSymbol: "¥" for CNY in either language (not "CN¥").
    return new Intl.NumberFormat(LOCALE, { style: "currency", currency, currencyDisplay: "narrowSymbol" }).format(value);
  } catch {
    const digits = new Intl.NumberFormat(LOCALE, { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(value);
    return `${currency} ${digits}`; // a code Intl does not know
  }
}

/** A row's average order against the shop's: "+12%", "−5%", "±0%"; "—" when either is 0. */
function versusShop(average, shopAverage) {
  const mine = Number(average);
  const shop = Number(shopAverage);
  if (!(mine > 0) || !(shop > 0)) return { text: DASH, kind: "" };
  const change = Math.round(((mine - shop) / shop) * 100);
  if (change === 0) return { text: "±0%", kind: "" };
  return change > 0 ? { text: `+${change}%`, kind: "up" } : { text: `−${-change}%`, kind: "down" };
}

export function mount(container, ctx) {
  let data = null;
  let lastWidth = 0;

  const period = periodReport(ctx, { tab: "sales", testid: "sales", state, load });
  const refreshButton = h("button", { type: "button", "data-testid": "sales-refresh" }, t("common.refresh"));
  const status = h("div", { "data-testid": "sales-status" });
  const empty = h("div", { hidden: true });
  const kpis = h("div", { class: "kpi-grid", role: "group", "aria-label": t("sales.kpis") });
  const chartBox = h("div", { class: "chart-box" });
  const tableBox = h("div");

  const report = h(
    "div",
    { class: "report", hidden: true },
    kpis,
    h(
      "section",
      { class: "card chart-card" },
      h("h2", { class: "card-title" }, t("sales.chart")),
      h("p", { class: "help" }, t("sales.chart_help")),
      h(
        "ul",
        { class: "chart-legend" },
        h("li", {}, h("span", { class: "swatch seg-agent", "aria-hidden": "true" }), t("sales.legend_agent")),
        h("li", {}, h("span", { class: "swatch seg-bot", "aria-hidden": "true" }), t("sales.legend_bot")),
      ),
      chartBox,
    ),
    h(
      "section",
      { class: "card" },
      h("h2", { class: "card-title" }, t("sales.table")),
      h("p", { class: "help" }, t("sales.table_help")),
      tableBox,
    ),
    definitions(),
  );

  replace(
    container,
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("h1", {}, t("sales.title")), h("p", { class: "lead" }, t("sales.intro"))),
      h("div", { class: "head-actions" }, refreshButton),
    ),
    period.toolbar,
    status,
    empty,
    report,
  );

  // ---- loading ----

  async function load(dates, current) {
    replace(status, note(t("common.loading")));
    const query = periodQuery(dates);
    query.set("lang", lang);
    try {
      const answer = await ctx.api("GET", `/api/admin/sales?${query}`);
      if (!current()) return;
      data = answer;
      replace(status);
      render();
    } catch (err) {
      if (!current() || err.signedOut) return;
      report.hidden = true;
      empty.hidden = true;
      replace(status, note(t("common.load_failed", errorText(err)), "error"));
    }
  }

  function render() {
    if (!data.team.inquiries && !data.shop_orders) {
      report.hidden = true;
      empty.hidden = false;
      replace(
        empty,
        h(
          "div",
          { class: "note note-empty empty-state", "data-testid": "sales-empty" },
          h("strong", {}, t("sales.empty_title")),
          h("span", {}, t("sales.empty", periodLabel(period.dates))),
        ),
      );
      return;
    }
    empty.hidden = true;
    report.hidden = false;
    renderKpis();
    renderTable();
    renderChart(true);
  }

  const cash = (amount) => money(amount, data.currency || "CNY");

  // ---- KPI cards ----

  function renderKpis() {
    const team = data.team;
    const shopShare = Number(data.shop_sales) > 0 ? Number(team.sales) / Number(data.shop_sales) : null;
    replace(
      kpis,
      kpi(
        "sales-kpi-sales",
        t("sales.kpi_sales"),
        cash(team.sales),
        [t("sales.kpi_sales_sub", team.orders, team.buyers), shopShare === null ? null : t("sales.kpi_share", percent(shopShare))],
        { "data-value": team.sales },
        t("sales.def_sales"),
      ),
      kpi(
        "sales-kpi-conversion",
        t("sales.kpi_conversion"),
        team.inquiries ? percent(team.conversion) : DASH,
        [t("sales.kpi_conversion_sub", team.buyers, team.inquiries)],
        { "data-value": String(team.conversion) },
        t("sales.def_conversion"),
      ),
      kpi(
        "sales-kpi-average",
        t("sales.kpi_average"),
        team.buyers ? cash(team.average_order) : DASH,
        [t("sales.kpi_average_sub", Number(data.shop_average_order) > 0 ? cash(data.shop_average_order) : DASH)],
        { "data-value": team.average_order },
        t("sales.def_average"),
      ),
      kpi(
        "sales-kpi-shop",
        t("sales.kpi_shop"),
        cash(data.shop_sales),
        [t("sales.kpi_shop_sub", data.shop_orders)],
        { "data-value": data.shop_sales, "data-orders": String(data.shop_orders) },
        t("sales.def_shop"),
      ),
    );
  }

  // ---- table ----

  function rowName(row) {
    if (row.by === "bot") return h("span", { class: "bot-name" }, row.name || t("sales.bot"));
    if (row.by === "all") return row.name || t("sales.team");
    return row.name && row.name !== row.by ? row.name : h("span", { class: "muted" }, t("dash.unknown_agent", row.by));
  }

  function cells(row, label = null) {
    const vs = versusShop(row.average_order, data.shop_average_order);
    const values = {
      inquiries: String(row.inquiries),
      buyers: String(row.buyers),
      orders: String(row.orders),
      conversion: row.inquiries ? percent(row.conversion) : DASH,
      sales: cash(row.sales),
      average_order: row.buyers ? cash(row.average_order) : DASH,
      vs_shop: h("span", { class: ["trend", vs.kind && `trend-${vs.kind}`] }, vs.text),
    };
    return [
      h("th", { scope: "row", "data-label": t("sales.col_who") }, label || rowName(row)),
      COLUMNS.map(([key, labelKey]) =>
        h("td", { class: "col-num", "data-label": t(labelKey), "data-col": key }, values[key]),
      ),
    ];
  }

  function renderTable() {
    const attrs = (row) => ({
      "data-by": row.by,
      "data-inquiries": String(row.inquiries),
      "data-buyers": String(row.buyers),
      "data-orders": String(row.orders),
      "data-conversion": String(row.conversion),
      "data-sales": row.sales,
      "data-average-order": row.average_order,
    });
    const rows = (data.rows || []).map((row) =>
      h("tr", { "data-testid": "sales-row", class: row.by === "bot" ? "is-bot" : null, ...attrs(row) }, cells(row)),
    );
    const team = h("tr", { class: "total-row", "data-testid": "sales-team-row", ...attrs(data.team) }, cells(data.team, t("sales.team")));
    // The shop counts every sold order, chatted or not: no inquiries, buyers or conversion.
    const shop = h(
      "tr",
      {
        class: "shop-row",
        "data-testid": "sales-shop-row",
        "data-orders": String(data.shop_orders),
        "data-sales": data.shop_sales,
        "data-average-order": data.shop_average_order,
      },
      h("th", { scope: "row", "data-label": t("sales.col_who") }, t("sales.shop"), h("span", { class: "help block" }, t("sales.shop_note"))),
      COLUMNS.map(([key, labelKey]) => {
        const value = {
          orders: String(data.shop_orders),
          sales: cash(data.shop_sales),
          average_order: Number(data.shop_average_order) > 0 ? cash(data.shop_average_order) : DASH,
        }[key];
        return h("td", { class: ["col-num", !value && "muted"], "data-label": t(labelKey), "data-col": key }, value || DASH);
      }),
    );
    replace(
      tableBox,
      h(
        "div",
        { class: "table-wrap flat" },
        h(
          "table",
          { class: "data-table stats-table sales-table", "data-testid": "sales-table" },
          h("caption", { class: "sr-only" }, t("sales.caption", periodLabel(period.dates))),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", { scope: "col" }, t("sales.col_who")),
              COLUMNS.map(([, labelKey, helpKey]) => h("th", { scope: "col", class: "col-num", title: t(helpKey) }, t(labelKey))),
            ),
          ),
          h("tbody", {}, rows),
          h("tfoot", {}, team, shop),
        ),
      ),
    );
  }

  // ---- chart ----

  function chartWidth() {
    return Math.max(260, Math.floor(chartBox.clientWidth || chartBox.parentElement.clientWidth || 600));
  }

  function renderChart(force = false) {
    if (!data || report.hidden) return;
    const width = chartWidth();
    if (!force && width === lastWidth) return;
    lastWidth = width;
    const rows = data.rows || [];
    const label = (row) => (row.by === "bot" ? row.name || t("sales.bot") : row.name && row.name !== row.by ? row.name : row.by);
    // Room for the longest name (CJK characters are about twice as wide as Latin ones).
    const longest = Math.max(...rows.map((row) => [...label(row)].reduce((n, ch) => n + (ch.charCodeAt(0) > 0x2e80 ? 13 : 7), 0)), 0);
    const bars = rows.map((row) => ({
      label: label(row),
      value: Number(row.sales),
      text: cash(row.sales),
      className: row.by === "bot" ? "seg-bot" : "seg-agent",
      tip: t("sales.bar_tip", label(row), cash(row.sales), row.orders, row.buyers),
      attrs: { "data-by": row.by, "data-sales": row.sales },
    }));
    const aria = rows.length
      ? t("sales.chart_aria", periodLabel(period.dates), rows.map((row) => t("sales.chart_part", label(row), cash(row.sales))).join(t("dash.list_sep")))
      : t("sales.chart_aria_none");
    replace(
      chartBox,
      groupedHBarChart({
        width,
        groups: [{ label: "", bars }],
        label: aria,
        testid: "chart-sales",
        barTestid: "chart-sales-bar",
        barH: 20,
        gap: 8,
        labelW: Math.min(180, Math.max(56, longest + 14)),
        valueW: 110,
      }),
    );
  }

  // ---- wiring ----

  refreshButton.addEventListener("click", () => busy(refreshButton, period.reload));

  let frame = 0;
  const observer =
    typeof ResizeObserver === "function"
      ? new ResizeObserver(() => {
          cancelAnimationFrame(frame);
          frame = requestAnimationFrame(() => renderChart());
        })
      : null;
  if (observer) observer.observe(chartBox);

  replace(status, note(t("common.loading")));
  period.start();

  return () => {
    period.stop();
    if (observer) observer.disconnect();
    cancelAnimationFrame(frame);
  };
}

/** What each number means (the same words as docs/metrics.md), folded away. */
function definitions() {
  const terms = [
    ["sales.col_inquiries", "sales.def_inquiries"],
    ["sales.col_buyers", "sales.def_buyers"],
    ["sales.col_orders", "sales.def_orders"],
    ["sales.col_conversion", "sales.def_conversion"],
    ["sales.col_sales", "sales.def_sales"],
    ["sales.col_average", "sales.def_average"],
    ["sales.shop", "sales.def_shop"],
    ["sales.attribution", "sales.def_attribution"],
  ];
  return h(
    "details",
    { class: "card chart-data definitions", "data-testid": "sales-definitions" },
    h("summary", {}, t("sales.definitions")),
    h("dl", { class: "meta-list defs" }, terms.map(([term, def]) => [h("dt", {}, t(term)), h("dd", {}, t(def))])),
  );
}
