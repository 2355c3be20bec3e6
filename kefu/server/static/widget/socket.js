// The shopper websocket (/ws/shopper, docs/protocol.md): connects when wanted, reconnects with
// exponential backoff and jitter, and pings when the line goes quiet to find dead peers.
//
// States reported to onState (the connection line's data-state): connecting | reconnecting |
// unreachable (6 failed attempts in a row; it keeps trying) | idle (closed, not wanted) | open
// (the server's `session` frame arrived: sessionStarted()).

const WATCH_EVERY_MS = 10000;
const PING_AFTER_MS = 25000; // of silence
const DEAD_AFTER_MS = 50000; // of silence
const UNREACHABLE_AFTER = 6; // attempts

export class ShopperSocket {
  /**
   * @param {object} o
   * @param {() => string} o.url            the URL, read at every attempt (token, last_id)
   * @param {(frame: object) => void} o.onFrame
   * @param {(state: string) => void} o.onState
   * @param {() => void} o.onDrop            the socket went away (before any retry is scheduled)
   */
  constructor({ url, onFrame, onState, onDrop }) {
    this.url = url;
    this.onFrame = onFrame;
    this.onState = onState;
    this.onDrop = onDrop;
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
    this.wanted = true;
    if (!this.ws && !this.retryTimer) this.connect();
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

  /** Skip the backoff wait (the network came back, the tab is visible again). */
  retryNow() {
    if (!this.wanted || this.ws) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  }

  connect() {
    this.retryTimer = null;
    if (this.ws) return;
    if (this.attempts >= UNREACHABLE_AFTER) this.onState("unreachable");
    else this.onState(this.everConnected ? "reconnecting" : "connecting");
    let sock;
    try {
      sock = new WebSocket(this.url());
    } catch (e) {
      this.scheduleRetry();
      return;
    }
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
      if (this.ws === sock) this.startWatchdog(sock);
    });
    sock.addEventListener("close", () => this.dropped(sock));
  }

  dropped(sock) {
    if (this.ws !== sock) return;
    this.ws = null;
    this.sessionReady = false;
    clearInterval(this.watchdog);
    this.onDrop();
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
        this.dropped(sock);
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
