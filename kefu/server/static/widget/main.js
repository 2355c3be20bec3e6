// The shopper chat widget, started by the /widget.js loader with the script tag's settings:
// start({shop, origin, lang, title, color, customer, product}) mounts <kefu-widget> and returns
// {open, close, toggle, identify, product, isOpen}. The Widget below holds the parts and the
// chat state and does what the shopper (and the shop's page) asks; frames.js does what the
// server says.
//
// Modules: i18n (texts) · storage (local/sessionStorage) · state (chat state, ids) · shopinfo
// (may the chat work on this page: asked before connecting) · socket (connection) · outbox
// (unsent messages) · log (message list) · cards (leave a message, rate) · view (shadow root,
// header, buttons, composer) · frames (server frames) · commerce (the signed-in customer and
// the product on the page, checked) · ui (small helpers).
//
// Test hooks — document.querySelector("kefu-widget").shadowRoot.querySelector('[data-testid="…"]'):
//   kefu-launcher          floating round button (aria-expanded tells whether the panel is open)
//   kefu-unread            unread-count badge on the launcher (hidden when 0)
//   kefu-panel             the chat panel (hidden attribute while closed); data-identity=
//                          "anonymous|customer|unverified" once the server said who the shopper
//                          is (unverified: a customer was offered but the hash did not verify)
//   kefu-title             panel title
//   kefu-agent-name        agent's name in the header (hidden until an agent joins)
//   kefu-close             close button in the header
//   kefu-connection        connection status; data-state="idle|connecting|open|reconnecting|unreachable",
//                          or "refused" for good with data-reason="unknown_shop|invalid_shop|
//                          origin_not_allowed|customer_refused" (the composer is disabled then;
//                          kefu('identify', …) naming someone else lifts customer_refused)
//   kefu-messages          message list (role="log", aria-live="polite")
//   kefu-message           one message; data-from="bot|shopper|agent|system", data-id (server id),
//                          data-decision (bot), data-event (system), data-status="pending|sent|failed"
//                          and data-client-msg-id (shopper)
//   kefu-message-text      the text of a message
//   kefu-message-agent     agent name above an agent message
//   kefu-suggestion        suggestion chip under a bot message (sends its question); data-faq-id
//   kefu-retry             "resend" button on a failed shopper message
//   kefu-typing            agent typing indicator (hidden when not typing)
//   kefu-queue-status      live queue position line (hidden unless queued)
//   kefu-transfer          转人工 / Talk to a human button
//   kefu-end-chat          end the chat (with an agent) / leave the queue; asks to confirm once
//   kefu-offline-form      leave-a-message form; kefu-offline-text, kefu-offline-contact,
//                          kefu-offline-submit, kefu-offline-dismiss, kefu-offline-error
//   kefu-rating            rating form after a chat closed; kefu-rating-star (labels with
//                          data-score="1".."5" wrapping radio inputs), kefu-rating-comment,
//                          kefu-rating-submit, kefu-rating-dismiss, kefu-rating-error
//   kefu-error             transient error line (rate_limited, text_too_long, …)
//   kefu-input             composer textarea
//   kefu-send              send button

import { customerProtocol, readCustomer, readProduct, sameCustomer } from "./commerce.js";
import { handleFrame } from "./frames.js";
import { MessageLog } from "./log.js";
import { OfflineCard, RatingCard } from "./cards.js";
import { Outbox } from "./outbox.js";
import { askShop } from "./shopinfo.js";
import { ShopperSocket } from "./socket.js";
import { createState } from "./state.js";
import { makeStore } from "./storage.js";
import { MAX_TEXT, pickLang, strings } from "./i18n.js";
import { isBusy, setBusy } from "./ui.js";
import { WidgetView } from "./view.js";

const TYPING_EVERY_MS = 3000;
const TRANSFER_BUSY_MS = 8000;
// Sockets offering a customer that failed at the handshake although kefu had just answered
// that the chat works on this page: the shop refuses that customer (a hash that does not
// verify, with "refuse unverified customers" on). The browser hides the 403; a retry cannot help.
const CLAIM_REFUSED_AFTER = 2;

class Widget {
  constructor({ shop, origin, lang, title, color, customer, product }) {
    this.shop = shop;
    this.lang = pickLang(lang);
    this.T = strings(this.lang);
    this.store = makeStore(shop, "local"); // token, last_id, mode, signed_in
    this.tabStore = makeStore(shop, "session"); // open, pending
    this.state = createState();
    this.lastTypingSent = 0;
    // The signed-in customer the shop's page vouches for (null: anonymous), offered with every
    // socket; and what kefu made of it.
    this.customer = readCustomer(customer);
    this.claimOffered = false; // by the latest socket
    this.claimFailures = 0; // handshakes refused in a row while kefu said the page was fine
    this.shopAnswered = false; // the last check before the latest socket got kefu's answer
    this.claimWarned = false;
    // The product on the page (null: none), sent once per socket, after the session frame.
    this.product = product ? readProduct(product) : null;
    this.productSent = null; // its id, once sent on the current socket
    const wsUrl = new URL("/ws/shopper", origin);
    wsUrl.protocol = wsUrl.protocol === "https:" ? "wss:" : "ws:";
    this.wsUrl = wsUrl.href;

    this.socket = new ShopperSocket({
      target: () => this.socketTarget(),
      onFrame: (frame) => handleFrame(this, frame, false),
      onState: (s) => this.view.setConn(s),
      onDrop: (failedToOpen) => this.dropped(failedToOpen),
      check: () => this.checkPage(origin),
      onRefused: (refusal) => this.refused(refusal),
    });
    this.log = new MessageLog({
      T: this.T,
      lang: this.lang,
      onPick: (question, pick) => this.sendText(question, pick),
      onRetry: (cid) => this.outbox.retry(cid),
    });
    this.outbox = new Outbox({ tabStore: this.tabStore, log: this.log, socket: this.socket, seen: this.state.seen });
    this.offline = new OfflineCard({ T: this.T, onSubmit: (entry) => this.leaveMessage(entry), onDismiss: () => this.hideOffline() });
    this.rating = new RatingCard({ T: this.T, onSubmit: (entry) => this.rate(entry), onDismiss: () => this.hideRating() });
    this.view = new WidgetView({
      T: this.T,
      lang: this.lang,
      title,
      accent: color,
      styles: [origin + "/static/common/base.css", origin + "/static/widget/widget.css"],
      log: this.log.el,
      cards: [this.offline.el, this.rating.el],
      on: {
        toggle: () => this.toggle(),
        close: () => this.close(),
        transfer: () => this.requestTransfer(),
        end: () => this.endChat(),
        submit: (text) => this.sendText(text),
        input: () => this.typed(),
      },
    });
  }

  /** The socket's URL and subprotocols: the session token and the signed-in customer travel
   * as subprotocols ("kefu.session.TOKEN" and "kefu.customer.CLAIM" beside "kefu.v1"), so they
   * never land in a URL or a proxy's log. */
  socketTarget() {
    const params = new URLSearchParams({ shop: this.shop, lang: this.lang });
    const protocols = ["kefu.v1"];
    const token = this.store.get("token");
    if (token) {
      protocols.push("kefu.session." + token);
      // Within this page: only what we missed. After a reload (nothing in memory): everything.
      if (this.state.lastId) params.set("last_id", this.state.lastId);
    }
    this.claimOffered = !!this.customer;
    if (this.customer) protocols.push(customerProtocol(this.customer));
    return { url: this.wsUrl + "?" + params.toString(), protocols };
  }

  /** Before a socket (shopinfo.js), and why not to open one: the page, or a customer the shop
   * keeps refusing. */
  async checkPage(origin) {
    const { refusal, answered, refusesUnverified } = await askShop(origin, this.shop);
    this.shopAnswered = answered;
    if (refusal) return refusal;
    // Sockets that fail to open are the shop refusing this customer only where the shop
    // refuses unverified ones; anywhere else (a busy network, a deploy) they are retried.
    if (answered && refusesUnverified && this.customer && this.claimFailures >= CLAIM_REFUSED_AFTER) {
      return {
        reason: "customer_refused",
        developer:
          'kefu: shop "' + this.shop + '" refused the signed-in customer "' + this.customer.id + '": the shop accepts only customers whose hash verifies, ' +
          "and data-customer-hash (or the hash given to kefu('identify')) must be the hex HMAC-SHA256 of the customer id (of \"id|exp\" for a claim with an expiry) under the shop's identity secret (kefu's admin), made on the shop's server; " +
          "the claim must not have expired, and must carry an expiry if the shop requires one",
      };
    }
    return null;
  }

  /** On the page; connects at once if the chat was open, queued or with an agent before a reload. */
  mount() {
    document.body.appendChild(this.view.host);
    this.render();
    this.view.setConn("idle");
    if (this.tabStore.get("open") === "1") {
      this.open({ focus: false }); // it was open before the reload
    } else if (this.outbox.restored.size || (this.store.get("token") && /^(queued|agent)$/.test(this.store.get("mode") || ""))) {
      // Keep the queue place, hear the agent, deliver what was typed before the reload, even
      // with the panel closed.
      this.socket.want();
    }
  }

  // ---------------------------------------------------------------- mode and painting

  setMode(mode) {
    const { state } = this;
    state.mode = mode;
    this.store.set("mode", mode);
    if (mode !== "queued") state.queue = null;
    if (mode !== "agent") state.agent = null;
    this.render();
  }

  render() {
    this.view.paint(this.state);
    if (this.state.mode !== "agent") this.log.hideTyping();
  }

  countUnread(replay) {
    if (replay || this.state.open) return;
    this.state.unread += 1;
    this.view.paintUnread(this.state.unread);
  }

  dropped(failedToOpen) {
    if (failedToOpen && this.claimOffered && this.shopAnswered) this.claimFailures += 1;
    this.shopAnswered = false; // the next failure counts only if kefu answers again first
    this.productSent = null;
    this.outbox.pause();
    if (this.state.awaiting === "leave") this.offline.setBusy(false);
    if (this.state.awaiting === "rate") this.rating.setBusy(false);
    setBusy(this.view.transferBtn, false);
    this.log.hideTyping();
  }

  /** The chat cannot work on this page (shopinfo.js): tell the shopper and the site's developer. */
  refused({ reason, developer }) {
    this.state.refused = reason;
    if (developer) console.error(developer);
    this.dropped();
    this.view.refuse(reason, this.T.refused[reason] || this.T.refused.unknown_shop);
  }

  /** Not connected: say so, and try. */
  notReady() {
    if (this.socket.isReady) return false;
    if (this.refusedHere()) return true;
    this.socket.want();
    this.view.toast(this.T.notConnected);
    return true;
  }

  /** Refused for good: say why again (nothing will be sent). */
  refusedHere() {
    const reason = this.state.refused;
    if (reason) this.view.toast(this.T.refused[reason] || this.T.refused.unknown_shop);
    return !!reason;
  }

  // ---------------------------------------------------------------- the shopper writes

  // `pick`: the suggestion chip clicked ({faq_id, message_id} of the bot line that offered it),
  // so the shop's bot can learn the shopper's earlier question as a phrasing of that FAQ.
  sendText(text, pick) {
    text = String(text).trim();
    if (!text || this.refusedHere()) return false;
    if (text.length > MAX_TEXT) {
      this.view.toast(this.T.tooLong);
      return false;
    }
    const cid = this.outbox.add(text, pick);
    if (this.state.mode === "closed") {
      this.setMode("bot"); // the server starts a new conversation
      this.sendProduct(); // held back while the closed chat could still be rated
    }
    this.shopperMoved();
    this.socket.want();
    this.outbox.trySend(cid);
    return true;
  }

  // The shopper carried on chatting: a closed chat can no longer be rated; an untouched
  // leave-a-message form is not wanted.
  shopperMoved() {
    if (this.rating.shown && this.state.awaiting !== "rate") this.hideRating();
    if (this.offline.shown && this.offline.blank) this.hideOffline();
  }

  typed() {
    const now = Date.now();
    if (this.state.mode === "agent" && this.view.input.value.trim() && now - this.lastTypingSent > TYPING_EVERY_MS && this.socket.isReady) {
      this.lastTypingSent = now;
      this.socket.send({ type: "typing" });
    }
  }

  requestTransfer() {
    const button = this.view.transferBtn;
    if (isBusy(button)) return;
    if (this.notReady()) return;
    this.hideOffline();
    this.hideRating();
    setBusy(button, true);
    this.socket.send({ type: "transfer" });
    setTimeout(() => setBusy(button, false), TRANSFER_BUSY_MS);
  }

  endChat() {
    if (this.refusedHere()) return;
    if (!this.socket.isReady) {
      this.view.toast(this.T.notConnected);
      return;
    }
    if (this.view.confirmEnd()) this.socket.send({ type: "close" });
  }

  // ---------------------------------------------------------------- the shop's page

  /** kefu('identify', {id, name, hash, exp} | null): another signed-in customer, or signed out.
   * The chat on screen was the previous person's: it goes, and the socket starts over. The same
   * customer's new claim (a later expiry) keeps the chat. */
  identify(given) {
    const customer = readCustomer(given);
    const before = this.customer;
    this.customer = customer; // a new display name alone is offered from the next socket on
    const signedIn = this.store.get("signed_in") === "1";
    const renewed = !!before && !!customer && before.id === customer.id;
    // Renewed while the chat is signed in: the open socket keeps its customer, the next one
    // offers the new claim. Renewed while it is not (the old claim had expired): the chat is
    // anonymous, and becomes the customer's as any anonymous chat does.
    if (renewed && signedIn && this.state.refused !== "customer_refused") return;
    // The chat this browser keeps is a signed-in customer's (this page's, or an earlier one's).
    const theirs = !renewed && (!!before || signedIn);
    if (sameCustomer(before, customer) && (customer || !theirs)) return;
    this.claimFailures = 0;
    this.claimWarned = false;
    // A signed-in customer's session is never resumed anonymously, nor by another customer:
    // this browser forgets its token. An anonymous chat stays, to become the customer's.
    if (theirs) {
      this.store.set("token", null);
      this.store.set("signed_in", null);
    }
    this.startOver(!theirs);
    const lift = this.state.refused === "customer_refused";
    if (lift) {
      this.state.refused = null;
      this.view.unrefuse();
    }
    this.socket.restart(lift);
  }

  /** Clear the chat on screen for another person's; `keepTyped`: what was typed and not yet
   * stored is sent again in the next session. */
  startOver(keepTyped) {
    const { state } = this;
    this.outbox.reset(keepTyped);
    this.log.clear();
    state.seen.clear();
    state.lastId = null;
    this.store.set("last_id", null);
    state.hadAgent = false;
    state.awaiting = null;
    state.unread = 0;
    this.view.paintUnread(0);
    // Not hideOffline()/hideRating(): the page called, the keyboard focus stays where it is.
    this.offline.hide();
    this.rating.hide();
    this.setMode("bot");
  }

  /** The session frame said who the shopper is: {id, name} of the customer kefu verified, or null. */
  identified(customer) {
    this.claimFailures = 0;
    this.store.set("signed_in", customer ? "1" : null);
    const kind = customer ? "customer" : this.claimOffered ? "unverified" : "anonymous";
    this.view.setIdentity(kind);
    if (kind === "unverified" && !this.claimWarned && this.customer) {
      this.claimWarned = true;
      console.warn(
        'kefu: the claim of customer "' + this.customer.id + '" did not verify, so the chat is anonymous: ' +
          "the hash must be the hex HMAC-SHA256 of the customer id (of \"id|exp\" for a claim with an expiry) under the shop's identity secret (kefu's admin), made on the shop's server; " +
          "the claim must not have expired, and must carry an expiry if the shop requires one",
      );
    }
  }

  /** kefu('product', {id, title, price, image, url} | null): the product the shopper is viewing. */
  setProduct(given) {
    this.product = given === null || given === undefined ? null : readProduct(given);
    this.sendProduct();
  }

  /** Tell the server the product on the page, once per socket. Not while a closed chat may be
   * rated: a product frame begins the next conversation. */
  sendProduct() {
    const product = this.product;
    if (!product || product.id === this.productSent || this.state.mode === "closed") return;
    if (this.socket.send({ type: "product", product: product })) this.productSent = product.id;
  }

  // ---------------------------------------------------------------- cards

  // A card that goes away hands the keyboard focus back to the composer if it had it.
  hadFocus(card) {
    const active = this.view.active;
    return card.holds(active) || (this.state.open && !active);
  }

  showOffline(focus) {
    this.offline.show();
    this.log.keepPinned();
    if (focus && this.state.open) this.offline.focus();
  }

  hideOffline() {
    const hadFocus = this.hadFocus(this.offline);
    this.offline.hide();
    if (this.state.awaiting === "leave") this.state.awaiting = null;
    if (hadFocus) this.view.input.focus();
  }

  leaveMessage({ text, contact }) {
    if (this.notReady()) return;
    this.state.awaiting = "leave";
    this.offline.setBusy(true);
    this.socket.send({ type: "leave_message", text: text, contact: contact });
  }

  showRating() {
    this.rating.show();
    this.log.keepPinned();
  }

  hideRating() {
    const hadFocus = this.hadFocus(this.rating);
    this.rating.hide();
    if (this.state.awaiting === "rate") this.state.awaiting = null;
    if (hadFocus) this.view.input.focus();
  }

  rate({ score, comment }) {
    if (this.notReady()) return;
    const frame = { type: "rate", score: score };
    if (comment) frame.comment = comment;
    this.state.awaiting = "rate";
    this.rating.setBusy(true);
    this.socket.send(frame);
  }

  // ---------------------------------------------------------------- open / close

  open(opts) {
    const { state, view } = this;
    const focus = !opts || opts.focus !== false;
    if (!state.open) {
      state.open = true;
      view.showPanel(true);
      this.tabStore.set("open", "1");
      state.unread = 0;
      view.paintUnread(0);
      this.socket.want();
      this.log.toBottom();
    }
    if (focus) {
      const coarse = window.matchMedia && window.matchMedia("(pointer: coarse)").matches;
      (coarse ? view.panel : view.input).focus({ preventScroll: true });
    }
  }

  close() {
    if (!this.state.open) return;
    this.state.open = false;
    this.view.showPanel(false);
    this.tabStore.set("open", null);
    this.view.launcher.focus({ preventScroll: true });
  }

  toggle() {
    if (this.state.open) this.close();
    else this.open();
  }
}

/** Build the widget and put it on the page (now, or when <body> exists). */
export function start(config) {
  const widget = new Widget(config);
  if (document.body) widget.mount();
  else document.addEventListener("DOMContentLoaded", () => widget.mount(), { once: true });
  return {
    open: () => widget.open(),
    close: () => widget.close(),
    toggle: () => widget.toggle(),
    identify: (customer) => widget.identify(customer),
    product: (product) => widget.setProduct(product),
    get isOpen() {
      return widget.state.open;
    },
  };
}
