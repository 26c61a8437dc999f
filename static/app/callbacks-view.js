// Callback requests (docs/workflow.md): the jobseeker's "call me back" form with their requests,
// and the advisor's queue with ages, lateness and the claim button. Both reload the list from
// the server when a live `callback` event arrives in one of their rooms: the server's list is the
// truth (ordering, `age_s`, `late`), the event only says "something changed".

import { onEachConnection } from "./connection-status.js";
import { announce, el } from "./dom.js";
import { errorText, showOutcome } from "./errors.js";
import { formatAge, formatDateTime, t } from "./i18n.js";

/** The queue's ages are refreshed this often without any event. */
const AGE_REFRESH_MS = 30000;

/**
 * @param {string} date  yyyy-mm-dd
 * @param {string} time  hh:mm
 */
function localMs(date, time) {
  return new Date(`${date}T${time}`).getTime();
}

/** @param {Date} d */
function isoDate(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

/** The jobseeker's form and the list of their requests. */
export class CallbackForm {
  /**
   * @param {object} options
   * @param {import("/static/rtclient.js").RtClient} options.client
   * @param {HTMLElement} options.container
   */
  constructor({ client, container }) {
    this.client = client;
    this.container = container;
    /** @type {Array<Record<string, any>>} */ this.callbacks = [];
    /** @type {Record<string, any> | null} */ this.moving = null;  // the appointment this request moves
    this._build();
    client.on("callback", () => this.refresh());
    onEachConnection(client, (again) => { if (again) this.refresh(); });
  }

  _build() {
    const tomorrow = new Date(Date.now() + 86400000);
    const field = (/** @type {string} */ id, /** @type {string} */ label, /** @type {HTMLElement} */ input) =>
      el("p", { class: "field" }, el("label", { for: id }, label), input);
    this.reason = /** @type {HTMLTextAreaElement} */ (el("textarea", { id: "callback-reason", name: "reason", rows: "3",
      maxlength: "500", required: true }));
    this.day = /** @type {HTMLInputElement} */ (el("input", { id: "callback-day", type: "date", required: true,
      value: isoDate(tomorrow), min: isoDate(new Date()) }));
    this.from = /** @type {HTMLInputElement} */ (el("input", { id: "callback-from", type: "time", required: true, value: "09:00" }));
    this.to = /** @type {HTMLInputElement} */ (el("input", { id: "callback-to", type: "time", required: true, value: "12:00" }));
    const radio = (/** @type {string} */ value, /** @type {string} */ label, /** @type {boolean} */ checked) => el("label", { class: "choice" },
      el("input", { type: "radio", name: "channel", value, checked }), " ", label);
    this.message = el("p", { class: "form-message", role: "status" });
    // Checked by the page (check()), in its language, rather than by the browser's bubbles.
    this.form = el("form", { class: "callback-form", "aria-labelledby": "callback-title", novalidate: true },
      field("callback-reason", t("callbackReason"), this.reason),
      el("fieldset", {}, el("legend", {}, t("callbackChannel")),
        radio("video", t("channelVideo"), true), radio("phone", t("channelPhone"), false)),
      el("div", { class: "field-row" }, field("callback-day", t("callbackDay"), this.day),
        field("callback-from", t("callbackFrom"), this.from), field("callback-to", t("callbackTo"), this.to)),
      el("button", { type: "submit", class: "primary" }, t("callbackSubmit")),
      this.message);
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.submit(); });
    this.list = el("ul", { class: "callback-list", "aria-label": t("yourCallbacks") });
    this.container.replaceChildren(
      el("h2", { id: "callback-title" }, t("callMeBack")), this.form,
      el("h3", {}, t("yourCallbacks")), this.list);
  }

  /**
   * What the page can tell before sending (docs/workflow.md: a reason, a window whose end follows
   * its start and is still to come); the server checks the rest (its horizon, the open requests).
   * @param {number} start
   * @param {number} end
   * @returns {[string, HTMLElement] | null}  the problem and the field to fix
   */
  check(start, end) {
    if (!this.reason.value.trim()) return [t("checkReason"), this.reason];
    if (Number.isNaN(start)) return [t("checkDay"), this.day.value ? this.from : this.day];
    if (Number.isNaN(end)) return [t("checkDay"), this.to];
    if (end <= start) return [t("checkWindowOrder"), this.to];
    if (end <= Date.now()) return [t("checkWindowPast"), this.day];
    return null;
  }

  async submit() {
    const channel = /** @type {HTMLInputElement | null} */ (this.form.querySelector("input[name=channel]:checked"))?.value ?? "video";
    const start = localMs(this.day.value, this.from.value);
    const end = localMs(this.day.value, this.to.value);
    const problem = this.check(start, end);
    if (problem) {
      showOutcome(this.message, problem[0], "error", problem[1]);
      return;
    }
    try {
      // The server takes a reason on one line (it is quoted inside a notice): the lines typed
      // in the box are joined with spaces.
      await this.client.request("callback_request", { reason: this.reason.value.replace(/\s+/g, " ").trim(), channel,
        windows: [{ start, end }] });
      this.reason.value = "";
      if (this.moving) {
        // The advisor now has the request for another time: the old appointment goes.
        const moving = this.moving;
        this.moving = null;
        await this.client.request("appointment_cancel", { appointment: moving.id });
        showOutcome(this.message, t("moveRequested"), "ok");
      } else {
        showOutcome(this.message, t("callbackSent"), "ok");
      }
      await this.refresh();
    } catch (error) {
      showOutcome(this.message, errorText(error, "callback_request"), "error");
    }
  }

  /**
   * Move an appointment: the form asks the advisor for another time (a call-back request whose
   * reason names the appointment); once sent, the appointment is cancelled.
   * @param {Record<string, any>} appointment
   */
  moveAppointment(appointment) {
    this.moving = appointment;
    this.reason.value = t("moveReason", formatDateTime(appointment.start));
    showOutcome(this.message, t("moveHow"), "ok");
    this.day.focus();
  }

  async refresh() {
    try {
      this.callbacks = (await this.client.request("callbacks")).callbacks;
    } catch (error) {
      console.warn("callbacks unavailable", error);
      return;
    }
    const pending = this.callbacks.filter((cb) => cb.status === "open" || cb.status === "claimed");
    this.list.replaceChildren(...(pending.length ? pending.map((cb) => el("li", { "data-callback": cb.id, "data-status": cb.status },
      el("span", { class: "reason" }, cb.reason), " — ",
      el("span", {}, `${t(cb.channel === "phone" ? "channelPhone" : "channelVideo")}, ${formatDateTime(cb.due)}`), " — ",
      el("strong", { class: "status" }, t(`status_${cb.status}`)),
      " ", el("button", { type: "button", class: "link", onclick: () => this.cancel(cb.id) }, t("cancel"))))
      : [el("li", { class: "empty" }, t("noCallbacks"))]));
  }

  /** @param {string} id */
  async cancel(id) {
    await this.client.request("callback_cancel", { callback: id })
      .catch((error) => showOutcome(this.message, errorText(error, "callback_cancel"), "error"));
    await this.refresh();
  }
}

/** Longest note recorded with an outcome (docs/workflow.md: `note`, at most 1,000 characters). */
const NOTE_MAX = 1000;

/**
 * The advisor's queue: open and claimed requests of the portfolio, earliest due first. A request
 * the advisor claimed shows what to do next: done, no answer, or reschedule with a new window
 * (`callback_outcome`), with an optional note; it then leaves the queue (or comes back open).
 */
export class CallbackQueue {
  /**
   * @param {object} options
   * @param {import("/static/rtclient.js").RtClient} options.client
   * @param {HTMLElement} options.container
   * @param {(user: string) => string} options.nameOf
   * @param {(user: string) => void} [options.onOpen]  show that jobseeker's conversation
   * @param {() => void} [options.onChange]  the list was reloaded
   */
  constructor({ client, container, nameOf, onOpen = () => {}, onChange = () => {} }) {
    this.client = client;
    this.nameOf = nameOf;
    this.onOpen = onOpen;
    this.onChange = onChange;
    /** @type {string | null} */ this.rescheduling = null;
    /** @type {Array<Record<string, any>>} */ this.callbacks = [];
    this.fetchedAt = 0;
    this.message = el("p", { class: "form-message", role: "status" });
    this.list = el("ul", { class: "queue", "aria-labelledby": "queue-title" });
    container.replaceChildren(el("h2", { id: "queue-title" }, t("callbackQueue")), this.list, this.message);
    client.on("callback", () => this.refresh());
    onEachConnection(client, (again) => { if (again) this.refresh(); });
    setInterval(() => this._render(), AGE_REFRESH_MS);
  }

  async refresh() {
    try {
      this.callbacks = (await this.client.request("callbacks")).callbacks;
      this.fetchedAt = Date.now();
    } catch (error) {
      console.warn("callback queue unavailable", error);
      return;
    }
    this._render();
    this.onChange();
  }

  /**
   * The jobseeker's pending requests: how many, and whether one is late.
   * @param {string} jobseeker
   */
  of(jobseeker) {
    const mine = this.callbacks.filter((cb) => cb.jobseeker === jobseeker);
    return { open: mine.length, late: mine.some((cb) => cb.late) };
  }

  _render() {
    const elapsedS = Math.floor((Date.now() - this.fetchedAt) / 1000);
    const me = this.client.hello?.user;
    const rows = this.callbacks.map((cb) => {
      const name = this.nameOf(cb.jobseeker);
      const claimed = cb.status === "claimed";
      return el("li", { class: "queue-item", "data-callback": cb.id, "data-status": cb.status, "data-late": cb.late ? "true" : null },
        el("p", { class: "queue-head" },
          el("button", { type: "button", class: "link", onclick: () => this.onOpen(cb.jobseeker) }, name),
          cb.late ? el("span", { class: "badge late" }, t("late")) : null),
        el("p", { class: "reason" }, cb.reason),
        el("p", { class: "meta" },
          `${t(cb.channel === "phone" ? "channelPhone" : "channelVideo")} · ${t("due", formatDateTime(cb.due))} · `,
          el("span", { class: "age" }, t("age", formatAge(cb.age_s + elapsedS)))),
        claimed
          ? el("p", { class: "claimed", tabindex: "-1" }, t("claimedBy", cb.claimed_by === me ? t("you") : this.nameOf(cb.claimed_by)))
          : el("button", { type: "button", class: "primary", "data-action": "claim", "aria-label": t("claimLabel", name),
            onclick: () => this.claim(cb.id) }, t("claim")),
        claimed && cb.claimed_by === me ? this._actions(cb, name) : null);
    });
    this.list.replaceChildren(...(rows.length ? rows : [el("li", { class: "empty" }, t("emptyQueue"))]));
  }

  /**
   * What the claimer does next. A phone request says where the number is: the service stores
   * none (docs/workflow.md: a request holds its reason, channel and windows), the agency's file
   * has it.
   * @param {Record<string, any>} cb
   * @param {string} name
   */
  _actions(cb, name) {
    const note = /** @type {HTMLTextAreaElement} */ (el("textarea", { id: `note-${cb.id}`, rows: "2",
      maxlength: String(NOTE_MAX), class: "outcome-note" }));
    const outcome = (/** @type {string} */ kind, /** @type {string} */ label) => el("button", { type: "button",
      "data-action": kind, "aria-label": t(`${kind}Label`, name), onclick: () => this.outcome(cb.id, kind, note.value) }, label);
    const parts = [
      cb.channel === "phone" ? el("p", { class: "hint phone-hint" }, t("phoneNotStored")) : null,
      el("p", { class: "field" }, el("label", { for: `note-${cb.id}` }, t("outcomeNote")), note),
      el("div", { class: "outcome-actions" }, outcome("done", t("outcomeDone")), outcome("no_answer", t("outcomeNoAnswer")),
        el("button", { type: "button", "data-action": "reschedule", "aria-expanded": this.rescheduling === cb.id ? "true" : "false",
          "aria-label": t("rescheduleLabel", name),
          onclick: () => { this.rescheduling = this.rescheduling === cb.id ? null : cb.id; this._render();
            /** @type {HTMLElement | null} */ (this.list.querySelector(`#reschedule-day-${CSS.escape(cb.id)}`))?.focus(); } },
        t("outcomeReschedule"))),
    ];
    if (this.rescheduling === cb.id) parts.push(this._rescheduleForm(cb, note));
    return el("div", { class: "outcome" }, ...parts);
  }

  /**
   * @param {Record<string, any>} cb
   * @param {HTMLTextAreaElement} note
   */
  _rescheduleForm(cb, note) {
    const tomorrow = new Date(Date.now() + 86400000);
    const day = /** @type {HTMLInputElement} */ (el("input", { id: `reschedule-day-${cb.id}`, type: "date", required: true,
      value: isoDate(tomorrow), min: isoDate(new Date()) }));
    const from = /** @type {HTMLInputElement} */ (el("input", { id: `reschedule-from-${cb.id}`, type: "time", value: "09:00" }));
    const to = /** @type {HTMLInputElement} */ (el("input", { id: `reschedule-to-${cb.id}`, type: "time", value: "12:00" }));
    const field = (/** @type {HTMLInputElement} */ input, /** @type {string} */ label) =>
      el("p", { class: "field" }, el("label", { for: input.id }, label), input);
    const form = el("form", { class: "reschedule-form", novalidate: true },
      el("div", { class: "field-row" }, field(day, t("callbackDay")), field(from, t("callbackFrom")), field(to, t("callbackTo"))),
      el("button", { type: "submit", class: "primary" }, t("rescheduleSubmit")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const start = localMs(day.value, from.value), end = localMs(day.value, to.value);
      if (Number.isNaN(start) || Number.isNaN(end)) return showOutcome(this.message, t("checkDay"), "error", day);
      if (end <= start) return showOutcome(this.message, t("checkWindowOrder"), "error", to);
      if (end <= Date.now()) return showOutcome(this.message, t("checkWindowPast"), "error", day);
      this.outcome(cb.id, "rescheduled", note.value, [{ start, end }]);
    });
    return form;
  }

  /**
   * Record the claimer's outcome (`callback_outcome`): done and no answer close the request,
   * rescheduled puts it back open with the new window.
   * @param {string} id
   * @param {string} outcome  done, no_answer, rescheduled
   * @param {string} note
   * @param {Array<{start: number, end: number}>} [windows]
   */
  async outcome(id, outcome, note, windows) {
    /** @type {Record<string, any>} */
    const fields = { callback: id, outcome };
    if (note.trim()) fields.note = note.trim();
    if (windows) fields.windows = windows;
    try {
      await this.client.request("callback_outcome", fields);
      this.rescheduling = null;
      this.message.textContent = t(`outcomeRecorded_${outcome}`);
      this.message.dataset.kind = "ok";
    } catch (error) {
      this.message.textContent = errorText(error, "callback_outcome");
      this.message.dataset.kind = "error";
    }
    announce(this.message.textContent ?? "");
    await this.refresh();
  }

  /** @param {string} id */
  async claim(id) {
    try {
      await this.client.request("callback_claim", { callback: id });
      this.message.textContent = t("callbackClaimed");
    } catch (error) {
      this.message.textContent = errorText(error, "callback_claim");  // already_claimed: a colleague was first
    }
    announce(this.message.textContent ?? "");
    await this.refresh();
    /** @type {HTMLElement | null} */ (this.list.querySelector(`[data-callback="${CSS.escape(id)}"] .claimed`)
      ?? this.list)?.focus?.();
  }
}
