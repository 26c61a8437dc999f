// The ringing of an incoming call on the jobseeker's page: when the advisor's page says `ringing`
// (docs/media.md#ringing-and-call-signals), a banner at the top of the page with "answer",
// "answer with sound only" and "decline", announced at once to screen readers, and a ring tone
// (WebAudio, no sound file) that the person can silence. Not modal: the conversation and the
// page's own join buttons stay usable.

import { announce, el } from "./dom.js";
import { t } from "./i18n.js";
import { sendCallSignal } from "./call-signals.js";
import { keep, readKept } from "./storage.js";

/** Unanswered for this long, the ringing stops and the banner says the call was missed. */
export const RING_MAX_MS = 45_000;
/** One ring: two 0.4 s tones 0.2 s apart, every 3 s (the European ringback cadence is 1 s on, 4 s off). */
const RING_EVERY_MS = 3000;
const TONE_HZ = [440, 480];
const SOUND_KEY = "rtserver.ringSound";

export class Ringer {
  /**
   * @param {object} options
   * @param {import("/static/rtclient.js").RtClient} options.client
   * @param {string} options.room
   * @param {HTMLElement} options.host  where the banner goes (the page's top)
   * @param {() => boolean} options.busy  already in the call: no ringing
   * @param {(video: boolean) => unknown} options.onAnswer
   * @param {(caller: string) => unknown} [options.onRing]  told when the ringing starts (the widget opens)
   */
  constructor({ client, room, host, busy, onAnswer, onRing = () => {} }) {
    this.onRing = onRing;
    this.client = client;
    this.room = room;
    this.host = host;
    this.busy = busy;
    this.onAnswer = onAnswer;
    /** @type {HTMLElement | null} */ this.banner = null;
    /** @type {ReturnType<typeof setTimeout> | null} */ this._timeout = null;
    /** @type {ReturnType<typeof setInterval> | null} */ this._tones = null;
    /** @type {AudioContext | null} */ this._audio = null;
    this.sound = readKept(SOUND_KEY) !== "off";
    this._off = client.on("call", (e) => {
      if (e.room !== room || e.user === client.hello?.user) return;
      if (e.signal === "ringing") this.ring(e.name || e.user);
      else if (e.signal === "cancelled") this.missed(e.name || e.user);
    });
  }

  get ringing() {
    return this.banner !== null && this.banner.dataset.state === "ringing";
  }

  /** @param {string} caller */
  ring(caller) {
    if (this.busy()) return;
    this.stop();
    const title = el("p", { class: "ring-title", id: "ring-title" }, t("ringIncoming", caller));
    const answer = el("button", { type: "button", class: "primary", "data-action": "answer",
      onclick: () => this._answer(true) }, t("ringAnswer"));
    const soundButton = el("button", { type: "button", class: "link", "data-action": "ring-sound",
      "aria-pressed": String(!this.sound), onclick: () => this._toggleSound(soundButton) }, t("ringSilence"));
    this.banner = el("div", { class: "ring", role: "alertdialog", "aria-labelledby": "ring-title",
      "aria-describedby": "ring-hint", "data-state": "ringing" },
    el("span", { class: "ring-bell", "aria-hidden": "true" }),
    el("div", { class: "ring-text" }, title, el("p", { class: "ring-hint", id: "ring-hint" }, t("ringHint"))),
    el("div", { class: "ring-actions" }, answer,
      el("button", { type: "button", "data-action": "answer-audio", onclick: () => this._answer(false) }, t("ringAnswerAudio")),
      el("button", { type: "button", class: "danger", "data-action": "decline", onclick: () => this._decline() }, t("ringDecline")),
      soundButton));
    this.host.prepend(this.banner);
    this.onRing(caller);
    announce(t("ringIncoming", caller), { assertive: true });
    answer.focus();
    if (this.sound) this._startTones();
    this._timeout = setTimeout(() => this.missed(caller), RING_MAX_MS);
  }

  /** @param {string} caller */
  missed(caller) {
    if (!this.ringing) return;
    this._silence();
    const banner = /** @type {HTMLElement} */ (this.banner);
    banner.dataset.state = "missed";
    banner.setAttribute("role", "status");
    banner.removeAttribute("aria-describedby");
    /** @type {HTMLElement} */ (banner.querySelector(".ring-title")).textContent = t("ringMissed", caller);
    /** @type {HTMLElement} */ (banner.querySelector(".ring-hint")).textContent = t("ringMissedHint");
    banner.querySelector(".ring-actions")?.replaceChildren(
      el("button", { type: "button", "data-action": "dismiss", onclick: () => this.stop() }, t("close")));
    announce(t("ringMissed", caller), { assertive: true });
  }

  /** Stop ringing and take the banner away (the call started from elsewhere, or it was read). */
  stop() {
    this._silence();
    this.banner?.remove();
    this.banner = null;
  }

  dispose() {
    this.stop();
    this._off();
  }

  /** @param {boolean} video */
  _answer(video) {
    this.stop();
    this.onAnswer(video);
  }

  _decline() {
    this.stop();
    sendCallSignal(this.client, this.room, "declined");
    announce(t("ringDeclined"));
  }

  /** @param {HTMLElement} button */
  _toggleSound(button) {
    this.sound = !this.sound;
    keep(SOUND_KEY, this.sound ? "on" : "off");
    button.setAttribute("aria-pressed", String(!this.sound));
    if (this.sound) this._startTones();
    else this._stopTones();
  }

  _silence() {
    if (this._timeout !== null) clearTimeout(this._timeout);
    this._timeout = null;
    this._stopTones();
  }

  _startTones() {
    if (this._tones !== null) return;
    try {
      this._audio ??= new AudioContext();
      this._audio.resume().catch(() => {}); // refused without a gesture: the banner still rings visually
    } catch {
      return;
    }
    const ringOnce = () => {
      const audio = /** @type {AudioContext} */ (this._audio);
      for (const start of [0, 0.6]) {
        const gain = audio.createGain();
        gain.gain.value = 0.08; // a quiet ring: the page may be in a shared office
        gain.connect(audio.destination);
        for (const hz of TONE_HZ) {
          const tone = audio.createOscillator();
          tone.frequency.value = hz;
          tone.connect(gain);
          tone.start(audio.currentTime + start);
          tone.stop(audio.currentTime + start + 0.4);
        }
      }
    };
    ringOnce();
    this._tones = setInterval(ringOnce, RING_EVERY_MS);
  }

  _stopTones() {
    if (this._tones !== null) clearInterval(this._tones);
    this._tones = null;
    this._audio?.close().catch(() => {});
    this._audio = null;
  }
}
