// The widget's storage on the shop's page: keys "kefu.SHOP.KEY" in localStorage (token, last_id,
// mode, signed_in) or sessionStorage (open, pending). Storage may be disabled or full: an
// in-memory copy keeps the page working.

/** A store for one shop: makeStore("demo", "local").get("token"). */
export function makeStore(shop, kind) {
  const memory = {};
  const full = (key) => "kefu." + shop + "." + key;
  function area() {
    try {
      return kind === "local" ? window.localStorage : window.sessionStorage;
    } catch (e) {
      return null;
    }
  }
  return {
    get(key) {
      try {
        const a = area();
        if (a) return a.getItem(full(key));
      } catch (e) {
        /* storage disabled */
      }
      return key in memory ? memory[key] : null;
    },
    set(key, value) {
      if (value === null || value === undefined) delete memory[key];
      else memory[key] = String(value);
      try {
        const a = area();
        if (!a) return;
        if (value === null || value === undefined) a.removeItem(full(key));
        else a.setItem(full(key), String(value));
      } catch (e) {
        /* quota or disabled: the in-memory copy is enough for this page */
      }
    },
  };
}
