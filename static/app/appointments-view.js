// Appointments (docs/workflow.md): the upcoming ones with a "join" button from 15 minutes before
// their start, and for advisors a form to schedule one with the jobseeker on screen. Joining
// records it (`appointment_join`) and opens the interview of the conversation. Either side
// cancels one (`appointment_cancel`) or moves it: the workflow has no request that changes an
// appointment's time, so the advisor's move schedules the new one and then cancels the old (a
// refused new time leaves the old appointment as it was), and the jobseeker's asks the advisor
// for another time with a call-back request, then cancels. Each has its calendar file (.ics).
// Advisors also get today's appointments of the whole portfolio in the side column.

import { onEachConnection } from "./connection-status.js";
import { el } from "./dom.js";
import { errorText, showOutcome } from "./errors.js";
import { appointmentIcs } from "./ics.js";
import { formatDateTime, formatTime, t } from "./i18n.js";

/** `appointment_join` is accepted from this long before the start (docs/workflow.md). */
const JOIN_EARLY_MS = 15 * 60 * 1000;

export class AppointmentsView {
  /**
   * @param {object} options
   * @param {import("/static/rtclient.js").RtClient} options.client
   * @param {HTMLElement} options.container
   * @param {(appointment: Record<string, any>) => void} options.onJoin  open the interview of its room
   * @param {() => string | null} [options.scheduleFor]  advisors: the jobseeker a new appointment is with
   * @param {(user: string) => string} [options.nameOf]
   * @param {HTMLElement} [options.today]  advisors: where today's appointments of every jobseeker go
   * @param {(appointment: Record<string, any>) => void} [options.onMove]  jobseekers: ask for another time
   * @param {() => void} [options.onChange]  the list was reloaded
   */
  constructor({ client, container, onJoin, scheduleFor, nameOf = (u) => u, today, onMove, onChange = () => {} }) {
    this.client = client;
    this.onJoin = onJoin;
    this.scheduleFor = scheduleFor;
    this.nameOf = nameOf;
    this.onMove = onMove;
    this.onChange = onChange;
    /** @type {Record<string, any> | null} */ this.moving = null;
    /** @type {((user: string) => void) | undefined} */ this.onOpenJobseeker = undefined;
    if (today) {
      this.todayList = el("ul", { class: "appointments today", "aria-labelledby": "today-title" });
      today.replaceChildren(el("h2", { id: "today-title" }, t("todayAppointments")), this.todayList);
    }
    /** @type {Array<Record<string, any>>} */ this.appointments = [];
    this.list = el("ul", { class: "appointments", "aria-labelledby": "appointments-title" });
    this.message = el("p", { class: "form-message", role: "status" });
    const parts = [el("h2", { id: "appointments-title" }, t("appointments")), this.list];
    if (scheduleFor) parts.push(this._form());
    parts.push(this.message);
    container.replaceChildren(...parts);
    client.on("appointment", () => this.refresh());
    onEachConnection(client, (again) => { if (again) this.refresh(); });
  }

  _form() {
    const soon = new Date(Date.now() + 3600000);
    soon.setMinutes(0, 0, 0);
    const local = new Date(soon.getTime() - soon.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    this.start = /** @type {HTMLInputElement} */ (el("input", { id: "appointment-start", type: "datetime-local", required: true, value: local }));
    this.duration = /** @type {HTMLInputElement} */ (el("input", { id: "appointment-duration", type: "number", min: "5",
      max: "120", step: "5", value: "30", required: true }));
    // Checked by the page (check()), in its language, rather than by the browser's bubbles.
    this.formTitle = el("h3", {}, t("schedule"));
    this.cancelMove = el("button", { type: "button", class: "link", hidden: true, onclick: () => this._stopMoving() },
      t("moveStop"));
    const form = el("form", { class: "appointment-form", novalidate: true },
      this.formTitle,
      el("div", { class: "field-row" },
        el("p", { class: "field" }, el("label", { for: "appointment-start" }, t("callbackDay")), this.start),
        el("p", { class: "field" }, el("label", { for: "appointment-duration" }, t("duration")), this.duration)),
      el("button", { type: "submit" }, t("scheduleSubmit")), " ", this.cancelMove);
    this.form = form;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const moving = this.moving;
      const jobseeker = moving?.jobseeker ?? this.scheduleFor?.();
      if (!jobseeker) return;
      const start = new Date(this.start.value).getTime();
      const problem = this.check(start);
      if (problem) {
        showOutcome(this.message, problem[0], "error", problem[1]);
        return;
      }
      try {
        await this.client.request("appointment_create", { jobseeker, start, duration_min: Number(this.duration.value) });
        if (moving) {
          await this.client.request("appointment_cancel", { appointment: moving.id });
          this._stopMoving();
        }
        showOutcome(this.message, t(moving ? "moved" : "scheduled"), "ok");
        await this.refresh();
      } catch (error) {
        showOutcome(this.message, errorText(error, moving ? "appointment_move" : "appointment_create"), "error");
      }
    });
    return form;
  }

  /**
   * Advisors: the schedule form becomes "move this appointment", its time and duration filled in.
   * @param {Record<string, any>} appointment
   */
  _startMoving(appointment) {
    if (!this.start || !this.duration || !this.formTitle || !this.cancelMove) return;
    this.moving = appointment;
    const at = new Date(appointment.start);
    this.start.value = new Date(at.getTime() - at.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    this.duration.value = String(appointment.duration_min);
    this.formTitle.textContent = t("moveTitle", this.nameOf(appointment.jobseeker), formatDateTime(appointment.start));
    this.cancelMove.hidden = false;
    this.start.focus();
  }

  _stopMoving() {
    this.moving = null;
    if (this.formTitle) this.formTitle.textContent = t("schedule");
    if (this.cancelMove) this.cancelMove.hidden = true;
  }

  /** @param {Record<string, any>} appointment */
  async cancel(appointment) {
    try {
      await this.client.request("appointment_cancel", { appointment: appointment.id });
      showOutcome(this.message, t("appointmentCancelled"), "ok");
    } catch (error) {
      showOutcome(this.message, errorText(error, "appointment_cancel"), "error");
    }
    await this.refresh();
  }

  /**
   * The appointment's calendar file, downloaded by the browser (built here: nothing is asked of
   * the node, and the file names no one but the other side).
   * @param {Record<string, any>} appointment
   */
  download(appointment) {
    const summary = this.client.hello?.role === "advisor" ? t("icsSummary", this.nameOf(appointment.jobseeker))
      : t("icsSummaryAdvisor");
    const text = appointmentIcs({ uid: `${appointment.id}@rtserver`, start: appointment.start,
      durationMin: appointment.duration_min, summary,
      description: t("icsDescription", new URL(location.pathname, location.origin).href) });
    const url = URL.createObjectURL(new Blob([text], { type: "text/calendar;charset=utf-8" }));
    const link = el("a", { href: url, download: `rendez-vous-${appointment.id}.ics`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  /**
   * What the page can tell before sending: a start to come, a duration in the field's bounds
   * (the server's `appointment_max_duration_min` may be lower: it says so).
   * @param {number} start
   * @returns {[string, HTMLElement] | null}  the problem and the field to fix
   */
  check(start) {
    if (Number.isNaN(start)) return [t("checkStart"), this.start];
    if (start <= Date.now()) return [t("checkStartPast"), this.start];
    const duration = Number(this.duration.value);
    const min = Number(this.duration.min), max = Number(this.duration.max);
    if (!this.duration.value || !Number.isInteger(duration) || duration < min || duration > max) {
      return [t("checkDuration", min, max), this.duration];
    }
    return null;
  }

  async refresh() {
    try {
      this.appointments = (await this.client.request("appointments")).appointments;
    } catch (error) {
      console.warn("appointments unavailable", error);
      return;
    }
    this.render();
    this.onChange();
  }

  /**
   * The next scheduled appointment with `jobseeker` (start, ms), or null.
   * @param {string} jobseeker
   */
  nextWith(jobseeker) {
    const now = Date.now();
    let next = null;
    for (const a of this.appointments) {
      if (a.jobseeker !== jobseeker || a.status !== "scheduled" || a.start + a.duration_min * 60000 <= now) continue;
      if (next === null || a.start < next) next = a.start;
    }
    return next;
  }

  render() {
    const now = Date.now();
    const shown = this.scheduleFor?.();
    const upcoming = this.appointments
      .filter((a) => a.status === "scheduled" && a.start + a.duration_min * 60000 > now)
      .filter((a) => !shown || a.jobseeker === shown)
      .sort((a, b) => a.start - b.start);
    const advisor = this.client.hello?.role === "advisor";
    this.list.replaceChildren(...(upcoming.length ? upcoming.map((a) => {
      const open = now >= a.start - JOIN_EARLY_MS;
      const who = advisor ? `${this.nameOf(a.jobseeker)} · ` : "";
      const when = t("appointmentAt", formatDateTime(a.start), a.duration_min);
      const action = (/** @type {string} */ kind, /** @type {string} */ label, /** @type {() => void} */ run) =>
        el("button", { type: "button", class: "link", "data-action": kind, "aria-label": t(`${kind}AppointmentLabel`, when),
          onclick: run }, label);
      return el("li", { "data-appointment": a.id },
        `${who}${when} `,
        open ? el("button", { type: "button", "data-action": "join", onclick: () => this.join(a) }, t("joinAppointment")) : null,
        el("span", { class: "appointment-actions" },
          action("ics", t("addToCalendar"), () => this.download(a)),
          action("move", t("moveAppointment"), () => (advisor ? this._startMoving(a) : this.onMove?.(a))),
          action("cancel", t("cancelAppointment"), () => this.cancel(a))));
    }) : [el("li", { class: "empty" }, t("noAppointments"))]));
    if (this.todayList) this._renderToday(now);
  }

  /** The scheduled appointments still to come or going on today, in the reader's day. @param {number} now */
  today(now = Date.now()) {
    const end = new Date(now);
    end.setHours(24, 0, 0, 0);
    return this.appointments
      .filter((a) => a.status === "scheduled" && a.start + a.duration_min * 60000 > now && a.start < end.getTime())
      .sort((a, b) => a.start - b.start);
  }

  todayCount() {
    return this.today().length;
  }

  /** @param {number} now */
  _renderToday(now) {
    const today = this.today(now);
    /** @type {HTMLElement} */ (this.todayList).replaceChildren(...(today.length ? today.map((a) => {
      const open = now >= a.start - JOIN_EARLY_MS;
      return el("li", { "data-today": a.id },
        el("span", { class: "time" }, formatTime(a.start)), " ",
        el("button", { type: "button", class: "link", "data-action": "open",
          onclick: () => this.onOpenJobseeker?.(a.jobseeker) }, this.nameOf(a.jobseeker)),
        ` (${a.duration_min} min) `,
        open ? el("button", { type: "button", "data-action": "join", "aria-label": t("joinWith", this.nameOf(a.jobseeker)),
          onclick: () => this.join(a) }, t("joinAppointment")) : null);
    }) : [el("li", { class: "empty" }, t("noAppointmentsToday"))]));
  }

  /** @param {Record<string, any>} appointment */
  async join(appointment) {
    try {
      const reply = await this.client.request("appointment_join", { appointment: appointment.id });
      this.onJoin({ ...reply.appointment, room: reply.room });
    } catch (error) {
      showOutcome(this.message, errorText(error, "appointment_join"), "error");
    }
  }
}
