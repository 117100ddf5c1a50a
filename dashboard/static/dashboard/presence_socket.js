// The presence socket (docs/PRESENCE.md): pushes instead of polls, and no heartbeats while it is up.

const NOT_AUTHENTICATED = 4401;
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 30000;

/**
 * Keeps one socket open to `path`, reconnecting with exponential backoff (and jitter) after any close.
 * `hooks.access()` gives the access token to authenticate with; `hooks.cursor()` the cursor to resume from;
 * `hooks.watch()` the user ids to watch (undefined: everyone);
 * `hooks.onPresence(body)` gets every presence message; `hooks.onUp()` / `hooks.onDown()` tell the mode;
 * `hooks.onRejected()` runs on a 4401 close and resolves once fresh tokens are in place (or throws).
 */
export class PresenceSocket {
  constructor(path, hooks) {
    this.url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${path}`;
    this.hooks = hooks;
    this.retryMs = FIRST_RETRY_MS;
    this.stopped = false;
    this.up = false;
    this.ws = null;
    this.timer = null;
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      const since = this.hooks.cursor();
      const watch = this.hooks.watch?.();
      ws.send(JSON.stringify({ type: "auth", access: this.hooks.access(), ...(since ? { since } : {}), ...(watch ? { watch } : {}) }));
    };
    ws.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.type !== "presence") return;
      if (!this.up) {
        this.up = true;
        this.retryMs = FIRST_RETRY_MS;
        this.hooks.onUp();
      }
      this.hooks.onPresence(message);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      const wasUp = this.up;
      this.up = false;
      if (wasUp) this.hooks.onDown();
      if (this.stopped) return;
      if (event.code === NOT_AUTHENTICATED) {
        // Expired or revoked: fresh tokens first (a revoked session ends the page's session instead).
        this.hooks.onRejected().then(() => this.retry(), () => this.stop());
      } else {
        this.retry();
      }
    };
  }

  retry() {
    if (this.stopped) return;
    const delay = this.retryMs * (0.5 + Math.random() / 2);
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** Watch these user ids from now on; false if the socket is not open (its auth will name `hooks.watch()`). */
  sendWatch(users) {
    // Once open, the auth has gone with the list before this one: this one follows it, answered in order.
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify({ type: "watch", users }));
    return true;
  }

  /** Tell the server the page went idle or came back; false if the socket is not up (use HTTP then). */
  sendState(state) {
    if (!this.up || !this.ws) return false;
    this.ws.send(JSON.stringify({ type: "state", state }));
    return true;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
    this.ws = null;
    this.up = false;
  }
}
