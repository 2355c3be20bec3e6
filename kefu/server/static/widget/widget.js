/*!
 * kefu shopper chat widget — the loader: one classic script, no dependencies, no build step.
 *
 * Embed on any shop page:
 *   <script src="https://KEFU_HOST/widget.js" data-shop="SHOP" async></script>
 * Optional attributes: data-lang="zh|en" (else navigator.language), data-title="店名" (panel
 * title, default 在线客服 / Customer service), data-color="#4f46e5" (accent colour, hex).
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
 * nothing global but window.kefuWidget = {open(), close(), toggle(), isOpen}, there at once
 * (calls made before the modules arrive are carried out when they do).
 * localStorage: kefu.SHOP.token, kefu.SHOP.last_id, kefu.SHOP.mode; sessionStorage: kefu.SHOP.open,
 * kefu.SHOP.pending.
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
  var config = {
    shop: shop,
    origin: origin,
    lang: script.getAttribute("data-lang") || "",
    title: script.getAttribute("data-title") || "",
    color: (script.getAttribute("data-color") || "").trim(),
  };

  var widget = null;
  var calls = [];
  function later(name) {
    return function () {
      if (widget) widget[name]();
      else calls.push(name);
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
      calls.splice(0).forEach(function (name) {
        widget[name]();
      });
    },
    function (error) {
      console.warn("kefu: cannot load the chat widget from " + origin, error);
    }
  );
})();
