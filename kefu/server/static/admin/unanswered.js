// Unanswered questions: what shoppers asked that the bot could not answer, and one-click fixes
// (add as a phrasing of an FAQ, new FAQ from it, dismiss); above them, the phrasings the bot
// learned from suggestions shoppers clicked (approve / reject).

import { h, replace } from "/static/common/dom.js";
import { t } from "./i18n.js";
import { openFaqForm } from "./faq.js";
import { busy, detailText, errorText, faqSelect, note, toast } from "./ui.js";

const LIMIT = 50;

export function mount(container, ctx) {
  let faqs = [];
  let categories = [];
  let seq = 0;

  const refreshButton = h("button", { type: "button", "data-testid": "unanswered-refresh" }, t("common.refresh"));
  const status = h("div", { "data-testid": "unanswered-status" });
  const list = h("ul", { class: "unanswered-list", "data-testid": "unanswered-list" });
  const learnedNote = h("p", { class: "help", "data-testid": "learned-mode" });
  const learnedList = h("ul", { class: "unanswered-list", "data-testid": "learned-list" });

  async function load() {
    const mine = ++seq;
    if (!list.children.length) replace(status, note(t("common.loading")));
    try {
      const [data, faqData, learned] = await Promise.all([
        ctx.api("GET", `/api/admin/unanswered?limit=${LIMIT}`),
        ctx.api("GET", "/api/admin/faqs"),
        ctx.api("GET", "/api/admin/learned"),
      ]);
      if (mine !== seq) return;
      faqs = faqData.items || [];
      categories = faqData.categories || [];
      renderLearned(learned);
      render(data.items || []);
    } catch (err) {
      if (mine !== seq || err.signedOut) return;
      replace(status, note(t("common.load_failed", errorText(err)), "error"));
    }
  }

  function render(items) {
    if (!items.length) {
      replace(list);
      replace(status, note(t("un.empty"), "empty"));
      return;
    }
    replace(status);
    replace(list, items.map(row));
  }

  function renderLearned(data) {
    const auto = Number(data.auto_approve) || 0;
    replace(learnedNote, auto ? t("learn.auto", auto) : t("learn.manual"));
    const items = data.items || [];
    replace(learnedList, items.length ? items.map(learnedRow) : h("li", { class: "note note-empty" }, t("learn.empty")));
  }

  function learnedRow(item) {
    const error = h("p", { class: "field-error", role: "alert", hidden: true });
    const approve = h("button", { type: "button", class: "primary", "data-testid": "learned-approve" }, t("learn.approve"));
    const reject = h("button", { type: "button", class: "ghost", "data-testid": "learned-reject" }, t("learn.reject"));
    const act = (button, path, done) =>
      busy(button, async () => {
        error.hidden = true;
        try {
          await ctx.api("POST", `/api/admin/learned/${encodeURIComponent(item.id)}/${path}`);
          toast(done);
          await load();
        } catch (err) {
          if (err.signedOut) return;
          replace(error, errorText(err), ...(err.details || []).map((d) => h("span", { class: "block" }, detailText(d))));
          error.hidden = false;
        }
      });
    approve.addEventListener("click", () => act(approve, "approve", t("learn.approved", item.text, item.faq_id)));
    reject.addEventListener("click", () => act(reject, "reject", t("learn.rejected", item.text)));
    return h(
      "li",
      { class: "card unanswered-row", "data-testid": "learned-row", "data-id": item.id, "data-faq-id": item.faq_id },
      h(
        "div",
        { class: "un-head" },
        h("q", { class: "un-text", "data-testid": "learned-text" }, item.text),
        h("span", { class: "count-badge", "data-testid": "learned-count", "data-count": String(item.shoppers) }, t("learn.shoppers", item.shoppers)),
      ),
      h(
        "p",
        { class: "best" },
        h("span", { class: "muted" }, t("learn.means") + " "),
        h("span", {}, item.faq_question || t("learn.deleted_faq")),
        " ",
        h("code", {}, item.faq_id),
      ),
      h("div", { class: "un-actions" }, h("span", { class: "spacer" }), approve, reject),
      error,
    );
  }

  function row(item) {
    const error = h("p", { class: "field-error", role: "alert", "data-testid": "unanswered-error", hidden: true });
    const selectId = `un-select-${Math.random().toString(36).slice(2, 9)}`;
    const select = faqSelect(faqs, item.best ? item.best.faq_id : "", "unanswered-faq-select");
    select.id = selectId;
    const add = h("button", { type: "button", class: "primary", "data-testid": "unanswered-add-phrasing" }, t("un.add_phrasing"));
    const create = h("button", { type: "button", "data-testid": "unanswered-new-faq" }, t("un.new_faq"));
    const dismiss = h("button", { type: "button", class: "ghost", "data-testid": "unanswered-dismiss" }, t("un.dismiss"));

    // Near-identical questions are grouped under one row: clear them all (best effort).
    const dismissOthers = () =>
      Promise.allSettled(
        (item.examples || [])
          .filter((e) => e !== item.text)
          .map((e) => ctx.api("POST", "/api/admin/unanswered/dismiss", { text: e })),
      );

    const fail = (err) => {
      if (err.signedOut) return;
      replace(error, errorText(err), ...(err.details || []).map((d) => h("span", { class: "block" }, detailText(d))));
      error.hidden = false;
    };

    add.addEventListener("click", () =>
      busy(add, async () => {
        error.hidden = true;
        if (!select.value) {
          select.focus();
          return;
        }
        try {
          await ctx.api("POST", `/api/admin/faqs/${encodeURIComponent(select.value)}/phrasings`, { text: item.text });
          await dismissOthers();
          toast(t("un.added", item.text, select.value));
          await load();
        } catch (err) {
          fail(err);
        }
      }),
    );
    create.addEventListener("click", () => {
      error.hidden = true;
      openFaqForm(ctx, null, {
        prefill: { question: (item.examples || [])[0] || item.text },
        categories,
        onSaved: async () => {
          try {
            await ctx.api("POST", "/api/admin/unanswered/dismiss", { text: item.text });
            await dismissOthers();
          } catch (err) {
            fail(err);
          }
          await load();
        },
      });
    });
    dismiss.addEventListener("click", () =>
      busy(dismiss, async () => {
        error.hidden = true;
        try {
          await ctx.api("POST", "/api/admin/unanswered/dismiss", { text: item.text });
          await dismissOthers();
          toast(t("un.dismissed", item.text));
          await load();
        } catch (err) {
          fail(err);
        }
      }),
    );

    const examples = (item.examples || []).filter((e) => e !== item.text);
    const best = item.best
      ? h(
          "p",
          { class: "best", "data-testid": "unanswered-best", "data-faq-id": item.best.faq_id },
          h("span", { class: "muted" }, t("un.best") + " "),
          h("span", {}, item.best.question || ""),
          " ",
          h("code", {}, item.best.faq_id),
          h("span", { class: "muted" }, " · " + t("un.score", (Number(item.best.score) || 0).toFixed(2))),
        )
      : h("p", { class: "best muted", "data-testid": "unanswered-best" }, t("un.no_best"));

    return h(
      "li",
      { class: "card unanswered-row", "data-testid": "unanswered-row", "data-text": item.text },
      h(
        "div",
        { class: "un-head" },
        h("q", { class: "un-text" }, item.text),
        h("span", { class: "count-badge", "data-testid": "unanswered-count", "data-count": String(item.count) }, t("un.count", item.count)),
      ),
      examples.length
        ? h(
            "div",
            { class: "examples-block" },
            h("span", { class: "muted" }, t("un.examples") + " "),
            h(
              "ul",
              { class: "example-list", "data-testid": "unanswered-examples" },
              examples.slice(0, 5).map((e) => h("li", {}, e)),
            ),
          )
        : null,
      best,
      h(
        "div",
        { class: "un-actions" },
        h("label", { for: selectId, class: "muted" }, t("un.target")),
        select,
        add,
        h("span", { class: "spacer" }),
        create,
        dismiss,
      ),
      error,
    );
  }

  refreshButton.addEventListener("click", () => busy(refreshButton, load));

  replace(
    container,
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("h1", {}, t("un.title")), h("p", { class: "lead" }, t("un.intro"))),
      h("div", { class: "head-actions" }, refreshButton),
    ),
    h("section", { class: "learned", "data-testid": "learned" }, h("h2", {}, t("learn.title")), h("p", { class: "lead" }, t("learn.intro")), learnedNote, learnedList),
    h("h2", {}, t("un.list_title")),
    status,
    list,
  );
  load();
}
