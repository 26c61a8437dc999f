// Appointments (docs/workflow.md): the upcoming ones with a "join" button from 15 minutes before
// their start, and for advisors a form to schedule one with the jobseeker on screen. Joining
// records it (`appointment_join`) and opens the interview of the conversation.

import { onEachConnection } from "./connection-status.js";
import { el } from "./dom.js";
import { errorText, showOutcome } from "./errors.js";
import { formatDateTime, t } from "./i18n.js";

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
   */
  constructor({ client, container, onJoin, scheduleFor, nameOf = (u) => u }) {
    this.client = client;
    this.onJoin = onJoin;
    this.scheduleFor = scheduleFor;
    this.nameOf = nameOf;
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
    const form = el("form", { class: "appointment-form", novalidate: true },
      el("h3", {}, t("schedule")),
      el("div", { class: "field-row" },
        el("p", { class: "field" }, el("label", { for: "appointment-start" }, t("callbackDay")), this.start),
        el("p", { class: "field" }, el("label", { for: "appointment-duration" }, t("duration")), this.duration)),
      el("button", { type: "submit" }, t("scheduleSubmit")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const jobseeker = this.scheduleFor?.();
      if (!jobseeker) return;
      const start = new Date(this.start.value).getTime();
      const problem = this.check(start);
      if (problem) {
        showOutcome(this.message, problem[0], "error", problem[1]);
        return;
      }
      try {
        await this.client.request("appointment_create", { jobseeker, start, duration_min: Number(this.duration.value) });
        showOutcome(this.message, t("scheduled"), "ok");
        await this.refresh();
      } catch (error) {
        showOutcome(this.message, errorText(error, "appointment_create"), "error");
      }
    });
    return form;
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
  }

  render() {
    const now = Date.now();
    const shown = this.scheduleFor?.();
    const upcoming = this.appointments
      .filter((a) => a.status === "scheduled" && a.start + a.duration_min * 60000 > now)
      .filter((a) => !shown || a.jobseeker === shown)
      .sort((a, b) => a.start - b.start);
    this.list.replaceChildren(...(upcoming.length ? upcoming.map((a) => {
      const open = now >= a.start - JOIN_EARLY_MS;
      const who = this.client.hello?.role === "advisor" ? `${this.nameOf(a.jobseeker)} · ` : "";
      return el("li", { "data-appointment": a.id },
        `${who}${t("appointmentAt", formatDateTime(a.start), a.duration_min)} `,
        open ? el("button", { type: "button", onclick: () => this.join(a) }, t("joinAppointment")) : null);
    }) : [el("li", { class: "empty" }, t("noAppointments"))]));
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
