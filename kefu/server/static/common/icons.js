// Inline SVG icons shared by the widget and the console: drawn from script, coloured by CSS
// (currentColor), so they need no emoji font, no image request and no inline style.

const SVG_NS = "http://www.w3.org/2000/svg";
const stroke = (width, extra) => ({ fill: "none", stroke: "currentColor", "stroke-width": width, ...extra });
const round = { "stroke-linecap": "round", "stroke-linejoin": "round" };

// name → [[tag, attributes], …] on a 24 × 24 grid. The chat bubble's dots carry the class
// `icon-dot` so a page can fill them with its background colour.
const ICONS = {
  chat: [
    ["path", { d: "M4 6.5A3.5 3.5 0 0 1 7.5 3h9A3.5 3.5 0 0 1 20 6.5v6a3.5 3.5 0 0 1-3.5 3.5H11l-4.4 3.7A1 1 0 0 1 5 18.9V16A3.5 3.5 0 0 1 4 13.5z", fill: "currentColor" }],
    ["circle", { cx: "8.5", cy: "9.75", r: "1.15", class: "icon-dot" }],
    ["circle", { cx: "12", cy: "9.75", r: "1.15", class: "icon-dot" }],
    ["circle", { cx: "15.5", cy: "9.75", r: "1.15", class: "icon-dot" }],
  ],
  chevron: [["path", { d: "M6 9l6 6 6-6", ...stroke("2.2", round) }]],
  close: [["path", { d: "M6.5 6.5l11 11M17.5 6.5l-11 11", ...stroke("2", { "stroke-linecap": "round" }) }]],
  send: [["path", { d: "M12 19V5.5M5.5 11.5L12 5l6.5 6.5", ...stroke("2.2", round) }]],
  bot: [
    ["path", { d: "M12 2.5v3", ...stroke("1.8", { "stroke-linecap": "round" }) }],
    ["circle", { cx: "12", cy: "2.6", r: "1.3", fill: "currentColor" }],
    ["rect", { x: "4", y: "6.5", width: "16", height: "12.5", rx: "4", ...stroke("1.8") }],
    ["circle", { cx: "9.2", cy: "12.5", r: "1.5", fill: "currentColor" }],
    ["circle", { cx: "14.8", cy: "12.5", r: "1.5", fill: "currentColor" }],
    ["path", { d: "M2 11.5v3M22 11.5v3", ...stroke("1.8", { "stroke-linecap": "round" }) }],
  ],
  headset: [
    ["path", { d: "M4.5 13.5v-1.5a7.5 7.5 0 0 1 15 0v1.5", ...stroke("1.9", { "stroke-linecap": "round" }) }],
    ["rect", { x: "3.5", y: "12.5", width: "4", height: "6", rx: "1.6", fill: "currentColor" }],
    ["rect", { x: "16.5", y: "12.5", width: "4", height: "6", rx: "1.6", fill: "currentColor" }],
    ["path", { d: "M18.5 18.5c0 1.4-1.6 2.5-4.5 2.5", ...stroke("1.6", { "stroke-linecap": "round" }) }],
  ],
  star: [["path", { d: "M12 2.9l2.75 5.6 6.15.9-4.45 4.33 1.05 6.13L12 16.95l-5.5 2.9 1.05-6.12L3.1 9.4l6.15-.9z", fill: "currentColor" }]],
  mail: [
    ["rect", { x: "3", y: "5", width: "18", height: "14", rx: "3", ...stroke("1.8") }],
    ["path", { d: "M4 7l8 6 8-6", ...stroke("1.8", { "stroke-linejoin": "round" }) }],
  ],
};

/** An <svg> for a named icon, hidden from screen readers: icon("chat", "kefu-icon"). */
export function icon(name, className) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  if (className) svg.setAttribute("class", className);
  for (const [tag, attrs] of ICONS[name]) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, value);
    svg.appendChild(el);
  }
  return svg;
}
