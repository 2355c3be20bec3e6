// What the shop's page says about the shopper, checked the way kefu checks it, so a mistake is
// told to the site's developer on the console instead of costing a refused socket or an error
// frame in the chat:
//   · the signed-in customer (data-customer-* or kefu('identify', {id, name, hash, exp})),
//     offered to the server as the subprotocol kefu.customer.<base64url of
//     {"id","name","hash"[,"exp"]}> beside kefu.v1 — never in the URL (kefu/server/identity.py);
//   · the product on the page (data-product-* or kefu('product', {id, title, price, image,
//     url})), sent as the frame {type: "product", product} (kefu/server/frames.py ProductView).

/** The subprotocol prefix of a customer claim (kefu/server/identity.py CUSTOMER_PROTOCOL). */
export const CUSTOMER_PROTOCOL = "kefu.customer.";

const EXTERNAL_ID = /^[A-Za-z0-9][A-Za-z0-9_.@:+-]{0,127}$/; // kefu/ids.py EXTERNAL_PATTERN
const HASH = /^[0-9a-fA-F]{64}$/; // hex HMAC-SHA256
const EXP_MAX = 2 ** 53; // kefu/server/identity.py CustomerClaim.exp
const NAME_MAX = 40; // characters (code points), as the server counts them
const TITLE_MAX = 200;
const URL_MAX = 1000;
const PRICE = /^\d+(\.\d{1,2})?$/; // ≥ 0, at most 2 decimals, no exponent
const PRICE_MAX = 1e10;

function chars(text) {
  return Array.from(text).length;
}

/** An id as the shop may give it: a string, or a whole number (12345). */
function idText(value) {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return String(value);
  return typeof value === "string" ? value.trim() : "";
}

/**
 * The customer the page vouches for, or null (anonymous: none given, or not one kefu would
 * accept — said on the console).
 * @param {unknown} given  {id, name?, hash, exp?} or null
 * @returns {{id: string, name: string, hash: string, exp: number | null} | null}
 */
export function readCustomer(given) {
  if (given === null || given === undefined) return null;
  if (typeof given !== "object") {
    console.error("kefu: identify takes {id, name, hash, exp} (or null to sign out); chatting anonymously");
    return null;
  }
  const id = idText(given.id);
  const hash = typeof given.hash === "string" ? given.hash.trim() : "";
  if (!EXTERNAL_ID.test(id)) {
    console.error(
      "kefu: the customer id must be 1-128 letters, digits or _ . @ : + - (starting with a letter or digit); chatting anonymously",
    );
    return null;
  }
  if (!HASH.test(hash)) {
    console.error(
      'kefu: the customer hash of "' + id + '" must be the hex HMAC-SHA256 of the id under the shop\'s identity secret, made on the shop\'s server; chatting anonymously',
    );
    return null;
  }
  const exp = expiry(given.exp);
  if (exp === undefined) {
    console.error(
      'kefu: the customer claim of "' + id + '" has an exp that is not a whole number of Unix seconds; chatting anonymously',
    );
    return null;
  }
  // Offered all the same: kefu judges the expiry by its own clock (this browser's may be off),
  // and a page that is refused anonymous chats should say so as it does for a bad hash.
  if (exp !== null && exp * 1000 <= Date.now()) {
    console.warn(
      'kefu: the customer claim of "' + id + '" expired at ' + new Date(exp * 1000).toISOString() +
        " by this browser's clock, and kefu will not accept it: the shop's server must sign a new one " +
        "(a page kept open longer than a claim lasts gives the new one with kefu('identify', …))",
    );
  }
  let name = typeof given.name === "string" ? given.name.trim() : "";
  if (chars(name) > NAME_MAX) name = Array.from(name).slice(0, NAME_MAX).join("").trim();
  return { id: id, name: name, hash: hash, exp: exp };
}

/** A claim's expiry: null when none is given, the Unix seconds as a number, or undefined when
 * it is not a whole number of seconds (data-customer-exp is text: "1767225600"). */
function expiry(value) {
  if (value === undefined || value === null || value === "") return null;
  const text = typeof value === "number" ? String(value) : typeof value === "string" ? value.trim() : "";
  if (!/^\d{1,16}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= EXP_MAX ? n : undefined;
}

/** Two claims name the same signed-in customer (a new display name alone is no new identity). */
export function sameCustomer(a, b) {
  if (!a || !b) return !a && !b;
  return a.id === b.id && a.hash.toLowerCase() === b.hash.toLowerCase() && a.exp === b.exp;
}

/** The subprotocol offering a claim: kefu.customer. + base64url (no padding) of its UTF-8 JSON. */
export function customerProtocol(claim) {
  const offer = { id: claim.id, name: claim.name, hash: claim.hash };
  if (claim.exp !== null && claim.exp !== undefined) offer.exp = claim.exp;
  const bytes = new TextEncoder().encode(JSON.stringify(offer));
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return CUSTOMER_PROTOCOL + btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** An absolute http(s) URL of at most URL_MAX characters (relative ones are read against the
 * page), or null. */
function webUrl(value) {
  if (typeof value !== "string" || !value.trim()) return null;
  let url;
  try {
    url = new URL(value.trim(), document.baseURI);
  } catch (e) {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  const href = url.href;
  return href.length <= URL_MAX && !/\s/.test(href) ? href : null;
}

/** A price as a number: ≥ 0, at most 2 decimals (168, 19.9, "168.00"), else null. */
function price(value) {
  let text;
  if (typeof value === "number") text = Number.isFinite(value) ? String(value) : "";
  else if (typeof value === "string") text = value.trim();
  else return null;
  if (!PRICE.test(text)) return null;
  const n = Number(text);
  return n <= PRICE_MAX ? n : null;
}

/**
 * The product frame's `product`, or null when the id or title is not one kefu accepts (said
 * on the console). Optional fields kefu would refuse are left out, with a console warning.
 * @param {unknown} given  {id, title, price?, image?, url?}
 * @returns {{id: string, title: string, price?: number, image?: string, url?: string} | null}
 */
export function readProduct(given) {
  if (!given || typeof given !== "object") {
    console.error("kefu: product takes {id, title, price, image, url}");
    return null;
  }
  const id = idText(given.id);
  const title = typeof given.title === "string" ? given.title.trim() : "";
  if (!EXTERNAL_ID.test(id)) {
    console.error("kefu: the product id must be 1-128 letters, digits or _ . @ : + - (starting with a letter or digit); the product is not sent");
    return null;
  }
  if (!title || chars(title) > TITLE_MAX) {
    console.error('kefu: product "' + id + '" needs a title of 1-' + TITLE_MAX + " characters; the product is not sent");
    return null;
  }
  const view = { id: id, title: title };
  const dropped = [];
  if (given.price !== undefined && given.price !== null && given.price !== "") {
    const p = price(given.price);
    if (p === null) dropped.push("price (a number ≥ 0 with at most 2 decimals)");
    else view.price = p;
  }
  for (const field of ["image", "url"]) {
    const value = given[field];
    if (value === undefined || value === null || value === "") continue;
    const href = webUrl(value);
    if (href === null) dropped.push(field + " (an http(s) URL of at most " + URL_MAX + " characters)");
    else view[field] = href;
  }
  if (dropped.length) console.warn('kefu: product "' + id + '": left out ' + dropped.join(", "));
  return view;
}
