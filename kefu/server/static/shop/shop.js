// The demo shop's behaviour: "add to cart" counts up and says so; "问客服" on a product (and
// adding it to the cart) tells the chat which product the shopper is looking at; the switch in
// the header pretends a customer signed in to the shop. The chat widget is embedded separately,
// exactly as any shop would embed it, and told things with its kefu(...) commands.
import { replace } from "/static/common/dom.js";

const count = document.getElementById("cart-count");
const toast = document.getElementById("shop-toast");
const toggle = document.getElementById("signin-toggle");
const who = document.getElementById("signin-who");
const widgetTag = document.querySelector("script[data-shop]");
const shop = widgetTag ? widgetTag.dataset.shop : "demo";
const SIGNED_IN = "kefu-demo-shop.signed-in"; // localStorage: the switch survives a reload
let items = 0;
let timer = null;
let asking = 0; // the latest sign-in; an older answer arriving late is ignored

// The widget's loader may not have run yet (it is async): the usual stub keeps the calls.
window.kefu =
  window.kefu ||
  function () {
    (window.kefu.q = window.kefu.q || []).push(arguments);
  };

/** Through window.kefu each time: the loader replaces the stub. */
function kefu(command, argument) {
  window.kefu(command, argument);
}

function say(text) {
  replace(toast, text);
  toast.hidden = false;
  clearTimeout(timer);
  timer = setTimeout(() => (toast.hidden = true), 2500);
}

function remember(on) {
  try {
    if (on) localStorage.setItem(SIGNED_IN, "1");
    else localStorage.removeItem(SIGNED_IN);
  } catch (e) {
    /* storage disabled: the switch lasts for this page */
  }
}

function remembered() {
  try {
    return localStorage.getItem(SIGNED_IN) === "1";
  } catch (e) {
    return false;
  }
}

// ---------------------------------------------------------------- products

/** The product of a card, as the widget takes it (the card's data-product-* attributes). */
function productOf(card) {
  const d = card.dataset;
  return {
    id: d.productId,
    title: d.productTitle,
    price: d.productPrice,
    image: d.productImage,
    url: new URL("#" + card.id, location.href).href,
  };
}

function viewing(card) {
  for (const other of document.querySelectorAll(".card[data-viewing]")) other.removeAttribute("data-viewing");
  card.setAttribute("data-viewing", "");
  kefu("product", productOf(card));
}

document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("button.add, button.ask") : null;
  if (!button) return;
  const card = button.closest(".card[data-product-id]");
  if (card) viewing(card);
  if (button.classList.contains("ask")) {
    kefu("open");
    return;
  }
  items += 1;
  replace(count, String(items));
  say(`已加入购物车：${button.dataset.product || ""}`);
});

// ---------------------------------------------------------------- the signed-in customer

// A real shop prints data-customer-id/-name/-hash (and -exp, for a claim that expires) on the
// widget's tag, the hash made on its server; `kefu serve --demo` hands the demo customer's
// claim, good for a day, to this page instead.
async function signIn() {
  const mine = ++asking;
  let claim = null;
  try {
    const response = await fetch(`/api/shops/${encodeURIComponent(shop)}/demo-customer`, { cache: "no-store" });
    if (response.ok) claim = await response.json();
  } catch (e) {
    claim = null;
  }
  if (mine !== asking || !toggle.checked) return; // switched off (or on again) meanwhile
  if (!claim || typeof claim.id !== "string" || typeof claim.hash !== "string") {
    toggle.checked = false;
    remember(false);
    replace(who, "");
    say("没有可模拟的顾客：请用 kefu serve --demo 启动 · Start kefu with --demo for a demo customer");
    return;
  }
  kefu("identify", { id: claim.id, name: claim.name, hash: claim.hash, exp: claim.exp });
  replace(who, `已登录：${claim.name || claim.id}`);
}

function signOut() {
  asking += 1;
  kefu("identify", null);
  replace(who, "");
}

toggle.addEventListener("change", () => {
  remember(toggle.checked);
  if (toggle.checked) signIn();
  else signOut();
});

if (remembered()) {
  toggle.checked = true;
  signIn();
}
