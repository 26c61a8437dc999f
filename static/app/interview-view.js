// The video interview of a conversation: local preview, the other's video, microphone, camera,
// audio-only and leave buttons (toggle buttons with aria-pressed), and the connection quality.
// The quality covers both directions: what this page receives (its own report: frame rate,
// freezes, audio loss) and how the other side receives it (the node's `media_link`); besides,
// the advisor sees the jobseeker's uplink as the node measures it (`media_stats`) and the
// jobseeker his own loss and round trip from the browser's statistics. When the node pauses
// video in one direction (`media_fallback`), both people are told why, and the tile shows
// "sound only" instead of a frozen picture.

import { announce, el } from "./dom.js";
import { t } from "./i18n.js";
import { fromBrowserStats, fromMediaStats, fromReport, linkQuality, worst } from "./quality.js";

const QUALITY_EVERY_MS = 2000;
/**
 * After telling that video paused or came back, the quality line keeps quiet this long: the live
 * region holds one sentence, and that one (20 to 35 words, 6 to 10 s read aloud) must not be
 * replaced by the level change the same event causes.
 */
const FALLBACK_QUIET_MS = 8000;

export class InterviewView {
  /**
   * @param {object} options
   * @param {import("/static/rtclient.js").RtClient} options.client
   * @param {string} options.room
   * @param {string} options.otherName
   * @param {HTMLElement} options.container  where the call shows while it lasts
   * @param {(room: string) => void} [options.onStarted]
   * @param {(room: string, reason: string) => void} [options.onEnded]
   */
  constructor({ client, room, otherName, container, onStarted = () => {}, onEnded = () => {} }) {
    this.client = client;
    this.room = room;
    this.otherName = otherName;
    this.container = container;
    this.onStarted = onStarted;
    this.onEnded = onEnded;
    /** @type {import("/static/rtclient.js").Interview | null} */ this.interview = null;
    /** @type {import("./quality.js").Quality | null} */ this.quality = null;
    /** How this page receives the other (from the SDK's latest report). */
    /** @type {ReturnType<typeof fromReport> | null} */ this.received = null;
    /** Both directions, as last shown (for the tests and for debugging). */
    /** @type {import("./quality.js").LinkQuality | null} */ this.link = null;
    /** @type {ReturnType<typeof setInterval> | null} */ this._qualityTimer = null;
    /** @type {Array<() => void>} */ this._off = [];
    this._fallbackSaidAt = -Infinity;
  }

  get active() {
    return this.interview !== null;
  }

  /**
   * Join the interview (the camera and microphone are asked for now).
   * @param {{video?: boolean}} [options]
   */
  async start({ video = true } = {}) {
    if (this.interview) return;
    this._build();
    const interview = this.interview = this.client.interview(this.room);
    this._off.push(
      interview.on("remote_stream", ({ user, stream }) => this._showRemote(user, stream)),
      interview.on("participant", (e) => this._onParticipant(e)),
      interview.on("tracks", ({ user, tracks, self }) => {
        if (!self) this._tile(user).classList.toggle("camera-off", !tracks.some((/** @type {any} */ x) => x.kind === "video"));
      }),
      interview.on("closed", ({ reason }) => this._ended(reason)),
      interview.on("report", ({ report }) => {
        const other = this._otherUser();
        this.received = other ? fromReport(report, other) : null;
        this._renderQuality();
      }),
      interview.on("link", () => { this._syncVideoStates(); this._renderQuality(); }),
      interview.on("fallback", (e) => this._onFallback(e)),
    );
    try {
      await interview.join({ audio: true, video });
    } catch (error) {
      this._say(t("cameraDenied"));
      console.warn("interview join failed", error);
      await interview.leave().catch(() => {});
      return;
    }
    /** @type {HTMLVideoElement} */ (this.localVideo).srcObject = interview.localStream;
    for (const p of interview.participants.values()) this._nameTile(p.user, p.name || p.user);
    this._say(interview.participants.size ? t("inCall") : t("waiting"));
    this._syncButtons();
    for (const button of this.controls.querySelectorAll("button")) /** @type {HTMLButtonElement} */ (button).disabled = false;
    this._startQuality();
    this.onStarted(this.room);
    /** @type {HTMLButtonElement} */ (this.controls.querySelector("[data-action=microphone]")).focus();
  }

  async leave() {
    await this.interview?.leave();
  }

  _build() {
    this.status = el("p", { class: "call-status" });
    this.localVideo = el("video", { autoplay: true, playsinline: true, muted: true, "aria-label": t("yourVideo") });
    /** @type {HTMLVideoElement} */ (this.localVideo).muted = true;
    this.tiles = el("div", { class: "tiles" },
      el("figure", { class: "tile local" }, this.localVideo, el("p", { class: "tile-note", hidden: true }),
        el("figcaption", {}, t("you"))));
    this.qualityLine = el("p", { class: "quality", "data-level": "unknown" });
    /**
     * @param {string} action
     * @param {string} text
     * @param {() => void} onclick
     * @param {boolean} toggle
     */
    const button = (action, text, onclick, toggle) => el("button", { type: "button", "data-action": action, disabled: true,
      "aria-pressed": toggle ? "false" : null, onclick }, text);
    this.soundButton = el("button", { type: "button", hidden: true, onclick: () => this._unmuteRemote() }, t("soundOn"));
    this.controls = el("div", { class: "controls", role: "toolbar", "aria-label": t("interview") },
      button("microphone", t("microphone"), () => this._toggleMicrophone(), true),
      button("camera", t("camera"), () => this._toggleCamera(), true),
      button("audio-only", t("audioOnly"), () => this._toggleAudioOnly(), true),
      button("leave", t("leave"), () => this.leave(), false),
      this.soundButton);
    /** @type {HTMLElement} */ (this.controls.querySelector("[data-action=leave]")).setAttribute("aria-label", t("leaveLabel"));
    this.controls.addEventListener("keydown", (event) => this._toolbarKeys(event));
    this.section = el("section", { class: "interview", "aria-label": t("interview"), "data-room": this.room },
      el("h2", {}, t("interview")), this.status, this.tiles, this.qualityLine, this.controls);
    this.container.replaceChildren(this.section);
    this.container.hidden = false;
    this._renderQuality();
  }

  /**
   * Arrow keys move between the toolbar's buttons (the WAI-ARIA toolbar pattern).
   * @param {KeyboardEvent} event
   */
  _toolbarKeys(event) {
    if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
    const buttons = [...this.controls.querySelectorAll("button:not([hidden])")];
    const index = buttons.indexOf(/** @type {Element} */ (document.activeElement));
    if (index < 0) return;
    const next = buttons[(index + (event.key === "ArrowRight" ? 1 : buttons.length - 1)) % buttons.length];
    /** @type {HTMLElement} */ (next).focus();
    event.preventDefault();
  }

  /** @param {string} text */
  _say(text) {
    this.status.textContent = text;
    announce(text);
  }

  /** @param {string} user */
  _tile(user) {
    let tile = /** @type {HTMLElement | null} */ (this.tiles.querySelector(`figure[data-user="${CSS.escape(user)}"]`));
    if (!tile) {
      tile = el("figure", { class: "tile remote", "data-user": user },
        el("video", { autoplay: true, playsinline: true }), el("p", { class: "tile-note", hidden: true }),
        el("figcaption", {}, user));
      this.tiles.append(tile);
      this._syncVideoStates();
    }
    return tile;
  }

  /**
   * @param {string} user
   * @param {string} name
   */
  _nameTile(user, name) {
    const tile = this._tile(user);
    /** @type {HTMLElement} */ (tile.querySelector("figcaption")).textContent = name;
    /** @type {HTMLElement} */ (tile.querySelector("video")).setAttribute("aria-label", t("videoOf", name));
  }

  /**
   * @param {string} user
   * @param {MediaStream} stream
   */
  async _showRemote(user, stream) {
    const tile = this._tile(user);
    const video = /** @type {HTMLVideoElement} */ (tile.querySelector("video"));
    if (video.srcObject !== stream) video.srcObject = stream;
    tile.classList.toggle("camera-off", stream.getVideoTracks().length === 0);
    try {
      await video.play();
    } catch {
      // Sound needs a user gesture in most browsers: play muted and offer the button.
      video.muted = true;
      await video.play().catch(() => {});
      this.soundButton.hidden = false;
    }
  }

  _unmuteRemote() {
    for (const video of this.tiles.querySelectorAll("figure.remote video")) /** @type {HTMLVideoElement} */ (video).muted = false;
    this.soundButton.hidden = true;
  }

  /** @param {Record<string, any>} e */
  _onParticipant(e) {
    const name = e.name || this.otherName;
    if (e.event === "left") {
      this.tiles.querySelector(`figure[data-user="${CSS.escape(e.user)}"]`)?.remove();
      this._say(t("leftBy", name));
      this.quality = null; // nothing to measure until they are back
      this._renderQuality();
      return;
    }
    this._nameTile(e.user, name);
    const says = { dropped: "droppedBy", resumed: "resumedBy" }[/** @type {string} */ (e.event)] ?? "joinedBy";
    this._say(t(says, name));
  }

  async _toggleMicrophone() {
    const interview = /** @type {import("/static/rtclient.js").Interview} */ (this.interview);
    await interview.setMicrophone(!interview.microphone);
    this._syncButtons();
  }

  async _toggleCamera() {
    const interview = /** @type {import("/static/rtclient.js").Interview} */ (this.interview);
    await interview.setCamera(!interview.camera);
    this._syncButtons();
  }

  async _toggleAudioOnly() {
    const interview = /** @type {import("/static/rtclient.js").Interview} */ (this.interview);
    await interview.audioOnly(interview.receiveVideo);
    this._syncButtons();
  }

  /** Buttons say what they do next (aria-label) and their state (aria-pressed: the device is off). */
  _syncButtons() {
    const interview = this.interview;
    if (!interview) return;
    /**
     * @param {string} action
     * @param {boolean} pressed
     * @param {string} label
     */
    const set = (action, pressed, label) => {
      const button = /** @type {HTMLElement} */ (this.controls.querySelector(`[data-action=${action}]`));
      button.setAttribute("aria-pressed", String(pressed));
      button.setAttribute("aria-label", label);
    };
    set("microphone", !interview.microphone, interview.microphone ? t("muteMicrophone") : t("unmuteMicrophone"));
    set("camera", !interview.camera, interview.camera ? t("cameraOffLabel") : t("cameraOnLabel"));
    set("audio-only", !interview.receiveVideo, interview.receiveVideo ? t("audioOnlyOn") : t("audioOnlyOff"));
    this.tiles.querySelector("figure.local")?.classList.toggle("camera-off", !interview.camera);
    this._syncVideoStates();
  }

  // -- video paused by the node ------------------------------------------------------------------

  /** The other participant's user id (a call has two people), or null while alone. */
  _otherUser() {
    const [first] = this.interview?.participants.keys() ?? [];
    return first ?? null;
  }

  /** @param {string} user */
  _nameOf(user) {
    return this.interview?.participants.get(user)?.name || this.otherName;
  }

  /**
   * The node paused or resumed video in one direction: say what happened and why, in words.
   * @param {Record<string, any>} e  the SDK's `fallback` event
   */
  _onFallback(e) {
    const back = e.video !== false;
    const who = e.self ? "You" : "They";
    const what = e.direction === "send" ? "Send" : "Receive";
    const other = e.self ? this._otherUser() : e.user;
    this._say(t(`${back ? "videoBack" : "videoPaused"}${who}${what}`, other ? this._nameOf(other) : this.otherName));
    this._fallbackSaidAt = performance.now();
    this._syncVideoStates();
    this._renderQuality();
  }

  /**
   * Tiles whose video does not flow show "sound only" instead of a frozen picture: the other's
   * when the node paused their sending or stopped forwarding to this page (or the person chose
   * audio only); this page's own preview stays, with a note, while its sending is paused.
   */
  _syncVideoStates() {
    const interview = this.interview;
    if (!interview || !this.tiles) return;
    const me = this.client.hello?.user ?? "";
    /** @param {Record<string, any> | undefined} side */
    const pausedByNode = (side) => side?.video === false && side.reason !== "by_choice";
    const receivePaused = interview.receivePaused || pausedByNode(interview.links.get(me)?.receive);
    for (const tile of this.tiles.querySelectorAll("figure.remote")) {
      const user = /** @type {HTMLElement} */ (tile).dataset.user ?? "";
      const paused = receivePaused || interview.pausedFrom.has(user) || pausedByNode(interview.links.get(user)?.send);
      const note = paused ? t("tileVideoPaused") : !interview.receiveVideo ? t("tileAudioOnly") : "";
      this._note(/** @type {HTMLElement} */ (tile), note);
    }
    const local = this.tiles.querySelector("figure.local");
    if (local) this._note(/** @type {HTMLElement} */ (local), interview.sendPaused && interview.camera ? t("tileYouPaused") : "");
  }

  /**
   * @param {HTMLElement} tile
   * @param {string} text  empty: video flows
   */
  _note(tile, text) {
    tile.classList.toggle("video-paused", Boolean(text));
    const note = /** @type {HTMLElement} */ (tile.querySelector(".tile-note"));
    note.textContent = text;
    note.hidden = !text;
  }

  // -- connection quality ------------------------------------------------------------------------

  _startQuality() {
    const interview = /** @type {import("/static/rtclient.js").Interview} */ (this.interview);
    if (this.client.hello?.role === "advisor") {
      // The node measures what it receives from the jobseeker: ask for it periodically.
      this._off.push(this.client.on("media_stats", (e) => { if (e.room === this.room) this._onMediaStats(e); }));
      this.client.request("media_stats", { room: this.room, every_ms: QUALITY_EVERY_MS })
        .then((reply) => this._onMediaStats(reply))
        .catch((error) => console.warn("media_stats refused", error));
      return;
    }
    this._qualityTimer = setInterval(async () => {
      if (!this.interview) return;
      const connected = interview.publishPc?.connectionState === "connected";
      this.quality = fromBrowserStats(await interview.getStats(), this.quality, connected);
      this._renderQuality();
    }, QUALITY_EVERY_MS);
  }

  /** @param {Record<string, any>} stats */
  _onMediaStats(stats) {
    const me = this.client.hello?.user;
    const other = (stats.participants ?? []).find((/** @type {any} */ p) => p.user !== me);
    if (!other || !this.interview?.participants.has(other.user)) return;
    this.quality = fromMediaStats(other, this.quality);
    this.qualitySample = other; // the raw figures, for the tests and for debugging
    this._renderQuality();
  }

  _renderQuality() {
    const me = this.client.hello?.user ?? "";
    const other = this.interview ? this._otherUser() : null;
    this.link = other && this.interview ? linkQuality({ me, other, local: this.received?.level ?? "unknown",
      links: this.interview.links }) : null;
    const level = other ? worst(this.quality?.level, this.link?.level) : "unknown";
    const label = this.client.hello?.role === "advisor" ? t("qualityOf", this.otherName) : t("quality");
    const word = t({ good: "qualityGood", fair: "qualityFair", poor: "qualityPoor", unknown: "qualityUnknown" }[level]);
    const detail = this.quality && this.quality.loss !== null && this.quality.rttMs !== null
      ? ` (${t("qualityDetail", Math.round(this.quality.loss * 1000) / 10, Math.round(this.quality.rttMs))})` : "";
    const problem = this.link?.problem ?? "";
    const problemText = problem ? t(`link_${problem}`, this._nameOf(/** @type {string} */ (other))) : "";
    const before = this.qualityLine.dataset.level;
    const beforeProblem = this.qualityLine.dataset.problem ?? "";
    this.qualityLine.dataset.level = level;
    this.qualityLine.dataset.problem = problem;
    this.qualityLine.replaceChildren(el("span", { class: "quality-dot", "aria-hidden": "true" }),
      `${t("qualityLine", label, word)}${detail}`,
      problemText ? el("span", { class: "quality-problem" }, `. ${problemText}`) : "");
    const changed = (before !== level && (level === "poor" || before === "poor")) || (problem && problem !== beforeProblem);
    // A paused direction is announced by its `fallback` event (announcing it here too would
    // replace that sentence in the live region before it is read).
    const quiet = problem.includes("_paused_") || performance.now() - this._fallbackSaidAt < FALLBACK_QUIET_MS;
    if (changed && !quiet) announce(problemText ? `${t("qualityLine", label, word)}. ${problemText}` : t("qualityLine", label, word));
  }

  /** @param {string} reason */
  _ended(reason) {
    if (this._qualityTimer !== null) clearInterval(this._qualityTimer);
    this._qualityTimer = null;
    for (const off of this._off.splice(0)) off();
    this.interview = null;
    this.quality = null;
    this.container.hidden = true;
    this.container.replaceChildren();
    announce(t("left"));
    this.onEnded(this.room, reason);
  }
}
