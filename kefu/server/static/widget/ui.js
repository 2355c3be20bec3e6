// Small DOM helpers of the widget: its icons, busy buttons, times and initials. Elements are
// made with h() from common/dom.js (text only, never HTML).

import { formatTime } from "../common/dom.js";
import { icon as svgIcon } from "../common/icons.js";

/** An icon of common/icons.js with the widget's class: icon("send"), icon("chat", "kefu-icon-open"). */
export function icon(name, cls) {
  return svgIcon(name, "kefu-icon" + (cls ? " " + cls : ""));
}

// Busy buttons stay focusable (a disabled button would drop the keyboard focus).
export function setBusy(button, busy) {
  if (busy) button.setAttribute("aria-disabled", "true");
  else button.removeAttribute("aria-disabled");
}

export function isBusy(button) {
  return button.getAttribute("aria-disabled") === "true";
}

/** "14:05", or "11/23 14:05" when not today; "" for no time. */
export function timeText(ms, lang) {
  return ms ? formatTime(ms, lang) : "";
}

/** The letter of an agent's avatar: "客服小王" → "小". */
export function initial(name) {
  const chars = Array.from(String(name).replace(/^(客服|agent)\s*/i, "")).filter((c) => c.trim());
  return chars.length ? chars[0].toUpperCase() : "客";
}
