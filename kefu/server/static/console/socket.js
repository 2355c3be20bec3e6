// The agent websocket with automatic reconnection (exponential backoff with jitter).
//
// Each attempt opens with a fresh single-use ticket (`url()` fetches it: the login token never
// goes into a URL). A browser cannot see the HTTP status of a refused upgrade, so when a socket
// closes before it ever opened, `checkAuth()` asks the REST API whether the token still works:
// "unauthorized" (401: expired or revoked) stops reconnecting and calls `onAuthFailed`. The
// server closing an open socket with 4001 means the login ended (logout elsewhere, disabled,
// password reset, expiry): no reconnecting either.

const SIGNED_OUT = 4001;

const PING_EVERY_MS = 25000;
const PONG_TIMEOUT_MS = 10000;
const MAX_BACKOFF_MS = 30000;

export class AgentSocket {
  /**
   * @param {object} o
   * @param {() => Promise<string>} o.url  the websocket URL with a fresh ticket (every attempt);
   *                                        rejects with {status: 401} when the login is over
   * @param {(frame: object) => void} o.onFrame
   * @param {(state: string, info?: object) => void} o.onState  connecting|open|reconnecting|closed
   * @param {() => Promise<"ok"|"unauthorized"|"error">} o.checkAuth
   * @param {() => void} o.onAuthFailed
   */
  constructor({ url, onFrame, onState, checkAuth, onAuthFailed }) {
    this.url = url;
    this.onFrame = onFrame;
    this.onState = onState;
    this.checkAuth = checkAuth;
    this.onAuthFailed = onAuthFailed;
    this.ws = null;
    this.attempt = 0;
    this.stopped = true;
    this.retryTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.retryAt = 0;
    this._online = () => this.reconnectNow();
    window.addEventListener("online", this._online);
  }

  get isOpen() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  start() {
    this.stopped = false;
    this.attempt = 0;
    this._connect();
  }

  /** Close for good (logout). */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this._stopPing();
    window.removeEventListener("online", this._online);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      try {
        ws.close(1000, "logout");
      } catch {
        /* already closed */
      }
    }
    this.onState("closed");
  }

  /** Skip the backoff wait (the network came back, or the user clicked the indicator). */
  reconnectNow() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.retryTimer);
    this._connect();
  }

  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  async _connect() {
    if (this.stopped || this.connecting) return;
    this.onState(this.attempt === 0 ? "connecting" : "reconnecting");
    this.connecting = true;
    let url;
    try {
      url = await this.url();
    } catch (err) {
      this.connecting = false;
      if (this.stopped) return;
      if (err && err.status === 401) {
        this.stopped = true;
        this.onAuthFailed();
      } else {
        this._scheduleRetry(false);
      }
      return;
    }
    this.connecting = false;
    if (this.stopped || this.ws) return;
    let opened = false;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      this._scheduleRetry(false);
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      opened = true;
      this.onState("open");
      this._startPing();
    };
    ws.onmessage = (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "pong") clearTimeout(this.pongTimer);
      if (frame.type === "hello") this.attempt = 0; // a healthy connection resets the backoff
      this.onFrame(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return; // a socket we dropped on purpose
      this.ws = null;
      this._stopPing();
      if (this.stopped) return;
      if (event.code === SIGNED_OUT) {
        this.stopped = true;
        this.onAuthFailed(event.reason || "revoked");
        return;
      }
      if (!opened) {
        // Refused before the upgrade (401/403) or the server is down: ask the REST API why.
        this.onState("reconnecting");
        Promise.resolve(this.checkAuth())
          .catch(() => "error")
          .then((verdict) => {
            if (this.stopped) return;
            if (verdict === "unauthorized") {
              this.stopped = true;
              this.onAuthFailed();
            } else {
              this._scheduleRetry(false);
            }
          });
        return;
      }
      // 1001: the server restarts; come back quickly (to another instance if there is one).
      this._scheduleRetry(event.code === 1001);
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  _scheduleRetry(quick) {
    if (this.stopped) return;
    this.attempt += 1;
    const base = quick && this.attempt <= 1 ? 300 : Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (this.attempt - 1));
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    this.retryAt = Date.now() + delay;
    this.onState("reconnecting", { retryAt: this.retryAt });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this._connect(), delay);
  }

  _startPing() {
    this._stopPing();
    this.pingTimer = setInterval(() => {
      if (!this.send({ type: "ping" })) return;
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(() => {
        // No answer: the connection is dead even if the browser has not noticed yet. Drop it
        // at once (its close event may take long on a dead network) and start over.
        const dead = this.ws;
        this.ws = null;
        this._stopPing();
        try {
          if (dead) dead.close(4000, "pong timeout");
        } catch {
          /* ignore */
        }
        this._scheduleRetry(false);
      }, PONG_TIMEOUT_MS);
    }, PING_EVERY_MS);
  }

  _stopPing() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }
}
