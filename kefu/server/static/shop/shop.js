// The demo shop's only behaviour: "add to cart" counts up and says so. (The chat widget is
// embedded separately, exactly as any shop would embed it.)
import { replace } from "/static/common/dom.js";

const count = document.getElementById("cart-count");
const toast = document.getElementById("shop-toast");
let items = 0;
let timer = null;

document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("button.add") : null;
  if (!button) return;
  items += 1;
  replace(count, String(items));
  replace(toast, `已加入购物车：${button.dataset.product || ""}`);
  toast.hidden = false;
  clearTimeout(timer);
  timer = setTimeout(() => (toast.hidden = true), 2500);
});
