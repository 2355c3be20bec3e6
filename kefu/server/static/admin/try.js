// "Try a question": ask like a shopper, see the bot's decision and why (POST /api/admin/try).

import { h, replace } from "/static/common/dom.js";
import { t } from "./i18n.js";
import { openFaqForm } from "./faq.js";
import { bar, busy, detailText, errorText, faqSelect, note, toast } from "./ui.js";

const EXAMPLES = ["物流三天没动了", "什么时候发货", "可以便宜点吗", "转人工", "Where is my parcel?"];
const DECISIONS = ["answer", "suggest", "fallback", "transfer", "greeting"];

let lastQuery = "";

export function mount(container, ctx) {
  let faqs = [];
  let faqsLoaded = null;

  const input = h("input", {
    id: "try-input",
    type: "text",
    placeholder: t("try.placeholder"),
    autocomplete: "off",
    maxlength: "600",
    "data-testid": "try-input",
    value: lastQuery,
  });
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "try-submit" }, t("try.submit"));
  const error = h("div", { class: "form-error", role: "alert", "data-testid": "try-error", hidden: true });
  const result = h("div", { class: "try-result", "data-testid": "try-result", "aria-live": "polite", hidden: true });
  const examples = h(
    "div",
    { class: "examples" },
    h("span", { class: "muted" }, t("try.examples")),
    EXAMPLES.map((text) => {
      const b = h("button", { type: "button", class: "chip-button", "data-testid": "try-example" }, text);
      b.addEventListener("click", () => {
        input.value = text;
        run();
      });
      return b;
    }),
  );
  const form = h(
    "form",
    { class: "try-form", "data-testid": "try-form", novalidate: true },
    h("label", { for: "try-input" }, t("try.input")),
    h("div", { class: "input-row" }, input, submit),
    examples,
  );

  function loadFaqs() {
    if (!faqsLoaded) {
      faqsLoaded = ctx
        .api("GET", "/api/admin/faqs")
        .then((data) => {
          faqs = data.items || [];
        })
        .catch(() => {
          faqsLoaded = null; // retried on the next question
        });
    }
    return faqsLoaded;
  }

  async function run() {
    const text = input.value.trim();
    if (!text) {
      input.focus();
      return;
    }
    lastQuery = text;
    error.hidden = true;
    await busy(submit, async () => {
      try {
        const [match] = await Promise.all([ctx.api("POST", "/api/admin/try", { text }), loadFaqs()]);
        render(match);
      } catch (err) {
        if (err.signedOut) return;
        replace(error, t("common.error", errorText(err)));
        error.hidden = false;
      }
    });
  }

  function faqById(id) {
    return faqs.find((f) => f.id === id) || null;
  }

  function render(m) {
    const decision = DECISIONS.includes(m.decision) ? m.decision : "fallback";
    const parts = [];

    // 1. Decision
    parts.push(
      h(
        "div",
        { class: "card decision-card" },
        h("h2", { class: "card-title" }, t("try.decision")),
        h(
          "div",
          { class: "decision-line" },
          h(
            "span",
            { class: ["badge", `badge-${decision}`], "data-testid": "try-decision", "data-decision": m.decision },
            t(`try.d.${decision}`),
          ),
          h("span", { "data-testid": "try-decision-text" }, t(`try.dd.${decision}`)),
        ),
      ),
    );

    // 2. Answered FAQ and the reply
    if (m.faq_id) {
      const faq = faqById(m.faq_id);
      const edit = h("button", { type: "button", class: "small", "data-testid": "try-edit-faq" }, t("try.edit_faq"));
      edit.addEventListener("click", async () => {
        try {
          const fresh = await ctx.api("GET", `/api/admin/faqs/${encodeURIComponent(m.faq_id)}`);
          openFaqForm(ctx, fresh, { onSaved: () => { faqsLoaded = null; run(); } });
        } catch (err) {
          if (!err.signedOut) toast(t("common.error", errorText(err)), "error");
        }
      });
      parts.push(
        h(
          "div",
          { class: "card" },
          h("h2", { class: "card-title" }, t("try.faq")),
          h(
            "div",
            { class: "faq-ref", "data-testid": "try-faq", "data-faq-id": m.faq_id },
            h("code", {}, m.faq_id),
            h("strong", {}, faq ? faq.question : ""),
            edit,
          ),
          m.answer
            ? h(
                "div",
                { class: "reply" },
                h("div", { class: "reply-label" }, t("try.answer"), h("span", { class: "muted" }, " · " + t("try.language", m.language))),
                h("p", { class: "bubble", "data-testid": "try-answer" }, m.answer),
              )
            : null,
        ),
      );
    }

    // 3. Score, margin, closest phrasing
    const scored = decision !== "transfer" && decision !== "greeting";
    if (scored) {
      parts.push(
        h(
          "div",
          { class: "card" },
          h(
            "div",
            { class: "metrics" },
            // The thresholds this decision was taken at: the shop's level (Settings → The bot).
            metric(t("try.score"), m.score, "try-score", [m.suggest_at, m.answer_at], decision === "answer" ? "good" : decision === "suggest" ? "warn" : "bad", [
              t("try.threshold_suggest", fmt(m.suggest_at)),
              t("try.threshold_answer", fmt(m.answer_at), t(`try.level_${m.confidence}`)),
            ]),
            metric(t("try.margin"), m.margin, "try-margin", [], "", []),
          ),
          m.matched_phrasing
            ? h(
                "div",
                { class: "phrasing" },
                h("span", { class: "muted" }, t("try.phrasing") + " "),
                h("q", { "data-testid": "try-phrasing" }, m.matched_phrasing),
              )
            : null,
        ),
      );
    }

    // 4. Suggestions
    if (scored && (m.suggestions || []).length) {
      parts.push(
        h(
          "div",
          { class: "card" },
          h("h2", { class: "card-title" }, t("try.suggestions")),
          h(
            "ol",
            { class: "suggestions", "data-testid": "try-suggestions" },
            m.suggestions.map((s) =>
              h(
                "li",
                { "data-testid": "try-suggestion", "data-faq-id": s.faq_id },
                h("span", { class: "sugg-q" }, s.question),
                h("code", {}, s.faq_id),
                h("span", { class: "num" }, fmt(s.score)),
                bar(s.score, { marks: [m.suggest_at, m.answer_at] }),
              ),
            ),
          ),
        ),
      );
    }

    // 5. Explanation
    if (m.explanation) {
      const ex = m.explanation;
      parts.push(
        h(
          "div",
          { class: "card", "data-testid": "try-explanation" },
          h("h2", { class: "card-title" }, t("try.explanation")),
          h(
            "div",
            { class: "ex-row" },
            h("div", { class: "ex-label" }, t("try.tokens")),
            h(
              "div",
              { class: "chips", "data-testid": "try-tokens" },
              ex.tokens.length ? ex.tokens.map(tokenChip) : h("span", { class: "muted" }, t("try.none")),
            ),
          ),
          featureRow(t("try.matched"), ex.matched, "try-matched", "matched"),
          featureRow(t("try.missing"), ex.missing, "try-missing", "missing"),
          featureRow(t("try.extra"), ex.extra, "try-extra", "extra"),
        ),
      );
    }

    // 6. Fix it: add the question as a phrasing of an FAQ
    if (scored) parts.push(addPhrasing(m));

    replace(result, parts);
    result.hidden = false;
  }

  function addPhrasing(m) {
    const preselect = m.faq_id || (m.suggestions && m.suggestions[0] && m.suggestions[0].faq_id) || "";
    const select = faqSelect(faqs, preselect, "try-add-select");
    select.id = "try-add-select";
    const addError = h("p", { class: "field-error", role: "alert", "data-testid": "try-add-error", hidden: true });
    const add = h("button", { type: "button", "data-testid": "try-add-phrasing" }, t("try.add_phrasing_btn"));
    add.addEventListener("click", () =>
      busy(add, async () => {
        addError.hidden = true;
        if (!select.value) {
          select.focus();
          return;
        }
        try {
          await ctx.api("POST", `/api/admin/faqs/${encodeURIComponent(select.value)}/phrasings`, { text: m.query });
          toast(t("try.phrasing_added", m.query, select.value));
          faqsLoaded = null;
          await run();
        } catch (err) {
          if (err.signedOut) return;
          replace(addError, errorText(err), ...((err.details || []).map((d) => h("span", { class: "block" }, detailText(d)))));
          addError.hidden = false;
        }
      }),
    );
    return h(
      "div",
      { class: "card fix-card" },
      h("p", { class: "muted" }, t("try.legend_fix")),
      h("div", { class: "input-row" }, h("label", { for: "try-add-select" }, t("try.add_phrasing")), select, add),
      addError,
    );
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });

  replace(
    container,
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, t("try.title")), h("p", { class: "lead" }, t("try.intro")))),
    h("div", { class: "try-layout" }, h("div", { class: "try-main" }, h("div", { class: "card" }, form, error), result), legend()),
  );
  loadFaqs();
  input.focus();
  if (lastQuery) run();
}

function fmt(x) {
  return (Number(x) || 0).toFixed(2);
}

function metric(label, value, testid, marks, kind, markLabels) {
  return h(
    "div",
    { class: "metric" },
    h("div", { class: "metric-label" }, label),
    h("div", { class: ["metric-value", `text-${kind}`], "data-testid": testid, "data-value": String(value) }, fmt(value)),
    bar(value, { marks, kind }),
    h("div", { class: "metric-marks muted" }, markLabels.join(" · ")),
  );
}

/** "物流→logistics" → the word and its concept(s) as one chip. */
function tokenChip(token) {
  const [word, concepts] = String(token).split("→");
  return h(
    "span",
    { class: ["chip", concepts ? "chip-concept" : "chip-word"], "data-testid": "try-token" },
    word,
    concepts ? [h("span", { class: "arrow", "aria-hidden": "true" }, " → "), h("span", { class: "concept" }, concepts)] : null,
  );
}

/** A feature "c:logistics" (a concept) or "w:天气" (a plain word) as a chip. */
function featureChip(feature, kind) {
  const s = String(feature);
  const isConcept = s.startsWith("c:");
  const text = s.replace(/^[cw]:/, "");
  return h(
    "span",
    { class: ["chip", `chip-${kind}`, isConcept ? "is-concept" : "is-word"], title: isConcept ? t("try.legend_concept") : t("try.legend_word") },
    text,
  );
}

function featureRow(label, features, testid, kind) {
  return h(
    "div",
    { class: "ex-row" },
    h("div", { class: "ex-label" }, h("span", { class: ["dot", `dot-${kind}`], "aria-hidden": "true" }), label),
    h(
      "div",
      { class: "chips", "data-testid": testid },
      features.length ? features.map((f) => featureChip(f, kind)) : h("span", { class: "muted" }, t("try.none")),
    ),
  );
}

function legend() {
  return h(
    "aside",
    { class: "card legend", "data-testid": "try-legend" },
    h("h2", { class: "card-title" }, t("try.legend_title")),
    h(
      "dl",
      {},
      DECISIONS.map((d) => [h("dt", {}, h("span", { class: ["badge", `badge-${d}`] }, t(`try.d.${d}`))), h("dd", {}, t(`try.dd.${d}`))]),
    ),
    h("p", {}, t("try.legend_score")),
    h("p", {}, t("try.legend_tokens")),
    h(
      "p",
      { class: "chips" },
      h("span", { class: "chip chip-concept" }, "物流", h("span", { class: "arrow" }, " → "), h("span", { class: "concept" }, "logistics")),
      h("span", { class: "muted" }, t("try.legend_concept")),
      h("span", { class: "chip chip-word" }, "天气"),
      h("span", { class: "muted" }, t("try.legend_word")),
    ),
    h(
      "ul",
      { class: "plain" },
      h("li", {}, h("span", { class: "dot dot-matched" }), t("try.matched")),
      h("li", {}, h("span", { class: "dot dot-missing" }), t("try.missing")),
      h("li", {}, h("span", { class: "dot dot-extra" }), t("try.extra")),
    ),
  );
}
