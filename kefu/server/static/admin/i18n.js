// UI strings of the admin pages, Chinese (i18n/zh.js) and English (i18n/en.js). The language
// follows the browser: navigator.language "en…" → English, anything else → Chinese.

import zh from "./i18n/zh.js";
import en from "./i18n/en.js";

export const lang = /^en\b/i.test(navigator.language || "") ? "en" : "zh";

const STRINGS = { zh, en };

/** A UI string; {0}, {1}… are replaced by the arguments. Falls back to Chinese, then the key. */
export function t(key, ...args) {
  const value = STRINGS[lang][key] ?? STRINGS.zh[key] ?? key;
  if (typeof value !== "string") return value;
  return value.replace(/\{(\d+)\}/g, (_, i) => String(args[Number(i)] ?? ""));
}
