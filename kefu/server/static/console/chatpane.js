// The chat pane: the selected conversation's head (shopper, group, waiting time, transfer,
// close, the customer panel's toggle), its thread (bot transcript, then the live chat), the
// typing line, the closed and offline notices, the 催付 nudges, the composer with quick
// replies, and the confirmation dialog for closing.
// With nothing selected it shows an empty state. It paints what the workspace tells it.

import { h, replace } from "/static/common/dom.js";
import { icon } from "/static/common/icons.js";
import { t } from "./i18n.js";
import { QuickReplies } from "./quickreplies.js";
import { ThreadView, chatHeadInfo, closedText } from "./views.js";
import { groupName } from "./model.js";
import { nudgeBanners } from "./nudges.js";

const MAX_TEXT = 2000;
const NEAR_BOTTOM_PX = 80;

export class ChatPane {
  /**
   * @param {object} o
   * @param {object} o.on   {back(), transfer(group), close(), dismiss(), send(), input(text),
   *                         draft(text), retry(line), authFailed(), toggleCustomer(),
   *                         remind(orderId), dismissNudge(orderId)}
   */
  constructor({ on }) {
    this.on = on;
    this.conv = null;
    this.me = null;
    this.controls = { groups: [], connected: false };
    this.threadView = null;

    this.empty = h(
      "div",
      { class: "chat-empty", "data-testid": "chat-empty" },
      h("div", { class: "chat-empty-icon", "aria-hidden": "true" }, icon("chat", "icon")),
      h("p", {}, t("selectChat")),
      h("p", { class: "muted small" }, t("selectChatHint")),
    );

    // head
    this.headInfo = h("div", { class: "chat-head-info" });
    this.transferSelect = h("select", {
      id: "transfer-select",
      class: "select select-sm",
      "data-testid": "transfer-select",
      onchange: () => this.paintControls(this.conv),
    });
    this.transferBtn = h(
      "button",
      { type: "button", class: "btn btn-ghost btn-sm", "data-testid": "transfer-button", onclick: () => on.transfer(this.transferSelect.value) },
      t("transfer"),
    );
    this.transferError = h("span", { class: "inline-error", role: "alert", "data-testid": "transfer-error" });
    this.transferBox = h(
      "div",
      { class: "transfer" },
      h("label", { for: "transfer-select", class: "sr-only" }, t("transferTo")),
      this.transferSelect,
      this.transferBtn,
      this.transferError,
    );
    this.closeBtn = h("button", { type: "button", class: "btn btn-danger btn-sm", "data-testid": "close-conversation", onclick: () => on.close() }, t("closeChat"));
    this.dismissBtn = h("button", { type: "button", class: "btn btn-ghost btn-sm", "data-testid": "chat-dismiss", onclick: () => on.dismiss() }, t("dismiss"));
    this.customerBtn = h(
      "button",
      {
        type: "button",
        class: "btn btn-ghost btn-sm customer-toggle",
        "data-testid": "customer-toggle",
        "aria-controls": "customer-panel",
        "aria-expanded": "false",
        onclick: () => on.toggleCustomer(),
      },
      t("customerToggle"),
    );
    const head = h(
      "header",
      { class: "chat-head" },
      h("button", { type: "button", class: "btn btn-ghost btn-sm back", "data-testid": "chat-back", "aria-label": t("back"), onclick: () => on.back() }, "‹"),
      this.headInfo,
      h("div", { class: "chat-actions" }, this.transferBox, this.closeBtn, this.dismissBtn, this.customerBtn),
    );

    // thread and the lines under it
    this.thread = h("div", { class: "thread", role: "log", "aria-live": "polite", "aria-relevant": "additions", tabindex: "0", "aria-label": t("liveChat") });
    this.typing = h(
      "div",
      { class: "typing", "data-testid": "typing-indicator", hidden: true, "aria-live": "polite" },
      h("span", { class: "dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")),
      t("typing"),
    );
    this.closedBanner = h("div", { class: "closed-banner", "data-testid": "closed-banner", role: "status", hidden: true });
    this.notice = h("div", { class: "chat-notice", "data-testid": "chat-notice", role: "status", hidden: true });
    this.nudges = h("div", { class: "nudges", "data-testid": "payment-nudges", hidden: true });
    this.nudgesKey = "";

    // composer
    this.textarea = h("textarea", {
      id: "composer",
      class: "composer-input",
      rows: "3",
      maxlength: String(MAX_TEXT),
      placeholder: t("composerPlaceholder"),
      "data-testid": "composer-input",
      role: "combobox",
      onkeydown: (e) => this.keydown(e),
      oninput: () => {
        this.quick.onInput();
        on.input(this.textarea.value);
      },
    });
    this.quick = new QuickReplies({
      textarea: this.textarea,
      onInsert: (text, mode) => this.insertReply(text, mode),
      onAuthError: () => on.authFailed(),
    });
    this.composerError = h("p", { class: "inline-error composer-error", role: "alert", "data-testid": "composer-error", hidden: true });
    this.sendBtn = h("button", { type: "submit", class: "btn btn-primary", "data-testid": "send-button" }, t("send"));
    const composer = h(
      "form",
      {
        class: "composer",
        onsubmit: (e) => {
          e.preventDefault();
          on.send();
        },
      },
      this.quick.panel,
      this.quick.menu,
      this.composerError,
      h("label", { for: "composer", class: "sr-only" }, t("composerLabel")),
      this.textarea,
      h("div", { class: "composer-bar" }, this.quick.button, h("span", { class: "hint" }, t("composerHint")), this.sendBtn),
    );
    this.body = h("div", { class: "chat-body" }, head, this.thread, this.typing, this.closedBanner, this.notice, this.nudges, composer);
    this.el = h("section", { class: "chat-pane", "data-testid": "chat-pane", "aria-label": t("liveChat") }, this.empty, this.body);

    // confirmation dialog (closing a chat), placed by the workspace at the page's end
    this.dialogOk = h("button", { type: "button", class: "btn btn-danger", "data-testid": "confirm-ok" }, t("confirm"));
    this.dialogCancel = h("button", { type: "button", class: "btn btn-ghost", "data-testid": "confirm-cancel", onclick: () => this.dialog.close() }, t("cancel"));
    this.dialog = h(
      "dialog",
      { class: "dialog", "data-testid": "confirm-dialog", "aria-labelledby": "confirm-title" },
      h("h2", { id: "confirm-title" }, t("closeConfirmTitle")),
      h("p", { class: "muted" }, t("closeConfirmText")),
      h("div", { class: "dialog-actions" }, this.dialogCancel, this.dialogOk),
    );
  }

  // ---------------------------------------------------------------- composer

  get text() {
    return this.textarea.value;
  }

  set text(value) {
    this.textarea.value = value;
  }

  keydown(event) {
    if (this.quick.onKeydown(event)) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      this.on.send();
    }
  }

  insertReply(text, mode) {
    const ta = this.textarea;
    if (mode === "slash" || !ta.value.trim()) {
      ta.value = text;
      ta.setSelectionRange(text.length, text.length);
    } else {
      const start = ta.selectionStart ?? ta.value.length;
      const end = ta.selectionEnd ?? ta.value.length;
      ta.setRangeText(text, start, end, "end");
    }
    this.on.draft(ta.value);
    ta.focus();
  }

  /** Empty the composer (after sending). */
  clearComposer() {
    this.textarea.value = "";
    this.quick.reset();
    this.showError("");
  }

  focusComposer() {
    this.textarea.focus();
  }

  get hasError() {
    return !!this.composerError.textContent;
  }

  showError(text) {
    this.composerError.textContent = text || "";
    this.composerError.hidden = !text;
  }

  /** Ask before closing the chat; onOk runs on "confirm". */
  confirm(onOk) {
    this.dialogOk.onclick = () => {
      this.dialog.close();
      onOk();
    };
    this.dialog.showModal();
    this.dialogCancel.focus();
  }

  // ---------------------------------------------------------------- painting

  get nearBottom() {
    return this.thread.scrollHeight - this.thread.scrollTop - this.thread.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    this.thread.scrollTop = this.thread.scrollHeight;
  }

  /**
   * Show `conv` (or the empty state for null) for agent `me`; `controls`: {groups, connected}.
   */
  paint(conv, me, controls) {
    this.conv = conv;
    this.me = me;
    this.controls = controls;
    this.empty.hidden = !!conv;
    this.body.hidden = !conv;
    if (!conv) {
      this.threadView = null;
      return;
    }
    replace(this.headInfo, chatHeadInfo(conv));
    const atBottom = this.nearBottom;
    const switched = !this.threadView || this.threadView.conv !== conv;
    if (switched) {
      this.threadView = new ThreadView(conv, me, (line) => this.on.retry(line));
      replace(this.thread, this.threadView.nodes);
    }
    this.threadView.update();
    this.paintTyping(conv);
    this.paintControls(conv);
    this.paintNudges(conv);
    // Follow the conversation unless the agent scrolled up to read older lines.
    if (switched || atBottom) this.scrollToBottom();
  }

  /** The 催付 banners of `conv` (redrawn only when they change, so focus stays on a button). */
  paintNudges(conv) {
    const due = (conv && conv.paymentDue) || [];
    const key = conv ? `${conv.id}|${conv.closed || ""}|${due.map((n) => n.order_id).join(",")}` : "";
    if (key === this.nudgesKey) return;
    this.nudgesKey = key;
    const atBottom = this.nearBottom;
    replace(this.nudges, conv ? nudgeBanners(conv, { remind: (id) => this.on.remind(id), dismiss: (id) => this.on.dismissNudge(id) }) : null);
    this.nudges.hidden = !due.length;
    if (atBottom) this.scrollToBottom();
  }

  /** The customer panel's toggle: `expanded` says whether the panel is in view. */
  paintCustomerToggle(expanded) {
    this.customerBtn.setAttribute("aria-expanded", expanded ? "true" : "false");
    this.customerBtn.title = expanded ? t("customerHide") : t("customerShow");
    this.customerBtn.classList.toggle("is-on", expanded);
  }

  paintTyping(conv) {
    const hidden = !(conv && !conv.closed && conv.typingUntil > Date.now());
    if (this.typing.hidden === hidden) return;
    const atBottom = this.nearBottom;
    this.typing.hidden = hidden;
    if (atBottom) this.scrollToBottom();
  }

  /** The head's buttons and the composer for `conv`; `controls` as last given unless new. */
  paintControls(conv, controls = this.controls) {
    if (!conv) return;
    this.controls = controls;
    const closed = !!conv.closed;
    const connected = controls.connected;
    // transfer: every group but the current one
    const options = controls.groups.filter((g) => g !== conv.group);
    const current = this.transferSelect.value;
    replace(
      this.transferSelect,
      options.length
        ? [h("option", { value: "" }, t("transferTo")), options.map((g) => h("option", { value: g }, groupName(g)))]
        : h("option", { value: "" }, t("noOtherGroup")),
    );
    this.transferSelect.value = options.includes(current) ? current : "";
    this.transferSelect.disabled = closed || !options.length || !!conv.transferring;
    this.transferBtn.disabled = closed || !connected || !this.transferSelect.value || !!conv.transferring;
    this.transferBtn.textContent = conv.transferring ? "…" : t("transfer");
    this.transferError.textContent = conv.transferError || "";
    this.transferError.hidden = !conv.transferError;
    this.closeBtn.hidden = closed;
    this.closeBtn.disabled = !connected;
    this.dismissBtn.hidden = !closed;
    this.transferBox.hidden = closed;
    // closed: read only
    this.closedBanner.hidden = !closed;
    this.closedBanner.textContent = closed ? `${closedText(conv.closed)} · ${t("closedReadOnly")}` : "";
    this.textarea.disabled = closed;
    this.textarea.placeholder = closed ? t("composerClosed") : t("composerPlaceholder");
    this.sendBtn.disabled = closed;
    this.quick.button.disabled = closed;
    this.body.classList.toggle("is-closed", closed);
    this.notice.hidden = connected || closed;
    this.notice.textContent = connected || closed ? "" : t("offlineNotice");
  }
}
