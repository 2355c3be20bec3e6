// The two forms above the composer: leave a message (no agent online) and rate the chat (after
// it closed). Each checks its own fields and hands a valid entry to onSubmit; what is sent, and
// when the card goes away, the widget decides.

import { h } from "../common/dom.js";
import { MAX_TEXT } from "./i18n.js";
import { icon, isBusy, setBusy } from "./ui.js";

class Card {
  get shown() {
    return !this.el.hidden;
  }

  get busy() {
    return isBusy(this.submit);
  }

  setBusy(busy) {
    setBusy(this.submit, busy);
  }

  /** The card's form, hidden at first: a submit while busy is ignored, a valid entry (from
   * the card's `check()`) goes to onSubmit. */
  form(attrs, onSubmit, ...children) {
    const submit = (event) => {
      event.preventDefault();
      if (this.busy) return;
      const entry = this.check();
      if (entry) onSubmit(entry);
    };
    return h("form", { ...attrs, novalidate: true, hidden: true, onsubmit: submit }, ...children);
  }

  /** Does the keyboard focus sit inside the card (`active`: the shadow root's activeElement)? */
  holds(active) {
    return this.el.contains(active);
  }
}

export class OfflineCard extends Card {
  /**
   * @param {object} o
   * @param {object} o.T
   * @param {(entry: {text: string, contact: string}) => void} o.onSubmit
   * @param {() => void} o.onDismiss
   */
  constructor({ T, onSubmit, onDismiss }) {
    super();
    this.T = T;
    this.text = h("textarea", {
      id: "kefu-leave-text",
      class: "kefu-field",
      "data-testid": "kefu-offline-text",
      rows: "3",
      maxlength: String(MAX_TEXT),
      placeholder: T.leavePlaceholder,
      required: true,
    });
    this.contact = h("input", {
      id: "kefu-leave-contact",
      class: "kefu-field",
      "data-testid": "kefu-offline-contact",
      type: "text",
      maxlength: "200",
      autocomplete: "email",
      placeholder: T.contactPlaceholder,
      required: true,
    });
    this.error = h("p", { class: "kefu-field-error", id: "kefu-leave-error", "data-testid": "kefu-offline-error", role: "alert", hidden: true });
    this.submit = h("button", { type: "submit", class: "kefu-btn kefu-btn--primary", "data-testid": "kefu-offline-submit" }, T.submitLeave);
    this.el = this.form(
      { class: "kefu-card kefu-offline", "data-testid": "kefu-offline-form", "aria-labelledby": "kefu-leave-title" },
      onSubmit,
      h("p", { class: "kefu-card-title", id: "kefu-leave-title" }, icon("mail"), T.offlineTitle),
      h("label", { class: "kefu-label", for: "kefu-leave-text" }, T.leaveText),
      this.text,
      h("label", { class: "kefu-label", for: "kefu-leave-contact" }, T.contact),
      this.contact,
      this.error,
      h(
        "div",
        { class: "kefu-form-actions" },
        h("button", { type: "button", class: "kefu-btn kefu-btn--quiet", "data-testid": "kefu-offline-dismiss", onclick: () => onDismiss() }, T.notNow),
        this.submit,
      ),
    );
  }

  /** Nothing typed into it yet. */
  get blank() {
    return !this.text.value.trim() && !this.contact.value.trim();
  }

  show() {
    this.error.hidden = true;
    this.setBusy(false);
    this.el.hidden = false;
  }

  focus() {
    this.text.focus({ preventScroll: true });
  }

  hide() {
    this.el.hidden = true;
    this.error.hidden = true;
  }

  /** The entry, or null after pointing at the first empty field. */
  check() {
    const text = this.text.value.trim();
    const contact = this.contact.value.trim();
    this.text.removeAttribute("aria-invalid");
    this.contact.removeAttribute("aria-invalid");
    let problem = null;
    if (!text) {
      problem = this.T.needText;
      this.text.setAttribute("aria-invalid", "true");
      this.text.focus();
    } else if (!contact) {
      problem = this.T.needContact;
      this.contact.setAttribute("aria-invalid", "true");
      this.contact.focus();
    }
    if (problem) {
      this.error.textContent = problem;
      this.error.hidden = false;
      return null;
    }
    this.error.hidden = true;
    return { text, contact };
  }
}

export class RatingCard extends Card {
  /**
   * @param {object} o
   * @param {object} o.T
   * @param {(entry: {score: number, comment: string}) => void} o.onSubmit
   * @param {() => void} o.onDismiss
   */
  constructor({ T, onSubmit, onDismiss }) {
    super();
    this.T = T;
    this.labels = [];
    this.inputs = [];
    for (let n = 1; n <= 5; n++) {
      const input = h("input", { type: "radio", name: "kefu-score", value: String(n), class: "kefu-star-input", "aria-label": T.stars[n - 1] });
      const label = h("label", { class: "kefu-star", "data-testid": "kefu-rating-star", "data-score": String(n), title: T.stars[n - 1] }, input, icon("star"));
      input.addEventListener("change", () => this.paint());
      label.addEventListener("mouseenter", () => this.paint(n));
      this.inputs.push(input);
      this.labels.push(label);
    }
    const row = h("div", { class: "kefu-star-row" }, this.labels);
    row.addEventListener("mouseleave", () => this.paint());
    this.hint = h("span", { class: "kefu-star-hint", "aria-hidden": "true" });
    this.comment = h("textarea", {
      id: "kefu-rate-comment",
      class: "kefu-field",
      "data-testid": "kefu-rating-comment",
      rows: "2",
      maxlength: "1000",
    });
    this.error = h("p", { class: "kefu-field-error", "data-testid": "kefu-rating-error", role: "alert", hidden: true });
    this.submit = h("button", { type: "submit", class: "kefu-btn kefu-btn--primary", "data-testid": "kefu-rating-submit" }, T.submitRate);
    this.el = this.form(
      { class: "kefu-card kefu-rating", "data-testid": "kefu-rating" },
      onSubmit,
      h("fieldset", { class: "kefu-stars" }, h("legend", { class: "kefu-card-title" }, T.rateTitle), h("div", { class: "kefu-star-line" }, row, this.hint)),
      h("label", { class: "kefu-label", for: "kefu-rate-comment" }, T.comment),
      this.comment,
      this.error,
      h(
        "div",
        { class: "kefu-form-actions" },
        h("button", { type: "button", class: "kefu-btn kefu-btn--quiet", "data-testid": "kefu-rating-dismiss", onclick: () => onDismiss() }, T.skip),
        this.submit,
      ),
    );
  }

  /** Light the stars up to `hover` (or the chosen score) and name it. */
  paint(hover) {
    const checked = this.inputs.find((i) => i.checked);
    const score = hover || (checked ? Number(checked.value) : 0);
    this.labels.forEach((label, i) => label.classList.toggle("is-on", i < score));
    this.hint.textContent = score ? this.T.stars[score - 1].replace(/^.*[:：]\s*/, "") : "";
    if (checked) this.error.hidden = true;
  }

  /** Show it empty. */
  show() {
    this.inputs.forEach((i) => (i.checked = false));
    this.comment.value = "";
    this.error.hidden = true;
    this.setBusy(false);
    this.paint();
    this.el.hidden = false;
  }

  hide() {
    this.el.hidden = true;
  }

  /** The entry, or null after asking for a score. */
  check() {
    const checked = this.inputs.find((i) => i.checked);
    if (!checked) {
      this.error.textContent = this.T.needScore;
      this.error.hidden = false;
      this.inputs[0].focus();
      return null;
    }
    return { score: Number(checked.value), comment: this.comment.value.trim() };
  }
}
