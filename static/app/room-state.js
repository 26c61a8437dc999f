// What a page knows about each room it joined, kept up to date from the client's events: the
// head (latest offset), this user's read offset (so the unread count), every member's read
// offset (read ticks), presence, the time of the last message. Views read it and re-render on
// its `change` notifications; they never keep their own copy of these facts.

/**
 * @typedef {object} Member
 * @property {string} user
 * @property {string} name
 * @property {string} role
 * @property {number} read
 * @property {string} status  online, away or offline
 * @property {string} [availability]
 */

/**
 * @typedef {object} Room
 * @property {string} room
 * @property {string} title
 * @property {number} head
 * @property {number} read  this user's read offset
 * @property {Map<string, Member>} members  the others (this user is not listed)
 * @property {number | null} lastTs  server time of the latest message seen, ms
 * @property {Set<number>} notices  offsets above `read` of workflow notices (sender `system`)
 */

/** The workflow's notices come from this sender (docs/workflow.md); they are not people's messages. */
export const SYSTEM_SENDER = "system";

/** @typedef {(room: string, what: "joined" | "message" | "read" | "presence" | "reset") => void} ChangeListener */

export class RoomState {
  /**
   * @param {import("/static/rtclient.js").RtClient} client
   */
  constructor(client) {
    this.client = client;
    /** @type {Map<string, Room>} */ this.rooms = new Map();
    /** @type {Set<ChangeListener>} */ this._listeners = new Set();
    client.on("joined", (e) => this._onJoined(e));
    client.on("message", (e) => this._onMessage(e));
    client.on("read", (e) => this._onRead(e));
    client.on("presence", (e) => this._onPresence(e));
  }

  get me() {
    return this.client.hello?.user ?? "";
  }

  /**
   * @param {ChangeListener} listener
   * @returns {() => void}
   */
  onChange(listener) {
    this._listeners.add(listener);
    return () => this._listeners.delete(listener);
  }

  /**
   * @param {string} room
   * @param {Parameters<ChangeListener>[1]} what
   */
  _changed(room, what) {
    for (const listener of this._listeners) listener(room, what);
  }

  /**
   * Join `room` (once; later calls return what is known), from `after` if given (RtClient.join).
   * @param {string} room
   * @param {{after?: number, epoch?: string}} [from]
   * @returns {Promise<Room>}
   */
  async join(room, from = {}) {
    const known = this.rooms.get(room);
    if (known) return known;
    await this.client.join(room, from); // its `joined` event fills the state first
    return /** @type {Room} */ (this.rooms.get(room));
  }

  /** @param {string} room */
  unread(room) {
    const state = this.rooms.get(room);
    return state ? Math.max(0, state.head - state.read) : 0;
  }

  /**
   * Unread messages written by people: the workflow's notices (an assignment, a scheduled
   * appointment) are in the conversation's journal but ask nothing of the reader. Known from
   * the messages this page received above its read offset; unread ones it never received (a
   * join replays at most a bounded number) count as people's.
   * @param {string} room
   */
  unreadPeople(room) {
    const state = this.rooms.get(room);
    if (!state) return 0;
    let notices = 0;
    for (const offset of state.notices) if (offset > state.read && offset <= state.head) notices += 1;
    return Math.max(0, state.head - state.read - notices);
  }

  /** Unread messages from people over every joined room. */
  totalUnreadPeople() {
    let total = 0;
    for (const room of this.rooms.keys()) total += this.unreadPeople(room);
    return total;
  }

  /** Unread messages over every joined room. */
  totalUnread() {
    let total = 0;
    for (const room of this.rooms.keys()) total += this.unread(room);
    return total;
  }

  /**
   * The highest read offset among the other members (what read ticks show).
   * @param {string} room
   */
  readByOthers(room) {
    let best = 0;
    for (const member of this.rooms.get(room)?.members.values() ?? []) best = Math.max(best, member.read);
    return best;
  }

  /**
   * Move this user's read receipt up to `offset` (no request when already there).
   * @param {string} room
   * @param {number} offset
   */
  async markRead(room, offset) {
    const state = this.rooms.get(room);
    if (!state || offset <= state.read) return;
    state.read = offset; // at once, so the counts shown do not wait for the reply
    this._changed(room, "read");
    state.read = Math.max(state.read, await this.client.markRead(room, offset));
  }

  /** @param {Record<string, any>} e */
  _onJoined(e) {
    const previous = this.rooms.get(e.room);
    /** @type {Map<string, Member>} */
    const members = new Map();
    for (const m of e.members ?? []) {
      if (m.user === this.me) continue;
      const before = previous?.members.get(m.user);
      members.set(m.user, { user: m.user, name: m.name ?? before?.name ?? m.user, role: m.role, read: m.read ?? 0,
        status: m.status ?? "offline", availability: m.availability });
    }
    const notices = e.reset || !previous ? new Set() : previous.notices;
    this.rooms.set(e.room, { room: e.room, title: e.title ?? "", head: e.head, read: e.read, members,
      lastTs: previous?.lastTs ?? null, notices });
    this._changed(e.room, e.reset ? "reset" : "joined");
  }

  /** @param {Record<string, any>} e */
  _onMessage(e) {
    const state = this.rooms.get(e.room);
    if (!state) return;
    state.head = Math.max(state.head, e.offset);
    state.lastTs = Math.max(state.lastTs ?? 0, e.ts);
    if (e.from === this.me) state.read = Math.max(state.read, e.offset); // sending reads up to it
    if (e.from === SYSTEM_SENDER && e.offset > state.read) state.notices.add(e.offset);
    this._forgetRead(state);
    const sender = state.members.get(e.from);
    if (sender) {
      sender.read = Math.max(sender.read, e.offset);
      if (e.name) sender.name = e.name;
    }
    this._changed(e.room, "message");
  }

  /** @param {Record<string, any>} e */
  _onRead(e) {
    const state = this.rooms.get(e.room);
    if (!state) return;
    if (e.user === this.me) state.read = Math.max(state.read, e.offset); // another tab of this user
    this._forgetRead(state);
    const member = state.members.get(e.user);
    if (member) member.read = Math.max(member.read, e.offset);
    this._changed(e.room, "read");
  }

  /** @param {Room} state */
  _forgetRead(state) {
    for (const offset of state.notices) if (offset <= state.read) state.notices.delete(offset);
  }

  /** @param {Record<string, any>} e */
  _onPresence(e) {
    const member = this.rooms.get(e.room)?.members.get(e.user);
    if (!member) return;
    member.status = e.status;
    member.availability = e.availability;
    this._changed(e.room, "presence");
  }
}
