// Attention signals of the advisor console: what tells an advisor, whatever is on screen, that
// a jobseeker wrote, asked to be called back or waits in the interview.
//
// - the tab's title carries the number of unread messages from people: "(3) Console conseiller";
// - the signal line at the top of the page names the latest one, with a button that opens the
//   conversation, and a screen reader hears it (assertive for someone waiting in the interview);
// - a short tone, off by default (a shared office), switched on in the top bar and kept for the tab;
// - a desktop notification (Notifications API), only once the advisor allowed them from the
//   button, and only while the page is not looked at. It names the jobseeker, never the
//   message's text: notifications show on lock screens and shared screens.

import { announce, el } from "./dom.js";
import { t } from "./i18n.js";
import { keep, readKept } from "./storage.js";

const SOUND_KEY = "rtserver.sound";
/** The tone: 880 Hz for 180 ms, quiet. */
const TONE_HZ = 880;
const TONE_S = 0.18;
const TONE_GAIN = 0.08;

export class Signals {
  /**
   * @param {object} options
   * @param {HTMLElement} options.line  the signal line (its text and "open" button)
   * @param {HTMLInputElement} options.sound  the checkbox switching the tone on
   * @param {HTMLButtonElement} options.allow  asks for the notification permission
   * @param {(user: string) => void} options.onOpen
   */
  constructor({ line, sound, allow, onOpen }) {
    this.line = line;
    this.sound = sound;
    this.allow = allow;
    this.onOpen = onOpen;
    this.baseTitle = document.title;
    /** @type {AudioContext | null} */ this.audio = null;
    /** @type {number[]} */ this.log = [];  // performance.now() of each signal (for the tests' timings)
    sound.checked = readKept(SOUND_KEY) === "on";
    sound.addEventListener("change", () => keep(SOUND_KEY, sound.checked ? "on" : "off"));
    const api = /** @type {any} */ (window).Notification;
    allow.hidden = !api || api.permission !== "default";
    allow.addEventListener("click", async () => {
      await api?.requestPermission?.();
      allow.hidden = api?.permission !== "default";
    });
  }

  /** @param {number} unread  messages from people not read yet */
  title(unread) {
    const title = unread > 0 ? `(${unread}) ${this.baseTitle}` : this.baseTitle;
    if (document.title !== title) document.title = title;
  }

  /**
   * @param {object} signal
   * @param {string} signal.kind  message, callback, waiting
   * @param {string} signal.user  the jobseeker
   * @param {string} signal.text  what happened, naming the jobseeker
   */
  raise({ kind, user, text }) {
    this.log.push(performance.now());
    this.line.dataset.kind = kind;
    this.line.dataset.user = user;
    this.line.hidden = false;
    this.line.replaceChildren(el("span", { class: "signal-text" }, text), " ",
      el("button", { type: "button", class: "link", onclick: () => this.onOpen(user) }, t("openConversation")));
    announce(text, { assertive: kind === "waiting" });
    if (this.sound.checked) this._tone();
    this._notify(kind, user, text);
  }

  _tone() {
    try {
      this.audio ??= new AudioContext();
      const oscillator = this.audio.createOscillator();
      const gain = this.audio.createGain();
      oscillator.frequency.value = TONE_HZ;
      gain.gain.value = TONE_GAIN;
      oscillator.connect(gain).connect(this.audio.destination);
      oscillator.start();
      oscillator.stop(this.audio.currentTime + TONE_S);
    } catch (error) {
      console.warn("no sound", error);
    }
  }

  /**
   * @param {string} kind
   * @param {string} user
   * @param {string} text
   */
  _notify(kind, user, text) {
    const api = /** @type {any} */ (window).Notification;
    if (!api || api.permission !== "granted") return;
    if (document.visibilityState === "visible" && document.hasFocus()) return;  // the page shows it
    try {
      // One notification per jobseeker and kind: a burst of messages replaces, not piles up.
      const shown = new api(t("consoleName"), { body: text, tag: `${kind}:${user}` });
      shown.onclick = () => { window.focus(); this.onOpen(user); shown.close(); };
    } catch (error) {
      console.warn("notification refused", error);
    }
  }
}
