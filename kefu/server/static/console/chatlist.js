// The sidebar: my conversations in arrival order. List items are kept across renders (only
// their content is redrawn), so the keyboard focus and the screen reader's place survive.

import { h, replace } from "/static/common/dom.js";
import { t } from "./i18n.js";
import { shopperLabel } from "./model.js";
import { conversationItemContent } from "./views.js";

export class ConversationList {
  /**
   * @param {object} o
   * @param {(id: string) => void} o.onSelect
   * @param {(id: string) => void} o.onDismiss   remove a closed chat from the list
   */
  constructor({ onSelect, onDismiss }) {
    this.onSelect = onSelect;
    this.onDismiss = onDismiss;
    this.items = new Map(); // conversation id → {li, button, dismiss}
    this.count = h("span", { class: "muted small" });
    this.list = h("ul", { class: "conv-list", "data-testid": "conversation-list", "aria-label": t("myChats") });
    this.empty = h("div", { class: "list-empty" }, h("p", {}, t("noChats")), h("p", { class: "muted small" }, t("noChatsHint")));
    this.el = h(
      "aside",
      { class: "sidebar", "aria-labelledby": "my-chats-title" },
      h("div", { class: "sidebar-head" }, h("h2", { id: "my-chats-title", class: "view-title" }, t("myChats")), this.count),
      this.list,
      this.empty,
    );
  }

  /** Draw `convs` (an array, in order), `selectedId` marked. */
  paint(convs, selectedId, me) {
    const open = convs.filter((c) => !c.closed).length;
    this.count.textContent = convs.length ? `${open}/${convs.length}` : "";
    this.empty.hidden = convs.length > 0;
    const seen = new Set();
    let previous = null;
    for (const conv of convs) {
      seen.add(conv.id);
      let entry = this.items.get(conv.id);
      if (!entry) {
        const button = h("button", { type: "button", class: "conv-item", "data-testid": "conversation-item", "data-conversation-id": conv.id, onclick: () => this.onSelect(conv.id) });
        const dismiss = h("button", { type: "button", class: "conv-dismiss btn btn-ghost btn-sm", "data-testid": "dismiss-conversation", onclick: () => this.onDismiss(conv.id) }, t("dismiss"));
        entry = { li: h("li", { class: "conv" }, button, dismiss), button, dismiss };
        this.items.set(conv.id, entry);
      }
      const { li, button, dismiss } = entry;
      const selected = conv.id === selectedId;
      button.dataset.state = conv.closed ? "closed" : "open";
      li.classList.toggle("selected", selected);
      li.classList.toggle("closed", !!conv.closed);
      if (selected) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
      replace(button, conversationItemContent(conv, me));
      dismiss.hidden = !conv.closed;
      dismiss.setAttribute("aria-label", t("dismissLabel", shopperLabel(conv, t)));
      const expected = previous ? previous.nextSibling : this.list.firstChild;
      if (expected !== li) this.list.insertBefore(li, expected);
      previous = li;
    }
    for (const [id, entry] of this.items) {
      if (!seen.has(id)) {
        entry.li.remove();
        this.items.delete(id);
      }
    }
  }

  /** Focus the first chat in the list (after the focused one went away). */
  focusFirst() {
    const first = this.list.querySelector("button.conv-item");
    if (first) first.focus();
  }
}
