// The shopper websocket (/ws/shopper, docs/protocol.md): connects when wanted, reconnects with
// exponential backoff and jitter, and pings when the line goes quiet to find dead peers.
// Before the first attempt, and before any attempt after a socket that failed to open, it runs
// `check` (main.js, with shopinfo.js): a refusal (unknown shop, origin not allowed, a customer
// claim the shop keeps refusing) stops it for good, since retrying cannot help, and goes to
// onRefused; only restart(true) lifts it, when the page names another customer.
//
// States reported to onState (the connection line's data-state): connecting | reconnecting |
// unreachable (6 failed attempts in a row; it keeps trying) | idle (closed, not wanted) | open
// (the server's `session` frame arrived: sessionStarted()). After a refusal: none (onRefused).
// restart() starts over with what `target` says now (the page signed a customer in or out).

const WATCH_EVERY_MS = 10000;
const PING_AFTER_MS = 25000; // of silence
const DEAD_AFTER_MS = 50000; // of silence
const UNREACHABLE_AFTER = 6; // attempts

export class ShopperSocket {
  /**
   * @param {object} o
   * @param {() => {url: string, protocols: string[]}} o.target  where to connect, read at every
   *                                        attempt (last_id in the URL; the session token rides
   *                                        in Sec-WebSocket-Protocol, never in the URL)
   * @param {(frame: object) => void} o.onFrame
   * @param {(state: string) => void} o.onState
   * @param {(failedToOpen: boolean) => void} o.onDrop  the socket went away (before any retry is
   *                                        scheduled); failedToOpen: refused at the handshake or
   *                                        unreachable
   * @param {() => Promise<object|null>} o.check   why not to connect at all (a refusal), or null
   * @param {(refusal: object) => void} o.onRefused  check refused: nothing more is tried
   */
  constructor({ target, onFrame, onState, onDrop, check, onRefused }) {
    this.target = target;
    this.onFrame = onFrame;
    this.onState = onState;
    this.onDrop = onDrop;
    this.check = check;
    this.onRefused = onRefused;
    this.mustCheck = true; // ask before the first socket, and after one that failed to open
    this.checking = false;
    this.refusal = null;
    this.ws = null;
    this.attempts = 0;
    this.retryTimer = null;
    this.watchdog = null;
    this.lastFrameAt = 0;
    this.wanted = false; // something needs the socket: keep (re)connecting
    this.sessionReady = false; // the `session` frame of the current socket arrived
    this.everConnected = false;
    window.addEventListener("online", () => this.retryNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.retryNow();
    });
  }

  /** Open, and the server said which session this is: frames may be sent. */
  get isReady() {
    return !!this.ws && this.ws.readyState === 1 && this.sessionReady;
  }

  /** Connect unless connected or waiting to retry; from now on, reconnect when dropped. */
  want() {
    if (this.refusal) return;
    this.wanted = true;
    if (!this.ws && !this.retryTimer && !this.checking) this.connect();
  }

  /** The `session` frame arrived: a healthy connection resets the backoff. */
  sessionStarted() {
    this.sessionReady = true;
    this.everConnected = true;
    this.attempts = 0;
    this.onState("open");
  }

  /** Send a frame if ready; false if not (nothing is queued here). */
  send(frame) {
    if (!this.isReady) return false;
    try {
      this.ws.send(JSON.stringify(frame));
      return true;
    } catch (e) {
      return false;
    }
  }

  /**
   * Start over with what target() says now (another customer signed in, or out): the current
   * socket goes, and a new one opens at once if one was wanted. `lift`: the refusal concerned
   * the old target (a customer the shop refused), so it no longer holds; others stay.
   */
  restart(lift) {
    let wanted = this.wanted || !!this.ws;
    if (this.refusal) {
      if (!lift) return;
      this.refusal = null;
      this.mustCheck = true;
      wanted = true;
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.attempts = 0;
    const sock = this.ws;
    if (sock) {
      // Its close event finds this.ws moved on and is ignored, as are its last frames.
      this.ws = null;
      this.sessionReady = false;
      clearInterval(this.watchdog);
      try {
        sock.close(1000, "restart");
      } catch (e) {
        /* already closing */
      }
      this.onDrop(false);
    }
    if (wanted) {
      this.wanted = true;
      this.connect();
    } else {
      this.onState("idle");
    }
  }

  /** Skip the backoff wait (the network came back, the tab is visible again). */
  retryNow() {
    if (!this.wanted || this.ws || this.checking) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  }

  connect() {
    this.retryTimer = null;
    if (this.ws || this.checking || this.refusal) return;
    if (this.attempts >= UNREACHABLE_AFTER) this.onState("unreachable");
    else this.onState(this.everConnected ? "reconnecting" : "connecting");
    if (this.mustCheck && this.check) {
      this.checking = true;
      Promise.resolve()
        .then(() => this.check())
        .catch(() => null) // a check that broke proves nothing: connect as before
        .then((refusal) => {
          this.checking = false;
          if (refusal) return this.refuse(refusal);
          this.mustCheck = false;
          this.open();
        });
      return;
    }
    this.open();
  }

  /** The chat cannot work on this page: stop, and never try again (nor on online/visible). */
  refuse(refusal) {
    this.refusal = refusal;
    this.wanted = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.onRefused(refusal);
  }

  open() {
    if (this.ws || this.refusal) return;
    let sock;
    try {
      const { url, protocols } = this.target();
      sock = new WebSocket(url, protocols);
    } catch (e) {
      this.mustCheck = true;
      this.scheduleRetry();
      return;
    }
    let opened = false;
    this.ws = sock;
    this.lastFrameAt = Date.now();
    sock.addEventListener("message", (event) => {
      if (this.ws !== sock) return;
      this.lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (frame && typeof frame === "object" && typeof frame.type === "string") {
        try {
          this.onFrame(frame);
        } catch (e) {
          console.error("[kefu]", e);
        }
      }
    });
    sock.addEventListener("open", () => {
      opened = true;
      if (this.ws === sock) this.startWatchdog(sock);
    });
    // Refused at the handshake (no such shop, origin not allowed) or unreachable: the browser
    // gives no reason, so the next attempt asks kefu first.
    sock.addEventListener("close", () => this.dropped(sock, !opened));
  }

  dropped(sock, failedToOpen) {
    if (this.ws !== sock) return;
    if (failedToOpen) this.mustCheck = true;
    this.ws = null;
    this.sessionReady = false;
    clearInterval(this.watchdog);
    this.onDrop(failedToOpen);
    if (this.wanted) this.scheduleRetry();
    else this.onState("idle");
  }

  scheduleRetry() {
    clearTimeout(this.retryTimer);
    const delay = Math.min(10000, 500 * Math.pow(2, this.attempts)) * (0.85 + Math.random() * 0.3);
    this.attempts += 1;
    this.onState(this.attempts >= UNREACHABLE_AFTER ? "unreachable" : this.everConnected ? "reconnecting" : "connecting");
    this.retryTimer = setTimeout(() => this.connect(), Math.max(500, Math.min(10000, delay)));
  }

  // Silence means a dead peer the browser has not noticed: ping, then give up on the socket.
  startWatchdog(sock) {
    clearInterval(this.watchdog);
    this.watchdog = setInterval(() => {
      if (this.ws !== sock) return clearInterval(this.watchdog);
      const quiet = Date.now() - this.lastFrameAt;
      if (quiet > DEAD_AFTER_MS) {
        try {
          sock.close(4000, "no answer");
        } catch (e) {
          /* already closing */
        }
        this.dropped(sock, false);
      } else if (quiet > PING_AFTER_MS && sock.readyState === 1) {
        try {
          sock.send(JSON.stringify({ type: "ping" }));
        } catch (e) {
          /* the close event follows */
        }
      }
    }, WATCH_EVERY_MS);
  }
}
