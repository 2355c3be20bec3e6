// Offline tickets (留言): GET /api/tickets?status=open|handled|all, POST /api/tickets/{id}/handle.
// Refreshed when the tab opens and every 30 s (in the background only the open count, for the
// tab's badge).

import { h, replace, formatTime } from "/static/common/dom.js";
import { api } from "/static/common/api.js";
import { t, LANG, langName } from "./i18n.js";

const REFRESH_MS = 30000;
const FILTERS = ["open", "handled", "all"];

function ms(ts) {
  const n = Number(ts);
  if (!Number.isFinite(n)) return null;
  return n < 1e12 ? n * 1000 : n; // seconds or milliseconds
}

export class Tickets {
  /**
   * @param {object} o
   * @param {(err: Error) => void} o.onAuthError
   * @param {(open: number|null) => void} o.onCount
   * @param {(text: string, kind?: string) => void} o.toast
   */
  constructor({ onAuthError, onCount, toast }) {
    this.onAuthError = onAuthError;
    this.onCount = onCount;
    this.toast = toast;
    this.filter = "open";
    this.items = null;
    this.error = null;
    this.loading = false;
    this.visible = false;
    this.updated = null;
    this.busy = new Set();
    this.timer = null;
    this.seq = 0;

    this.filterButtons = Object.fromEntries(
      FILTERS.map((f) => [
        f,
        h(
          "button",
          {
            type: "button",
            class: "seg-btn",
            "data-testid": `tickets-filter-${f}`,
            "aria-pressed": f === this.filter ? "true" : "false",
            onclick: () => this.setFilter(f),
          },
          t({ open: "filterOpen", handled: "filterHandled", all: "filterAll" }[f]),
        ),
      ]),
    );
    this.updatedEl = h("span", { class: "muted small", "aria-live": "polite" });
    this.list = h("div", { class: "ticket-list", "data-testid": "ticket-list" });
    this.el = h(
      "section",
      { class: "tickets-view", hidden: true, "data-testid": "tickets-view", "aria-labelledby": "tickets-title" },
      h(
        "div",
        { class: "tickets-head" },
        h(
          "div",
          {},
          h("h2", { id: "tickets-title", class: "view-title" }, t("ticketsTitle")),
          h("p", { class: "muted" }, t("ticketsIntro")),
        ),
        h(
          "div",
          { class: "tickets-tools" },
          h("div", { class: "seg", role: "group", "aria-label": t("ticketsTitle") }, Object.values(this.filterButtons)),
          h(
            "button",
            { type: "button", class: "btn btn-ghost btn-sm", "data-testid": "tickets-refresh", onclick: () => this.load() },
            t("refresh"),
          ),
          this.updatedEl,
        ),
      ),
      this.list,
    );
  }

  start() {
    this.stop();
    this.timer = setInterval(() => (this.visible ? this.load() : this.count()), REFRESH_MS);
    this.count();
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  show() {
    this.visible = true;
    this.el.hidden = false;
    this.load();
  }

  hide() {
    this.visible = false;
    this.el.hidden = true;
  }

  setFilter(filter) {
    this.filter = filter;
    for (const [f, btn] of Object.entries(this.filterButtons)) btn.setAttribute("aria-pressed", f === filter ? "true" : "false");
    this.items = null;
    this.render();
    this.load();
  }

  async count() {
    try {
      const answer = await api("GET", "/api/tickets?status=open");
      this.onCount(Array.isArray(answer && answer.items) ? answer.items.length : null);
    } catch (err) {
      if (err && err.status === 401) this.onAuthError(err);
      this.onCount(null);
    }
  }

  async load() {
    const seq = ++this.seq;
    const filter = this.filter;
    this.loading = true;
    this.render();
    try {
      const answer = await api("GET", `/api/tickets?status=${encodeURIComponent(filter)}`);
      if (seq !== this.seq) return;
      this.items = Array.isArray(answer && answer.items) ? answer.items : [];
      this.error = null;
      this.updated = Date.now();
      if (filter === "open") this.onCount(this.items.length);
      else if (filter === "all") this.onCount(this.items.filter((i) => !i.handled).length);
    } catch (err) {
      if (seq !== this.seq) return;
      this.error = err;
      if (err && err.status === 401) this.onAuthError(err);
    } finally {
      if (seq === this.seq) {
        this.loading = false;
        this.render();
      }
    }
  }

  async handle(ticket) {
    if (this.busy.has(ticket.id)) return;
    this.busy.add(ticket.id);
    this.render();
    try {
      const updated = await api("POST", `/api/tickets/${encodeURIComponent(ticket.id)}/handle`, {});
      const fresh = updated && updated.id ? updated : { ...ticket, handled: true };
      if (this.filter === "open") this.items = (this.items || []).filter((i) => i.id !== ticket.id);
      else this.items = (this.items || []).map((i) => (i.id === ticket.id ? fresh : i));
      this.toast(t("handledToast"), "ok");
      this.count();
    } catch (err) {
      if (err && err.status === 401) this.onAuthError(err);
      this.toast(err.message || t("errorGeneric"), "error");
    } finally {
      this.busy.delete(ticket.id);
      this.render();
    }
  }

  render() {
    this.updatedEl.textContent = this.updated ? t("updatedAt", formatTime(this.updated, LANG)) : "";
    if (this.items === null) {
      if (this.error) {
        replace(
          this.list,
          h(
            "div",
            { class: "empty-state error-state", "data-testid": "tickets-error", role: "alert" },
            h("p", {}, t("ticketsUnavailable")),
            h("p", { class: "muted small" }, this.error.message || ""),
            h("button", { type: "button", class: "btn btn-ghost btn-sm", onclick: () => this.load() }, t("reload")),
          ),
        );
      } else {
        replace(this.list, h("div", { class: "empty-state muted" }, t("quickRepliesLoading")));
      }
      return;
    }
    if (!this.items.length) {
      replace(this.list, h("div", { class: "empty-state muted", "data-testid": "tickets-empty" }, t(`ticketsEmpty_${this.filter}`)));
      return;
    }
    replace(this.list, this.items.map((ticket) => this.renderTicket(ticket)));
  }

  renderTicket(ticket) {
    const when = ms(ticket.ts);
    const handledAt = ms(ticket.handled_at);
    const busy = this.busy.has(ticket.id);
    return h(
      "article",
      {
        class: ["ticket", ticket.handled && "handled"],
        "data-testid": "ticket-item",
        "data-ticket-id": ticket.id,
        "data-handled": ticket.handled ? "true" : "false",
      },
      h("p", { class: "ticket-text" }, ticket.text || ""),
      h(
        "dl",
        { class: "ticket-meta" },
        h("div", {}, h("dt", {}, t("contact")), h("dd", { class: "ticket-contact" }, ticket.contact || "—")),
        h("div", {}, h("dt", {}, t("leftAt")), h("dd", {}, when ? formatTime(when, LANG) : "—")),
        h(
          "div",
          {},
          h("dt", {}, t("language")),
          h("dd", {}, h("span", { class: "tag" }, langName(ticket.lang))),
        ),
      ),
      h(
        "div",
        { class: "ticket-foot" },
        ticket.handled
          ? h(
              "span",
              { class: "muted small", "data-testid": "ticket-handled-by" },
              t("handledBy", ticket.handled_by && ticket.handled_by.name, handledAt ? formatTime(handledAt, LANG) : "—"),
              ticket.note ? ` · ${ticket.note}` : "",
            )
          : h(
              "button",
              {
                type: "button",
                class: "btn btn-primary btn-sm",
                "data-testid": "ticket-handle",
                disabled: busy,
                onclick: () => this.handle(ticket),
              },
              busy ? t("handling") : t("markHandled"),
            ),
      ),
    );
  }
}
