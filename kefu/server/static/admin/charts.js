// Small SVG charts for the dashboard, drawn with createElementNS (no library, no canvas).
// Every label is a text node; tooltips are <title> elements; each chart is role="img" with an
// aria-label that says what it shows. Colours come from classes in admin.css (strict CSP: SVG
// attributes only, never style=""). Charts are drawn for a pixel width, so text stays readable
// on narrow screens: the caller draws again when the width changes.

const NS = "http://www.w3.org/2000/svg";

/** An SVG element: s("rect", {x: 1, class: "seg"}, s("title", {}, "text")). */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function svgRoot({ width, height, label, testid, className }) {
  return s("svg", {
    class: ["chart", className].filter(Boolean).join(" "),
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": label,
    "data-testid": testid,
    focusable: "false",
  });
}

/** Round numbers for an axis from 0: {top, step} with about `count` steps (integers). */
export function niceScale(max, count = 4) {
  if (!(max > 0)) return { top: count, step: 1 };
  const rough = max / count;
  const pow = 10 ** Math.floor(Math.log10(rough));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * pow).find((v) => v >= rough));
  return { top: Math.ceil(max / step) * step, step };
}

const r1 = (n) => Math.round(n * 10) / 10;

/**
 * Stacked vertical bars per time bucket.
 * rows: [{key, label (axis), tip (tooltip), total, values: {segment key: n}, attrs}]
 * segments: [{key, className}] bottom to top.
 */
export function stackedBarChart({ width, rows, segments, label, testid, barTestid, height = 240 }) {
  const svg = svgRoot({ width, height, label, testid, className: "chart-bars" });
  const m = { top: 16, right: 8, bottom: 26, left: 34 };
  const plotW = Math.max(10, width - m.left - m.right);
  const plotH = height - m.top - m.bottom;
  const max = Math.max(0, ...rows.map((row) => row.total));
  const { top, step } = niceScale(max);
  const y = (v) => m.top + plotH - (v / top) * plotH;

  const grid = s("g", { class: "grid", "aria-hidden": "true" });
  for (let v = 0; v <= top; v += step) {
    grid.append(
      s("line", { x1: m.left, x2: width - m.right, y1: r1(y(v)), y2: r1(y(v)), class: v === 0 ? "axis-line" : "grid-line" }),
      s("text", { x: m.left - 6, y: r1(y(v)), class: "axis-label", "text-anchor": "end", "dominant-baseline": "middle" }, String(v)),
    );
  }
  svg.append(grid);

  const n = Math.max(1, rows.length);
  const slot = plotW / n;
  const barW = Math.max(2, Math.min(44, slot * 0.68));
  const longest = Math.max(1, ...rows.map((row) => String(row.label).length));
  const labelW = longest * 7 + 10;
  const every = Math.max(1, Math.ceil(labelW / slot));
  const showTotals = slot >= 22;

  rows.forEach((row, i) => {
    const x0 = m.left + i * slot;
    const bx = x0 + (slot - barW) / 2;
    const group = s("g", { class: "bar-group", "data-testid": barTestid, ...row.attrs }, s("title", {}, row.tip));
    group.append(s("rect", { class: "hit", x: r1(x0), y: m.top, width: r1(slot), height: plotH }));
    let acc = 0;
    for (const seg of segments) {
      const v = row.values[seg.key] || 0;
      if (v <= 0) continue;
      const y1 = y(acc + v);
      const y0 = y(acc);
      group.append(s("rect", { class: `seg ${seg.className}`, x: r1(bx), y: r1(y1), width: r1(barW), height: Math.max(1, r1(y0 - y1)) }));
      acc += v;
    }
    if (showTotals && row.total > 0) {
      group.append(
        s("text", { class: "bar-total", x: r1(x0 + slot / 2), y: r1(y(row.total) - 4), "text-anchor": "middle", "aria-hidden": "true" }, String(row.total)),
      );
    }
    if (i % every === 0) {
      group.append(
        s("text", { class: "axis-label", x: r1(x0 + slot / 2), y: height - m.bottom + 16, "text-anchor": "middle", "aria-hidden": "true" }, row.label),
      );
    }
    svg.append(group);
  });
  return svg;
}

/**
 * Horizontal bars, grouped: groups [{label, bars: [{label, value, text, tip, className, attrs}]}].
 * All bars share one scale from 0 to the largest value; `text` is written after the bar.
 */
export function groupedHBarChart({ width, groups, label, testid, barTestid, barH = 18, gap = 6, labelW = 44, valueW = 92 }) {
  const titleH = groups.some((g) => g.label) ? 22 : 0;
  const groupH = titleH + groups.reduce((n, g) => Math.max(n, g.bars.length), 0) * (barH + gap) + 8;
  const height = groups.length * groupH + 4;
  const svg = svgRoot({ width, height, label, testid, className: "chart-hbars" });
  const x0 = labelW;
  const plotW = Math.max(10, width - labelW - valueW);
  const values = groups.flatMap((g) => g.bars.map((b) => b.value)).filter((v) => v !== null && v !== undefined);
  const max = Math.max(0, ...values) || 1;

  groups.forEach((g, gi) => {
    const top = gi * groupH;
    if (g.label) svg.append(s("text", { class: "group-label", x: 0, y: top + 15 }, g.label));
    g.bars.forEach((bar, bi) => {
      const y = top + titleH + bi * (barH + gap);
      const has = bar.value !== null && bar.value !== undefined;
      const w = has ? Math.max(bar.value > 0 ? 2 : 0, (bar.value / max) * plotW) : 0;
      svg.append(
        s(
          "g",
          { class: "hbar", "data-testid": barTestid, ...bar.attrs },
          s("title", {}, bar.tip),
          s("rect", { class: "track", x: x0, y, width: r1(plotW), height: barH, rx: 3 }),
          has ? s("rect", { class: `seg ${bar.className}`, x: x0, y, width: r1(w), height: barH, rx: 3 }) : null,
          s("text", { class: "axis-label", x: x0 - 8, y: y + barH / 2, "text-anchor": "end", "dominant-baseline": "middle", "aria-hidden": "true" }, bar.label),
          s("text", { class: "bar-value", x: r1(x0 + plotW + 8), y: y + barH / 2, "dominant-baseline": "middle", "aria-hidden": "true" }, bar.text),
        ),
      );
    });
  });
  return svg;
}
