/*!
 * kefu shopper chat widget — the loader: one classic script, no dependencies, no build step.
 *
 * Embed on any shop page:
 *   <script src="https://KEFU_HOST/widget.js" data-shop="SHOP" async></script>
 * Optional attributes: data-lang="zh|en" (else navigator.language), data-title="店名" (panel
 * title, default 在线客服 / Customer service), data-color="#4f46e5" (accent colour, hex).
 *
 * A signed-in customer (their orders, one chat on every device): data-customer-id,
 * data-customer-name (optional, ≤ 40 characters) and data-customer-hash = hex
 * HMAC-SHA256(the shop's identity secret, customer id), computed on the shop's server — never
 * in the page's JavaScript, which would give the secret away; for a claim that expires,
 * data-customer-exp (Unix seconds) and the hash of "id|exp". A hash that does not verify, or a
 * claim past its expiry, makes the chat anonymous (or refused, if the shop says so). The product on the page:
 * data-product-id, data-product-title, and optionally data-product-price (168.00),
 * data-product-image and data-product-url (http(s); relative ones are read against the page).
 *
 * Commands, at any time (calls made before the loader ran are kept by the usual stub
 * `window.kefu = window.kefu || function () { (window.kefu.q = window.kefu.q || []).push(arguments); };`):
 *   kefu("identify", {id, name, hash, exp})   another signed-in customer (the chat starts
 *                                        over; exp optional), or the same one's new claim
 *   kefu("identify", null)               signed out: anonymous again, the stored chat forgotten
 *   kefu("product", {id, title, price, image, url})   the product viewed now (single-page
 *                                        shops: call it on every navigation); null for none
 *   kefu("open") · kefu("close") · kefu("toggle")
 * Mistakes are told on the console ("kefu: …"); nothing of the customer goes into a URL.
 * data-shop is trimmed and lower-cased (with a console warning). An id that is still not a shop
 * id, an unknown shop, or a page origin the shop does not allow: the launcher still shows, the
 * panel says the chat is not available here, and the console says why (static/widget/shopinfo.js).
 *
 * This script only reads its own tag and loads the widget's ES modules from kefu's origin
 * (https://KEFU_HOST/static/widget/main.js, served with Access-Control-Allow-Origin: *), which
 * talk to wss://KEFU_HOST/ws/shopper (docs/protocol.md) and load their stylesheets into the
 * widget's shadow root. The modules and their test hooks: static/widget/main.js.
 *
 * Everything lives in the open shadow root of one <kefu-widget> element appended to <body>;
 * nothing global but window.kefu (the commands) and window.kefuWidget = {open(), close(),
 * toggle(), isOpen}, there at once (calls made before the modules arrive are carried out when
 * they do, in order).
 * localStorage: kefu.SHOP.token, kefu.SHOP.last_id, kefu.SHOP.mode, kefu.SHOP.signed_in (the token
 * is a signed-in customer's); sessionStorage: kefu.SHOP.open, kefu.SHOP.pending.
 */
(function () {
  "use strict";

  if (window.kefuWidget) return; // embedded twice

  function findScript() {
    var current = document.currentScript;
    if (current && current.src) return current;
    var scripts = document.querySelectorAll("script[src]");
    var fallback = null;
    for (var i = scripts.length - 1; i >= 0; i--) {
      var s = scripts[i];
      var path = "";
      try {
        path = new URL(s.src, location.href).pathname;
      } catch (e) {
        continue;
      }
      if (!/\/widget\.js$/.test(path)) continue;
      if (s.hasAttribute("data-shop")) return s;
      fallback = fallback || s;
    }
    return fallback;
  }

  var script = findScript();
  if (!script) {
    console.warn("kefu: cannot find the widget's <script> element");
    return;
  }
  // Shop ids are lower case (kefu/ids.py); "Demo " means "demo". Anything else still gets the
  // launcher, which says the chat is not available: a missing button would explain nothing.
  var written = script.getAttribute("data-shop");
  var shop = (written || "").trim().toLowerCase();
  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(shop)) {
    console.error(
      written === null
        ? "kefu: the widget's <script> element has no data-shop attribute (the shop id); the chat is not available"
        : 'kefu: data-shop "' + written + '" is not a shop id (1-64 lower-case letters, digits, "_" or "-", starting with a letter or digit); the chat is not available'
    );
  } else if (shop !== written) {
    console.warn('kefu: data-shop "' + written + '" was normalised to "' + shop + '"; write the shop id in lower case without spaces');
  }
  var origin = new URL(script.src, location.href).origin;

  // data-PREFIX-NAME attributes as {NAME: value}, or null when none is there.
  function group(prefix, names) {
    var found = null;
    names.forEach(function (name) {
      var value = script.getAttribute("data-" + prefix + "-" + name);
      if (value === null) return;
      found = found || {};
      found[name] = value;
    });
    return found;
  }

  var config = {
    shop: shop,
    origin: origin,
    lang: script.getAttribute("data-lang") || "",
    title: script.getAttribute("data-title") || "",
    color: (script.getAttribute("data-color") || "").trim(),
    customer: group("customer", ["id", "name", "hash", "exp"]),
    product: group("product", ["id", "title", "price", "image", "url"]),
  };

  var COMMANDS = { open: 1, close: 1, toggle: 1, identify: 1, product: 1 };
  var widget = null;
  var calls = []; // [command, argument] made before the modules arrived
  function kefu(command, argument) {
    if (!Object.prototype.hasOwnProperty.call(COMMANDS, command)) {
      console.warn('kefu: unknown command "' + command + '" (open, close, toggle, identify, product)');
      return;
    }
    // A copy as it is now: the page may change its object before the modules arrive.
    if (argument && typeof argument === "object") argument = Object.assign({}, argument);
    if (widget) widget[command](argument);
    else calls.push([command, argument]);
  }
  // The stub's calls first; a page that kept the stub itself still reaches the widget through
  // its `q.push`.
  var early = window.kefu && window.kefu.q && typeof window.kefu.q.length === "number" ? Array.prototype.slice.call(window.kefu.q) : [];
  kefu.q = {
    push: function (args) {
      kefu.apply(null, args);
    },
  };
  window.kefu = kefu;
  early.forEach(function (args) {
    kefu.apply(null, args);
  });

  function later(name) {
    return function () {
      kefu(name);
    };
  }
  window.kefuWidget = Object.freeze({
    open: later("open"),
    close: later("close"),
    toggle: later("toggle"),
    get isOpen() {
      return !!widget && widget.isOpen;
    },
  });

  import(origin + "/static/widget/main.js").then(
    function (main) {
      widget = main.start(config);
      calls.splice(0).forEach(function (call) {
        widget[call[0]](call[1]);
      });
    },
    function (error) {
      console.warn("kefu: cannot load the chat widget from " + origin, error);
    }
  );
})();
