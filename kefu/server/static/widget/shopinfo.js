// Before the widget opens its socket (and again after a socket failed to open), it asks kefu
// whether the chat can work on this page at all: GET /api/widget/{shop} (docs/api.md) answers
// {shop, name, agents_online, origin_allowed}, or a JSON 404 {error: {code: "unknown_shop"}}.
// A websocket that fails says nothing about why; this answer does, so the widget can tell the
// shopper and the site developer, and stop retrying what can never work.

/** kefu's shop ids (kefu/ids.py); the loader (widget.js) normalises data-shop to this form. */
export const SHOP_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;

const ASK_TIMEOUT_MS = 8000; // no answer by then: connect anyway, the socket will tell
const UNANSWERED = Object.freeze({ refusal: null, answered: false });

function refused(refusal) {
  return { refusal: refusal, answered: true };
}

/**
 * Why the chat cannot work here (`refusal`), or null when it may — or when kefu could not be
 * asked: a network or server error is worth retrying, so the caller goes on as before.
 * `answered`: kefu answered that the chat may work here (the shop exists, this page may embed
 * it), so a socket that still fails to open was refused for what it offered, not for the page.
 *
 * @param {string} origin  kefu's origin
 * @param {string} shop    the shop id from the script tag, normalised
 * @returns {Promise<{refusal: null | {reason: "invalid_shop"|"unknown_shop"|"origin_not_allowed", developer: string}, answered: boolean}>}
 */
export async function askShop(origin, shop) {
  if (!SHOP_ID.test(shop)) {
    // The loader already said so on the console (once, at page load).
    return { refusal: { reason: "invalid_shop", developer: "" }, answered: false };
  }
  const url = new URL("/api/widget/" + encodeURIComponent(shop), origin).href;
  const abort = typeof AbortController === "function" ? new AbortController() : null;
  const timer = abort ? setTimeout(() => abort.abort(), ASK_TIMEOUT_MS) : null;
  let response;
  let body;
  try {
    // A simple GET (no custom headers: no preflight), without cookies, never from a cache: a
    // shop created or an origin allowed a minute ago must work at once.
    response = await fetch(url, { mode: "cors", credentials: "omit", cache: "no-store", signal: abort ? abort.signal : undefined });
    body = await response.json();
  } catch (e) {
    return UNANSWERED; // offline, kefu down, an unreadable answer, or the page's CSP: retry as before
  } finally {
    clearTimeout(timer);
  }
  if (!body || typeof body !== "object") return UNANSWERED;
  if (response.status === 404 && body.error && body.error.code === "unknown_shop") {
    return refused({
      reason: "unknown_shop",
      developer:
        'kefu: unknown shop id "' + shop + '" (data-shop on the widget\'s <script> tag): ' + origin + " has no such shop; the chat is not available on this page",
    });
  }
  if (response.ok && body.origin_allowed === false) {
    return refused({
      reason: "origin_not_allowed",
      developer:
        "kefu: origin " + location.origin + ' is not in the allowed origins of shop "' + shop + '"; add it in kefu\'s admin (Settings → Websites allowed to embed the chat)',
    });
  }
  // Allowed (true), not asked (null: a same-origin page), or an error worth retrying.
  return { refusal: null, answered: response.ok, refusesUnverified: response.ok && body.refuses_unverified === true };
}

