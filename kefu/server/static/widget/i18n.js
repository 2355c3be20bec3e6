// The widget's own texts, Chinese and English. The language is the script tag's data-lang, else
// the browser's (navigator.language "en…" → English, anything else → Chinese).

/** The longest message the server accepts (docs/protocol.md). */
export const MAX_TEXT = 2000;

/** "zh" or "en": `wanted` (data-lang) if it names one, else the browser's language. */
export function pickLang(wanted) {
  wanted = String(wanted || "").toLowerCase();
  if (wanted === "zh" || wanted === "en") return wanted;
  return /^en/i.test(navigator.language || "") ? "en" : "zh";
}

/** The strings of a language. */
export function strings(lang) {
  return STRINGS[lang] || STRINGS.zh;
}

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
    // The chat cannot work on this page (shopinfo.js): said in the connection line, for good.
    refused: {
      unknown_shop: "该店铺的在线客服不可用（未知店铺）",
      invalid_shop: "该店铺的在线客服不可用（未知店铺）",
      origin_not_allowed: "本网站未获准使用该店铺的在线客服",
      customer_refused: "无法确认您的登录状态，请刷新页面或重新登录后再咨询",
    },
    tooLong: "消息太长了，最多 " + MAX_TEXT + " 个字",
    errors: {
      rate_limited: "发送太频繁了，请稍后再试",
      text_too_long: "消息太长了，最多 " + MAX_TEXT + " 个字",
      session_expired: "之前的会话已过期，已为您开始新的会话",
      already_rated: "您已经评价过了",
      not_closed: "这个会话还不能评价",
      already_closed: "会话已经结束了",
      too_many_waiting: "您所在的网络已有多位顾客在排队，请稍后再试，或先留言",
      incomplete: "消息已收到，回复稍有延迟，请稍候",
      unavailable: "网络不太稳定，消息没有发出，正在重试",
    },
    genericError: "出了点问题，请稍后再试",
    serviceBusy: "客服系统暂时无法接待，正在重新连接…",
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
    refused: {
      unknown_shop: "This shop's chat is not available (unknown shop)",
      invalid_shop: "This shop's chat is not available (unknown shop)",
      origin_not_allowed: "This website is not allowed to use this shop's chat",
      customer_refused: "We couldn't confirm your sign-in; reload the page or sign in again to chat",
    },
    tooLong: "That message is too long (" + MAX_TEXT + " characters at most)",
    errors: {
      rate_limited: "You're sending too fast, please wait a moment",
      text_too_long: "That message is too long (" + MAX_TEXT + " characters at most)",
      session_expired: "Your previous chat expired; a new one began",
      already_rated: "You already rated this chat",
      not_closed: "This chat can't be rated yet",
      already_closed: "The chat has already ended",
      too_many_waiting: "Several people on your network are already waiting; try again later, or leave a message",
      incomplete: "Your message arrived; the reply is a little delayed",
      unavailable: "The connection is unsteady: your message was not sent, retrying",
    },
    genericError: "Something went wrong, please try again",
    serviceBusy: "Customer service is unavailable for a moment; reconnecting…",
  },
};
