// The advisor's portfolio: one compact row per jobseeker with unread messages from people (the
// workflow's notices are not counted), what needs attention (waiting in the interview, late or
// open callbacks, an upcoming appointment, a check not ready), presence and the last contact.
// Above it a search field, a filter and a sort ("needs attention first" by default): a console
// of 150 rows is found by name or by what to do, not scrolled. Rows are buttons in a list
// (Tab reaches it, the arrow keys, Home and End move, and j/k from anywhere: workspace.js); the
// open conversation's row is marked aria-current.

import { FILTERS, SORTS, fold, matches, order } from "./attention.js";
import { announce, el } from "./dom.js";
import { formatAge, formatTime, lang, t } from "./i18n.js";
import { modeOf, modeText, onVerdict, verdictText } from "./verdicts.js";

/**
 * @typedef {object} Entry
 * @property {string} jobseeker
 * @property {string} name
 * @property {string} room
 * @property {Record<string, any> | null} precall  the latest pre-call check result, or null
 */

/**
 * @typedef {object} Extra  what the console knows beside the room state
 * @property {number} openCallbacks
 * @property {boolean} lateCallback
 * @property {number | null} nextAppointment
 * @property {boolean} waiting
 */

/** @type {Extra} */
const NOTHING = { openCallbacks: 0, lateCallback: false, nextAppointment: null, waiting: false };

export class PortfolioView {
  /**
   * @param {object} options
   * @param {HTMLElement} options.list
   * @param {HTMLElement} [options.tools]  where the search, filter and sort go
   * @param {import("./room-state.js").RoomState} options.state
   * @param {(entry: Entry) => void} options.onSelect
   * @param {(entry: Entry) => Extra} [options.extra]
   */
  constructor({ list, tools, state, onSelect, extra = () => NOTHING }) {
    this.list = list;
    this.state = state;
    this.onSelect = onSelect;
    this.extra = extra;
    /** @type {Entry[]} */ this.entries = [];
    /** @type {Entry[]} */ this.shown = [];
    /** @type {string | null} */ this.selected = null;
    this.query = "";
    this.filter = "all";
    this.sort = "attention";
    this._frame = 0;
    if (tools) this._tools(tools);
    state.onChange(() => this.render());
    onVerdict(state.client, (user, result) => this._verdict(user, result));
    list.addEventListener("keydown", (event) => this._keys(event));
    setInterval(() => this.render(), 60000); // "last contact" ages
  }

  /** @param {HTMLElement} tools */
  _tools(tools) {
    this.search = /** @type {HTMLInputElement} */ (el("input", { id: "portfolio-search", type: "search",
      autocomplete: "off", "aria-describedby": "portfolio-count", "aria-keyshortcuts": "/" }));
    const select = (/** @type {string} */ id, /** @type {string[]} */ values, /** @type {string} */ prefix) =>
      /** @type {HTMLSelectElement} */ (el("select", { id }, ...values.map((v) => el("option", { value: v }, t(`${prefix}${v}`)))));
    this.filterSelect = select("portfolio-filter", FILTERS, "filter_");
    this.sortSelect = select("portfolio-sort", SORTS, "sort_");
    this.count = el("p", { id: "portfolio-count", class: "hint", "aria-live": "polite" });
    this.search.addEventListener("input", () => { this.query = fold(this.search.value); this.renderNow(); });
    this.search.addEventListener("keydown", (event) => {
      // Enter opens the first row found: "/", a few letters, Enter.
      if (event.key === "Enter" && this.shown.length) { event.preventDefault(); this.select(this.shown[0].jobseeker); }
      if (event.key === "ArrowDown") { event.preventDefault(); this.focusRow(0); }
    });
    this.filterSelect.addEventListener("change", () => { this.filter = this.filterSelect.value; this.renderNow(); });
    this.sortSelect.addEventListener("change", () => { this.sort = this.sortSelect.value; this.renderNow(); });
    tools.replaceChildren(
      el("p", { class: "field" }, el("label", { for: "portfolio-search" }, t("searchPortfolio")), this.search),
      el("div", { class: "field-row" },
        el("p", { class: "field" }, el("label", { for: "portfolio-filter" }, t("filter")), this.filterSelect),
        el("p", { class: "field" }, el("label", { for: "portfolio-sort" }, t("sortBy")), this.sortSelect)),
      this.count);
  }

  /** @param {Entry[]} entries */
  set(entries) {
    this.entries = [...entries];
    this.renderNow();
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
    this.renderNow();
    this.onSelect(entry);
  }

  /** Focus the row at `index` of those shown (clamped), or the open one. @param {number} index */
  focusRow(index) {
    const rows = /** @type {HTMLElement[]} */ ([...this.list.querySelectorAll("button.row")]);
    if (!rows.length) return;
    rows[Math.max(0, Math.min(rows.length - 1, index))].focus();
  }

  /** Move the focus `step` rows from the focused (or open) one: j/k. @param {number} step */
  move(step) {
    const rows = [...this.list.querySelectorAll("button.row")];
    let index = rows.indexOf(/** @type {Element} */ (document.activeElement));
    if (index < 0) index = rows.findIndex((r) => r.getAttribute("aria-current") === "true");
    this.focusRow(index < 0 ? 0 : index + step);
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

  /** @param {Entry} entry */
  facts(entry) {
    const room = this.state.rooms.get(entry.room);
    return { name: entry.name, unread: this.state.unreadPeople(entry.room),
      status: room?.members.get(entry.jobseeker)?.status ?? "offline", verdict: entry.precall?.verdict ?? null,
      lastTs: room?.lastTs ?? null, ...this.extra(entry) };
  }

  /**
   * Render at the next frame: a burst of events (150 joins, a reconnect) costs one render.
   */
  render() {
    if (this._frame) return;
    this._frame = requestAnimationFrame(() => { this._frame = 0; this.renderNow(); });
  }

  renderNow() {
    if (this._frame) { cancelAnimationFrame(this._frame); this._frame = 0; }
    if (this.entries.length === 0) {
      this.list.replaceChildren(el("li", { class: "empty" }, t("noPortfolio")));
      return;
    }
    const now = Date.now();
    const rows = this.entries.map((entry) => ({ entry, facts: this.facts(entry) }))
      .filter((row) => matches(row.facts, this.query, this.filter, now));
    const sorted = order(rows, this.sort, now, lang);
    this.shown = sorted.map((row) => row.entry);
    const focused = /** @type {HTMLElement | null} */ (document.activeElement)?.dataset?.jobseeker;
    this.list.replaceChildren(...(sorted.length ? sorted.map((row) => el("li", {}, this._row(row.entry, row.facts, now)))
      : [el("li", { class: "empty" }, t("noMatch"))]));
    if (this.count) {
      const text = t("shownOf", sorted.length, this.entries.length);
      if (this.count.textContent !== text) this.count.textContent = text;
    }
    if (focused) /** @type {HTMLElement | null} */ (this.list.querySelector(`[data-jobseeker="${CSS.escape(focused)}"]`))?.focus();
  }

  /**
   * @param {Entry} entry
   * @param {import("./attention.js").Facts} facts
   * @param {number} now
   */
  _row(entry, facts, now) {
    const checked = entry.precall?.ts ? formatAge(Math.max(0, (now - entry.precall.ts) / 1000)) : null;
    const soon = facts.nextAppointment !== null && facts.nextAppointment - now < 24 * 3600 * 1000;
    const chip = (/** @type {string} */ kind, /** @type {string} */ text) => el("span", { class: `chip ${kind}` }, text);
    return el("button", { type: "button", class: "row", "data-jobseeker": entry.jobseeker, "data-room": entry.room,
      "aria-current": this.selected === entry.jobseeker ? "true" : null, onclick: () => this.select(entry.jobseeker) },
      el("span", { class: "row-head" },
        el("span", { class: "name" }, entry.name),
        facts.unread ? el("span", { class: "badge unread" }, el("span", { "aria-hidden": "true" }, String(facts.unread)),
          el("span", { class: "visually-hidden" }, t("unreadCount", facts.unread))) : null),
      facts.waiting || facts.lateCallback || facts.openCallbacks || soon
        ? el("span", { class: "chips" },
          facts.waiting ? chip("waiting", t("waitingChip")) : null,
          facts.lateCallback ? chip("late", t("lateCallbackChip")) : facts.openCallbacks ? chip("callback", t("callbackChip")) : null,
          soon ? chip("appointment", t("appointmentChip", formatTime(/** @type {number} */ (facts.nextAppointment)))) : null)
        : null,
      el("span", { class: "line" },
        el("span", { class: "presence", "data-status": facts.status }, t(facts.status)), " · ",
        el("span", { class: "verdict", "data-verdict": facts.verdict ?? "none" },
          t("labelled", t("verdict"), checked ? t("verdictWhen", verdictText(facts.verdict), checked) : verdictText(facts.verdict))),
        entry.precall ? el("span", { class: "mode", "data-mode": modeOf(entry.precall) ?? "none" },
          " · ", t("labelled", t("predictedMode"), modeText(entry.precall))) : null),
      el("span", { class: "line last-contact" },
        t("labelled", t("lastContact"), facts.lastTs ? formatAge(Math.max(0, (now - facts.lastTs) / 1000)) : t("never"))));
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
