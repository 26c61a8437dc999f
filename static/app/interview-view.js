// The video interview of a conversation, as a call view: the other's video large, this page's own
// small over it, a timer, full screen, and the controls (microphone, camera, audio only: toggle
// buttons with aria-pressed; leave apart from them, confirmed on a phone). It covers the page
// while the call lasts; "show the conversation" docks it in a corner. The other side's
// microphone and camera are read from `media_tracks` (a muted microphone is an inactive section):
// a "microphone off" badge, the person's initials instead of a black tile. A participant whose
// WebSocket dropped, or a connection of this page that is down, shows "reconnecting" over the
// picture. A reload within a minute rejoins (./call-signals.js); a second tab that takes the call
// over leaves this one saying so, with a button to bring it back. Ringing and declining travel as
// `call` signals (./ringer.js on the jobseeker's page).
//
// The quality covers both directions: what this page receives (its own report: frame rate,
// freezes, audio loss) and how the other side receives it (the node's `media_link`); besides,
// the advisor sees the jobseeker's uplink as the node measures it (`media_stats`) and the
// jobseeker his own loss and round trip from the browser's statistics. When the node pauses
// video in one direction (`media_fallback`), both people are told why, and the tile shows
// "sound only" instead of a frozen picture.

import { announce, el } from "./dom.js";
import { t } from "./i18n.js";
import { fromBrowserStats, fromMediaStats, fromReport, linkQuality, worst } from "./quality.js";
import { diagnoseDevices, forgetCall, formatDuration, initials, keepCall, sendCallSignal, touchKeptCall } from "./call-signals.js";

const QUALITY_EVERY_MS = 2000;
/**
 * After telling that video paused or came back, the quality line keeps quiet this long: the live
 * region holds one sentence, and that one (20 to 35 words, 6 to 10 s read aloud) must not be
 * replaced by the level change the same event causes.
 */
const FALLBACK_QUIET_MS = 8000;
/** Leaving asks first on screens this narrow (a phone): there, "Leave" is a thumb away from the rest. */
const CONFIRM_LEAVE_QUERY = "(max-width: 48rem)";

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
    /** Alone in the call after ringing the others: leaving says `cancelled`. */
    this._ringing = false;
    /** When the other person was first there (the timer's start), or null. */
    /** @type {number | null} */ this._since = null;
    /** @type {ReturnType<typeof setInterval> | null} */ this._clock = null;
    /** What each participant publishes, once known (`media_tracks`): kinds. */
    /** @type {Map<string, Set<string>>} */ this._kinds = new Map();
    /** The page's own connections' states (`connection` events). */
    /** @type {Record<string, string>} */ this._pcStates = {};
    /** @type {{video: boolean}} */ this._joinedWith = { video: true };
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
    this._clearNotice();
    this._build();
    this._joinedWith = { video };
    const interview = this.interview = this.client.interview(this.room);
    this._off.push(
      interview.on("remote_stream", ({ user, stream }) => this._showRemote(user, stream)),
      interview.on("participant", (e) => this._onParticipant(e)),
      interview.on("tracks", ({ user, tracks, self }) => { if (!self) this._onTracks(user, tracks); }),
      interview.on("closed", ({ reason }) => { if (reason !== "join_failed") this._ended(reason); }),
      interview.on("connection", ({ pc, state }) => this._onConnection(pc, state)),
      interview.on("report", ({ report }) => {
        const other = this._otherUser();
        this.received = other ? fromReport(report, other) : null;
        this._renderQuality();
      }),
      interview.on("link", () => { this._syncVideoStates(); this._renderQuality(); }),
      interview.on("fallback", (e) => this._onFallback(e)),
      this.client.on("call", (e) => this._onCallSignal(e)),
      this.client.on("disconnected", () => this._setReconnecting(true)),
      // The SDK's `reconnected` event carries the hello's own `type` ("hello"): listen to that.
      this.client.on("hello", () => this._setReconnecting(false)),
    );
    try {
      await interview.join({ audio: true, video });
    } catch (error) {
      console.warn("interview join failed", error);
      await this._refused(error, video);
      return;
    }
    /** @type {HTMLVideoElement} */ (this.localVideo).srcObject = interview.localStream;
    for (const p of interview.participants.values()) {
      this._nameTile(p.user, p.name || p.user);
      if (p.tracks?.length) this._onTracks(p.user, p.tracks, { quiet: true });
      if (p.connected === false) this._tileReconnecting(p.user, true);
    }
    keepCall({ room: this.room, video });
    addEventListener("pagehide", this._onPageHide);
    this._syncButtons();
    for (const button of this.controls.querySelectorAll("button")) /** @type {HTMLButtonElement} */ (button).disabled = false;
    this._startQuality();
    this._syncPresence();
    if (interview.participants.size) {
      this._say(t("inCall"));
    } else if (this.client.hello?.role === "advisor") {
      // The advisor calls: the jobseeker's page rings (he may not be looking at the conversation).
      this._ringing = true;
      this._say(t("callRinging", this.otherName));
      sendCallSignal(this.client, this.room, "ringing");
    } else {
      this._say(t("callWaitingFor", this.otherName));
    }
    this.onStarted(this.room);
    /** @type {HTMLButtonElement} */ (this.controls.querySelector("[data-action=microphone]")).focus();
  }

  /**
   * The camera or microphone could not start: say why and what to do, in the page (it stays until
   * the next try), tell screen readers at once, and tell the others (their view says it too).
   * @param {unknown} error
   * @param {boolean} video
   */
  async _refused(error, video) {
    const trouble = await diagnoseDevices(error, video);
    this._cleanup();
    sendCallSignal(this.client, this.room, "devices_refused", trouble.devices);
    const title = t(`devicesTitle_${trouble.devices}`);
    const what = t(`devicesWhy_${trouble.reason}`);
    const actions = el("div", { class: "call-notice-actions" },
      trouble.audioPossible && trouble.devices === "camera"
        ? el("button", { type: "button", class: "primary", "data-action": "join-audio",
          onclick: () => this.start({ video: false }) }, t("joinAudio")) : null,
      el("button", { type: "button", "data-action": "retry", onclick: () => this.start({ video }) }, t("devicesRetry")));
    this._notice("devices", title, what, actions);
    announce(`${title} ${what}`, { assertive: true });
  }

  /**
   * A persistent explanation where the call would be (devices refused, the call taken by another
   * tab): it stays until the person acts on it or joins again.
   * @param {string} kind
   * @param {string} title
   * @param {string} text
   * @param {HTMLElement} actions
   */
  _notice(kind, title, text, actions) {
    const heading = el("h2", { id: `call-notice-${kind}` }, title);
    this.container.replaceChildren(el("section", { class: "call-notice", "data-kind": kind,
      "aria-labelledby": `call-notice-${kind}` }, heading, el("p", {}, text), actions));
    this.container.hidden = false;
    /** @type {HTMLElement | null} */ (actions.querySelector("button"))?.focus();
  }

  _clearNotice() {
    if (this.container.querySelector(".call-notice")) {
      this.container.replaceChildren();
      this.container.hidden = true;
    }
  }

  _onPageHide = () => touchKeptCall();

  async leave() {
    forgetCall();
    if (this._ringing) sendCallSignal(this.client, this.room, "cancelled");
    this._ringing = false;
    await this.interview?.leave();
  }

  _build() {
    this.status = el("p", { class: "call-status" });
    this.timer = el("span", { class: "call-timer", role: "timer", "aria-label": t("callDuration") }, "");
    this.localVideo = el("video", { autoplay: true, playsinline: true, muted: true, "aria-label": t("yourVideo") });
    /** @type {HTMLVideoElement} */ (this.localVideo).muted = true;
    const me = this.client.hello?.name || this.client.hello?.user || t("you");
    this.waitingTile = el("div", { class: "call-waiting" },
      el("span", { class: "avatar", "aria-hidden": "true" }, initials(this.otherName)),
      el("p", {}, t("callWaitingFor", this.otherName)));
    this.tiles = el("div", { class: "tiles" }, this.waitingTile,
      el("figure", { class: "tile local" }, this.localVideo,
        el("span", { class: "avatar", "aria-hidden": "true" }, initials(me)),
        el("p", { class: "tile-badges" }), el("p", { class: "tile-note", hidden: true }),
        el("figcaption", {}, t("you"))));
    this.qualityLine = el("p", { class: "quality", "data-level": "unknown" });
    /**
     * @param {string} action
     * @param {string} text
     * @param {() => void} onclick
     * @param {boolean} toggle
     */
    const button = (action, text, onclick, toggle) => el("button", { type: "button", "data-action": action, disabled: true,
      "aria-pressed": toggle ? "false" : null, onclick },
    el("span", { class: "icon", "aria-hidden": "true" }), el("span", { class: "label" }, text));
    this.soundButton = el("button", { type: "button", hidden: true, onclick: () => this._unmuteRemote() }, t("soundOn"));
    this.confirm = el("div", { class: "leave-confirm", role: "group", "aria-labelledby": "leave-confirm-q", hidden: true },
      el("p", { id: "leave-confirm-q" }, t("leaveConfirm")),
      el("button", { type: "button", class: "danger", "data-action": "leave-yes", onclick: () => this.leave() }, t("leaveYes")),
      el("button", { type: "button", "data-action": "leave-no", onclick: () => this._askLeave(false) }, t("leaveNo")));
    this.controls = el("div", { class: "controls", role: "toolbar", "aria-label": t("interview") },
      button("microphone", t("muteMicrophone"), () => this._toggleMicrophone(), true),
      button("camera", t("cameraOffLabel"), () => this._toggleCamera(), true),
      button("audio-only", t("audioOnly"), () => this._toggleAudioOnly(), true),
      this.soundButton,
      button("leave", t("leaveLabel"), () => this._onLeaveClick(), false));
    this.controls.addEventListener("keydown", (event) => this._toolbarKeys(event));
    this.fullscreenButton = el("button", { type: "button", class: "link", "data-action": "fullscreen",
      onclick: () => this._toggleFullscreen() }, t("fullscreen"));
    this.devicesButton = el("button", { type: "button", class: "link", "data-action": "devices",
      "aria-expanded": "false", "aria-controls": "call-devices", onclick: () => this._toggleDevices() }, t("devices"));
    this.devices = el("div", { class: "call-devices", id: "call-devices", hidden: true });
    this.dockButton = el("button", { type: "button", class: "link", "data-action": "dock", "aria-pressed": "false",
      onclick: () => this._toggleDock() }, t("showConversation"));
    this.reconnecting = el("p", { class: "call-reconnecting", hidden: true }, t("callReconnectingYou"));
    this.peerNotice = el("p", { class: "call-peer-notice", hidden: true });
    this.section = el("section", { class: "interview call-view", "aria-labelledby": "call-view-title",
      "data-room": this.room, "data-layout": "full" },
    el("header", { class: "call-head" },
      el("h2", { id: "call-view-title" }, t("callWith", this.otherName)), this.timer,
      el("div", { class: "call-head-actions" }, this.devicesButton, this.dockButton,
        document.fullscreenEnabled ? this.fullscreenButton : null)),
    this.devices, this.status, this.peerNotice, this.reconnecting, this.tiles, this.qualityLine, this.confirm, this.controls);
    // Outside the page's landmarks, so that the page under it can be made inert while the view covers it.
    document.body.append(this.section);
    this._setLayout("full");
    this._renderQuality();
  }

  /** @param {"full" | "docked"} layout */
  _setLayout(layout) {
    this.section.dataset.layout = layout;
    document.body.classList.toggle("in-call", layout === "full");
    document.body.classList.toggle("call-docked", layout === "docked");
    // Covering the page, the view is the only thing a keyboard or a screen reader reaches there.
    for (const part of document.querySelectorAll("body > header, body > main, body > .skip-link")) {
      /** @type {HTMLElement} */ (part).inert = layout === "full";
    }
    this.dockButton.setAttribute("aria-pressed", String(layout === "docked"));
  }

  _toggleDock() {
    this._setLayout(this.section.dataset.layout === "full" ? "docked" : "full");
  }

  async _toggleFullscreen() {
    try {
      if (document.fullscreenElement) await document.exitFullscreen();
      else await this.section.requestFullscreen();
    } catch (error) {
      console.warn("full screen refused", error);
    }
  }

  /** The camera and microphone to use: one list each, from the browser's devices. */
  async _toggleDevices() {
    const open = this.devices.hidden;
    this.devicesButton.setAttribute("aria-expanded", String(open));
    if (!open) {
      this.devices.hidden = true;
      return;
    }
    const interview = this.interview;
    if (!interview) return;
    const found = await navigator.mediaDevices.enumerateDevices().catch(() => /** @type {MediaDeviceInfo[]} */ ([]));
    const stream = /** @type {MediaStream} */ (interview.localStream);
    /**
     * @param {"audio" | "video"} kind
     * @param {string} label
     */
    const picker = (kind, label) => {
      const current = (kind === "video" ? stream.getVideoTracks() : stream.getAudioTracks())[0]?.getSettings().deviceId;
      const id = `call-device-${kind}`;
      const options = found.filter((d) => d.kind === (kind === "video" ? "videoinput" : "audioinput"))
        .map((d, i) => el("option", { value: d.deviceId, selected: d.deviceId === current || null },
          d.label || `${label} ${i + 1}`));
      const select = /** @type {HTMLSelectElement} */ (el("select", { id, "data-kind": kind, onchange: () => {
        interview.useDevice(kind, select.value).catch((error) => {
          console.warn("device change failed", error);
          announce(t("deviceFailed"), { assertive: true });
        });
      } }, ...options));
      return el("p", { class: "field" }, el("label", { for: id }, label), select);
    };
    this.devices.replaceChildren(picker("video", t("camera")), picker("audio", t("microphone")));
    this.devices.hidden = false;
    /** @type {HTMLElement} */ (this.devices.querySelector("select"))?.focus();
  }

  _onLeaveClick() {
    if (matchMedia(CONFIRM_LEAVE_QUERY).matches) this._askLeave(true);
    else this.leave();
  }

  /** @param {boolean} open */
  _askLeave(open) {
    this.confirm.hidden = !open;
    if (open) /** @type {HTMLElement} */ (this.confirm.querySelector("[data-action=leave-no]")).focus();
    else /** @type {HTMLElement} */ (this.controls.querySelector("[data-action=leave]")).focus();
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
      const name = this._nameOf(user);
      tile = el("figure", { class: "tile remote", "data-user": user },
        el("video", { autoplay: true, playsinline: true }),
        el("span", { class: "avatar", "aria-hidden": "true" }, initials(name)),
        el("p", { class: "tile-badges" }), el("p", { class: "tile-note", hidden: true }),
        el("p", { class: "tile-overlay", hidden: true }),
        el("figcaption", {}, name));
      this.tiles.prepend(tile);
      this._syncVideoStates();
      this._syncPresence();
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
    /** @type {HTMLElement} */ (tile.querySelector(".avatar")).textContent = initials(name);
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
    if (!this._kinds.has(user)) tile.classList.toggle("camera-off", stream.getVideoTracks().length === 0);
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

  /**
   * What a participant publishes changed: a microphone turned off is an audio section gone
   * inactive, a camera turned off a video section (docs/media.md): say it on the tile in words.
   * @param {string} user
   * @param {Array<{kind: string}>} tracks
   * @param {{quiet?: boolean}} [options]
   */
  _onTracks(user, tracks, { quiet = false } = {}) {
    const before = this._kinds.get(user);
    const kinds = new Set(tracks.map((x) => x.kind));
    this._kinds.set(user, kinds);
    const tile = this._tile(user);
    tile.classList.toggle("camera-off", !kinds.has("video"));
    tile.classList.toggle("mic-off", !kinds.has("audio"));
    this._badges(tile, { microphone: kinds.has("audio"), camera: kinds.has("video") });
    if (quiet || !before) return;
    const name = this._nameOf(user);
    if (before.has("audio") !== kinds.has("audio")) announce(t(kinds.has("audio") ? "micOnBy" : "micOffBy", name));
    else if (before.has("video") !== kinds.has("video")) announce(t(kinds.has("video") ? "cameraOnBy" : "cameraOffBy", name));
  }

  /**
   * The words under a tile: "microphone off", "camera off" (not colour alone).
   * @param {HTMLElement} tile
   * @param {{microphone: boolean, camera: boolean}} on
   */
  _badges(tile, on) {
    const local = tile.classList.contains("local");
    /** @type {HTMLElement} */ (tile.querySelector(".tile-badges")).replaceChildren(
      on.microphone ? "" : el("span", { class: "tile-badge", "data-badge": "mic-off" }, t(local ? "yourMicOff" : "micOff")),
      on.camera ? "" : el("span", { class: "tile-badge", "data-badge": "camera-off" }, t(local ? "yourCameraOff" : "cameraOff")));
  }

  /**
   * A participant's connection is down (their WebSocket dropped: the node keeps them for its drop
   * timeout) or back: a "reconnecting" overlay instead of a frozen picture.
   * @param {string} user
   * @param {boolean} on
   */
  _tileReconnecting(user, on) {
    const tile = this._tile(user);
    tile.classList.toggle("reconnecting", on);
    const overlay = /** @type {HTMLElement} */ (tile.querySelector(".tile-overlay"));
    overlay.textContent = on ? t("callReconnectingThem", this._nameOf(user)) : "";
    overlay.hidden = !on;
  }

  /**
   * This page's own WebSocket or media connection is down, or back.
   * @param {boolean} on
   */
  _setReconnecting(on) {
    if (!this.interview || !this.reconnecting) return;
    if (this.reconnecting.hidden === !on) return;
    this.reconnecting.hidden = !on;
    this.section.classList.toggle("reconnecting", on);
    if (on) announce(t("callReconnectingYou"), { assertive: true });
    else announce(t("callReconnected"));
  }

  /**
   * @param {"publish" | "subscribe"} pc
   * @param {string} state
   */
  _onConnection(pc, state) {
    this._pcStates[pc] = state;
    const down = Object.values(this._pcStates).some((s) => s === "disconnected" || s === "failed");
    this._setReconnecting(down || this.client.state === "reconnecting");
  }

  /** The other person there or not: the waiting picture, the timer. */
  _syncPresence() {
    if (!this.tiles) return;
    const present = Boolean(this.tiles.querySelector("figure.remote"));
    this.waitingTile.hidden = present;
    this.section.classList.toggle("alone", !present);
    if (present && this._since === null) {
      this._since = Date.now();
      this._ringing = false;
      this._tick();
      this._clock = setInterval(() => this._tick(), 1000);
    }
  }

  _tick() {
    if (this._since !== null) this.timer.textContent = formatDuration(Date.now() - this._since);
  }

  /**
   * The other page's `call` signals, while this page is in the call.
   * @param {Record<string, any>} e
   */
  _onCallSignal(e) {
    if (e.room !== this.room || e.user === this.client.hello?.user || !this.interview) return;
    const name = e.name || this.otherName;
    if (e.signal === "declined") {
      this._ringing = false;
      this._peerNotice(t("callDeclinedBy", name));
    } else if (e.signal === "devices_refused") {
      this._peerNotice(t(`devicesRefusedBy_${e.devices}`, name));
    }
  }

  /**
   * A lasting sentence about the other person (declined, could not start a device).
   * @param {string} text
   */
  _peerNotice(text) {
    this.peerNotice.textContent = text;
    this.peerNotice.hidden = false;
    this.status.textContent = text;
    announce(text, { assertive: true });
  }

  /** @param {Record<string, any>} e */
  _onParticipant(e) {
    const name = e.name || this.otherName;
    if (e.event === "left") {
      this.tiles.querySelector(`figure[data-user="${CSS.escape(e.user)}"]`)?.remove();
      this._kinds.delete(e.user);
      this._syncPresence();
      this._say(t("leftBy", name));
      this.quality = null; // nothing to measure until they are back
      this._renderQuality();
      return;
    }
    this._nameTile(e.user, name);
    this.peerNotice.hidden = true;
    this._tileReconnecting(e.user, e.event === "dropped");
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

  /** Toggle buttons keep their name and say their state with aria-pressed (pressed: the device is off). */
  _syncButtons() {
    const interview = this.interview;
    if (!interview) return;
    /**
     * @param {string} action
     * @param {boolean} pressed
     */
    const set = (action, pressed) => {
      /** @type {HTMLElement} */ (this.controls.querySelector(`[data-action=${action}]`)).setAttribute("aria-pressed", String(pressed));
    };
    set("microphone", !interview.microphone);
    set("camera", !interview.camera);
    set("audio-only", !interview.receiveVideo);
    const local = /** @type {HTMLElement | null} */ (this.tiles.querySelector("figure.local"));
    if (local) {
      local.classList.toggle("camera-off", !interview.camera);
      local.classList.toggle("mic-off", !interview.microphone);
      this._badges(local, { microphone: interview.microphone, camera: interview.camera });
    }
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

  /** Stop the view's timers and listeners and take it off the page. */
  _cleanup() {
    if (this._qualityTimer !== null) clearInterval(this._qualityTimer);
    if (this._clock !== null) clearInterval(this._clock);
    this._qualityTimer = this._clock = null;
    for (const off of this._off.splice(0)) off();
    removeEventListener("pagehide", this._onPageHide);
    if (document.fullscreenElement === this.section) document.exitFullscreen().catch(() => {});
    this.interview = null;
    this.quality = null;
    this._since = null;
    this._ringing = false;
    this._kinds.clear();
    this._pcStates = {};
    if (this.section) {
      for (const part of document.querySelectorAll("body > header, body > main, body > .skip-link")) {
        /** @type {HTMLElement} */ (part).inert = false;
      }
      document.body.classList.remove("in-call", "call-docked");
      this.section.remove();
    }
  }

  /** @param {string} reason */
  _ended(reason) {
    this._cleanup();
    this.container.hidden = true;
    this.container.replaceChildren();
    this.onEnded(this.room, reason); // first: the page puts its join buttons back and focuses them
    if (reason === "taken_over") {
      // Another tab of the same person joined: the node moved the call there. Say so, and let
      // the person take it back here (joining again takes it over in turn).
      forgetCall();
      const text = t("takenOverText");
      this._notice("taken-over", t("takenOver"), text, el("div", { class: "call-notice-actions" },
        el("button", { type: "button", class: "primary", "data-action": "take-back",
          onclick: () => this.start(this._joinedWith) }, t("takeBack"))));
      announce(`${t("takenOver")} ${text}`, { assertive: true });
    } else {
      if (reason === "left") forgetCall();
      announce(t("left"));
    }
  }
}
