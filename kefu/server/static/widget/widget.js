/*!
 * kefu shopper chat widget: one self-contained classic script, no dependencies, no build step.
 *
 * Embed on any shop page:
 *   <script src="https://KEFU_HOST/widget.js" data-shop="SHOP" async></script>
 * Optional attributes: data-lang="zh|en" (else navigator.language), data-title="店名" (panel
 * title, default 在线客服 / Customer service), data-color="#4f46e5" (accent colour, hex).
 * The widget talks to wss://KEFU_HOST/ws/shopper (docs/protocol.md) and loads
 * https://KEFU_HOST/widget.css into its shadow root.
 *
 * Everything lives in the open shadow root of one <kefu-widget> element appended to <body>;
 * nothing global but window.kefuWidget = {open(), close(), toggle(), isOpen}.
 * localStorage: kefu.SHOP.token, kefu.SHOP.last_id, kefu.SHOP.mode; sessionStorage: kefu.SHOP.open.
 *
 * Test hooks — document.querySelector("kefu-widget").shadowRoot.querySelector('[data-testid="…"]'):
 *   kefu-launcher          floating round button (aria-expanded tells whether the panel is open)
 *   kefu-unread            unread-count badge on the launcher (hidden when 0)
 *   kefu-panel             the chat panel (hidden attribute while closed)
 *   kefu-title             panel title
 *   kefu-agent-name        agent's name in the header (hidden until an agent joins)
 *   kefu-close             close button in the header
 *   kefu-connection        connection status; data-state="idle|connecting|open|reconnecting|unreachable"
 *   kefu-messages          message list (role="log", aria-live="polite")
 *   kefu-message           one message; data-from="bot|shopper|agent|system", data-id (server id),
 *                          data-decision (bot), data-event (system), data-status="pending|sent|failed"
 *                          and data-client-msg-id (shopper)
 *   kefu-message-text      the text of a message
 *   kefu-message-agent     agent name above an agent message
 *   kefu-suggestion        suggestion chip under a bot message (sends its question)
 *   kefu-retry             "resend" button on a failed shopper message
 *   kefu-typing            agent typing indicator (hidden when not typing)
 *   kefu-queue-status      live queue position line (hidden unless queued)
 *   kefu-transfer          转人工 / Talk to a human button
 *   kefu-end-chat          end the chat (with an agent) / leave the queue; asks to confirm once
 *   kefu-offline-form      leave-a-message form; kefu-offline-text, kefu-offline-contact,
 *                          kefu-offline-submit, kefu-offline-dismiss, kefu-offline-error
 *   kefu-rating            rating form after a chat closed; kefu-rating-star (labels with
 *                          data-score="1".."5" wrapping radio inputs), kefu-rating-comment,
 *                          kefu-rating-submit, kefu-rating-dismiss, kefu-rating-error
 *   kefu-error             transient error line (rate_limited, text_too_long, …)
 *   kefu-input             composer textarea
 *   kefu-send              send button
 */
(function () {
  "use strict";

  if (window.kefuWidget) return; // embedded twice

  // ---------------------------------------------------------------- configuration

  function findScript() {
    var current = document.currentScript;
    if (current && current.src) return current;
    var scripts = document.querySelectorAll("script[src]");
    var fallback = null;
    for (var i = scripts.length - 1; i >= 0; i--) {
      var s = scripts[i];
      var path = "";
      try {
        path = new URL(s.src, location.href).pathname;
      } catch (e) {
        continue;
      }
      if (!/\/widget\.js$/.test(path)) continue;
      if (s.hasAttribute("data-shop")) return s;
      fallback = fallback || s;
    }
    return fallback;
  }

  const script = findScript();
  if (!script) {
    console.warn("[kefu] cannot find the widget's <script> element");
    return;
  }
  const SHOP = (script.getAttribute("data-shop") || "").trim();
  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(SHOP)) {
    console.warn("[kefu] data-shop is missing or invalid on the widget's <script> element");
    return;
  }
  const SRC = new URL(script.src, location.href);
  const BASE = SRC.origin;
  const WS_URL = (SRC.protocol === "https:" ? "wss://" : "ws://") + SRC.host + "/ws/shopper";
  const LANG = (function () {
    const wanted = (script.getAttribute("data-lang") || "").toLowerCase();
    if (wanted === "zh" || wanted === "en") return wanted;
    return /^en/i.test(navigator.language || "") ? "en" : "zh";
  })();
  const ACCENT = (script.getAttribute("data-color") || "").trim();
  const MAX_TEXT = 2000;

  // ---------------------------------------------------------------- strings

  const STRINGS = {
    zh: {
      launcher: "在线客服",
      unread: (n) => n + " 条新消息",
      title: "在线客服",
      botStatus: "智能助手 · 随时为您解答",
      queuedStatus: "正在为您转接人工客服…",
      agentStatus: "为您服务中",
      closedStatus: "会话已结束，有问题随时再问",
      close: "关闭聊天窗口",
      log: "聊天记录",
      you: "我",
      colon: "：",
      bot: "智能助手",
      agent: "客服",
      suggestions: "猜您想问",
      inputLabel: "输入消息",
      placeholder: "请输入您的问题…",
      send: "发送",
      transfer: "转人工",
      endChat: "结束会话",
      leaveQueue: "取消排队",
      confirmEnd: "确定结束？",
      queue: (ahead, min) =>
        ahead > 0
          ? "排队中：您前面还有 " + ahead + " 人，预计等待约 " + min + " 分钟"
          : "排队中：马上轮到您了，预计等待约 " + min + " 分钟",
      agentJoined: (name) => name + " 已接入",
      closed: "会话已结束",
      closedTimeout: "会话因长时间无人发言已结束",
      typing: "客服正在输入…",
      typingShort: "正在输入",
      offlineTitle: "给我们留言",
      leaveText: "留言内容",
      leavePlaceholder: "请描述您的问题，客服上线后会尽快联系您",
      contact: "联系方式（手机/邮箱）",
      contactPlaceholder: "例如 138xxxx8888 或 you@example.com",
      submitLeave: "提交留言",
      notNow: "暂不留言",
      needText: "请填写留言内容",
      needContact: "请填写联系方式",
      rateTitle: "请为本次服务评分",
      stars: ["1 星：非常不满意", "2 星：不满意", "3 星：一般", "4 星：满意", "5 星：非常满意"],
      comment: "补充评价（选填）",
      submitRate: "提交评价",
      skip: "跳过",
      needScore: "请先选择星级",
      sending: "发送中…",
      failed: "发送失败",
      retry: "重发",
      connecting: "正在连接客服…",
      reconnecting: "重新连接中…",
      unreachable: "暂时无法连接客服，正在重试…",
      notConnected: "网络未连接，请稍后再试",
      tooLong: "消息太长了，最多 " + MAX_TEXT + " 个字",
      errors: {
        rate_limited: "发送太频繁了，请稍后再试",
        text_too_long: "消息太长了，最多 " + MAX_TEXT + " 个字",
        session_expired: "之前的会话已过期，已为您开始新的会话",
        already_rated: "您已经评价过了",
        not_closed: "这个会话还不能评价",
        already_closed: "会话已经结束了",
      },
      genericError: "出了点问题，请稍后再试",
    },
    en: {
      launcher: "Chat with us",
      unread: (n) => n + (n === 1 ? " new message" : " new messages"),
      title: "Customer service",
      botStatus: "Assistant · here to help",
      queuedStatus: "Connecting you to an agent…",
      agentStatus: "is helping you",
      closedStatus: "Chat ended — ask again any time",
      close: "Close chat",
      log: "Conversation",
      you: "You",
      colon: ": ",
      bot: "Assistant",
      agent: "Agent",
      suggestions: "Did you mean",
      inputLabel: "Type a message",
      placeholder: "Type your question…",
      send: "Send",
      transfer: "Talk to a human",
      endChat: "End chat",
      leaveQueue: "Leave queue",
      confirmEnd: "End the chat?",
      queue: (ahead, min) =>
        ahead > 0
          ? "In queue: " + ahead + " ahead of you, about " + min + " min"
          : "In queue: you're next, about " + min + " min",
      agentJoined: (name) => name + " joined the chat",
      closed: "Chat ended",
      closedTimeout: "Chat ended after a period of inactivity",
      typing: "The agent is typing…",
      typingShort: "typing",
      offlineTitle: "Leave us a message",
      leaveText: "Your message",
      leavePlaceholder: "Tell us what you need and we'll get back to you",
      contact: "Contact (phone / email)",
      contactPlaceholder: "e.g. +86 138… or you@example.com",
      submitLeave: "Send message",
      notNow: "Not now",
      needText: "Please write a message",
      needContact: "Please tell us how to reach you",
      rateTitle: "How did we do?",
      stars: ["1 star: very poor", "2 stars: poor", "3 stars: okay", "4 stars: good", "5 stars: excellent"],
      comment: "Comment (optional)",
      submitRate: "Submit rating",
      skip: "Skip",
      needScore: "Please pick a number of stars",
      sending: "Sending…",
      failed: "Not sent",
      retry: "Retry",
      connecting: "Connecting…",
      reconnecting: "Reconnecting…",
      unreachable: "Can't reach the chat right now, retrying…",
      notConnected: "You're offline, please try again shortly",
      tooLong: "That message is too long (" + MAX_TEXT + " characters at most)",
      errors: {
        rate_limited: "You're sending too fast, please wait a moment",
        text_too_long: "That message is too long (" + MAX_TEXT + " characters at most)",
        session_expired: "Your previous chat expired; a new one began",
        already_rated: "You already rated this chat",
        not_closed: "This chat can't be rated yet",
        already_closed: "The chat has already ended",
      },
      genericError: "Something went wrong, please try again",
    },
  };
  const T = STRINGS[LANG];

  // ---------------------------------------------------------------- storage (may be unavailable)

  function makeStore(kind) {
    const memory = {};
    const full = (key) => "kefu." + SHOP + "." + key;
    function area() {
      try {
        return kind === "local" ? window.localStorage : window.sessionStorage;
      } catch (e) {
        return null;
      }
    }
    return {
      get(key) {
        try {
          const a = area();
          if (a) return a.getItem(full(key));
        } catch (e) {
          /* storage disabled */
        }
        return key in memory ? memory[key] : null;
      },
      set(key, value) {
        if (value === null || value === undefined) delete memory[key];
        else memory[key] = String(value);
        try {
          const a = area();
          if (!a) return;
          if (value === null || value === undefined) a.removeItem(full(key));
          else a.setItem(full(key), String(value));
        } catch (e) {
          /* quota or disabled: the in-memory copy is enough for this page */
        }
      },
    };
  }
  const store = makeStore("local");
  const tabStore = makeStore("session");

  // ---------------------------------------------------------------- DOM helpers (text only)

  function h(tag, attrs) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const key of Object.keys(attrs)) {
        const value = attrs[key];
        if (value === null || value === undefined || value === false) continue;
        if (key.slice(0, 2) === "on" && typeof value === "function") {
          el.addEventListener(key.slice(2).toLowerCase(), value);
        } else if (key === "class") {
          el.className = value;
        } else if (key === "text") {
          el.textContent = value;
        } else if (value === true) {
          el.setAttribute(key, "");
        } else {
          el.setAttribute(key, String(value));
        }
      }
    }
    for (let i = 2; i < arguments.length; i++) add(el, arguments[i]);
    return el;
  }

  function add(parent, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) child.forEach((c) => add(parent, c));
    else parent.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }

  const SVG_NS = "http://www.w3.org/2000/svg";
  const ICONS = {
    chat: [
      ["path", { d: "M4 6.5A3.5 3.5 0 0 1 7.5 3h9A3.5 3.5 0 0 1 20 6.5v6a3.5 3.5 0 0 1-3.5 3.5H11l-4.4 3.7A1 1 0 0 1 5 18.9V16A3.5 3.5 0 0 1 4 13.5z", fill: "currentColor" }],
      ["circle", { cx: "8.5", cy: "9.75", r: "1.15", class: "kefu-icon-dot" }],
      ["circle", { cx: "12", cy: "9.75", r: "1.15", class: "kefu-icon-dot" }],
      ["circle", { cx: "15.5", cy: "9.75", r: "1.15", class: "kefu-icon-dot" }],
    ],
    chevron: [["path", { d: "M6 9l6 6 6-6", fill: "none", stroke: "currentColor", "stroke-width": "2.2", "stroke-linecap": "round", "stroke-linejoin": "round" }]],
    close: [["path", { d: "M6.5 6.5l11 11M17.5 6.5l-11 11", fill: "none", stroke: "currentColor", "stroke-width": "2", "stroke-linecap": "round" }]],
    send: [["path", { d: "M12 19V5.5M5.5 11.5L12 5l6.5 6.5", fill: "none", stroke: "currentColor", "stroke-width": "2.2", "stroke-linecap": "round", "stroke-linejoin": "round" }]],
    bot: [
      ["path", { d: "M12 2.5v3", fill: "none", stroke: "currentColor", "stroke-width": "1.8", "stroke-linecap": "round" }],
      ["circle", { cx: "12", cy: "2.6", r: "1.3", fill: "currentColor" }],
      ["rect", { x: "4", y: "6.5", width: "16", height: "12.5", rx: "4", fill: "none", stroke: "currentColor", "stroke-width": "1.8" }],
      ["circle", { cx: "9.2", cy: "12.5", r: "1.5", fill: "currentColor" }],
      ["circle", { cx: "14.8", cy: "12.5", r: "1.5", fill: "currentColor" }],
      ["path", { d: "M2 11.5v3M22 11.5v3", fill: "none", stroke: "currentColor", "stroke-width": "1.8", "stroke-linecap": "round" }],
    ],
    headset: [
      ["path", { d: "M4.5 13.5v-1.5a7.5 7.5 0 0 1 15 0v1.5", fill: "none", stroke: "currentColor", "stroke-width": "1.9", "stroke-linecap": "round" }],
      ["rect", { x: "3.5", y: "12.5", width: "4", height: "6", rx: "1.6", fill: "currentColor" }],
      ["rect", { x: "16.5", y: "12.5", width: "4", height: "6", rx: "1.6", fill: "currentColor" }],
      ["path", { d: "M18.5 18.5c0 1.4-1.6 2.5-4.5 2.5", fill: "none", stroke: "currentColor", "stroke-width": "1.6", "stroke-linecap": "round" }],
    ],
    star: [["path", { d: "M12 2.9l2.75 5.6 6.15.9-4.45 4.33 1.05 6.13L12 16.95l-5.5 2.9 1.05-6.12L3.1 9.4l6.15-.9z", fill: "currentColor" }]],
    mail: [
      ["rect", { x: "3", y: "5", width: "18", height: "14", rx: "3", fill: "none", stroke: "currentColor", "stroke-width": "1.8" }],
      ["path", { d: "M4 7l8 6 8-6", fill: "none", stroke: "currentColor", "stroke-width": "1.8", "stroke-linejoin": "round" }],
    ],
  };

  function icon(name, cls) {
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", "kefu-icon" + (cls ? " " + cls : ""));
    for (const part of ICONS[name]) {
      const el = document.createElementNS(SVG_NS, part[0]);
      for (const key of Object.keys(part[1])) el.setAttribute(key, part[1][key]);
      svg.appendChild(el);
    }
    return svg;
  }

  function formatTime(ms) {
    if (!ms) return "";
    const d = new Date(ms);
    const locale = LANG === "en" ? "en-GB" : "zh-CN";
    const time = d.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
    if (d.toDateString() === new Date().toDateString()) return time;
    return d.toLocaleDateString(locale, { month: "2-digit", day: "2-digit" }) + " " + time;
  }

  function newClientId() {
    try {
      if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    } catch (e) {
      /* not a secure context */
    }
    let rand = "";
    try {
      const bytes = new Uint8Array(8);
      window.crypto.getRandomValues(bytes);
      bytes.forEach((b) => (rand += b.toString(16).padStart(2, "0")));
    } catch (e) {
      rand = Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
    }
    return "w" + Date.now().toString(36) + "-" + rand;
  }

  // Stream ids "1732290000000-0": compare as (ms, seq).
  function idAfter(a, b) {
    if (!b) return true;
    const pa = a.split("-").map(Number);
    const pb = b.split("-").map(Number);
    return pa[0] !== pb[0] ? pa[0] > pb[0] : pa[1] > pb[1];
  }

  // ---------------------------------------------------------------- state

  const state = {
    open: false,
    mode: "bot", // bot | queued | agent | closed
    agent: null, // {id, name}
    hadAgent: false, // an agent was in the current conversation (rating makes sense)
    transferLabel: null, // set by the first bot frame carrying the transfer action
    queue: null, // {position, estimated_wait_s}
    seen: new Set(), // server ids rendered (or acked)
    lastId: null, // last log id received by this page (memory only: a reload asks for everything)
    pending: new Map(), // client_msg_id → {text, el, tries, timer, pick}
    byClientId: new Map(), // client_msg_id → element, for every shopper message on screen
    awaiting: null, // "leave" | "rate": the next notice answers it
    sessionReady: false,
    everConnected: false,
    unread: 0,
    lastTs: 0,
  };

  // Messages typed but not yet stored when the page reloaded (kept per tab in sessionStorage):
  // shown and resent after the history, unless the history has them already.
  const restored = new Map();
  try {
    for (const p of JSON.parse(tabStore.get("pending") || "[]")) {
      if (p && typeof p.cid === "string" && typeof p.text === "string") restored.set(p.cid, p.text);
    }
  } catch (e) {
    tabStore.set("pending", null);
  }

  function savePending() {
    const list = [];
    for (const [cid, p] of state.pending) list.push({ cid: cid, text: p.text });
    for (const [cid, text] of restored) list.push({ cid: cid, text: text });
    tabStore.set("pending", list.length ? JSON.stringify(list) : null);
  }

  function restorePending() {
    for (const [cid, text] of restored) {
      const el = renderShopper(text, { clientId: cid, status: "pending", ts: Date.now(), own: true });
      state.byClientId.set(cid, el);
      state.pending.set(cid, { text: text, el: el, tries: 0, timer: null });
    }
    restored.clear();
    savePending();
  }

  // ---------------------------------------------------------------- the UI

  const host = document.createElement("kefu-widget");
  const shadow = host.attachShadow({ mode: "open" });

  const wrap = h("div", { class: "kefu", hidden: true, lang: LANG === "en" ? "en" : "zh-CN", dir: "ltr" });
  const stylesheet = h("link", { rel: "stylesheet", href: BASE + "/widget.css" });
  let revealTimer = setTimeout(reveal, 4000); // show even if the stylesheet is slow or blocked
  function reveal() {
    clearTimeout(revealTimer);
    wrap.hidden = false;
  }
  stylesheet.addEventListener("load", reveal);
  stylesheet.addEventListener("error", reveal);
  if (/^#[0-9a-f]{3}([0-9a-f]{3})?$/i.test(ACCENT)) host.style.setProperty("--kefu-accent-custom", ACCENT);

  // Launcher
  const unreadText = h("span", { class: "kefu-sr", id: "kefu-unread-text" });
  const badge = h("span", { class: "kefu-badge", "data-testid": "kefu-unread", "aria-hidden": "true", hidden: true });
  const launcher = h(
    "button",
    {
      type: "button",
      class: "kefu-launcher",
      "data-testid": "kefu-launcher",
      "aria-label": T.launcher,
      "aria-expanded": "false",
      "aria-controls": "kefu-panel",
      "aria-describedby": "kefu-unread-text",
      onclick: () => toggle(),
    },
    icon("chat", "kefu-icon-open"),
    icon("chevron", "kefu-icon-shut"),
    badge,
    unreadText
  );

  // Header
  const titleEl = h("h2", { class: "kefu-title", id: "kefu-title", "data-testid": "kefu-title" }, script.getAttribute("data-title") || T.title);
  const avatarEl = h("div", { class: "kefu-header-avatar", "aria-hidden": "true" }, icon("bot"));
  const agentNameEl = h("span", { class: "kefu-agent-name", "data-testid": "kefu-agent-name", hidden: true });
  const statusEl = h("span", { class: "kefu-subtitle-text" }, T.botStatus);
  const closeBtn = h(
    "button",
    { type: "button", class: "kefu-icon-btn kefu-close", "data-testid": "kefu-close", "aria-label": T.close, title: T.close, onclick: () => close() },
    icon("close")
  );
  const header = h(
    "header",
    { class: "kefu-header" },
    avatarEl,
    h("div", { class: "kefu-titles" }, titleEl, h("p", { class: "kefu-subtitle" }, h("span", { class: "kefu-dot", "aria-hidden": "true" }), agentNameEl, statusEl)),
    closeBtn
  );

  // Connection status
  const connText = h("span", { class: "kefu-conn-text" });
  const connEl = h(
    "div",
    { class: "kefu-conn", role: "status", "data-testid": "kefu-connection", "data-state": "idle" },
    h("span", { class: "kefu-spinner", "aria-hidden": "true" }),
    connText
  );

  // Messages
  const logEl = h("div", { class: "kefu-log", role: "log", "aria-live": "polite", "aria-label": T.log, "data-testid": "kefu-messages" });
  const typingEl = h(
    "div",
    { class: "kefu-typing", "data-testid": "kefu-typing", hidden: true },
    h("span", { class: "kefu-typing-dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")),
    h("span", { class: "kefu-typing-text" }, T.typing)
  );
  const scroller = h("div", { class: "kefu-scroll" }, logEl, typingEl);

  // Error line
  const toastEl = h("div", { class: "kefu-toast", role: "alert", "data-testid": "kefu-error", hidden: true });

  // Queue status
  const queueText = h("span", { class: "kefu-queue-text" });
  const queueEl = h(
    "div",
    { class: "kefu-queue", role: "status", "data-testid": "kefu-queue-status", hidden: true },
    h("span", { class: "kefu-spinner", "aria-hidden": "true" }),
    queueText
  );

  // Transfer / end chat
  const transferText = h("span", {}, T.transfer);
  const transferBtn = h(
    "button",
    { type: "button", class: "kefu-pill kefu-transfer", "data-testid": "kefu-transfer", hidden: true, onclick: requestTransfer },
    icon("headset"),
    transferText
  );
  const endBtn = h("button", { type: "button", class: "kefu-pill kefu-pill--quiet", "data-testid": "kefu-end-chat", hidden: true, onclick: endChat }, T.endChat);
  const actionRow = h("div", { class: "kefu-action-row", hidden: true }, transferBtn, endBtn);

  // Leave-a-message form
  const leaveText = h("textarea", {
    id: "kefu-leave-text",
    class: "kefu-field",
    "data-testid": "kefu-offline-text",
    rows: "3",
    maxlength: String(MAX_TEXT),
    placeholder: T.leavePlaceholder,
    required: true,
  });
  const leaveContact = h("input", {
    id: "kefu-leave-contact",
    class: "kefu-field",
    "data-testid": "kefu-offline-contact",
    type: "text",
    maxlength: "200",
    autocomplete: "email",
    placeholder: T.contactPlaceholder,
    required: true,
  });
  const leaveError = h("p", { class: "kefu-field-error", id: "kefu-leave-error", "data-testid": "kefu-offline-error", role: "alert", hidden: true });
  const leaveSubmit = h("button", { type: "submit", class: "kefu-btn kefu-btn--primary", "data-testid": "kefu-offline-submit" }, T.submitLeave);
  const offlineForm = h(
    "form",
    { class: "kefu-card kefu-offline", "data-testid": "kefu-offline-form", "aria-labelledby": "kefu-leave-title", novalidate: true, hidden: true, onsubmit: submitLeave },
    h("p", { class: "kefu-card-title", id: "kefu-leave-title" }, icon("mail"), T.offlineTitle),
    h("label", { class: "kefu-label", for: "kefu-leave-text" }, T.leaveText),
    leaveText,
    h("label", { class: "kefu-label", for: "kefu-leave-contact" }, T.contact),
    leaveContact,
    leaveError,
    h(
      "div",
      { class: "kefu-form-actions" },
      h("button", { type: "button", class: "kefu-btn kefu-btn--quiet", "data-testid": "kefu-offline-dismiss", onclick: () => hideOffline() }, T.notNow),
      leaveSubmit
    )
  );

  // Rating form
  const starLabels = [];
  const starInputs = [];
  for (let n = 1; n <= 5; n++) {
    const input = h("input", { type: "radio", name: "kefu-score", value: String(n), class: "kefu-star-input", "aria-label": T.stars[n - 1] });
    const label = h("label", { class: "kefu-star", "data-testid": "kefu-rating-star", "data-score": String(n), title: T.stars[n - 1] }, input, icon("star"));
    input.addEventListener("change", () => paintStars());
    label.addEventListener("mouseenter", () => paintStars(n));
    starInputs.push(input);
    starLabels.push(label);
  }
  const starRow = h("div", { class: "kefu-star-row" }, starLabels);
  starRow.addEventListener("mouseleave", () => paintStars());
  const starHint = h("span", { class: "kefu-star-hint", "aria-hidden": "true" });
  const rateComment = h("textarea", {
    id: "kefu-rate-comment",
    class: "kefu-field",
    "data-testid": "kefu-rating-comment",
    rows: "2",
    maxlength: "1000",
  });
  const rateError = h("p", { class: "kefu-field-error", "data-testid": "kefu-rating-error", role: "alert", hidden: true });
  const rateSubmit = h("button", { type: "submit", class: "kefu-btn kefu-btn--primary", "data-testid": "kefu-rating-submit" }, T.submitRate);
  const ratingForm = h(
    "form",
    { class: "kefu-card kefu-rating", "data-testid": "kefu-rating", novalidate: true, hidden: true, onsubmit: submitRating },
    h(
      "fieldset",
      { class: "kefu-stars" },
      h("legend", { class: "kefu-card-title" }, T.rateTitle),
      h("div", { class: "kefu-star-line" }, starRow, starHint)
    ),
    h("label", { class: "kefu-label", for: "kefu-rate-comment" }, T.comment),
    rateComment,
    rateError,
    h(
      "div",
      { class: "kefu-form-actions" },
      h("button", { type: "button", class: "kefu-btn kefu-btn--quiet", "data-testid": "kefu-rating-dismiss", onclick: () => hideRating() }, T.skip),
      rateSubmit
    )
  );

  const actions = h("div", { class: "kefu-actions" }, queueEl, offlineForm, ratingForm, actionRow);

  // Composer
  const input = h("textarea", {
    id: "kefu-input",
    class: "kefu-input",
    "data-testid": "kefu-input",
    rows: "1",
    maxlength: String(MAX_TEXT),
    placeholder: T.placeholder,
    enterkeyhint: "send",
  });
  const sendBtn = h("button", { type: "submit", class: "kefu-send", "data-testid": "kefu-send", "aria-label": T.send, title: T.send }, icon("send"));
  const composer = h(
    "form",
    { class: "kefu-composer", novalidate: true, onsubmit: submitComposer },
    h("label", { class: "kefu-sr", for: "kefu-input" }, T.inputLabel),
    input,
    sendBtn
  );

  const panel = h(
    "section",
    { class: "kefu-panel", id: "kefu-panel", role: "dialog", "aria-labelledby": "kefu-title", "data-testid": "kefu-panel", tabindex: "-1", hidden: true },
    header,
    connEl,
    scroller,
    toastEl,
    actions,
    composer
  );

  wrap.appendChild(panel);
  wrap.appendChild(launcher);
  shadow.appendChild(stylesheet);
  shadow.appendChild(wrap);

  // ---------------------------------------------------------------- scrolling

  let pinned = true; // the list is scrolled to the bottom: keep it there as things grow
  scroller.addEventListener("scroll", () => {
    pinned = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 48;
  });
  function toBottom() {
    scroller.scrollTop = scroller.scrollHeight;
    pinned = true;
  }
  function keepPinned() {
    if (pinned) toBottom();
  }
  if (typeof ResizeObserver === "function") new ResizeObserver(keepPinned).observe(scroller);

  // ---------------------------------------------------------------- rendering

  function appendToLog(el, ts, own) {
    const wasPinned = pinned;
    if (ts && ts - state.lastTs > 5 * 60 * 1000) {
      logEl.appendChild(h("div", { class: "kefu-time", "aria-hidden": "true" }, formatTime(ts)));
    }
    if (ts) state.lastTs = Math.max(state.lastTs, ts);
    logEl.appendChild(el);
    if (wasPinned || own) toBottom();
  }

  function renderBot(f) {
    const body = h("div", { class: "kefu-body" }, h("span", { class: "kefu-sr" }, T.bot + T.colon), h("div", { class: "kefu-bubble", "data-testid": "kefu-message-text" }, f.text || ""));
    const suggestions = Array.isArray(f.suggestions) ? f.suggestions.filter((s) => s && s.question) : [];
    if (suggestions.length) {
      body.appendChild(
        h(
          "div",
          { class: "kefu-suggestions", role: "group", "aria-label": T.suggestions },
          suggestions.map((s) =>
            h(
              "button",
              { type: "button", class: "kefu-chip", "data-testid": "kefu-suggestion", "data-faq-id": s.faq_id || null, onclick: () => sendText(String(s.question), f.id && s.faq_id ? { faq_id: String(s.faq_id), message_id: String(f.id) } : null) },
              String(s.question)
            )
          )
        )
      );
    }
    const el = h(
      "div",
      { class: "kefu-msg kefu-msg--bot", "data-testid": "kefu-message", "data-from": "bot", "data-id": f.id || null, "data-decision": f.decision || null, title: formatTime(f.ts) || null },
      h("div", { class: "kefu-avatar", "aria-hidden": "true" }, icon("bot")),
      body
    );
    appendToLog(el, f.ts);
  }

  function renderAgent(f) {
    const name = (f.agent && f.agent.name) || T.agent;
    const el = h(
      "div",
      { class: "kefu-msg kefu-msg--agent", "data-testid": "kefu-message", "data-from": "agent", "data-id": f.id || null, title: formatTime(f.ts) || null },
      h("div", { class: "kefu-avatar kefu-avatar--agent", "aria-hidden": "true" }, initial(name)),
      h(
        "div",
        { class: "kefu-body" },
        h("div", { class: "kefu-msg-name", "data-testid": "kefu-message-agent" }, name),
        h("span", { class: "kefu-sr" }, T.colon),
        h("div", { class: "kefu-bubble", "data-testid": "kefu-message-text" }, f.text || "")
      )
    );
    appendToLog(el, f.ts);
  }

  function renderShopper(text, opts) {
    const statusLine = h("div", { class: "kefu-msg-status" });
    const el = h(
      "div",
      {
        class: "kefu-msg kefu-msg--shopper",
        "data-testid": "kefu-message",
        "data-from": "shopper",
        "data-id": opts.id || null,
        "data-client-msg-id": opts.clientId || null,
        "data-status": opts.status,
        title: formatTime(opts.ts) || null,
      },
      h("div", { class: "kefu-body" }, h("span", { class: "kefu-sr" }, T.you + T.colon), h("div", { class: "kefu-bubble", "data-testid": "kefu-message-text" }, text), statusLine)
    );
    el._status = statusLine;
    setStatus(el, opts.status);
    appendToLog(el, opts.ts, opts.own);
    return el;
  }

  function setStatus(el, status) {
    el.setAttribute("data-status", status);
    const line = el._status;
    if (!line) return;
    line.replaceChildren();
    if (status === "pending") line.appendChild(document.createTextNode(T.sending));
    if (status === "failed") {
      const cid = el.getAttribute("data-client-msg-id");
      line.appendChild(document.createTextNode(T.failed + " · "));
      line.appendChild(h("button", { type: "button", class: "kefu-link", "data-testid": "kefu-retry", onclick: () => retry(cid) }, T.retry));
    }
  }

  function renderNotice(text, opts) {
    if (!text) return;
    const el = h(
      "div",
      { class: "kefu-msg kefu-msg--system", "data-testid": "kefu-message", "data-from": "system", "data-id": (opts && opts.id) || null, "data-event": (opts && opts.event) || null },
      h("span", { class: "kefu-notice", "data-testid": "kefu-message-text" }, text)
    );
    appendToLog(el, opts && opts.ts);
  }

  function initial(name) {
    const chars = Array.from(String(name).replace(/^(客服|agent)\s*/i, "")).filter((c) => c.trim());
    return chars.length ? chars[0].toUpperCase() : "客";
  }

  // ---------------------------------------------------------------- header, actions, mode

  function setMode(mode) {
    state.mode = mode;
    store.set("mode", mode);
    if (mode !== "queued") state.queue = null;
    if (mode !== "agent") state.agent = null;
    render();
  }

  function render() {
    const mode = state.mode;
    const active = shadow.activeElement;
    // header
    wrap.setAttribute("data-mode", mode);
    if (mode === "agent" && state.agent) {
      agentNameEl.textContent = state.agent.name || T.agent;
      agentNameEl.hidden = false;
      statusEl.textContent = T.agentStatus;
      avatarEl.replaceChildren(h("span", { class: "kefu-header-initial" }, initial(state.agent.name || T.agent)));
    } else {
      agentNameEl.hidden = true;
      agentNameEl.textContent = "";
      statusEl.textContent = mode === "queued" ? T.queuedStatus : mode === "closed" ? T.closedStatus : T.botStatus;
      avatarEl.replaceChildren(icon(mode === "queued" ? "headset" : "bot"));
    }
    // queue line
    if (mode === "queued" && state.queue) {
      const ahead = Math.max(0, (Number(state.queue.position) || 1) - 1);
      const minutes = Math.max(1, Math.ceil((Number(state.queue.estimated_wait_s) || 0) / 60));
      queueText.textContent = T.queue(ahead, minutes);
      queueEl.hidden = false;
    } else {
      queueEl.hidden = true;
    }
    // buttons
    const label = state.transferLabel;
    transferBtn.hidden = !(label && (mode === "bot" || mode === "closed"));
    if (label) transferText.textContent = label;
    endBtn.hidden = !(mode === "queued" || mode === "agent");
    resetEndButton();
    actionRow.hidden = transferBtn.hidden && endBtn.hidden;
    if (mode !== "agent") hideTyping();
    // A button that just disappeared must not take the keyboard focus with it.
    if (active && state.open && (active === transferBtn || active === endBtn) && active.hidden) input.focus();
  }

  // ---------------------------------------------------------------- frames

  function handleFrame(f, replay) {
    if (f.id) {
      if (state.seen.has(f.id)) return; // already on screen
      state.seen.add(f.id);
      noteId(f.id);
    }
    switch (f.type) {
      case "session":
        return onSession(f);
      case "history":
        return onHistory(f);
      case "bot":
        return onBot(f, replay);
      case "agent":
        return onAgent(f, replay);
      case "shopper":
        return onShopperEcho(f);
      case "agent_joined":
        return onAgentJoined(f);
      case "queued":
        return onQueued(f);
      case "offline":
        return onOffline(f, replay);
      case "closed":
        return onClosed(f);
      case "typing":
        if (!replay && f.from === "agent") showTyping();
        return;
      case "ack":
        return onAck(f);
      case "error":
        return onError(f);
      default:
        return; // pong, or something newer than this widget
    }
  }

  function noteId(id) {
    if (typeof id === "string" && /^\d+-\d+$/.test(id) && idAfter(id, state.lastId)) {
      state.lastId = id;
      store.set("last_id", id);
    }
  }

  function onSession(f) {
    if (f.token) store.set("token", f.token);
    state.sessionReady = true;
    state.everConnected = true;
    attempts = 0;
    setConn("open");
    if (!f.resumed) {
      // A new session (first visit, or the old token expired): history, if any, is gone.
      state.lastId = null;
      store.set("last_id", null);
      restorePending();
      flushPending();
    }
    // Resumed: the history frame comes next; pending messages are resent after it.
  }

  function onHistory(f) {
    const lines = Array.isArray(f.messages) ? f.messages : [];
    for (const line of lines) {
      if (!line || typeof line !== "object") continue;
      if (line.from === "shopper") {
        historyShopper(line);
        continue;
      }
      const frame = lineToFrame(line);
      if (frame) handleFrame(frame, true);
    }
    restorePending();
    toBottom();
    flushPending();
  }

  function historyShopper(line) {
    if (line.id) {
      if (state.seen.has(line.id)) return;
      state.seen.add(line.id);
      noteId(line.id);
    }
    const cid = line.client_msg_id;
    if (cid && restored.delete(cid)) savePending(); // stored before the reload after all
    if (cid && state.byClientId.has(cid)) {
      // Ours, stored before the socket dropped: the ack we missed.
      markSent(cid, line.id);
      return;
    }
    const el = renderShopper(line.text || "", { id: line.id, clientId: cid, status: "sent", ts: line.ts });
    if (cid) state.byClientId.set(cid, el);
    shopperMoved();
  }

  function lineToFrame(line) {
    const base = { id: line.id, ts: line.ts };
    if (line.from === "bot") {
      return Object.assign(base, {
        type: "bot",
        text: line.text,
        decision: line.decision || "notice",
        faq_id: line.faq_id || null,
        suggestions: line.suggestions || [],
        actions: (line.actions || []).map((a) => ({ type: a.type, label: a.label || null })),
      });
    }
    if (line.from === "agent") return Object.assign(base, { type: "agent", text: line.text, agent: line.agent });
    if (line.from !== "system") return null;
    switch (line.event) {
      case "agent_joined":
        return Object.assign(base, { type: "agent_joined", agent: line.agent });
      case "closed":
        return Object.assign(base, { type: "closed", by: line.by });
      case "offline":
        return Object.assign(base, { type: "offline", text: line.text, leave_message: true });
      default:
        return Object.assign(base, { type: "bot", text: line.text, decision: "notice", suggestions: [], actions: [], event: line.event });
    }
  }

  function onBot(f, replay) {
    const transfer = (Array.isArray(f.actions) ? f.actions : []).find((a) => a && a.type === "transfer");
    if (f.decision === "notice" && !transfer) {
      // A state notice (queued, rated, message left…), live or from history.
      renderNotice(f.text, { id: f.id, event: f.event, ts: f.ts });
      onNotice(f.event, replay);
    } else {
      renderBot(f);
      countUnread(replay);
    }
    if (transfer) {
      state.transferLabel = transfer.label || state.transferLabel || T.transfer;
      setBusy(transferBtn, false);
      if (state.mode !== "bot") state.hadAgent = false;
      setMode("bot"); // only a conversation with the bot offers the transfer
    }
  }

  function onNotice(event, replay) {
    // History tells which event; live notices answer what the shopper just did.
    const answered = event || (state.awaiting === "leave" ? "message_left" : state.awaiting === "rate" ? "rated" : null);
    if (answered === "message_left") {
      hideOffline();
      state.awaiting = null;
    } else if (answered === "rated") {
      hideRating();
      state.awaiting = null;
    } else if (event === "queued" || event === "transferred" || event === "requeued") {
      hideOffline();
      setMode("queued");
    } else if (event === "left_queue") {
      setMode("bot");
    }
    if (!replay && !event) countUnread(false);
  }

  function onAgent(f, replay) {
    hideTyping();
    if (state.mode !== "agent" || !state.agent || (f.agent && f.agent.id !== state.agent.id)) {
      state.hadAgent = true;
      setMode("agent");
      state.agent = f.agent || { id: "", name: T.agent };
      render();
    }
    renderAgent(f);
    countUnread(replay);
  }

  // The server echoes every stored shopper line: ours (it doubles as the ack, whichever of the
  // two arrives first) or one sent from another tab of the same chat.
  function onShopperEcho(f) {
    const cid = f.client_msg_id;
    if (cid && (state.pending.has(cid) || state.byClientId.has(cid))) {
      markSent(cid, f.id);
      return;
    }
    state.seen.delete(f.id); // handleFrame marked it seen; historyShopper renders unseen lines only
    historyShopper({ id: f.id, text: f.text, ts: f.ts, client_msg_id: cid });
    toBottom();
  }

  function onAgentJoined(f) {
    const agent = f.agent || { id: "", name: T.agent };
    const same = state.mode === "agent" && state.agent && state.agent.id === agent.id;
    if (f.id || !same) renderNotice(T.agentJoined(agent.name || T.agent), { id: f.id, event: "agent_joined" });
    setBusy(transferBtn, false);
    hideOffline();
    hideRating();
    state.hadAgent = true;
    setMode("agent");
    state.agent = agent;
    render();
  }

  function onQueued(f) {
    setBusy(transferBtn, false);
    hideOffline();
    setMode("queued");
    state.queue = { position: f.position, estimated_wait_s: f.estimated_wait_s };
    render();
  }

  function onOffline(f, replay) {
    setBusy(transferBtn, false);
    renderNotice(f.text, { id: f.id, event: "offline", ts: f.ts });
    setMode("bot");
    if (f.leave_message !== false) showOffline(!replay);
    countUnread(replay);
  }

  function onClosed(f) {
    renderNotice(f.by === "timeout" ? T.closedTimeout : T.closed, { id: f.id, event: "closed" });
    const rate = !(f.by === "shopper" && !state.hadAgent); // leaving the queue: nothing to rate
    hideOffline();
    setMode("closed");
    state.hadAgent = false;
    state.awaiting = null;
    if (rate) showRating();
  }

  function onAck(f) {
    if (f.client_msg_id) markSent(f.client_msg_id, f.id);
  }

  function onError(f) {
    const code = f.code || "";
    if (code === "rate_limited") {
      // Whatever was refused gets another try: resends carry the same client_msg_id.
      setTimeout(resendUnacked, 2500);
    }
    if (code === "already_rated" || code === "not_closed") hideRating();
    if (state.awaiting === "leave" && code !== "session_expired") setBusy(leaveSubmit, false);
    if (state.awaiting === "rate" && code !== "session_expired") setBusy(rateSubmit, false);
    if (code !== "session_expired" && code !== "already_closed") state.awaiting = null;
    setBusy(transferBtn, false);
    toast(T.errors[code] || (f.message ? T.genericError + "（" + f.message + "）" : T.genericError));
  }

  // ---------------------------------------------------------------- sending

  function send(frame) {
    if (!isReady()) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch (e) {
      return false;
    }
  }

  function isReady() {
    return !!ws && ws.readyState === 1 && state.sessionReady;
  }

  // `pick`: the suggestion chip clicked ({faq_id, message_id} of the bot line that offered it),
  // so the shop's bot can learn the shopper's earlier question as a phrasing of that FAQ.
  function sendText(text, pick) {
    text = String(text).trim();
    if (!text) return false;
    if (text.length > MAX_TEXT) {
      toast(T.tooLong);
      return false;
    }
    const cid = newClientId();
    const el = renderShopper(text, { clientId: cid, status: "pending", ts: Date.now(), own: true });
    state.byClientId.set(cid, el);
    state.pending.set(cid, { text: text, el: el, tries: 0, timer: null, pick: pick || null });
    savePending();
    if (state.mode === "closed") setMode("bot"); // the server starts a new conversation
    shopperMoved();
    ensureConnected();
    trySend(cid);
    return true;
  }

  // The shopper carried on chatting: a closed chat can no longer be rated; an untouched
  // leave-a-message form is not wanted.
  function shopperMoved() {
    if (!ratingForm.hidden && state.awaiting !== "rate") hideRating();
    if (!offlineForm.hidden && !leaveText.value.trim() && !leaveContact.value.trim()) hideOffline();
  }

  function trySend(cid) {
    const p = state.pending.get(cid);
    if (!p || !isReady()) return;
    clearTimeout(p.timer);
    const frame = { type: "message", text: p.text, client_msg_id: cid };
    if (p.pick) frame.pick = p.pick;
    if (!send(frame)) return;
    p.tries += 1;
    p.timer = setTimeout(() => {
      if (!state.pending.has(cid)) return;
      if (p.tries >= 3) setStatus(p.el, "failed");
      else trySend(cid);
    }, 8000);
  }

  function flushPending() {
    for (const [cid, p] of state.pending) {
      p.tries = 0;
      setStatus(p.el, "pending");
      trySend(cid);
    }
  }

  function resendUnacked() {
    for (const [cid, p] of state.pending) if (p.el.getAttribute("data-status") === "pending") trySend(cid);
  }

  function retry(cid) {
    const p = state.pending.get(cid);
    if (!p) return;
    p.tries = 0;
    setStatus(p.el, "pending");
    ensureConnected();
    trySend(cid);
  }

  function markSent(cid, id) {
    const p = state.pending.get(cid);
    if (p) {
      clearTimeout(p.timer);
      state.pending.delete(cid);
      savePending();
    }
    const el = state.byClientId.get(cid);
    if (el) {
      setStatus(el, "sent");
      if (id) el.setAttribute("data-id", id);
    }
    if (id) state.seen.add(id);
  }

  function submitComposer(event) {
    event.preventDefault();
    if (sendText(input.value)) {
      input.value = "";
      autosize();
    }
    input.focus();
  }

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      composer.requestSubmit ? composer.requestSubmit() : submitComposer(event);
    }
  });

  let lastTypingSent = 0;
  input.addEventListener("input", () => {
    autosize();
    const now = Date.now();
    if (state.mode === "agent" && input.value.trim() && now - lastTypingSent > 3000 && isReady()) {
      lastTypingSent = now;
      send({ type: "typing" });
    }
  });

  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 132) + "px";
  }

  // Busy buttons stay focusable (a disabled button would drop the keyboard focus).
  function setBusy(button, busy) {
    if (busy) button.setAttribute("aria-disabled", "true");
    else button.removeAttribute("aria-disabled");
  }
  function isBusy(button) {
    return button.getAttribute("aria-disabled") === "true";
  }

  function requestTransfer() {
    if (isBusy(transferBtn)) return;
    if (!isReady()) {
      ensureConnected();
      toast(T.notConnected);
      return;
    }
    hideOffline();
    hideRating();
    setBusy(transferBtn, true);
    send({ type: "transfer" });
    setTimeout(() => setBusy(transferBtn, false), 8000);
  }

  let endConfirmTimer = null;
  function endChat() {
    if (!isReady()) {
      toast(T.notConnected);
      return;
    }
    if (endBtn.getAttribute("data-confirm") !== "1") {
      endBtn.setAttribute("data-confirm", "1");
      endBtn.textContent = T.confirmEnd;
      clearTimeout(endConfirmTimer);
      endConfirmTimer = setTimeout(resetEndButton, 4000);
      return;
    }
    resetEndButton();
    send({ type: "close" });
  }

  function resetEndButton() {
    clearTimeout(endConfirmTimer);
    endBtn.removeAttribute("data-confirm");
    endBtn.textContent = state.mode === "queued" ? T.leaveQueue : T.endChat;
  }

  // ---------------------------------------------------------------- leave a message

  function showOffline(focus) {
    leaveError.hidden = true;
    setBusy(leaveSubmit, false);
    offlineForm.hidden = false;
    keepPinned();
    if (focus && state.open) leaveText.focus({ preventScroll: true });
  }

  function hideOffline() {
    const hadFocus = offlineForm.contains(shadow.activeElement) || (state.open && !shadow.activeElement);
    offlineForm.hidden = true;
    leaveError.hidden = true;
    if (state.awaiting === "leave") state.awaiting = null;
    if (hadFocus) input.focus();
  }

  function submitLeave(event) {
    event.preventDefault();
    if (isBusy(leaveSubmit)) return;
    const text = leaveText.value.trim();
    const contact = leaveContact.value.trim();
    leaveText.removeAttribute("aria-invalid");
    leaveContact.removeAttribute("aria-invalid");
    let problem = null;
    if (!text) {
      problem = T.needText;
      leaveText.setAttribute("aria-invalid", "true");
      leaveText.focus();
    } else if (!contact) {
      problem = T.needContact;
      leaveContact.setAttribute("aria-invalid", "true");
      leaveContact.focus();
    }
    if (problem) {
      leaveError.textContent = problem;
      leaveError.hidden = false;
      return;
    }
    leaveError.hidden = true;
    if (!isReady()) {
      ensureConnected();
      toast(T.notConnected);
      return;
    }
    state.awaiting = "leave";
    setBusy(leaveSubmit, true);
    send({ type: "leave_message", text: text, contact: contact });
  }

  // ---------------------------------------------------------------- rating

  function paintStars(hover) {
    const checked = starInputs.find((i) => i.checked);
    const score = hover || (checked ? Number(checked.value) : 0);
    starLabels.forEach((label, i) => label.classList.toggle("is-on", i < score));
    starHint.textContent = score ? T.stars[score - 1].replace(/^.*[:：]\s*/, "") : "";
    if (checked) rateError.hidden = true;
  }

  function showRating() {
    starInputs.forEach((i) => (i.checked = false));
    rateComment.value = "";
    rateError.hidden = true;
    setBusy(rateSubmit, false);
    paintStars();
    ratingForm.hidden = false;
    keepPinned();
  }

  function hideRating() {
    const hadFocus = ratingForm.contains(shadow.activeElement) || (state.open && !shadow.activeElement);
    ratingForm.hidden = true;
    if (state.awaiting === "rate") state.awaiting = null;
    if (hadFocus) input.focus();
  }

  function submitRating(event) {
    event.preventDefault();
    if (isBusy(rateSubmit)) return;
    const checked = starInputs.find((i) => i.checked);
    if (!checked) {
      rateError.textContent = T.needScore;
      rateError.hidden = false;
      starInputs[0].focus();
      return;
    }
    if (!isReady()) {
      ensureConnected();
      toast(T.notConnected);
      return;
    }
    const frame = { type: "rate", score: Number(checked.value) };
    const comment = rateComment.value.trim();
    if (comment) frame.comment = comment;
    state.awaiting = "rate";
    setBusy(rateSubmit, true);
    send(frame);
  }

  // ---------------------------------------------------------------- typing, toast, unread

  let typingTimer = null;
  function showTyping() {
    const wasPinned = pinned;
    typingEl.hidden = false;
    if (wasPinned) toBottom();
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, 4000);
  }
  function hideTyping() {
    clearTimeout(typingTimer);
    typingEl.hidden = true;
  }

  let toastTimer = null;
  function toast(text) {
    toastEl.textContent = text;
    toastEl.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => (toastEl.hidden = true), 4500);
  }

  function countUnread(replay) {
    if (replay || state.open) return;
    state.unread += 1;
    paintUnread();
  }
  function paintUnread() {
    const n = state.unread;
    badge.hidden = n === 0;
    badge.textContent = n > 99 ? "99+" : String(n);
    unreadText.textContent = n ? T.unread(n) : "";
  }

  // ---------------------------------------------------------------- connection

  let ws = null;
  let attempts = 0;
  let retryTimer = null;
  let watchdog = null;
  let lastFrameAt = 0;
  let wanted = false;

  function setConn(s) {
    connEl.setAttribute("data-state", s);
    connText.textContent = s === "connecting" ? T.connecting : s === "reconnecting" ? T.reconnecting : s === "unreachable" ? T.unreachable : "";
    wrap.setAttribute("data-conn", s);
  }

  function ensureConnected() {
    wanted = true;
    if (!ws && !retryTimer) connect();
  }

  function connect() {
    retryTimer = null;
    if (ws) return;
    const params = new URLSearchParams({ shop: SHOP, lang: LANG });
    const token = store.get("token");
    if (token) {
      params.set("token", token);
      // Within this page: only what we missed. After a reload (nothing in memory): everything.
      if (state.lastId) params.set("last_id", state.lastId);
    }
    if (attempts >= 6) setConn("unreachable");
    else setConn(state.everConnected ? "reconnecting" : "connecting");
    let sock;
    try {
      sock = new WebSocket(WS_URL + "?" + params.toString());
    } catch (e) {
      scheduleRetry();
      return;
    }
    ws = sock;
    lastFrameAt = Date.now();
    sock.addEventListener("message", (event) => {
      if (ws !== sock) return;
      lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (frame && typeof frame === "object" && typeof frame.type === "string") {
        try {
          handleFrame(frame, false);
        } catch (e) {
          console.error("[kefu]", e);
        }
      }
    });
    sock.addEventListener("open", () => {
      if (ws === sock) startWatchdog(sock);
    });
    sock.addEventListener("close", () => dropped(sock));
  }

  function dropped(sock) {
    if (ws !== sock) return;
    ws = null;
    state.sessionReady = false;
    clearInterval(watchdog);
    for (const p of state.pending.values()) clearTimeout(p.timer);
    if (state.awaiting === "leave") setBusy(leaveSubmit, false);
    if (state.awaiting === "rate") setBusy(rateSubmit, false);
    setBusy(transferBtn, false);
    hideTyping();
    if (wanted) scheduleRetry();
    else setConn("idle");
  }

  function scheduleRetry() {
    clearTimeout(retryTimer);
    const delay = Math.min(10000, 500 * Math.pow(2, attempts)) * (0.85 + Math.random() * 0.3);
    attempts += 1;
    setConn(attempts >= 6 ? "unreachable" : state.everConnected ? "reconnecting" : "connecting");
    retryTimer = setTimeout(connect, Math.max(500, Math.min(10000, delay)));
  }

  function retryNow() {
    if (!wanted || ws) return;
    clearTimeout(retryTimer);
    retryTimer = null;
    connect();
  }

  // Silence means a dead peer the browser has not noticed: ping, then give up on the socket.
  function startWatchdog(sock) {
    clearInterval(watchdog);
    watchdog = setInterval(() => {
      if (ws !== sock) return clearInterval(watchdog);
      const quiet = Date.now() - lastFrameAt;
      if (quiet > 50000) {
        try {
          sock.close(4000, "no answer");
        } catch (e) {
          /* already closing */
        }
        dropped(sock);
      } else if (quiet > 25000 && sock.readyState === 1) {
        try {
          sock.send(JSON.stringify({ type: "ping" }));
        } catch (e) {
          /* the close event follows */
        }
      }
    }, 10000);
  }

  window.addEventListener("online", retryNow);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") retryNow();
  });

  // ---------------------------------------------------------------- open / close

  function open(opts) {
    const focus = !opts || opts.focus !== false;
    if (!state.open) {
      state.open = true;
      panel.hidden = false;
      wrap.classList.add("kefu--open");
      launcher.setAttribute("aria-expanded", "true");
      tabStore.set("open", "1");
      state.unread = 0;
      paintUnread();
      ensureConnected();
      toBottom();
    }
    if (focus) {
      const coarse = window.matchMedia && window.matchMedia("(pointer: coarse)").matches;
      (coarse ? panel : input).focus({ preventScroll: true });
    }
  }

  function close() {
    if (!state.open) return;
    state.open = false;
    panel.hidden = true;
    wrap.classList.remove("kefu--open");
    launcher.setAttribute("aria-expanded", "false");
    tabStore.set("open", null);
    launcher.focus({ preventScroll: true });
  }

  function toggle() {
    if (state.open) close();
    else open();
  }

  wrap.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.open && !event.isComposing) {
      event.preventDefault();
      event.stopPropagation();
      close();
    }
  });

  // ---------------------------------------------------------------- start

  function start() {
    document.body.appendChild(host);
    render();
    setConn("idle");
    if (tabStore.get("open") === "1") {
      open({ focus: false }); // it was open before the reload
    } else if (restored.size || (store.get("token") && /^(queued|agent)$/.test(store.get("mode") || ""))) {
      // Keep the queue place, hear the agent, deliver what was typed before the reload, even
      // with the panel closed.
      ensureConnected();
    }
  }

  window.kefuWidget = Object.freeze({
    open: () => open(),
    close: () => close(),
    toggle: () => toggle(),
    get isOpen() {
      return state.open;
    },
  });

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start, { once: true });
})();
