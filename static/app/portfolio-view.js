// The advisor's portfolio: one row per jobseeker with presence, unread count, the latest
// pre-call verdict (live: the node's `precall` event) and the last contact. Rows are buttons in
// a list (Tab reaches the list, the arrow keys move between rows); the open conversation's row
// is marked aria-current.

import { announce, el } from "./dom.js";
import { formatAge, t } from "./i18n.js";
import { modeOf, modeText, onVerdict, verdictText } from "./verdicts.js";

/**
 * @typedef {object} Entry
 * @property {string} jobseeker
 * @property {string} name
 * @property {string} room
 * @property {Record<string, any> | null} precall  the latest pre-call check result, or null
 */

export class PortfolioView {
  /**
   * @param {object} options
   * @param {HTMLElement} options.list
   * @param {import("./room-state.js").RoomState} options.state
   * @param {(entry: Entry) => void} options.onSelect
   */
  constructor({ list, state, onSelect }) {
    this.list = list;
    this.state = state;
    this.onSelect = onSelect;
    /** @type {Entry[]} */ this.entries = [];
    /** @type {string | null} */ this.selected = null;
    state.onChange(() => this.render());
    onVerdict(state.client, (user, result) => this._verdict(user, result));
    list.addEventListener("keydown", (event) => this._keys(event));
    setInterval(() => this.render(), 60000); // "last contact" ages
  }

  /** @param {Entry[]} entries */
  set(entries) {
    this.entries = [...entries].sort((a, b) => a.name.localeCompare(b.name));
    this.render();
  }

  /** @param {string} jobseeker */
  entry(jobseeker) {
    return this.entries.find((e) => e.jobseeker === jobseeker) ?? null;
  }

  /** @param {string} jobseeker */
  select(jobseeker) {
    const entry = this.entry(jobseeker);
    if (!entry) return;
    this.selected = jobseeker;
    this.render();
    this.onSelect(entry);
  }

  /**
   * A jobseeker just stored a check: their row shows it, and a screen reader hears it.
   * @param {string} user
   * @param {Record<string, any>} result
   */
  _verdict(user, result) {
    const entry = this.entry(user);
    if (!entry) return;
    entry.precall = result;
    this.render();
    announce(t("verdictModeOf", entry.name, verdictText(result.verdict), modeText(result)));
  }

  render() {
    if (this.entries.length === 0) {
      this.list.replaceChildren(el("li", { class: "empty" }, t("noPortfolio")));
      return;
    }
    const focused = /** @type {HTMLElement | null} */ (document.activeElement)?.dataset?.jobseeker;
    this.list.replaceChildren(...this.entries.map((entry) => el("li", {}, this._row(entry))));
    if (focused) /** @type {HTMLElement | null} */ (this.list.querySelector(`[data-jobseeker="${CSS.escape(focused)}"]`))?.focus();
  }

  /** @param {Entry} entry */
  _row(entry) {
    const room = this.state.rooms.get(entry.room);
    const member = room?.members.get(entry.jobseeker);
    const status = member?.status ?? "offline";
    const unread = this.state.unread(entry.room);
    const verdict = entry.precall?.verdict ?? null;
    const checked = entry.precall?.ts ? formatAge(Math.max(0, (Date.now() - entry.precall.ts) / 1000)) : null;
    const last = room?.lastTs ?? null;
    return el("button", { type: "button", class: "row", "data-jobseeker": entry.jobseeker, "data-room": entry.room,
      "aria-current": this.selected === entry.jobseeker ? "true" : null, onclick: () => this.select(entry.jobseeker) },
      el("span", { class: "name" }, entry.name),
      unread ? el("span", { class: "badge unread" }, el("span", { "aria-hidden": "true" }, String(unread)),
        el("span", { class: "visually-hidden" }, t("unreadCount", unread)))
        : el("span", {}),
      el("span", { class: "line presence", "data-status": status }, t(status)),
      el("span", { class: "line verdict", "data-verdict": verdict ?? "none" },
        t("labelled", t("verdict"), checked ? t("verdictWhen", verdictText(verdict), checked) : verdictText(verdict))),
      entry.precall ? el("span", { class: "line mode", "data-mode": modeOf(entry.precall) ?? "none" },
        t("labelled", t("predictedMode"), modeText(entry.precall))) : null,
      el("span", { class: "line last-contact" },
        t("labelled", t("lastContact"), last ? formatAge(Math.max(0, (Date.now() - last) / 1000)) : t("never"))));
  }

  /** @param {KeyboardEvent} event */
  _keys(event) {
    if (!["ArrowDown", "ArrowUp", "Home", "End"].includes(event.key)) return;
    const rows = [...this.list.querySelectorAll("button.row")];
    const index = rows.indexOf(/** @type {Element} */ (document.activeElement));
    if (index < 0) return;
    const next = { ArrowDown: Math.min(rows.length - 1, index + 1), ArrowUp: Math.max(0, index - 1), Home: 0,
      End: rows.length - 1 }[event.key];
    /** @type {HTMLElement} */ (rows[/** @type {number} */ (next)]).focus();
    event.preventDefault();
  }
}
