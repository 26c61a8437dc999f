// One conversation on screen: history (with "show earlier"), the unread marker, typing, the
// sender's ticks (✓ stored by the server, ✓✓ read by the other side) and the message form.
//
// Facts about the room (offsets, read receipts, presence) come from RoomState; this view only
// renders them and the messages. New messages from others are announced through the page's
// polite live region; the list itself is a `log` that is not live, so loading the history does
// not read fifty messages aloud.

import { announce, el } from "./dom.js";
import { errorText } from "./errors.js";
import { pageVisible } from "./embed.js";
import { formatDateTime, formatTime, t } from "./i18n.js";
import { textWithLinks } from "./linkify.js";
import { messageText } from "./notices.js";

const PAGE = 50;
/** The length counter shows from this share of `max_text_chars` (3,600 of 4,000 by default). */
const COUNTER_FROM = 0.9;
const SYSTEM_SENDER = "system";
/** Phones and tablets: Enter makes a new line there, the send button sends (no Shift key). */
const TOUCH = "(pointer: coarse)";

/**
 * @typedef {object} ChatMessage
 * @property {number} offset
 * @property {string} from
 * @property {string} name
 * @property {number} ts
 * @property {string} text
 * @property {string} [key]
 * @property {Record<string, unknown>} [data]  a workflow notice's subject (./notices.js)
 */

export class ChatView {
  /**
   * @param {object} options
   * @param {import("/static/rtclient.js").RtClient} options.client
   * @param {import("./room-state.js").RoomState} options.state
   * @param {string} options.room  already joined through `state`
   * @param {string} options.otherName  who the conversation is with (heading, typing, presence)
   * @param {HTMLElement} options.container  emptied and filled by the view
   */
  constructor({ client, state, room, otherName, container }) {
    this.client = client;
    this.state = state;
    this.room = room;
    this.otherName = otherName;
    /** @type {Map<number, ChatMessage>} */ this.messages = new Map();
    /**
     * Sends not yet seen stored, by idempotency key, until stored or cancelled: the SDK sends
     * them again after every reconnection, and the key makes that safe. `refused` is set only by
     * the node's own refusal (the message was not stored); `offset` once acknowledged, until the
     * message itself arrives.
     */
    /** @type {Map<string, {text: string, refused: string | null, offset?: number}>} */ this.pending = new Map();
    /** Messages above this offset are new to the user: the marker sits before the first of them. */
    this.unreadAfter = state.rooms.get(room)?.read ?? 0;
    this.more = false;
    /** @type {Map<string, ReturnType<typeof setTimeout>>} */ this._typingTimers = new Map();
    this._lastTypingSent = -Infinity;
    /** @type {Array<() => void>} */ this._off = [];
    this._build(container);
    this._off.push(
      client.on("message", (e) => { if (e.room === room) this._onMessage(e); }),
      client.on("typing", (e) => { if (e.room === room) this._onTyping(e); }),
      state.onChange((changed, what) => {
        if (changed !== room) return;
        if (what === "reset") this.reload();
        else if (what === "presence" || what === "joined") this._renderPresence();
        if (what === "read" || what === "message" || what === "joined") this._renderTicks();
      }),
      // "Sending" and "waiting for the connection" follow the connection.
      ...["disconnected", "connected", "reconnected", "closed"].map((type) =>
        client.on(type, () => { if (this.pending.size) this._render(); })),
    );
    const onVisible = () => this.markRead();
    document.addEventListener("visibilitychange", onVisible);
    this._off.push(() => document.removeEventListener("visibilitychange", onVisible));
  }

  /** @param {HTMLElement} container */
  _build(container) {
    const id = `chat-${this.room.replace(/[^A-Za-z0-9_-]/g, "_")}`;
    this.heading = el("h2", { id: `${id}-title` }, t("conversationWith", this.otherName));
    this.presence = el("p", { class: "presence", "data-status": "offline" });
    this.olderButton = el("button", { type: "button", class: "link", hidden: true, onclick: () => this.loadOlder() },
      t("olderMessages"));
    this.items = el("ol", { class: "message-list" });
    this.list = el("div", { class: "messages", role: "log", "aria-live": "off", "aria-label": t("messages"),
      tabindex: "0" }, this.items);
    this.typingLine = el("p", { class: "typing" });
    const inputId = `${id}-input`;
    // No maxlength: it would cut a pasted text silently. Near the node's limit a counter shows;
    // above it the text is kept and not sent until shortened (_count).
    this.maxChars = this.client.hello?.limits?.max_text_chars ?? 4000;
    this.input = /** @type {HTMLTextAreaElement} */ (el("textarea", { id: inputId, rows: "2",
      "aria-describedby": `${id}-hint ${id}-counter`, autocomplete: "off" }));
    this.counter = el("p", { id: `${id}-counter`, class: "counter", hidden: true });
    this.touch = window.matchMedia?.(TOUCH);
    const hint = el("p", { id: `${id}-hint`, class: "hint" });
    const showHint = () => { hint.textContent = t(this.touch?.matches ? "sendHintTouch" : "sendHint"); };
    showHint();
    this.touch?.addEventListener?.("change", showHint);
    this.form = el("form", { class: "composer" },
      el("label", { for: inputId }, t("yourMessage")),
      el("div", { class: "composer-row" }, this.input, el("button", { type: "submit", class: "primary" }, t("send"))),
      this.counter, hint);
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.submit(); });
    this.input.addEventListener("keydown", (event) => {
      // On a touch screen there is no Shift+Enter: Enter keeps its newline, the button sends.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !this.touch?.matches) {
        event.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener("input", () => { this._sendTyping(); this._count(); });
    this.section = el("section", { class: "chat", "aria-labelledby": `${id}-title`, "data-room": this.room },
      el("header", { class: "chat-header" }, this.heading, this.presence),
      this.olderButton, this.list, this.typingLine, this.form);
    container.replaceChildren(this.section);
    this._renderPresence();
  }

  /** Load the latest page of history (again, after a reset of the room's history). */
  async reload() {
    this.messages.clear();
    const page = await this.client.history(this.room, { limit: PAGE });
    for (const m of page.messages) this.messages.set(m.offset, m);
    this.more = page.more;
    this._render();
    this.list.scrollTop = this.list.scrollHeight;
    this.markRead();
  }

  async loadOlder() {
    const first = Math.min(...this.messages.keys());
    const page = await this.client.history(this.room, { before: first, limit: PAGE });
    for (const m of page.messages) this.messages.set(m.offset, m);
    this.more = page.more;
    const fromBottom = this.list.scrollHeight - this.list.scrollTop;
    this._render();
    this.list.scrollTop = this.list.scrollHeight - fromBottom; // keep what the user was reading in place
    this.list.focus();
  }

  /**
   * Show the length near the limit, in characters as the node counts them (code points).
   * @returns {number}  characters above the limit (0 when the text may be sent)
   */
  _count() {
    const length = [...this.input.value.trim()].length;
    const over = Math.max(0, length - this.maxChars);
    this.counter.hidden = length < this.maxChars * COUNTER_FROM;
    this.counter.textContent = over ? t("tooLong", over, this.maxChars) : t("charCount", length, this.maxChars);
    this.counter.dataset.over = String(over > 0);
    if (over) this.input.setAttribute("aria-invalid", "true");
    else this.input.removeAttribute("aria-invalid");
    return over;
  }

  /** Send the composer's text; it shows as "sending" until the server stored it. */
  async submit() {
    const text = this.input.value.trim();
    if (!text) return;
    if (this._count()) {
      announce(this.counter.textContent ?? "", { assertive: true });
      this.input.focus();
      return;
    }
    this.input.value = "";
    this._count();
    this.client.typing(this.room, false);
    this._lastTypingSent = -Infinity;
    this.unreadAfter = Number.MAX_SAFE_INTEGER; // answering: the marker has done its job
    const key = crypto.getRandomValues(new Uint32Array(4)).join("-");
    this.pending.set(key, { text, refused: null });
    this._render();
    this.list.scrollTop = this.list.scrollHeight;
    await this._deliver(key);
  }

  /**
   * Hand a pending message to the SDK, which keeps it until the node stored or refused it,
   * across reconnections and however long the outage: only a refusal is "not sent".
   * @param {string} key
   */
  async _deliver(key) {
    const entry = this.pending.get(key);
    if (!entry) return;
    entry.refused = null;
    try {
      const ack = await this.client.send(this.room, entry.text, { key });
      // The message event usually comes first; if not, it is shown as sent when it comes.
      if (this.messages.has(ack.offset)) this.pending.delete(key);
      else entry.offset = ack.offset;
    } catch (error) {
      if (!this.pending.has(key) || /** @type {any} */ (error).reason === "cancelled") return;
      entry.refused = errorText(error, "send");
      announce(t("notSent"), { assertive: true });
    }
    this._render();
  }

  /** @param {string} key */
  retry(key) {
    this._deliver(key);
    this._render();
  }

  /**
   * Stop sending a waiting message. One written just before the link dropped may have been
   * stored all the same: it then appears as sent, once.
   * @param {string} key
   */
  cancel(key) {
    this.client.cancelSend(key);
    this.pending.delete(key);
    this._render();
    this.input.focus();
  }

  /** Move the read receipt to the newest message when the user can see it. */
  markRead() {
    if (!pageVisible() || !this.section.isConnected || this.section.closest("[hidden]")) return;
    const last = Math.max(0, ...this.messages.keys());
    this.state.markRead(this.room, last).catch((error) => console.warn("read receipt failed", error));
  }

  dispose() {
    for (const off of this._off.splice(0)) off();
    for (const timer of this._typingTimers.values()) clearTimeout(timer);
  }

  // -- events ------------------------------------------------------------------------------------

  /** @param {Record<string, any>} e */
  _onMessage(e) {
    const mine = e.from === this.client.hello?.user;
    if (e.key) this.pending.delete(e.key);
    for (const [key, entry] of this.pending) if (entry.offset === e.offset) this.pending.delete(key);
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    const message = /** @type {ChatMessage} */ (e);
    this.messages.set(e.offset, message);
    this._clearTyping(e.from);
    this._render();
    if (atBottom || mine) this.list.scrollTop = this.list.scrollHeight;
    if (!mine) {
      announce(t("newMessageFrom", this._nameOf(message), messageText(message)));
      this.markRead();
    }
  }

  /** @param {Record<string, any>} e */
  _onTyping(e) {
    if (e.user === this.client.hello?.user) return;
    this._clearTyping(e.user);
    if (e.active) {
      this._typingTimers.set(e.user, setTimeout(() => this._clearTyping(e.user), e.ttl_ms ?? 6000));
      this.typingLine.textContent = t("typing", e.name || this.otherName);
    }
  }

  /** @param {string} user */
  _clearTyping(user) {
    const timer = this._typingTimers.get(user);
    if (timer === undefined) return;
    clearTimeout(timer);
    this._typingTimers.delete(user);
    if (this._typingTimers.size === 0) this.typingLine.textContent = "";
  }

  _sendTyping() {
    const ttlMs = (this.client.hello?.limits?.typing_ttl_s ?? 6) * 1000;
    const now = performance.now();
    if (!this.input.value) {
      this.client.typing(this.room, false);
      this._lastTypingSent = -Infinity;
    } else if (now - this._lastTypingSent > ttlMs / 2) {
      this.client.typing(this.room, true); // repeated within the TTL while the user keeps typing
      this._lastTypingSent = now;
    }
  }

  // -- rendering ---------------------------------------------------------------------------------

  /** @param {ChatMessage} m */
  _nameOf(m) {
    if (m.from === SYSTEM_SENDER) return t("system");
    if (m.from === this.client.hello?.user) return t("you");
    return m.name || this.otherName;
  }

  _renderPresence() {
    const other = [...(this.state.rooms.get(this.room)?.members.values() ?? [])][0];
    const status = other?.status ?? "offline";
    let text = t(status);
    if (other?.role !== "jobseeker" && status !== "offline" && other?.availability) {
      text = `${text} · ${t(other.availability === "away" ? "unavailable" : other.availability)}`;
    }
    this.presence.textContent = t("presenceOf", this.otherName, text);
    this.presence.dataset.status = status;
  }

  _render() {
    const me = this.client.hello?.user;
    const items = [];
    const sorted = [...this.messages.values()].sort((a, b) => a.offset - b.offset);
    let markerPlaced = false;
    for (const m of sorted) {
      if (!markerPlaced && m.offset > this.unreadAfter && m.from !== me) {
        markerPlaced = true;
        items.push(el("li", { class: "unread-marker" }, t("newMessages")));
      }
      items.push(this._item(m));
    }
    const online = this.client.state === "open";
    for (const [key, entry] of this.pending) {
      const tick = entry.refused ? "failed" : online ? "sending" : "waiting";
      const actions = [];
      if (entry.refused) {
        actions.push(el("button", { type: "button", class: "link", "data-action": "retry",
          onclick: () => this.retry(key) }, t("retrySend")));
      }
      if (entry.refused || !online) {
        actions.push(el("button", { type: "button", class: "link", "data-action": "cancel",
          onclick: () => this.cancel(key) }, t("cancelSend")));
      }
      items.push(el("li", { class: "message mine pending", "data-key": key },
        el("p", { class: "meta" }, el("span", { class: "author" }, t("you"))),
        el("p", { class: "text" }, ...textWithLinks(entry.text)),
        el("p", { class: "ticks", "data-tick": tick },
          entry.refused ? t("notSentBecause", entry.refused) : t(online ? "sending" : "waitingToSend")),
        actions.length ? el("p", { class: "pending-actions" }, ...actions) : null));
    }
    if (items.length === 0) items.push(el("li", { class: "empty" }, t("noMessages")));
    this.items.replaceChildren(...items);
    this.olderButton.hidden = !this.more;
    this._renderTicks();
  }

  /** @param {ChatMessage} m */
  _item(m) {
    const me = this.client.hello?.user;
    const kind = m.from === me ? "mine" : m.from === SYSTEM_SENDER ? "system" : "theirs";
    return el("li", { class: `message ${kind}`, "data-offset": String(m.offset) },
      el("p", { class: "meta" }, el("span", { class: "author" }, this._nameOf(m)), " ",
        el("time", { datetime: new Date(m.ts).toISOString(), title: formatDateTime(m.ts) }, formatTime(m.ts))),
      el("p", { class: "text" }, ...textWithLinks(messageText(m))),
      kind === "mine" ? el("p", { class: "ticks" }) : null);
  }

  /** ✓ stored, ✓✓ read by the other side: recomputed when a read receipt moves. */
  _renderTicks() {
    const readUpTo = this.state.readByOthers(this.room);
    for (const tick of this.list.querySelectorAll("li.message.mine:not(.pending) .ticks")) {
      const offset = Number(/** @type {HTMLElement} */ (tick.parentElement).dataset.offset);
      const read = offset <= readUpTo;
      /** @type {HTMLElement} */ (tick).dataset.tick = read ? "read" : "delivered";
      tick.replaceChildren(el("span", { "aria-hidden": "true" }, read ? "✓✓ " : "✓ "), read ? t("read") : t("delivered"));
    }
  }
}
