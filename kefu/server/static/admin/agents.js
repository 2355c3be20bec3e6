// Agents: the shop's accounts (add, edit, disable/enable, reset password) and its quick replies.

import { h, replace } from "/static/common/dom.js";
import { t } from "./i18n.js";
import {
  busy,
  confirmDialog,
  detailText,
  errorText,
  field,
  formErrorBox,
  FormErrors,
  generatePassword,
  modal,
  nextId,
  note,
  toast,
} from "./ui.js";

export function mount(container, ctx) {
  let users = [];
  let shopGroups = [];
  let groupNames = {};
  const groupLabel = (g) => groupNames[g] || g;
  let defaultGroup = "general";

  const newButton = h("button", { type: "button", class: "primary", "data-testid": "agents-new" }, t("ag.new"));
  const status = h("div", { "data-testid": "agents-status" });
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "data-table agents-table", "data-testid": "agents-table", hidden: true },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["ag.col_username", "ag.col_name", "ag.col_role", "ag.col_capacity", "ag.col_groups", "ag.col_status"].map((k) =>
          h("th", { scope: "col" }, t(k)),
        ),
        h("th", { scope: "col", class: "col-actions" }, h("span", { class: "sr-only" }, t("ag.col_actions"))),
      ),
    ),
    tbody,
  );
  const quickReplies = h("section", { class: "card qr-card", "aria-labelledby": "qr-title" });

  async function load() {
    try {
      const [data, settings] = await Promise.all([
        ctx.api("GET", "/api/admin/users"),
        ctx.api("GET", "/api/admin/settings").catch((err) => {
          if (err.signedOut) throw err;
          return null; // the group checkboxes then show the users' own groups only
        }),
      ]);
      users = data.items || [];
      if (settings) {
        shopGroups = settings.groups || [];
        groupNames = settings.group_names || {};
        defaultGroup = settings.default_group || defaultGroup;
      }
      render();
    } catch (err) {
      if (!err.signedOut) replace(status, note(t("common.load_failed", errorText(err)), "error"));
    }
  }

  function render() {
    if (!users.length) {
      table.hidden = true;
      replace(status, note(t("ag.empty"), "empty"));
      return;
    }
    replace(status);
    table.hidden = false;
    replace(tbody, users.map(row));
  }

  function isSelf(user) {
    return ctx.user && (user.id === ctx.user.id || user.username === ctx.user.username);
  }

  function row(user) {
    const self = isSelf(user);
    const edit = h("button", { type: "button", class: "small", "data-testid": "agent-edit", "aria-label": `${t("common.edit")} ${user.username}` }, t("common.edit"));
    const toggle = h(
      "button",
      {
        type: "button",
        class: ["small", user.disabled ? "" : "danger-ghost"],
        "data-testid": "agent-toggle-disabled",
        disabled: self && !user.disabled,
        title: self && !user.disabled ? t("ag.self_locked") : null,
        "aria-label": `${user.disabled ? t("ag.enable") : t("ag.disable")} ${user.username}`,
      },
      user.disabled ? t("ag.enable") : t("ag.disable"),
    );
    const reset = h(
      "button",
      { type: "button", class: "small", "data-testid": "agent-reset-password", "aria-label": `${t("ag.reset_password")} ${user.username}` },
      t("ag.reset_password"),
    );
    edit.addEventListener("click", () => openUserForm(user));
    toggle.addEventListener("click", () => toggleDisabled(user, toggle));
    reset.addEventListener("click", () => openPasswordDialog(user));
    return h(
      "tr",
      { "data-testid": "agent-row", "data-username": user.username, class: user.disabled ? "is-disabled" : null },
      h("td", { "data-label": t("ag.col_username") }, h("code", {}, user.username), self ? h("span", { class: "muted" }, " " + t("ag.you")) : null),
      h("td", { "data-label": t("ag.col_name") }, user.name),
      h(
        "td",
        { "data-label": t("ag.col_role") },
        h("span", { class: ["tag", user.role === "admin" ? "tag-admin" : ""] }, user.role === "admin" ? t("ag.role_admin") : t("ag.role_agent")),
      ),
      h("td", { "data-label": t("ag.col_capacity"), class: "col-num" }, String(user.capacity)),
      h("td", { "data-label": t("ag.col_groups") }, (user.groups || []).map((g) => h("span", { class: "tag", title: g }, groupLabel(g)))),
      h(
        "td",
        { "data-label": t("ag.col_status") },
        h("span", { class: ["status", user.disabled ? "status-off" : "status-on"] }, user.disabled ? t("ag.disabled") : t("ag.active")),
      ),
      h("td", { class: "col-actions" }, h("div", { class: "row-actions" }, edit, toggle, reset)),
    );
  }

  async function toggleDisabled(user, button) {
    const disabled = !user.disabled;
    if (disabled) {
      const ok = await confirmDialog({
        title: t("ag.disable_title"),
        message: t("ag.disable_confirm", user.username),
        ok: t("ag.disable"),
        danger: true,
      });
      if (!ok) return;
    }
    await busy(button, async () => {
      try {
        await ctx.api("PATCH", `/api/admin/users/${encodeURIComponent(user.username)}`, { disabled });
        toast(disabled ? t("ag.disabled_done", user.username) : t("ag.enabled_done", user.username));
        await load();
      } catch (err) {
        if (!err.signedOut) toast(t("common.error", errorText(err)), "error");
      }
    });
  }

  // ---- add / edit ----

  function openUserForm(user) {
    const P = "agent";
    const top = formErrorBox("agent-form-error");
    const errors = new FormErrors(top);
    const parts = [top];
    let username = null;
    let password = null;
    if (!user) {
      username = field({
        prefix: P,
        name: "username",
        label: t("ag.username"),
        help: t("ag.username_help"),
        control: h("input", { autocomplete: "off", spellcheck: "false", maxlength: "40", required: true }),
      });
      const generate = h("button", { type: "button", class: "small", "data-testid": "agent-generate-password" }, t("ag.generate"));
      password = field({
        prefix: P,
        name: "password",
        label: t("ag.password"),
        help: t("ag.password_help"),
        control: h("input", { type: "text", autocomplete: "new-password", spellcheck: "false", value: generatePassword(), required: true }),
      });
      password.control.classList.add("mono");
      password.wrap.insertBefore(h("div", { class: "input-row" }, password.control, generate), password.help);
      generate.addEventListener("click", () => {
        password.control.value = generatePassword();
        password.control.focus();
      });
      errors.register("username", username.error, username.control);
      errors.register("password", password.error, password.control);
      parts.push(h("div", { class: "grid-2" }, username.wrap, password.wrap));
    }
    const name = field({
      prefix: P,
      name: "name",
      label: t("ag.name"),
      help: t("ag.name_help"),
      control: h("input", { value: user ? user.name : "", maxlength: "40" }),
    });
    const role = field({
      prefix: P,
      name: "role",
      label: t("ag.role"),
      control: h(
        "select",
        { disabled: user && isSelf(user) },
        h("option", { value: "agent" }, t("ag.role_agent")),
        h("option", { value: "admin" }, t("ag.role_admin")),
      ),
    });
    role.control.value = user ? user.role : "agent";
    const capacity = field({
      prefix: P,
      name: "capacity",
      label: t("ag.capacity"),
      control: h("input", { type: "number", min: "0", max: "50", step: "1", value: String(user ? user.capacity : 3) }),
    });
    const current = user ? user.groups || [] : [defaultGroup];
    const allGroups = [...new Set([...shopGroups, ...current])];
    const groupsError = h("p", { class: "field-error", id: nextId("ge"), "data-testid": "agent-error-groups", hidden: true });
    const boxes = allGroups.map((g) => {
      const id = nextId("g");
      return h(
        "label",
        { class: "check", for: id },
        h("input", { type: "checkbox", id, value: g, checked: current.includes(g), "data-testid": "agent-group" }),
        " ",
        groupLabel(g),
      );
    });
    const groupSet = h(
      "fieldset",
      { class: "field checks", "data-testid": "agent-field-groups", "aria-describedby": groupsError.id },
      h("legend", {}, t("ag.groups")),
      boxes.length ? boxes : h("p", { class: "muted" }, t("ag.no_groups")),
      groupsError,
    );
    errors.register("name", name.error, name.control);
    errors.register("role", role.error, role.control);
    errors.register("capacity", capacity.error, capacity.control);
    errors.register("groups", groupsError, null);
    parts.push(h("div", { class: "grid-2" }, name.wrap, h("div", { class: "grid-2" }, role.wrap, capacity.wrap)), groupSet);

    const formId = nextId("agent-form");
    const save = h("button", { type: "submit", class: "primary", form: formId, "data-testid": "agent-save" }, t("common.save"));
    const cancel = h("button", { type: "button", "data-testid": "agent-cancel" }, t("common.cancel"));
    const form = h("form", { id: formId, class: "form", "data-testid": "agent-form", novalidate: true }, parts);
    const { close } = modal({
      title: user ? t("ag.form_edit", user.username) : t("ag.form_new"),
      body: form,
      footer: [cancel, save],
      testid: "agent-dialog",
      wide: true,
    });
    cancel.addEventListener("click", close);
    (username ? username.control : name.control).focus();

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      errors.clear();
      const cap = capacity.control.value.trim();
      const body = {
        role: role.control.value,
        capacity: cap === "" ? null : Number(cap),
        groups: [...groupSet.querySelectorAll("input:checked")].map((b) => b.value),
      };
      const nameValue = name.control.value.trim();
      if (nameValue || user) body.name = nameValue;
      if (user && isSelf(user)) delete body.role;
      if (!user) {
        body.username = username.control.value.trim();
        body.password = password.control.value;
        if (body.capacity === null) delete body.capacity;
      }
      await busy(
        save,
        async () => {
          try {
            if (user) {
              await ctx.api("PATCH", `/api/admin/users/${encodeURIComponent(user.username)}`, body);
              close();
              toast(t("ag.updated", user.username));
            } else {
              const created = await ctx.api("POST", "/api/admin/users", body);
              close();
              toast(t("ag.created", created.username));
              showPasswordOnce(created.username, body.password);
            }
            await load();
          } catch (err) {
            if (!err.signedOut) {
              errors.show(err, {
                codes: { user_exists: "username", weak_password: "password", conflict: "" },
                messages: { user_exists: t("ag.user_exists") },
              });
            }
          }
        },
        t("common.saving"),
      );
    });
  }

  // ---- passwords ----

  function openPasswordDialog(user) {
    const inputId = nextId("pw");
    const input = h("input", {
      id: inputId,
      type: "text",
      class: "mono",
      autocomplete: "new-password",
      spellcheck: "false",
      value: generatePassword(),
      "data-testid": "password-input",
      "aria-describedby": `${inputId}-help ${inputId}-error`,
    });
    const generate = h("button", { type: "button", class: "small", "data-testid": "password-generate" }, t("ag.generate"));
    const error = h("p", { class: "field-error", id: `${inputId}-error`, role: "alert", "data-testid": "password-error", hidden: true });
    const formId = nextId("pwf");
    const save = h("button", { type: "submit", class: "primary", form: formId, "data-testid": "password-save" }, t("ag.reset_save"));
    const cancel = h("button", { type: "button" }, t("common.cancel"));
    const form = h(
      "form",
      { id: formId, class: "form", "data-testid": "password-form", novalidate: true },
      h("p", { class: "help", id: `${inputId}-help` }, t("ag.reset_help")),
      h("div", { class: "field" }, h("label", { for: inputId }, t("ag.new_password")), h("div", { class: "input-row" }, input, generate), error),
    );
    const { close } = modal({ title: t("ag.reset_title", user.username), body: form, footer: [cancel, save], testid: "password-dialog" });
    cancel.addEventListener("click", close);
    generate.addEventListener("click", () => {
      input.value = generatePassword();
      input.focus();
    });
    input.select();
    input.focus();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hidden = true;
      const value = input.value;
      await busy(save, async () => {
        try {
          await ctx.api("POST", `/api/admin/users/${encodeURIComponent(user.username)}/password`, { password: value });
          close();
          showPasswordOnce(user.username, value);
        } catch (err) {
          if (err.signedOut) return;
          const details = err.details || [];
          replace(error, details.length ? details.map(detailText).join("; ") : errorText(err));
          error.hidden = false;
          input.setAttribute("aria-invalid", "true");
          input.focus();
        }
      });
    });
  }

  function showPasswordOnce(username, password) {
    const value = h("code", { class: "secret", "data-testid": "password-value" }, password);
    const copy = h("button", { type: "button", class: "small", "data-testid": "password-copy" }, t("ag.copy"));
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(password);
        copy.textContent = t("ag.copied");
      } catch {
        const range = document.createRange();
        range.selectNodeContents(value);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
      }
    });
    const done = h("button", { type: "button", class: "primary" }, t("common.close"));
    const { close } = modal({
      title: t("ag.reset_title", username),
      body: h("div", { "data-testid": "password-result" }, h("p", {}, t("ag.reset_done", username)), h("div", { class: "input-row" }, value, copy)),
      footer: [done],
      testid: "password-dialog",
    });
    done.addEventListener("click", close);
    copy.focus();
  }

  newButton.addEventListener("click", () => openUserForm(null));

  replace(
    container,
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("h1", {}, t("ag.title")), h("p", { class: "lead" }, t("ag.intro"))),
      h("div", { class: "head-actions" }, newButton),
    ),
    status,
    h("div", { class: "table-wrap" }, table),
    quickReplies,
  );
  replace(status, note(t("common.loading")));
  load();
  mountQuickReplies(quickReplies, ctx);
}

// ---- quick replies ----

function mountQuickReplies(section, ctx) {
  let items = [];
  const top = formErrorBox("qr-error");
  const errors = new FormErrors(top);
  const list = h("ol", { class: "qr-list", "data-testid": "qr-list" });
  const add = h("button", { type: "button", class: "small", "data-testid": "qr-add" }, t("qr.add"));
  const save = h("button", { type: "submit", class: "primary", "data-testid": "qr-save" }, t("qr.save"));
  const saved = h("span", { class: "saved", role: "status", "data-testid": "qr-saved", hidden: true }, "✓ " + t("qr.saved"));
  const form = h("form", { class: "form", novalidate: true }, top, list, h("div", { class: "save-bar" }, add, h("span", { class: "spacer" }), saved, save));

  function render(focusIndex = null) {
    errors.unregisterPrefix("items");
    errors.clear();
    if (!items.length) {
      replace(list, h("li", { class: "muted qr-empty" }, t("qr.empty")));
      return;
    }
    replace(
      list,
      items.map((item, index) => {
        const sid = nextId("qs");
        const tid = nextId("qt");
        const shortcut = h("input", { id: sid, value: item.shortcut || "", maxlength: "30", placeholder: "/hi", spellcheck: "false", "data-testid": "qr-shortcut" });
        const text = h("textarea", { id: tid, rows: 2, value: item.text || "", maxlength: "2000", "data-testid": "qr-text" });
        shortcut.addEventListener("input", () => {
          item.shortcut = shortcut.value;
        });
        text.addEventListener("input", () => {
          item.text = text.value;
        });
        const move = (delta, label, testid) => {
          const b = h("button", { type: "button", class: "small ghost", "data-testid": testid, "aria-label": label, title: label, disabled: index + delta < 0 || index + delta >= items.length }, delta < 0 ? "↑" : "↓");
          b.addEventListener("click", () => {
            const [moved] = items.splice(index, 1);
            items.splice(index + delta, 0, moved);
            saved.hidden = true;
            render(index + delta);
          });
          return b;
        };
        const remove = h("button", { type: "button", class: "small danger-ghost", "data-testid": "qr-remove", "aria-label": `${t("common.remove")} ${index + 1}` }, t("common.remove"));
        remove.addEventListener("click", () => {
          items.splice(index, 1);
          saved.hidden = true;
          render(Math.min(index, items.length - 1));
        });
        const rowError = h("p", { class: "field-error", "data-testid": "qr-row-error", hidden: true });
        errors.register(`items.${index}`, rowError, null, (rest) =>
          rest.startsWith("shortcut") ? t("qr.shortcut") : rest.startsWith("text") ? t("qr.text") : rest,
        );
        const li = h(
          "li",
          { class: "qr-row", "data-testid": "qr-row" },
          h("div", { class: "field qr-shortcut" }, h("label", { for: sid }, t("qr.shortcut")), shortcut),
          h("div", { class: "field qr-text" }, h("label", { for: tid }, t("qr.text")), text),
          h("div", { class: "row-actions qr-actions" }, move(-1, t("qr.move_up"), "qr-up"), move(1, t("qr.move_down"), "qr-down"), remove),
          rowError,
        );
        return li;
      }),
    );
    if (focusIndex !== null && focusIndex >= 0) {
      const target = list.children[focusIndex];
      if (target) target.querySelector("input").focus();
    }
  }

  add.addEventListener("click", () => {
    items.push({ shortcut: "", text: "" });
    saved.hidden = true;
    render(items.length - 1);
  });
  form.addEventListener("input", () => {
    saved.hidden = true;
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.clear();
    saved.hidden = true;
    const body = { items: items.map((i) => ({ shortcut: (i.shortcut || "").trim(), text: (i.text || "").trim() })) };
    await busy(
      save,
      async () => {
        try {
          const result = await ctx.api("PUT", "/api/admin/quick-replies", body);
          items = (result && result.items) || body.items;
          render();
          saved.hidden = false;
          toast(t("qr.saved"));
        } catch (err) {
          if (!err.signedOut) errors.show(err);
        }
      },
      t("common.saving"),
    );
  });

  replace(
    section,
    h("h2", { class: "card-title", id: "qr-title" }, t("qr.title")),
    h("p", { class: "help" }, t("qr.intro")),
    h("div", { "data-testid": "qr-status" }, note(t("common.loading"))),
  );
  ctx
    .api("GET", "/api/quick-replies")
    .then((data) => {
      items = (data.items || []).map((i) => ({ shortcut: i.shortcut || "", text: i.text || "" }));
      section.lastElementChild.replaceWith(form);
      render();
    })
    .catch((err) => {
      if (!err.signedOut) replace(section.lastElementChild, note(t("common.load_failed", errorText(err)), "error"));
    });
}
