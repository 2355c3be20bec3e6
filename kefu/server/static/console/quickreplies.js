// Quick replies (常用语): GET /api/quick-replies → {items: [{shortcut, text}]}. A panel opened
// from the composer's button inserts a reply with one click; typing "/" at the start of the
// composer opens a filterable menu (arrow keys + Enter insert, Escape closes).

import { h, replace } from "/static/common/dom.js";
import { api } from "/static/common/api.js";
import { t } from "./i18n.js";

const RETRY_AFTER_MS = 10000;

function bare(shortcut) {
  return String(shortcut || "").replace(/^\/+/, "");
}

function matches(item, query) {
  if (!query) return true;
  const q = query.toLowerCase();
  return bare(item.shortcut).toLowerCase().includes(q) || String(item.text || "").toLowerCase().includes(q);
}

export class QuickReplies {
  /**
   * @param {object} o
   * @param {HTMLTextAreaElement} o.textarea
   * @param {(text: string, mode: "caret"|"slash") => void} o.onInsert
   * @param {(err: Error) => void} o.onAuthError  a 401: back to the login form
   */
  constructor({ textarea, onInsert, onAuthError }) {
    this.textarea = textarea;
    this.onInsert = onInsert;
    this.onAuthError = onAuthError;
    this.items = null;
    this.loading = false;
    this.error = null;
    this.failedAt = 0;
    this.panelOpen = false;
    this.menuOpen = false;
    this.menuDismissed = false;
    this.menuIndex = 0;
    this.menuItems = [];

    this.button = h(
      "button",
      {
        type: "button",
        class: "btn btn-ghost btn-sm",
        "data-testid": "quick-replies-button",
        "aria-expanded": "false",
        "aria-controls": "qr-panel",
        onclick: () => this.togglePanel(),
      },
      t("quickReplies"),
    );
    this.filter = h("input", {
      type: "search",
      class: "input input-sm",
      placeholder: t("quickRepliesFilter"),
      "aria-label": t("quickRepliesFilter"),
      "data-testid": "quick-reply-filter",
      oninput: () => this.renderPanel(),
    });
    this.panelList = h("ul", { class: "qr-list", role: "list" });
    this.panel = h(
      "section",
      {
        id: "qr-panel",
        class: "qr-panel",
        hidden: true,
        "data-testid": "quick-reply-panel",
        "aria-label": t("quickReplies"),
        onkeydown: (e) => {
          if (e.key === "Escape") {
            e.preventDefault();
            this.closePanel(true);
          }
        },
      },
      h(
        "div",
        { class: "qr-head" },
        h("h3", { class: "qr-title" }, t("quickReplies")),
        this.filter,
        h(
          "button",
          { type: "button", class: "btn btn-ghost btn-sm", "aria-label": t("close"), onclick: () => this.closePanel(true) },
          "×",
        ),
      ),
      this.panelList,
    );
    this.menu = h("ul", {
      id: "qr-menu",
      class: "qr-menu",
      role: "listbox",
      hidden: true,
      "aria-label": t("quickReplies"),
      "data-testid": "quick-reply-menu",
    });
    this.textarea.setAttribute("aria-controls", "qr-menu");
    this.textarea.setAttribute("aria-autocomplete", "list");
    this.textarea.setAttribute("aria-expanded", "false");
  }

  async load(force = false) {
    if (this.loading) return;
    if (!force && this.items) return;
    if (!force && this.error && Date.now() - this.failedAt < RETRY_AFTER_MS) return;
    this.loading = true;
    this.refresh();
    try {
      const answer = await api("GET", "/api/quick-replies");
      this.items = Array.isArray(answer && answer.items) ? answer.items.filter((i) => i && i.text) : [];
      this.error = null;
    } catch (err) {
      this.error = err;
      this.failedAt = Date.now();
      if (err && err.status === 401) this.onAuthError(err);
    } finally {
      this.loading = false;
      this.refresh();
    }
  }

  refresh() {
    if (this.panelOpen) this.renderPanel();
    if (this.menuOpen) this.renderMenu();
  }

  // ---- panel ----

  togglePanel() {
    if (this.panelOpen) this.closePanel(true);
    else this.openPanel();
  }

  openPanel() {
    this.closeMenu();
    this.panelOpen = true;
    this.panel.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    this.load();
    this.renderPanel();
    this.filter.focus();
  }

  closePanel(focusComposer) {
    if (!this.panelOpen) return;
    this.panelOpen = false;
    this.panel.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    if (focusComposer) this.textarea.focus();
  }

  renderPanel() {
    const status = this.statusLine();
    if (status) {
      replace(this.panelList, status);
      return;
    }
    const shown = this.items.filter((item) => matches(item, this.filter.value.trim()));
    if (!shown.length) {
      replace(this.panelList, h("li", { class: "qr-empty" }, t("quickRepliesNoMatch")));
      return;
    }
    replace(
      this.panelList,
      shown.map((item) =>
        h(
          "li",
          {},
          h(
            "button",
            {
              type: "button",
              class: "qr-item",
              "data-testid": "quick-reply-item",
              "data-shortcut": bare(item.shortcut),
              onclick: () => {
                this.onInsert(item.text, "caret");
                this.closePanel(false);
              },
            },
            item.shortcut ? h("span", { class: "qr-shortcut" }, "/" + bare(item.shortcut)) : null,
            h("span", { class: "qr-text" }, item.text),
          ),
        ),
      ),
    );
  }

  /** A loading / error / empty line, or null when there are items to show. */
  statusLine() {
    if (this.items === null && (this.loading || !this.error)) {
      return h("li", { class: "qr-empty" }, t("quickRepliesLoading"));
    }
    if (this.items === null) {
      return h(
        "li",
        { class: "qr-empty qr-error", "data-testid": "quick-reply-error" },
        t("quickRepliesUnavailable"),
        " ",
        h(
          "button",
          { type: "button", class: "btn btn-link", onclick: () => this.load(true) },
          t("reload"),
        ),
      );
    }
    if (!this.items.length) return h("li", { class: "qr-empty" }, t("quickRepliesEmpty"));
    return null;
  }

  // ---- slash menu ----

  /** The filter text when the composer starts with "/" (first line only), else null. */
  slashQuery() {
    const value = this.textarea.value;
    if (!value.startsWith("/")) return null;
    const firstLine = value.split("\n", 1)[0];
    if (value.length > firstLine.length) return null;
    return firstLine.slice(1).trim();
  }

  /** Call on every input event of the composer. */
  onInput() {
    const query = this.slashQuery();
    if (query === null) {
      this.menuDismissed = false;
      this.closeMenu();
      return;
    }
    if (this.menuDismissed) return;
    this.closePanel(false);
    if (!this.menuOpen) {
      this.menuOpen = true;
      this.menu.hidden = false;
      this.textarea.setAttribute("aria-expanded", "true");
      this.load();
    }
    this.menuIndex = 0;
    this.renderMenu();
  }

  closeMenu() {
    if (!this.menuOpen) return;
    this.menuOpen = false;
    this.menu.hidden = true;
    this.menuItems = [];
    this.textarea.setAttribute("aria-expanded", "false");
    this.textarea.removeAttribute("aria-activedescendant");
  }

  renderMenu() {
    const status = this.statusLine();
    if (status) {
      this.menuItems = [];
      replace(this.menu, status);
      this.textarea.removeAttribute("aria-activedescendant");
      return;
    }
    const query = this.slashQuery() || "";
    this.menuItems = this.items.filter((item) => matches(item, query)).slice(0, 50);
    if (!this.menuItems.length) {
      replace(this.menu, h("li", { class: "qr-empty", role: "presentation" }, t("quickRepliesNoMatch")));
      this.textarea.removeAttribute("aria-activedescendant");
      return;
    }
    this.menuIndex = Math.max(0, Math.min(this.menuIndex, this.menuItems.length - 1));
    replace(
      this.menu,
      this.menuItems.map((item, index) =>
        h(
          "li",
          {
            id: `qr-option-${index}`,
            role: "option",
            class: ["qr-option", index === this.menuIndex && "active"],
            "aria-selected": index === this.menuIndex ? "true" : "false",
            "data-testid": "quick-reply-menu-item",
            "data-shortcut": bare(item.shortcut),
            onmousedown: (e) => e.preventDefault(), // keep the composer focused
            onclick: () => this.pick(index),
          },
          item.shortcut ? h("span", { class: "qr-shortcut" }, "/" + bare(item.shortcut)) : null,
          h("span", { class: "qr-text" }, item.text),
        ),
      ),
    );
    this.textarea.setAttribute("aria-activedescendant", `qr-option-${this.menuIndex}`);
    const active = this.menu.querySelector(".qr-option.active");
    if (active && active.scrollIntoView) active.scrollIntoView({ block: "nearest" });
  }

  pick(index) {
    const item = this.menuItems[index];
    if (!item) return;
    this.closeMenu();
    this.onInsert(item.text, "slash");
  }

  /** Call from the composer's keydown; true when the menu used the key. */
  onKeydown(event) {
    if (!this.menuOpen) return false;
    if (event.key === "Escape") {
      event.preventDefault();
      this.menuDismissed = true;
      this.closeMenu();
      return true;
    }
    if (!this.menuItems.length) return false;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const n = this.menuItems.length;
      this.menuIndex = (this.menuIndex + (event.key === "ArrowDown" ? 1 : n - 1)) % n;
      this.renderMenu();
      return true;
    }
    if ((event.key === "Enter" && !event.shiftKey && !event.isComposing) || event.key === "Tab") {
      event.preventDefault();
      this.pick(this.menuIndex);
      return true;
    }
    return false;
  }

  /** Switching conversations: close everything. */
  reset() {
    this.menuDismissed = false;
    this.closeMenu();
    this.closePanel(false);
  }
}
