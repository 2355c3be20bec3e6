// FAQ tab: the corpus as a searchable list, the create/edit form (also opened from "Try a
// question" and "Unanswered"), delete, and YAML/CSV export and import.

import { h, replace } from "/static/common/dom.js";
import { ApiError } from "/static/common/api.js";
import { t } from "./i18n.js";
import {
  busy,
  confirmDialog,
  debounce,
  detailText,
  downloadBlob,
  errorText,
  field,
  formErrorBox,
  FormErrors,
  modal,
  note,
  splitLines,
  splitList,
  toast,
} from "./ui.js";

// Kept across tab switches so coming back shows the same search.
const state = { q: "", category: "", categories: new Set() };

export function mount(container, ctx) {
  let seq = 0;
  let items = [];
  let total = 0;

  const search = h("input", {
    type: "search",
    id: "faq-search",
    placeholder: t("faq.search_placeholder"),
    "data-testid": "faq-search",
    value: state.q,
    autocomplete: "off",
  });
  const categorySelect = h("select", { id: "faq-category", "data-testid": "faq-category-filter" });
  const count = h("span", { class: "count", "data-testid": "faq-count", "aria-live": "polite" });
  const newButton = h("button", { type: "button", class: "primary", "data-testid": "faq-new" }, t("faq.new"));
  const exportYaml = h("button", { type: "button", "data-testid": "faq-export-yaml" }, t("faq.export_yaml"));
  const exportCsv = h("button", { type: "button", "data-testid": "faq-export-csv" }, t("faq.export_csv"));
  const fileInput = h("input", {
    type: "file",
    class: "hidden",
    accept: ".yaml,.yml,.json,.csv,text/csv,application/yaml,text/yaml",
    "data-testid": "faq-import-file",
    "aria-label": t("faq.import"),
    tabindex: "-1",
  });
  const importButton = h(
    "button",
    { type: "button", "data-testid": "faq-import", title: t("faq.import_hint") },
    t("faq.import"),
  );
  const importErrors = h("div", { class: "problems", role: "alert", "data-testid": "faq-import-errors", hidden: true });
  const status = h("div", { "data-testid": "faq-list-status" });
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "data-table faq-table", "data-testid": "faq-table" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col", class: "col-id" }, t("faq.col_id")),
        h("th", { scope: "col", class: "col-cat" }, t("faq.col_category")),
        h("th", { scope: "col" }, t("faq.col_question")),
        h("th", { scope: "col", class: "col-num" }, t("faq.col_phrasings")),
        h("th", { scope: "col" }, t("faq.col_answer")),
        h("th", { scope: "col", class: "col-actions" }, h("span", { class: "sr-only" }, t("faq.col_actions"))),
      ),
    ),
    tbody,
  );

  function renderCategories() {
    const options = [h("option", { value: "" }, t("faq.all_categories"))];
    for (const cat of [...state.categories].sort((a, b) => a.localeCompare(b, "zh"))) {
      options.push(h("option", { value: cat }, cat));
    }
    replace(categorySelect, options);
    categorySelect.value = state.category;
    if (categorySelect.value !== state.category) state.category = "";
  }

  function renderRows() {
    replace(count, t("faq.count", items.length));
    if (!items.length) {
      table.hidden = true;
      replace(status, note(state.q || state.category ? t("faq.empty") : t("faq.empty_all"), "empty"));
      return;
    }
    table.hidden = false;
    replace(status);
    replace(
      tbody,
      items.map((item) => {
        const edit = h(
          "button",
          { type: "button", class: "small", "data-testid": "faq-edit", "aria-label": `${t("common.edit")} ${item.id}` },
          t("common.edit"),
        );
        const del = h(
          "button",
          { type: "button", class: "small danger-ghost", "data-testid": "faq-delete", "aria-label": `${t("common.delete")} ${item.id}` },
          t("common.delete"),
        );
        edit.addEventListener("click", () => openFaqForm(ctx, item, { categories: [...state.categories], onSaved: load }));
        del.addEventListener("click", () => remove(item));
        const phrasings = 1 + (item.similar || []).length;
        return h(
          "tr",
          { "data-testid": "faq-row", "data-faq-id": item.id },
          h("td", { class: "col-id", "data-label": t("faq.col_id") }, h("code", {}, item.id)),
          h("td", { class: "col-cat", "data-label": t("faq.col_category") }, item.category ? h("span", { class: "tag" }, item.category) : ""),
          h("td", { class: "col-question", "data-label": t("faq.col_question") }, item.question),
          h(
            "td",
            { class: "col-num", "data-label": t("faq.col_phrasings"), title: t("faq.phrasings_n", phrasings) },
            String(phrasings),
          ),
          h("td", { class: "col-answer", "data-label": t("faq.col_answer") }, h("span", { class: "clamp" }, preview(item.answer))),
          h("td", { class: "col-actions" }, h("div", { class: "row-actions" }, edit, del)),
        );
      }),
    );
  }

  async function load() {
    const mine = ++seq;
    const params = new URLSearchParams();
    if (state.q) params.set("q", state.q);
    if (state.category) params.set("category", state.category);
    if (!items.length) replace(status, note(t("common.loading")));
    try {
      const data = await ctx.api("GET", `/api/admin/faqs${params.toString() ? "?" + params : ""}`);
      if (mine !== seq) return; // a newer search answered already
      items = data.items || [];
      if (!state.q && !state.category) total = items.length;
      for (const cat of data.categories || []) state.categories.add(cat);
      for (const item of items) if (item.category) state.categories.add(item.category);
      renderCategories();
      renderRows();
    } catch (err) {
      if (mine !== seq || err.signedOut) return;
      table.hidden = true;
      replace(status, note(t("common.load_failed", errorText(err)), "error"));
    }
  }

  async function remove(item) {
    const ok = await confirmDialog({
      title: t("faq.delete_title"),
      message: t("faq.delete_confirm", item.question, item.id),
      ok: t("common.delete"),
      danger: true,
    });
    if (!ok) return;
    try {
      await ctx.api("DELETE", `/api/admin/faqs/${encodeURIComponent(item.id)}`);
      toast(t("faq.deleted", item.id));
      load();
    } catch (err) {
      if (!err.signedOut) toast(t("common.error", errorText(err)), "error");
    }
  }

  async function exportCorpus(format, button) {
    await busy(button, async () => {
      try {
        let text = await ctx.api("GET", `/api/admin/corpus?format=${format}`, undefined, { raw: true });
        // fetch's text() drops the byte order mark; spreadsheet programs need it for UTF-8.
        if (format === "csv" && !text.startsWith("\ufeff")) text = "\ufeff" + text;
        const type = format === "csv" ? "text/csv;charset=utf-8" : "application/yaml;charset=utf-8";
        const name = `kefu-faq-${ctx.shop}.${format}`;
        downloadBlob(new Blob([text], { type }), name);
        toast(t("faq.exported", name));
      } catch (err) {
        if (!err.signedOut) toast(t("common.error", errorText(err)), "error");
      }
    });
  }

  async function importFile(file) {
    importErrors.hidden = true;
    replace(importErrors);
    const format = /\.csv$/i.test(file.name) || file.type === "text/csv" ? "csv" : "yaml";
    const ok = await confirmDialog({
      title: t("faq.import_confirm_title"),
      message: t("faq.import_confirm", file.name, total || items.length),
    });
    if (!ok) return;
    let text;
    try {
      text = await file.text();
    } catch (err) {
      showImportProblems(t("faq.import_read_failed", errorText(err)), []);
      return;
    }
    await busy(importButton, async () => {
      try {
        const result = await ctx.api("PUT", `/api/admin/corpus?format=${format}`, text);
        toast(t("faq.import_done", result.faqs));
        state.categories.clear();
        state.q = "";
        state.category = "";
        search.value = "";
        load();
      } catch (err) {
        if (err.signedOut) return;
        const details = err instanceof ApiError ? err.details || [] : [];
        showImportProblems(t("faq.import_failed", file.name), details.length ? details : [{ field: "", message: errorText(err) }]);
      }
    });
  }

  function showImportProblems(title, details) {
    const close = h("button", { type: "button", class: "icon-button", "aria-label": t("common.close") }, "×");
    close.addEventListener("click", () => {
      importErrors.hidden = true;
    });
    replace(
      importErrors,
      h("div", { class: "problems-head" }, h("strong", {}, title), close),
      h(
        "ul",
        {},
        details.map((d) => h("li", {}, d.field ? `${d.field}: ${detailText(d)}` : detailText(d))),
      ),
    );
    importErrors.hidden = false;
    importErrors.scrollIntoView({ block: "nearest" });
  }

  const debounced = debounce(() => load(), 250);
  search.addEventListener("input", () => {
    state.q = search.value.trim();
    debounced();
  });
  search.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      debounced.cancel();
      state.q = search.value.trim();
      load();
    }
  });
  categorySelect.addEventListener("change", () => {
    state.category = categorySelect.value;
    load();
  });
  newButton.addEventListener("click", () => openFaqForm(ctx, null, { categories: [...state.categories], onSaved: load }));
  exportYaml.addEventListener("click", () => exportCorpus("yaml", exportYaml));
  exportCsv.addEventListener("click", () => exportCorpus("csv", exportCsv));
  importButton.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", () => {
    const file = fileInput.files && fileInput.files[0];
    fileInput.value = "";
    if (file) importFile(file);
  });

  renderCategories();
  replace(
    container,
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("h1", {}, t("faq.title")), h("p", { class: "lead" }, t("faq.intro"))),
      h("div", { class: "head-actions" }, exportYaml, exportCsv, importButton, fileInput, newButton),
    ),
    importErrors,
    h(
      "div",
      { class: "toolbar" },
      h("div", { class: "field inline grow" }, h("label", { for: "faq-search", class: "sr-only" }, t("faq.search")), search),
      h("div", { class: "field inline" }, h("label", { for: "faq-category" }, t("faq.category")), categorySelect),
      count,
    ),
    status,
    h("div", { class: "table-wrap" }, table),
  );
  table.hidden = true;
  load();
  return () => debounced.cancel();
}

function preview(text) {
  const s = String(text || "").replace(/\s+/g, " ").trim();
  return s.length > 120 ? s.slice(0, 118) + "…" : s;
}

/**
 * The create/edit form in a dialog. `existing` is an FAQ (edit) or null (new); `prefill` sets
 * fields of a new FAQ ({question}); `onSaved(faq)` runs after a successful save.
 */
export function openFaqForm(ctx, existing, { prefill = {}, categories = [], onSaved } = {}) {
  const source = existing || { id: "", category: "", question: "", similar: [], answer: "", answers: {}, keywords: [], products: [], ...prefill };
  const P = "faq";
  const id = field({
    prefix: P,
    name: "id",
    label: t("faq.field_id"),
    help: t("faq.field_id_help"),
    control: h("input", { value: source.id || "", autocomplete: "off", spellcheck: "false", pattern: "[a-z0-9][a-z0-9_\\-]*" }),
  });
  const listId = `faq-categories-${Date.now()}`;
  const category = field({
    prefix: P,
    name: "category",
    label: t("faq.field_category"),
    control: h("input", { value: source.category || "", list: listId, autocomplete: "off" }),
  });
  const datalist = h(
    "datalist",
    { id: listId },
    categories.map((c) => h("option", { value: c })),
  );
  const question = field({
    prefix: P,
    name: "question",
    label: t("faq.field_question"),
    help: t("faq.field_question_help"),
    control: h("input", { value: source.question || "", required: true }),
  });
  const similarArea = h("textarea", { rows: 7, value: (source.similar || []).join("\n") });
  const similar = field({
    prefix: P,
    name: "similar",
    label: t("faq.field_similar"),
    help: t("faq.field_similar_help", (source.similar || []).length),
    control: similarArea,
  });
  similarArea.addEventListener("input", () => {
    replace(similar.help, t("faq.field_similar_help", splitLines(similarArea.value).length));
  });
  const answer = field({
    prefix: P,
    name: "answer",
    label: t("faq.field_answer"),
    control: h("textarea", { rows: 4, value: source.answer || "", required: true }),
  });
  const answerEn = field({
    prefix: P,
    name: "answer-en",
    label: t("faq.field_answer_en"),
    help: t("faq.field_answer_en_help"),
    control: h("textarea", { rows: 4, value: (source.answers || {}).en || "", lang: "en" }),
  });
  const keywords = field({
    prefix: P,
    name: "keywords",
    label: t("faq.field_keywords"),
    help: t("faq.field_keywords_help"),
    control: h("input", { value: (source.keywords || []).join(", "), autocomplete: "off" }),
  });
  const products = field({
    prefix: P,
    name: "products",
    label: t("faq.field_products"),
    help: t("faq.field_products_help"),
    control: h("input", { value: (source.products || []).join(", "), autocomplete: "off", spellcheck: "false" }),
  });

  const top = formErrorBox("faq-form-error");
  const errors = new FormErrors(top);
  errors.register("id", id.error, id.control);
  errors.register("category", category.error, category.control);
  errors.register("question", question.error, question.control);
  errors.register("similar", similar.error, similar.control);
  errors.register("answer", answer.error, answer.control);
  errors.register("answers", answerEn.error, answerEn.control);
  errors.register("answers.en", answerEn.error, answerEn.control);
  errors.register("keywords", keywords.error, keywords.control);
  errors.register("products", products.error, products.control);

  const save = h("button", { type: "submit", class: "primary", "data-testid": "faq-save", form: "faq-form" }, t("common.save"));
  const cancel = h("button", { type: "button", "data-testid": "faq-cancel" }, t("common.cancel"));
  const form = h(
    "form",
    { id: "faq-form", class: "form", "data-testid": "faq-form", novalidate: true },
    top,
    h("div", { class: "grid-2" }, id.wrap, h("div", {}, category.wrap, datalist)),
    question.wrap,
    similar.wrap,
    h("div", { class: "grid-2" }, answer.wrap, answerEn.wrap),
    h("div", { class: "grid-2" }, keywords.wrap, products.wrap),
  );
  const { close } = modal({
    title: existing ? t("faq.form_edit", existing.id) : t("faq.form_new"),
    body: form,
    footer: [cancel, save],
    testid: "faq-dialog",
    wide: true,
  });
  cancel.addEventListener("click", close);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.clear();
    const answers = { ...(existing ? existing.answers || {} : {}) };
    delete answers.en;
    const en = answerEn.control.value.trim();
    if (en) answers.en = en;
    const body = {
      category: category.control.value.trim(),
      question: question.control.value.trim(),
      similar: splitLines(similarArea.value),
      answer: answer.control.value.trim(),
      answers,
      keywords: splitList(keywords.control.value),
      products: splitList(products.control.value),
    };
    const newId = id.control.value.trim();
    if (newId || existing) body.id = newId;
    await busy(
      save,
      async () => {
        try {
          const saved = existing
            ? await ctx.api("PUT", `/api/admin/faqs/${encodeURIComponent(existing.id)}`, body)
            : await ctx.api("POST", "/api/admin/faqs", body);
          close();
          toast(existing ? t("faq.updated", saved.id) : t("faq.created", saved.id));
          if (onSaved) await onSaved(saved);
        } catch (err) {
          if (!err.signedOut) errors.show(err);
        }
      },
      t("common.saving"),
    );
  });
  (!existing && source.question ? answer.control : question.control).focus();
  return { close };
}
