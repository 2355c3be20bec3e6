// The widget's frame: the <kefu-widget> host and its open shadow root (the shop's CSS cannot
// reach in), the stylesheets, the launcher, the panel's header, connection line, error line,
// queue line, transfer / end buttons and the composer. The message list (log.js) and the cards
// (cards.js) are made elsewhere and placed here. It paints what main.js tells it; it keeps no
// chat state of its own.

import { h } from "../common/dom.js";
import { MAX_TEXT } from "./i18n.js";
import { icon, initial } from "./ui.js";

const REVEAL_AFTER_MS = 4000; // show the widget even if a stylesheet is slow or blocked
const TOAST_MS = 4500;
const CONFIRM_MS = 4000; // "end the chat?" waits this long for the second click
const INPUT_MAX_PX = 132;

export class WidgetView {
  /**
   * @param {object} o
   * @param {object} o.T           strings
   * @param {string} o.lang
   * @param {string} o.title       the panel title (data-title) or ""
   * @param {string} o.accent      the accent colour (data-color) or ""
   * @param {string[]} o.styles    stylesheet URLs, loaded into the shadow root in order
   * @param {Node} o.log           the message list (MessageLog.el)
   * @param {Node[]} o.cards       forms shown above the composer
   * @param {object} o.on          {toggle, close, transfer, end, submit(text), input()}
   */
  constructor({ T, lang, title, accent, styles, log, cards, on }) {
    this.T = T;
    this.mode = "bot";
    this.endTimer = null;
    this.toastTimer = null;
    this.host = document.createElement("kefu-widget");
    this.shadow = this.host.attachShadow({ mode: "open" });
    this.wrap = h("div", { class: "kefu", hidden: true, lang: lang === "en" ? "en" : "zh-CN", dir: "ltr" });
    if (/^#[0-9a-f]{3}([0-9a-f]{3})?$/i.test(accent)) this.host.style.setProperty("--kefu-accent-custom", accent);

    // Launcher
    this.unreadText = h("span", { class: "sr-only", id: "kefu-unread-text" });
    this.badge = h("span", { class: "kefu-badge", "data-testid": "kefu-unread", "aria-hidden": "true", hidden: true });
    this.launcher = h(
      "button",
      {
        type: "button",
        class: "kefu-launcher",
        "data-testid": "kefu-launcher",
        "aria-label": T.launcher,
        "aria-expanded": "false",
        "aria-controls": "kefu-panel",
        "aria-describedby": "kefu-unread-text",
        onclick: () => on.toggle(),
      },
      icon("chat", "kefu-icon-open"),
      icon("chevron", "kefu-icon-shut"),
      this.badge,
      this.unreadText,
    );

    // Header
    this.avatar = h("div", { class: "kefu-header-avatar", "aria-hidden": "true" }, icon("bot"));
    this.agentName = h("span", { class: "kefu-agent-name", "data-testid": "kefu-agent-name", hidden: true });
    this.status = h("span", { class: "kefu-subtitle-text" }, T.botStatus);
    const header = h(
      "header",
      { class: "kefu-header" },
      this.avatar,
      h(
        "div",
        { class: "kefu-titles" },
        h("h2", { class: "kefu-title", id: "kefu-title", "data-testid": "kefu-title" }, title || T.title),
        h("p", { class: "kefu-subtitle" }, h("span", { class: "kefu-dot", "aria-hidden": "true" }), this.agentName, this.status),
      ),
      h(
        "button",
        { type: "button", class: "kefu-icon-btn kefu-close", "data-testid": "kefu-close", "aria-label": T.close, title: T.close, onclick: () => on.close() },
        icon("close"),
      ),
    );

    // Connection line, error line, queue line
    this.connText = h("span", { class: "kefu-conn-text" });
    this.conn = h(
      "div",
      { class: "kefu-conn", role: "status", "data-testid": "kefu-connection", "data-state": "idle" },
      h("span", { class: "kefu-spinner", "aria-hidden": "true" }),
      this.connText,
    );
    this.toastEl = h("div", { class: "kefu-toast", role: "alert", "data-testid": "kefu-error", hidden: true });
    this.queueText = h("span", { class: "kefu-queue-text" });
    this.queue = h(
      "div",
      { class: "kefu-queue", role: "status", "data-testid": "kefu-queue-status", hidden: true },
      h("span", { class: "kefu-spinner", "aria-hidden": "true" }),
      this.queueText,
    );

    // Transfer / end chat
    this.transferText = h("span", {}, T.transfer);
    this.transferBtn = h(
      "button",
      { type: "button", class: "kefu-pill kefu-transfer", "data-testid": "kefu-transfer", hidden: true, onclick: () => on.transfer() },
      icon("headset"),
      this.transferText,
    );
    this.endBtn = h("button", { type: "button", class: "kefu-pill kefu-pill--quiet", "data-testid": "kefu-end-chat", hidden: true, onclick: () => on.end() }, T.endChat);
    this.actionRow = h("div", { class: "kefu-action-row", hidden: true }, this.transferBtn, this.endBtn);
    const actions = h("div", { class: "kefu-actions" }, this.queue, cards, this.actionRow);

    // Composer
    this.input = h("textarea", {
      id: "kefu-input",
      class: "kefu-input",
      "data-testid": "kefu-input",
      rows: "1",
      maxlength: String(MAX_TEXT),
      placeholder: T.placeholder,
      enterkeyhint: "send",
    });
    this.sendBtn = h("button", { type: "submit", class: "kefu-send", "data-testid": "kefu-send", "aria-label": T.send, title: T.send }, icon("send"));
    this.composer = h(
      "form",
      {
        class: "kefu-composer",
        novalidate: true,
        onsubmit: (event) => {
          event.preventDefault();
          if (on.submit(this.input.value)) {
            this.input.value = "";
            this.autosize();
          }
          this.input.focus();
        },
      },
      h("label", { class: "sr-only", for: "kefu-input" }, T.inputLabel),
      this.input,
      this.sendBtn,
    );
    this.input.addEventListener("keydown", (event) => {
      // Enter sends, Shift+Enter breaks the line; never while an IME is composing.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        if (this.composer.requestSubmit) this.composer.requestSubmit();
        else this.composer.dispatchEvent(new Event("submit", { cancelable: true }));
      }
    });
    this.input.addEventListener("input", () => {
      this.autosize();
      on.input();
    });

    this.panel = h(
      "section",
      { class: "kefu-panel", id: "kefu-panel", role: "dialog", "aria-labelledby": "kefu-title", "data-testid": "kefu-panel", tabindex: "-1", hidden: true },
      header,
      this.conn,
      log,
      this.toastEl,
      actions,
      this.composer,
    );
    this.wrap.append(this.panel, this.launcher);
    this.shadow.append(...this.stylesheets(styles), this.wrap);
    this.wrap.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !this.panel.hidden && !event.isComposing) {
        event.preventDefault();
        event.stopPropagation();
        on.close();
      }
    });
  }

  /** <link>s for the shadow root; the widget shows once all of them loaded (or failed). */
  stylesheets(urls) {
    let waiting = urls.length;
    const reveal = () => {
      clearTimeout(timer);
      this.wrap.hidden = false;
    };
    const settled = () => {
      waiting -= 1;
      if (waiting <= 0) reveal();
    };
    const timer = setTimeout(reveal, REVEAL_AFTER_MS);
    return urls.map((href) => {
      const link = h("link", { rel: "stylesheet", href });
      link.addEventListener("load", settled);
      link.addEventListener("error", settled);
      return link;
    });
  }

  /** The shadow root's focused element, if any. */
  get active() {
    return this.shadow.activeElement;
  }

  // ---------------------------------------------------------------- painting

  /** Header, queue line and buttons for the state's mode. */
  paint(state) {
    const T = this.T;
    const mode = state.mode;
    const active = this.active;
    this.mode = mode;
    this.wrap.setAttribute("data-mode", mode);
    if (mode === "agent" && state.agent) {
      this.agentName.textContent = state.agent.name || T.agent;
      this.agentName.hidden = false;
      this.status.textContent = T.agentStatus;
      this.avatar.replaceChildren(h("span", { class: "kefu-header-initial" }, initial(state.agent.name || T.agent)));
    } else {
      this.agentName.hidden = true;
      this.agentName.textContent = "";
      this.status.textContent = mode === "queued" ? T.queuedStatus : mode === "closed" ? T.closedStatus : T.botStatus;
      this.avatar.replaceChildren(icon(mode === "queued" ? "headset" : "bot"));
    }
    if (mode === "queued" && state.queue) {
      const ahead = Math.max(0, (Number(state.queue.position) || 1) - 1);
      const minutes = Math.max(1, Math.ceil((Number(state.queue.estimated_wait_s) || 0) / 60));
      this.queueText.textContent = T.queue(ahead, minutes);
      this.queue.hidden = false;
    } else {
      this.queue.hidden = true;
    }
    const label = state.transferLabel;
    this.transferBtn.hidden = !(label && (mode === "bot" || mode === "closed"));
    if (label) this.transferText.textContent = label;
    this.endBtn.hidden = !(mode === "queued" || mode === "agent");
    this.resetEnd();
    this.actionRow.hidden = this.transferBtn.hidden && this.endBtn.hidden;
    // A button that just disappeared must not take the keyboard focus with it.
    if (active && state.open && (active === this.transferBtn || active === this.endBtn) && active.hidden) this.input.focus();
  }

  /** connecting | reconnecting | unreachable | idle | open (refused: refuse()) */
  setConn(s) {
    const T = this.T;
    if (this.conn.getAttribute("data-state") === "refused") return; // for good
    this.conn.setAttribute("data-state", s);
    this.connText.textContent = s === "connecting" ? T.connecting : s === "reconnecting" ? T.reconnecting : s === "unreachable" ? T.unreachable : "";
    this.wrap.setAttribute("data-conn", s);
  }

  /** The chat cannot work on this page: say why (for good) and lock the composer. */
  refuse(reason, text) {
    const hadFocus = this.active === this.input;
    this.conn.setAttribute("data-state", "refused");
    this.conn.setAttribute("data-reason", reason);
    this.connText.textContent = text;
    this.wrap.setAttribute("data-conn", "refused");
    this.input.disabled = true;
    this.sendBtn.disabled = true;
    if (hadFocus && !this.panel.hidden) this.panel.focus({ preventScroll: true });
  }

  /** That refusal no longer holds (the page named another customer): connecting again. */
  unrefuse() {
    this.conn.removeAttribute("data-reason");
    this.conn.setAttribute("data-state", "idle");
    this.connText.textContent = "";
    this.wrap.setAttribute("data-conn", "idle");
    this.input.disabled = false;
    this.sendBtn.disabled = false;
  }

  /** Who the server says the shopper is: anonymous | customer | unverified (a test hook). */
  setIdentity(kind) {
    this.panel.setAttribute("data-identity", kind);
  }

  toast(text) {
    this.toastEl.textContent = text;
    this.toastEl.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => (this.toastEl.hidden = true), TOAST_MS);
  }

  paintUnread(n) {
    this.badge.hidden = n === 0;
    this.badge.textContent = n > 99 ? "99+" : String(n);
    this.unreadText.textContent = n ? this.T.unread(n) : "";
  }

  showPanel(open) {
    this.panel.hidden = !open;
    this.wrap.classList.toggle("kefu--open", open);
    this.launcher.setAttribute("aria-expanded", open ? "true" : "false");
  }

  autosize() {
    this.input.style.height = "auto";
    this.input.style.height = Math.min(this.input.scrollHeight, INPUT_MAX_PX) + "px";
  }

  // ---------------------------------------------------------------- end the chat: click twice

  /** First click: ask to confirm (false). Second click within CONFIRM_MS: true. */
  confirmEnd() {
    if (this.endBtn.getAttribute("data-confirm") !== "1") {
      this.endBtn.setAttribute("data-confirm", "1");
      this.endBtn.textContent = this.T.confirmEnd;
      clearTimeout(this.endTimer);
      this.endTimer = setTimeout(() => this.resetEnd(), CONFIRM_MS);
      return false;
    }
    this.resetEnd();
    return true;
  }

  resetEnd() {
    clearTimeout(this.endTimer);
    this.endBtn.removeAttribute("data-confirm");
    this.endBtn.textContent = this.mode === "queued" ? this.T.leaveQueue : this.T.endChat;
  }
}
