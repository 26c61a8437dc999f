// rtserver browser SDK: one WebSocket to /ws carrying chat, presence and interview signalling.
//
// Behaves like the Python SDK (rtserver/client): the token comes from a callback so every
// (re)connection can use a fresh one; a lost connection is reopened with exponential backoff and
// jitter; every joined room is joined again from the last offset seen (`after` + `epoch`), so
// missed messages arrive exactly once and in order; sends carry an idempotency key and those not
// acknowledged before the loss are sent again after the rooms are restored. A send waits for
// its acknowledgement as long as it takes (until stored, refused, or cancelled with
// `cancelSend`): with its key, sending it again can never store it twice, so "not sent" is never
// said of something that may still arrive. A link that died without closing (a train, a dropped
// Wi-Fi) is found by a `ping` with a deadline and handled as a lost connection.
//
// Wire protocol: docs/protocol.md. Video interviews: ./rtinterview.js and docs/media.md.
// No build step: an ES module typed with JSDoc.

import { Interview } from "./rtinterview.js";

export { Interview };

export const SUBPROTOCOL = "rtserver.v1.json";

/** @typedef {Record<string, any>} Event  A decoded server frame (`type` plus its fields). */
/** @typedef {(event: Event) => void} Listener */
/** @typedef {() => string | Promise<string>} TokenSource */

/**
 * @typedef {object} RtClientOptions
 * @property {TokenSource} token  called before every connection; return a valid (fresh) token
 * @property {string} [url]  WebSocket URL; default: `/ws` on the page's own origin
 * @property {number} [requestTimeoutMs]  how long a request waits for its reply (15000)
 * @property {number} [authTimeoutMs]  how long a connection waits for `hello` (10000)
 * @property {number} [backoffInitialMs]  first reconnect delay (100), doubled up to...
 * @property {number} [backoffMaxMs]  ...this ceiling (5000); each delay is jittered by ±50%
 * @property {boolean} [reconnect]  reopen lost connections (true)
 * @property {number} [refreshBeforeMs]  send a fresh token (`auth`) this long before the current
 *   one expires (60000), so a long interview is not cut by the expiry close (4002)
 * @property {number} [pingIntervalMs]  ping the node after this long without hearing from it;
 *   default: the node's `heartbeat_s` (hello `limits`), at most 10000
 * @property {number} [pingTimeoutMs]  a ping unanswered this long means the link is dead: the
 *   socket is given up and the client reconnects (default: half the interval, at most 5000)
 * @property {typeof WebSocket} [WebSocket]  a WebSocket implementation (tests, other runtimes)
 */

/** Close codes 4100-4199 mean "do not reconnect until something changes" (docs/protocol.md). */
const FATAL_CLOSE_MIN = 4100;
const FATAL_CLOSE_MAX = 4199;
/** A close the client starts itself to simulate a network loss; in the "reconnect" range. */
const DROP_CLOSE_CODE = 4000;
/** Error codes worth another connection attempt (docs/protocol.md, Errors). */
const RETRYABLE = new Set(["unavailable", "internal", "rate_limited"]);
/** Never refresh a token sooner than this after the last (a token about to expire anyway). */
const MIN_REFRESH_DELAY_MS = 5000;
/** A socket given up because its link stopped answering pings: lost, so reconnect (4000-4099). */
const DEAD_LINK_CLOSE_CODE = DROP_CLOSE_CODE;
/** Ping ceilings: a dead link is shown within 15 s even when the node's heartbeat is slower. */
const MAX_PING_INTERVAL_MS = 10000;
const MAX_PING_TIMEOUT_MS = 5000;

/** The server answered a request with an `error` event. */
export class ServerError extends Error {
  /** @param {Event} event */
  constructor(event) {
    super(`${event.code}: ${event.message}`);
    this.name = "ServerError";
    /** @type {string} */ this.code = event.code || "internal";
    /** @type {number | undefined} */ this.retryAfterMs = event.retry_after_ms;
    this.event = event;
  }
}

/** No reply in time, the connection was lost before the reply, or the client is closed. */
export class ClientError extends Error {
  /**
   * @param {string} message
   * @param {"timeout" | "connection_lost" | "closed" | "cancelled"} reason
   * @param {number | null} [closeCode]
   */
  constructor(message, reason, closeCode = null) {
    super(message);
    this.name = "ClientError";
    this.reason = reason;
    this.closeCode = closeCode;
  }
}

/** A random idempotency key (crypto.randomUUID needs a secure context: fall back otherwise). */
export function newKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID().replaceAll("-", "");
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The page's own `/ws`, with `wss:` under https. */
export function defaultUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

/**
 * @typedef {object} Pending  A request waiting for its reply.
 * @property {Event} frame
 * @property {(event: Event) => void} resolve
 * @property {(error: Error) => void} reject
 * @property {ReturnType<typeof setTimeout> | null} timer  null: waits without a deadline (sends)
 * @property {boolean} written  sent on the current connection
 */

export class RtClient {
  /** @param {RtClientOptions} options */
  constructor(options) {
    if (typeof options?.token !== "function") throw new TypeError("RtClient needs a token callback");
    this.options = {
      url: defaultUrl(), requestTimeoutMs: 15000, authTimeoutMs: 10000, backoffInitialMs: 100,
      backoffMaxMs: 5000, reconnect: true, refreshBeforeMs: 60000, WebSocket: globalThis.WebSocket, ...options,
    };
    /** @type {WebSocket | null} */ this.ws = null;
    /** The `hello` of the current connection: user, role, name, session, rooms, limits. */
    /** @type {Event | null} */ this.hello = null;
    /** Rooms joined, and the last offset and epoch seen in each (what a resume starts from). */
    /** @type {Map<string, {epoch: string | null, offset: number | null}>} */ this.positions = new Map();
    /** Completed reconnections (not counting the first connection). */
    this.reconnects = 0;
    /** @type {"idle" | "connecting" | "open" | "reconnecting" | "closed"} */ this.state = "idle";
    /** @type {Map<number, Pending>} */ this._pending = new Map();
    /** @type {Map<string, Set<Listener>>} */ this._listeners = new Map();
    this._nextId = 1;
    this._backoffMs = this.options.backoffInitialMs;
    /** @type {ReturnType<typeof setTimeout> | null} */ this._retryTimer = null;
    /** @type {Promise<Event> | null} */ this._connecting = null;
    /** @type {Map<string, Interview>} */ this._interviews = new Map();
    /** @type {Promise<unknown> | null} */ this._holdReconnect = null;
    /** @type {ReturnType<typeof setTimeout> | null} */ this._refreshTimer = null;
    /** @type {ReturnType<typeof setTimeout> | null} */ this._pingTimer = null;
    /** When the current socket last brought anything (performance.now()). */
    this._heardAt = 0;
    if (typeof window !== "undefined" && window.addEventListener) {
      // The browser knows first: check the link at once when it goes offline, and reconnect at
      // once when it is back instead of waiting out the backoff.
      window.addEventListener("offline", () => this._checkLink());
      window.addEventListener("online", () => this._reconnectNow());
    }
  }

  // -- events ------------------------------------------------------------------------------------

  /**
   * Call `listener` for every event of `type` (`"*"`: every event). Returns the unsubscribe function.
   *
   * Server events: `message` (each at most once, in offset order per room), `typing`, `read`,
   * `member`, `presence`, `joined` (every join, resumes included: `reset: true` means reload the
   * room's history), `media_*`. Client events: `connected` (the hello), `disconnected` ({code}),
   * `reconnected` (the hello), `closed` ({code}: will not reconnect), `rejoin_failed` ({room, error}),
   * `token_refreshed` ({expires}: the session now lasts until then, unix seconds).
   * @param {string} type
   * @param {Listener} listener
   * @returns {() => void}
   */
  on(type, listener) {
    let set = this._listeners.get(type);
    if (!set) this._listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /**
   * The next event of `type` matching `where`, within `timeoutMs`.
   * @param {string} type
   * @param {(event: Event) => boolean} [where]
   * @param {number} [timeoutMs]
   * @returns {Promise<Event>}
   */
  once(type, where = () => true, timeoutMs = this.options.requestTimeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { off(); reject(new ClientError(`no ${type} event in time`, "timeout")); },
        timeoutMs);
      const off = this.on(type, (event) => {
        if (!where(event)) return;
        clearTimeout(timer);
        off();
        resolve(event);
      });
    });
  }

  /** @param {Event} event */
  _emit(event) {
    for (const type of [event.type, "*"]) {
      for (const listener of this._listeners.get(type) ?? []) {
        try {
          listener(event);
        } catch (error) {
          console.error("rtclient listener failed", error); // one broken listener must not stop the others
        }
      }
    }
  }

  // -- connection --------------------------------------------------------------------------------

  /**
   * Open the connection and authenticate; resolves with the `hello`. Later losses reconnect by
   * themselves (unless the server said not to: `closed` event).
   * @returns {Promise<Event>}
   */
  connect() {
    if (this.state === "closed") return Promise.reject(new ClientError("client closed", "closed"));
    if (this.state === "open" && this.hello) return Promise.resolve(this.hello);
    this._connecting ??= this._open().catch((error) => {
      // A refused token or too many connections: trying again unchanged would be refused again.
      if (error instanceof ServerError && !RETRYABLE.has(error.code) && this.state !== "closed") {
        this._shutdown(null);
      }
      throw error;
    }).finally(() => { this._connecting = null; });
    return this._connecting;
  }

  /**
   * Whether close() has run. _open() asks after each await, through this method: close() may
   * run while the token or the hello is awaited, and TypeScript keeps `this.state` narrowed to
   * the value set before the await, so an inline test would read as always false.
   */
  _closed() {
    return this.state === "closed";
  }

  /** @returns {Promise<Event>} */
  async _open() {
    this.state = this.hello ? "reconnecting" : "connecting";
    const token = await this.options.token();
    if (this._closed()) throw new ClientError("client closed", "closed");
    const ws = new this.options.WebSocket(this.options.url, [SUBPROTOCOL]);
    this.ws = ws;
    const hello = await new Promise((resolve, reject) => {
      const fail = (/** @type {Error} */ error) => { clearTimeout(timer); reject(error); };
      const timer = setTimeout(() => { ws.close(); fail(new ClientError("no hello in time", "timeout")); },
        this.options.authTimeoutMs);
      ws.onopen = () => {
        // Browsers cannot set an Authorization header on a WebSocket, and tokens in the URL are
        // refused: the token travels in the first message.
        ws.send(JSON.stringify({ type: "auth", id: "auth", token }));
      };
      ws.onmessage = (msg) => {
        const event = JSON.parse(msg.data);
        clearTimeout(timer);
        if (event.type === "hello") resolve(event);
        else reject(new ServerError(event));
      };
      ws.onclose = (e) => fail(new ClientError(`closed before hello (${e.code})`, "connection_lost", e.code));
    });
    if (this._closed()) {
      ws.close(1000);
      throw new ClientError("client closed", "closed");
    }
    ws.onmessage = (msg) => {
      this._heardAt = performance.now();
      this._dispatch(JSON.parse(msg.data));
    };
    ws.onclose = (e) => this._lost(ws, e.code);
    this._heardAt = performance.now();
    const first = this.hello === null;
    this.hello = hello;
    this.state = "open";
    this._backoffMs = this.options.backoffInitialMs;
    this._scheduleRefresh(hello.expires);
    this._schedulePing();
    if (first) {
      this._emit({ type: "connected", ...hello });
      this._flush();
    } else {
      this.reconnects += 1;
      this._emit({ type: "reconnected", ...hello });
      this._restore();
    }
    return hello;
  }

  /**
   * Send a fresh token before `expires` (unix seconds) comes; a failed refresh is harmless: the
   * server closes with 4002 at expiry and the reconnection fetches a token again.
   * @param {number} expires
   */
  _scheduleRefresh(expires) {
    if (this._refreshTimer !== null) clearTimeout(this._refreshTimer);
    const delay = Math.max(MIN_REFRESH_DELAY_MS, expires * 1000 - Date.now() - this.options.refreshBeforeMs);
    this._refreshTimer = setTimeout(async () => {
      this._refreshTimer = null;
      try {
        const reply = await this.request("auth", { token: await this.options.token() });
        this._scheduleRefresh(reply.expires);
        this._emit({ type: "token_refreshed", expires: reply.expires });
      } catch (error) {
        if (this.state === "open") console.warn("token refresh failed", error);
      }
    }, delay);
  }

  /** The ping's interval and deadline, from the options or the node's heartbeat. */
  _pingTimes() {
    const heartbeatMs = (this.hello?.limits?.heartbeat_s ?? 10) * 1000;
    const interval = this.options.pingIntervalMs ?? Math.min(MAX_PING_INTERVAL_MS, heartbeatMs);
    const deadline = this.options.pingTimeoutMs ?? Math.min(MAX_PING_TIMEOUT_MS, interval / 2);
    return { interval, deadline };
  }

  /** Ping when the socket has been quiet for the interval (a busy socket needs no ping). */
  _schedulePing() {
    if (this._pingTimer !== null) clearTimeout(this._pingTimer);
    const { interval } = this._pingTimes();
    const quietFor = performance.now() - this._heardAt;
    this._pingTimer = setTimeout(() => {
      this._pingTimer = null;
      if (this.state !== "open") return;
      if (performance.now() - this._heardAt >= interval - 1) this._checkLink();
      else this._schedulePing();
    }, Math.max(0, interval - quietFor));
  }

  /** Ping now: no pong within the deadline and the socket is given up as dead. */
  async _checkLink() {
    const ws = this.ws;
    if (this.state !== "open" || !ws) return;
    try {
      await this._requestOnce("ping", {}, this._pingTimes().deadline);
    } catch (error) {
      if (ws !== this.ws || !(error instanceof ClientError) || error.reason !== "timeout") return;
      // A dead link never brings the close handshake's answer (Chromium waits for it up to a
      // minute): the socket is dropped now and treated as lost.
      ws.onclose = null;
      ws.onmessage = null;
      try { ws.close(DEAD_LINK_CLOSE_CODE, "no pong in time"); } catch { /* already closing */ }
      this._lost(ws, DEAD_LINK_CLOSE_CODE);
      return;
    }
    if (ws === this.ws) this._schedulePing();
  }

  /** The browser says the network is back: try now rather than at the end of the backoff. */
  _reconnectNow() {
    if (this.state !== "reconnecting" || this._retryTimer === null) return;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._backoffMs = this.options.backoffInitialMs;
    this.connect().catch(() => { if (this.state !== "closed") this._scheduleReconnect(); });
  }

  /**
   * @param {WebSocket} ws
   * @param {number} code
   */
  _lost(ws, code) {
    if (ws !== this.ws) return;
    this.ws = null;
    if (this._pingTimer !== null) clearTimeout(this._pingTimer);
    this._pingTimer = null;
    // A request already written on the lost connection may or may not have been handled: only
    // sends (idempotent by key) are written again; the others fail and the caller decides.
    for (const [id, pending] of this._pending) {
      if (!pending.written) continue;
      if (pending.frame.type === "send") {
        pending.written = false;
      } else {
        this._settle(id);
        pending.reject(new ClientError(`connection lost before the reply to ${pending.frame.type}`,
          "connection_lost", code));
      }
    }
    if (this.state === "closed") return;
    const fatal = code >= FATAL_CLOSE_MIN && code <= FATAL_CLOSE_MAX;
    if (fatal || !this.options.reconnect) {
      this._shutdown(code);
      this._emit({ type: "closed", code });
      return;
    }
    this.state = "reconnecting";
    this._emit({ type: "disconnected", code });
    this._scheduleReconnect();
  }

  async _scheduleReconnect() {
    const delay = this._backoffMs * (0.5 + Math.random());
    this._backoffMs = Math.min(this.options.backoffMaxMs, this._backoffMs * 2);
    const hold = this._holdReconnect;
    this._holdReconnect = null;
    if (hold) await hold.catch(() => {});
    if (this.state === "closed") return;
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      this.connect().catch((error) => {
        if (this.state === "closed") return;
        if (error instanceof ServerError && !RETRYABLE.has(error.code)) {
          this._emit({ type: "closed", code: null, error });
          return;
        }
        this._scheduleReconnect();
      });
    }, delay);
  }

  /**
   * Join every room again from its last offset, then write what waited for the connection
   * (unacknowledged sends first, in their order). The server handles a connection's frames in
   * order, so the joins are in effect before the sends without waiting for their replies.
   */
  async _restore() {
    const joins = [...this.positions.keys()].map((room) => this._join(room).catch((error) => {
      this._emit({ type: "rejoin_failed", room, error });
    }));
    this._flush();
    for (const interview of this._interviews.values()) interview._reconnected();
    await Promise.all(joins);
  }

  /** Write every pending request not yet written on the current connection (in id order). */
  _flush() {
    for (const pending of this._pending.values()) {
      if (!pending.written) this._write(pending);
    }
  }

  /** @param {Pending} pending */
  _write(pending) {
    if (this.state !== "open" || this.ws?.readyState !== WebSocket.OPEN) return;
    this.ws.send(JSON.stringify(pending.frame));
    pending.written = true;
  }

  /**
   * Close the socket as if the network dropped it: the client reconnects and resumes. For tests
   * and for a page that knows its network changed. With `until`, reconnecting waits for that
   * promise too (a test holds the client offline while others act).
   * @param {{until?: Promise<unknown>}} [options]
   */
  dropConnection({ until } = {}) {
    this._holdReconnect = until ?? null;
    this.ws?.close(DROP_CLOSE_CODE, "dropped by the client");
  }

  /** Close for good: pending requests fail, interviews are left, no reconnection. */
  async close() {
    await Promise.allSettled([...this._interviews.values()].map((interview) => interview.leave()));
    this._shutdown(1000);
  }

  /** @param {number | null} code */
  _shutdown(code) {
    this.state = "closed";
    if (this._retryTimer !== null) clearTimeout(this._retryTimer);
    if (this._refreshTimer !== null) clearTimeout(this._refreshTimer);
    if (this._pingTimer !== null) clearTimeout(this._pingTimer);
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000);
    for (const id of [...this._pending.keys()]) {
      const pending = this._settle(id);
      pending?.reject(new ClientError("client closed", "closed", code));
    }
    for (const interview of this._interviews.values()) interview._closeLocal("client_closed");
  }

  // -- frames ------------------------------------------------------------------------------------

  /** @param {Event} event */
  _dispatch(event) {
    if (event.type === "joined") this._onJoined(event);
    if (event.type === "message") {
      const position = this.positions.get(event.room);
      if (position) {
        if (position.offset !== null && event.offset <= position.offset) return; // a replay overlapping the live stream
        position.offset = event.offset;
      }
      this._emit(event);
      return;
    }
    const pending = event.id === undefined || event.id === null ? undefined : this._settle(event.id);
    if (pending) {
      if (event.type === "error") pending.reject(new ServerError(event));
      else pending.resolve(event);
      if (event.type !== "joined") return; // replies are the request's result; `joined` is also an event
    }
    this._emit(event);
  }

  /** @param {Event} joined */
  _onJoined(joined) {
    // Runs before any replayed or live message of the room is dispatched.
    const position = this.positions.get(joined.room);
    if (!position) return;
    if (position.offset === null || joined.reset) position.offset = joined.head; // older ones: history()
    position.epoch = joined.epoch;
  }

  /** @param {number | string} id */
  _settle(id) {
    const pending = this._pending.get(/** @type {number} */ (id));
    if (pending) {
      if (pending.timer !== null) clearTimeout(pending.timer);
      this._pending.delete(/** @type {number} */ (id));
    }
    return pending;
  }

  // -- requests ----------------------------------------------------------------------------------

  /**
   * Send one request and resolve with its reply (rejects with ServerError or ClientError).
   * Made while disconnected, it waits for the connection (within its timeout). A `rate_limited`
   * answer is retried after `retry_after_ms` while the timeout allows.
   * @param {string} type
   * @param {Record<string, any>} [fields]
   * @param {{timeoutMs?: number}} [options]  `Infinity`: wait as long as it takes
   * @returns {Promise<Event>}
   */
  async request(type, fields = {}, { timeoutMs = this.options.requestTimeoutMs } = {}) {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      try {
        return await this._requestOnce(type, fields, Math.max(0, deadline - performance.now()));
      } catch (error) {
        const waitMs = error instanceof ServerError ? error.retryAfterMs ?? 0 : 0;
        if (!(error instanceof ServerError) || error.code !== "rate_limited"
            || performance.now() + waitMs > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, waitMs));
      }
    }
  }

  /**
   * @param {string} type
   * @param {Record<string, any>} fields
   * @param {number} timeoutMs
   * @returns {Promise<Event>}
   */
  _requestOnce(type, fields, timeoutMs) {
    if (this.state === "closed") return Promise.reject(new ClientError("client closed", "closed"));
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      // setTimeout(f, Infinity) would fire at once: no deadline means no timer.
      const timer = Number.isFinite(timeoutMs) ? setTimeout(() => {
        this._settle(id);
        reject(new ClientError(`no reply to ${type} within ${Math.round(timeoutMs)} ms`, "timeout"));
      }, timeoutMs) : null;
      /** @type {Pending} */
      const pending = { frame: { type, id, ...fields }, resolve, reject, timer, written: false };
      this._pending.set(id, pending);
      this._write(pending);
    });
  }

  /**
   * Send without waiting for a reply (no `id`: the server answers only errors, without id).
   * Dropped while disconnected: for state that is sent again anyway (typing).
   * @param {string} type
   * @param {Record<string, any>} fields
   */
  notify(type, fields) {
    if (this.state === "open" && this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ type, ...fields }));
    }
  }

  // -- chat --------------------------------------------------------------------------------------

  /**
   * Join a room; its messages arrive as `message` events from then on (and after every resume).
   * `after` (with the room's `epoch`, from `hello.rooms`) on a first join replays the messages
   * above it: a console reads who wrote its unread messages without a `history` request per room.
   * @param {string} room
   * @param {{after?: number, epoch?: string}} [from]
   * @returns {Promise<Event>} the `joined` reply (members, head, read, unread...)
   */
  async join(room, { after, epoch } = {}) {
    if (!this.positions.has(room)) {
      this.positions.set(room, { epoch: epoch ?? null, offset: after ?? null });
    }
    try {
      return await this._join(room);
    } catch (error) {
      this.positions.delete(room);
      throw error;
    }
  }

  /** @param {string} room */
  _join(room) {
    const position = this.positions.get(room);
    /** @type {Record<string, any>} */
    const fields = { room };
    if (position && position.offset !== null) {
      fields.after = position.offset;
      if (position.epoch !== null) fields.epoch = position.epoch;
    }
    return this.request("join", fields);
  }

  /** @param {string} room */
  async leave(room) {
    this.positions.delete(room);
    await this.request("leave", { room });
  }

  /**
   * Send a message; resolves with the `ack` (`offset`, `ts`, `duplicate?`) once it is stored.
   * Sent again with the same key after every reconnect until acknowledged, so it is stored once.
   * It waits without a deadline (`timeoutMs` sets one): a send that timed out might still be
   * stored later, so only the node's refusal (ServerError), `cancelSend` or `close()` end it.
   * @param {string} room
   * @param {string} text
   * @param {{key?: string, timeoutMs?: number}} [options]
   */
  send(room, text, { key = newKey(), timeoutMs = Infinity } = {}) {
    return this.request("send", { room, text, key }, { timeoutMs });
  }

  /**
   * Stop sending the message of `key`: its `send()` rejects with ClientError `cancelled`.
   * One already written on a connection that then dropped may still have been stored (it then
   * arrives as a `message` event). Returns whether such a send was waiting.
   * @param {string} key
   */
  cancelSend(key) {
    for (const [id, pending] of this._pending) {
      if (pending.frame.type !== "send" || pending.frame.key !== key) continue;
      this._settle(id);
      pending.reject(new ClientError("send cancelled", "cancelled"));
      return true;
    }
    return false;
  }

  /**
   * Older messages, oldest first: `{messages, more}`.
   * @param {string} room
   * @param {{before?: number, limit?: number}} [options]
   */
  history(room, { before, limit = 50 } = {}) {
    return this.request("history", before === undefined ? { room, limit } : { room, before, limit });
  }

  /**
   * Tell the room this user is typing (repeat within the server's `typing_ttl_s` to keep it shown).
   * @param {string} room
   * @param {boolean} [active]
   */
  typing(room, active = true) {
    this.notify("typing", { room, active });
  }

  /**
   * Move this user's read receipt; resolves with the stored offset (never moves back).
   * @param {string} room
   * @param {number} offset
   * @returns {Promise<number>}
   */
  async markRead(room, offset) {
    return (await this.request("read", { room, offset })).offset;
  }

  /** Every room of the user with `head`, `read`, `unread`. */
  async rooms() {
    return (await this.request("rooms")).rooms;
  }

  // -- presence ----------------------------------------------------------------------------------

  /**
   * @param {{status?: "online" | "away", availability?: "available" | "busy" | "away"}} presence
   */
  async setPresence({ status, availability }) {
    /** @type {Record<string, string>} */
    const fields = {};
    if (status) fields.status = status;
    if (availability) fields.availability = availability;
    await this.request("presence", fields);
  }

  // -- interviews --------------------------------------------------------------------------------

  /**
   * The video interview of `room` (one object per room; `join()` it to take part).
   * @param {string} room
   * @returns {Interview}
   */
  interview(room) {
    let interview = this._interviews.get(room);
    if (!interview) {
      interview = new Interview(this, room, () => this._interviews.delete(room));
      this._interviews.set(room, interview);
    }
    return interview;
  }
}
