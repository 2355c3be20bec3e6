// JSON API client shared by the console and the admin pages. The token lives in
// sessionStorage (per tab, gone when the tab closes) and travels in the Authorization header,
// never in a cookie another site could ride.

const TOKEN_KEY = "kefu.token";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || [];
  }
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * Call the API: api("GET", "/api/me"), api("POST", "/api/admin/faqs", body).
 * `body` is sent as JSON unless it is a string (sent as text, e.g. a YAML file).
 * Resolves with the parsed JSON (or text for non-JSON answers, null for 204); rejects with
 * ApiError carrying the server's code, message and details.
 */
export async function api(method, path, body, { raw = false } = {}) {
  const headers = {};
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    if (typeof body === "string") {
      headers["Content-Type"] = "text/plain; charset=utf-8";
      payload = body;
    } else {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: "omit" });
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  if (!response.ok) {
    let error = { code: "http_" + response.status, message: response.statusText };
    if (type.includes("application/json")) {
      error = (await response.json()).error || error;
    }
    throw new ApiError(response.status, error.code, error.message, error.details);
  }
  if (raw || !type.includes("application/json")) return response.text();
  return response.json();
}

/** Log in; stores the token. Resolves with {token, shop, user}. */
export async function login(shop, username, password) {
  const result = await api("POST", "/api/login", { shop, username, password });
  setToken(result.token);
  return result;
}

export function logout() {
  setToken(null);
}

/** The websocket URL for a path on this host (ws: or wss: as the page). */
export function socketUrl(path, params) {
  const url = new URL(path, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  for (const [k, v] of Object.entries(params || {})) url.searchParams.set(k, v);
  return url.toString();
}
