// The console's login form: POST /api/login (shop, username, password), a countdown while the
// account is locked out (the answer's Retry-After), and the shop remembered for next time.

import { h, replace } from "/static/common/dom.js";
import { ApiError, setToken } from "/static/common/api.js";
import { t, LANG } from "./i18n.js";
import { unlockAudio } from "./alerts.js";

const SHOP_KEY = "kefu.console.shop";

let lockoutTimer = null; // the countdown of the form on screen (one form at a time)

async function requestLogin(shop, username, password) {
  // Not api(): the lockout answer's Retry-After header says when to try again.
  const response = await fetch("/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ shop, username, password }),
    credentials: "omit",
  });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const e = (body && body.error) || { code: `http_${response.status}`, message: response.statusText };
    const err = new ApiError(response.status, e.code, e.message, e.details);
    err.retryAfter = Number(response.headers.get("Retry-After")) || null;
    throw err;
  }
  setToken(body.token);
  return body;
}

/**
 * Show the login form in `root`, with `message` above the button (why the agent is here).
 * onLoggedIn({token, shop, user}) runs once the token is stored.
 */
export function showLogin(root, message, onLoggedIn) {
  clearInterval(lockoutTimer);
  const params = new URLSearchParams(window.location.search);
  const shopValue = params.get("shop") || localStorage.getItem(SHOP_KEY) || "";
  const field = (id, label, attrs) =>
    h("div", { class: "field" }, h("label", { for: id }, label), h("input", { id, class: "input", required: true, ...attrs }));
  const error = h("p", { class: "form-error", role: "alert", "data-testid": "login-error", "aria-live": "assertive" }, message || "");
  error.hidden = !message;
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block", "data-testid": "login-submit" }, t("signIn"));
  const form = h(
    "form",
    { class: "login-card", "data-testid": "login-form", novalidate: true, "aria-labelledby": "login-title" },
    h("div", { class: "login-brand" }, h("span", { class: "logo", "aria-hidden": "true" }, "客"), h("span", {}, t("brand"))),
    h("h1", { id: "login-title" }, t("loginTitle")),
    h("p", { class: "muted" }, t("loginIntro")),
    field("login-shop", t("shop"), { name: "shop", autocomplete: "organization", value: shopValue, "data-testid": "login-shop", maxlength: 64 }),
    field("login-username", t("username"), { name: "username", autocomplete: "username", "data-testid": "login-username", maxlength: 64 }),
    field("login-password", t("password"), { name: "password", type: "password", autocomplete: "current-password", "data-testid": "login-password", maxlength: 256 }),
    error,
    submit,
  );
  const showError = (text) => {
    error.textContent = text;
    error.hidden = !text;
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    unlockAudio();
    clearInterval(lockoutTimer);
    const shop = form.elements.shop.value.trim();
    const username = form.elements.username.value.trim();
    const password = form.elements.password.value;
    if (!shop || !username || !password) {
      showError(t("fieldsRequired"));
      (!shop ? form.elements.shop : !username ? form.elements.username : form.elements.password).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = t("signingIn");
    showError("");
    try {
      const result = await requestLogin(shop, username, password);
      localStorage.setItem(SHOP_KEY, shop);
      onLoggedIn(result);
    } catch (err) {
      submit.disabled = false;
      submit.textContent = t("signIn");
      form.elements.password.value = "";
      if (err instanceof ApiError && err.code === "rate_limited") {
        const until = Date.now() + (err.retryAfter || 60) * 1000;
        const update = () => {
          const left = Math.ceil((until - Date.now()) / 1000);
          if (left <= 0) {
            clearInterval(lockoutTimer);
            showError(t("lockedOut"));
            return;
          }
          showError(`${t("lockedOut")}${LANG === "en" ? "; " : "，"}${t("retryIn", left)}`);
        };
        update();
        lockoutTimer = setInterval(update, 1000);
      } else if (err instanceof ApiError && err.code === "bad_credentials") {
        showError(t("badCredentials"));
      } else if (err instanceof ApiError) {
        showError(err.message || t("errorGeneric"));
      } else {
        showError(t("serverUnreachable"));
      }
      form.elements.password.focus();
    }
  });
  replace(root, h("main", { class: "login-wrap" }, form));
  root.className = "app app-login";
  (shopValue ? form.elements.username : form.elements.shop).focus();
}
