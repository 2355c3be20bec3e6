// The console's top bar: brand, the chats / tickets tabs, the queue counter, my capacity, my
// status, the notification and sound toggles, the connection indicator and logout. It paints
// what the workspace tells it and reports clicks through `on`.

import { h, replace } from "/static/common/dom.js";
import { t } from "./i18n.js";
import { notifyEnabled, soundEnabled } from "./alerts.js";
import { groupName } from "./model.js";

export class TopBar {
  /**
   * @param {object} o
   * @param {{name: string, username: string}} o.me
   * @param {string} o.shop
   * @param {object} o.on   {tab(id), status(value), notify(), sound(), reconnect(), logout()}
   */
  constructor({ me, shop, on }) {
    this.tab = "chats";
    const tabButton = (id, label, extra) =>
      h(
        "button",
        {
          type: "button",
          role: "tab",
          class: "tab",
          id: `tab-${id}`,
          "aria-controls": `view-${id}`,
          "data-testid": `${id}-tab`,
          onclick: () => on.tab(id),
        },
        label,
        extra,
      );
    this.ticketBadge = h("span", { class: "badge badge-soft", "data-testid": "tickets-count", hidden: true });
    this.chatsBadge = h("span", { class: "badge", hidden: true });
    this.tabs = { chats: tabButton("chats", t("chatsTab"), this.chatsBadge), tickets: tabButton("tickets", t("ticketsTab"), this.ticketBadge) };

    this.queueEl = h("span", { class: "pill pill-queue", "data-testid": "queue-count", title: t("queueTitle"), "aria-live": "polite" });
    this.capacityEl = h("span", { class: "pill", "data-testid": "capacity", title: t("capacityTitle") });
    this.statusSelect = h(
      "select",
      { id: "status-select", class: "select", "data-testid": "status-select", onchange: () => on.status(this.statusSelect.value) },
      ["online", "away", "offline"].map((s) => h("option", { value: s }, t(`status_${s}`))),
    );
    this.statusWrap = h(
      "div",
      { class: "status-wrap" },
      h("span", { class: "status-dot", "aria-hidden": "true" }),
      h("label", { for: "status-select", class: "sr-only" }, t("statusLabel")),
      this.statusSelect,
    );
    this.notifyBtn = h("button", { type: "button", class: "btn btn-ghost btn-sm", "data-testid": "notify-toggle", onclick: () => on.notify() });
    this.soundBtn = h("button", { type: "button", class: "btn btn-ghost btn-sm", "data-testid": "sound-toggle", onclick: () => on.sound() });
    this.connText = h("span", { class: "conn-text" });
    this.connEl = h(
      "button",
      { type: "button", class: "conn", "data-testid": "connection", onclick: () => on.reconnect() },
      h("span", { class: "conn-dot", "aria-hidden": "true" }),
      this.connText,
    );
    this.el = h(
      "header",
      { class: "topbar" },
      h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }, "客"), h("span", { class: "brand-name" }, t("brand")), h("span", { class: "brand-sub" }, t("brandSub"))),
      h(
        "nav",
        {
          class: "tabs",
          role: "tablist",
          "aria-label": t("title"),
          onkeydown: (e) => {
            if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
            e.preventDefault();
            const next = this.tab === "chats" ? "tickets" : "chats";
            on.tab(next);
            this.tabs[next].focus();
          },
        },
        this.tabs.chats,
        this.tabs.tickets,
      ),
      h("div", { class: "top-spacer" }),
      h(
        "div",
        { class: "top-status" },
        this.queueEl,
        h("span", { class: "pill-label" }, t("capacityLabel")),
        this.capacityEl,
        this.statusWrap,
        this.notifyBtn,
        this.soundBtn,
        this.connEl,
        h("span", { class: "agent-name", "data-testid": "agent-name", title: `${me.username} @ ${shop}` }, me.name),
        h("button", { type: "button", class: "btn btn-ghost btn-sm", "data-testid": "logout", onclick: () => on.logout() }, t("logout")),
      ),
    );
  }

  /**
   * @param {object} s
   * @param {string} s.tab                       chats | tickets
   * @param {{waiting: number, groups: object}} s.queue
   * @param {number} s.active                    my open chats
   * @param {number} s.capacity
   * @param {string} s.status                    as the server last said
   * @param {string|null} s.statusRequested      asked for, not yet confirmed
   * @param {string} s.connection                connecting | open | reconnecting | closed
   * @param {number} s.retryAt                   when the next attempt starts (ms)
   */
  paint({ tab, queue, active, capacity, status, statusRequested, connection, retryAt }) {
    this.tab = tab;
    for (const [id, button] of Object.entries(this.tabs)) {
      button.setAttribute("aria-selected", id === tab ? "true" : "false");
    }
    this.queueEl.textContent = t("queue", queue.waiting || 0);
    const groups = Object.entries(queue.groups || {}).map(([g, n]) => `${groupName(g)}: ${n}`).join(", ");
    this.queueEl.title = groups ? `${t("queueTitle")} (${groups})` : t("queueTitle");
    this.queueEl.classList.toggle("has-waiting", (queue.waiting || 0) > 0);
    this.capacityEl.textContent = `${active}/${capacity}`;
    this.capacityEl.classList.toggle("full", capacity > 0 && active >= capacity);
    this.statusSelect.value = statusRequested || status;
    this.statusWrap.dataset.status = status;
    this.statusSelect.disabled = connection !== "open";
    const notifyOn = notifyEnabled();
    replace(this.notifyBtn, h("span", { class: "toggle-long" }, notifyOn ? t("notifyOn") : t("notifyOff")), h("span", { class: "toggle-short", "aria-hidden": "true" }, t("notifyShort")));
    this.notifyBtn.setAttribute("aria-pressed", notifyOn ? "true" : "false");
    this.notifyBtn.title = notifyOn ? t("notifyOn") : t("notifyOff");
    const soundOn = soundEnabled();
    replace(this.soundBtn, h("span", { class: "toggle-long" }, soundOn ? t("soundOn") : t("soundOff")), h("span", { class: "toggle-short", "aria-hidden": "true" }, t("soundShort")));
    this.soundBtn.setAttribute("aria-pressed", soundOn ? "true" : "false");
    this.soundBtn.title = soundOn ? t("soundOn") : t("soundOff");
    this.connEl.dataset.state = connection;
    let connText = t(`conn_${connection}`);
    if (connection === "reconnecting" && retryAt > Date.now()) {
      connText = t("conn_reconnectIn", Math.ceil((retryAt - Date.now()) / 1000));
    }
    this.connText.textContent = connText;
    this.connEl.title = connText;
  }

  /** Unread messages over all chats, on the chats tab. */
  setUnread(n) {
    this.chatsBadge.textContent = n ? String(n) : "";
    this.chatsBadge.hidden = !n;
  }

  /** Open tickets, on the tickets tab (null: unknown). */
  setTicketCount(n) {
    this.ticketBadge.textContent = n ? String(n) : "";
    this.ticketBadge.hidden = !n;
  }
}
