// A video interview through the rtserver SFU (docs/media.md), on an RtClient's WebSocket.
//
// Two RTCPeerConnections per participant: `publish` (this page offers its camera and microphone,
// the node answers) and `subscribe` (the node offers the other participants' tracks, this page
// answers). One offerer per connection: no glare. The node cannot restart ICE in place, so an
// ICE restart replaces a connection: `restart: true` offers on the publish side, a new
// RTCPeerConnection for a `media_offer` with `restart: true` on the subscribe side.
//
// Extension points for the pages built on it: `on(type, listener)` events, `localStream`,
// `remoteStreams`, `participants`, `getStats()` / `receivedStats()` (pre-call check, quality
// display), and `join({stream})` to publish a stream the page prepared itself.

/** @typedef {import("./rtclient.js").RtClient} RtClient */
/** @typedef {Record<string, any>} Event */
/** @typedef {(event: Event) => void} Listener */

/**
 * @typedef {object} JoinOptions
 * @property {boolean | MediaTrackConstraints} [audio]  capture the microphone (true)
 * @property {boolean | MediaTrackConstraints} [video]  capture the camera (true)
 * @property {MediaStream} [stream]  publish this stream instead of capturing (the caller owns its tracks)
 */

/**
 * @typedef {object} RemoteSection  What one media section of the subscribe connection carries.
 * @property {string} mid
 * @property {"audio" | "video"} kind
 * @property {string} track  the publication id
 * @property {string} user  who publishes it
 * @property {string} stream  that participant's msid stream
 */

const MEDIA_EVENTS = ["media_offer", "media_participant", "media_tracks", "media_connection", "media_closed",
  "media_link", "media_fallback"];
/** media_closed reasons after which joining again reaches the interview (docs/media.md). */
const REJOIN_REASONS = new Set(["shutdown", "moved", "host_lost"]);

/** How often the reception is measured (and reported) when the node does not say (`report_every_ms`). */
const REPORT_EVERY_MS = 2000;
/** The node accepts a report every 500 ms at most (docs/protocol.md): never measure faster. */
const REPORT_MIN_MS = 500;
/** A report names at most 16 (publisher, kind) entries (docs/protocol.md). */
const REPORT_MAX_ENTRIES = 16;
const LIMITED = new Set(["none", "bandwidth", "cpu", "other"]);

/**
 * @typedef {object} InboundCounters  One received RTP stream's counters, from `inbound-rtp`.
 * @property {string} user
 * @property {"audio" | "video"} kind
 * @property {number} packetsReceived
 * @property {number} packetsLost
 * @property {number} retransmitted  `retransmittedPacketsReceived` (a subset of packetsReceived)
 * @property {number} bytesReceived
 * @property {number} framesDecoded
 * @property {number} freezesS  `totalFreezesDuration`
 */
/**
 * @typedef {object} StatsSnapshot  Cumulative counters of both connections at one instant.
 * @property {number} at  milliseconds (any monotonic clock)
 * @property {Map<string, InboundCounters>} inbound  by stats id
 * @property {number} bytesSent  all media sent on the publish connection
 * @property {string | null} limited  the camera stream's `qualityLimitationReason`
 */
/**
 * @typedef {object} ReceiveEntry  One (publisher, kind) of a `media_report` (docs/protocol.md).
 * @property {string} user
 * @property {"audio" | "video"} kind
 * @property {number} [fps]
 * @property {number} [frozen_ms]
 * @property {number} loss
 * @property {number} kbps
 */
/**
 * @typedef {object} MediaReport  `media_report`'s figures, plus the window they cover (`window_ms`, not sent).
 * @property {ReceiveEntry[]} receive
 * @property {{video: boolean, kbps: number, limited: string}} send
 * @property {number} window_ms
 */

/**
 * The counters of both connections' statistics that a report is made from. Pure: `reports` are
 * the connections' `RTCStatsReport`s (or any Map of stats), `sections` the subscribe
 * connection's mid -> publisher map (`media_offer.tracks`).
 * @param {{publish: {forEach: Function} | null, subscribe: {forEach: Function} | null}} reports
 * @param {Array<{mid: string, kind: string, user: string}>} sections
 * @param {number} at
 * @returns {StatsSnapshot}
 */
export function statsSnapshot(reports, sections, at) {
  /** @type {Map<string, InboundCounters>} */
  const inbound = new Map();
  reports.subscribe?.forEach((/** @type {any} */ s) => {
    if (s.type !== "inbound-rtp") return;
    const section = sections.find((x) => x.mid === s.mid);
    if (!section || (section.kind !== "audio" && section.kind !== "video")) return;
    inbound.set(s.id, {
      user: section.user, kind: section.kind,
      // Signed, as the statistics define it: a duplicate (the retransmission of a packet that had
      // only been late) lowers packetsLost, even below zero, and so cancels out below. Chromium's
      // count of late packets asked for again still reads high on a path that reorders (19-23 % on
      // a 1 %-loss link decoding 30 fps): the node counts the video's loss only while the picture
      // shows it (docs/media.md, When video stops).
      packetsReceived: s.packetsReceived ?? 0, packetsLost: s.packetsLost ?? 0,
      retransmitted: s.retransmittedPacketsReceived ?? 0, bytesReceived: s.bytesReceived ?? 0,
      framesDecoded: s.framesDecoded ?? 0, freezesS: s.totalFreezesDuration ?? 0,
    });
  });
  let bytesSent = 0;
  /** @type {string | null} */
  let limited = null;
  let videoBytes = -1;
  reports.publish?.forEach((/** @type {any} */ s) => {
    if (s.type !== "outbound-rtp") return;
    bytesSent += s.bytesSent ?? 0;
    // The camera's stream (the one that carried the most, should there be several).
    if (s.kind === "video" && (s.bytesSent ?? 0) > videoBytes) {
      videoBytes = s.bytesSent ?? 0;
      limited = typeof s.qualityLimitationReason === "string" ? s.qualityLimitationReason : null;
    }
  });
  return { at, inbound, bytesSent, limited };
}

/**
 * @param {number} value
 * @param {number} digits
 */
const round = (value, digits) => Math.round(value * 10 ** digits) / 10 ** digits;

/**
 * A `media_report` from two snapshots: what was received from each publisher over the window
 * between them, and what this page sends. Pure. Video from publishers in `noVideoFrom` (their
 * video is known to be off: camera off, paused by the node, not wanted) is left out, so that a
 * picture nobody sends does not read as 0 frames per second. A stream whose counters went
 * backwards (a connection replaced between the snapshots) is left out of this window.
 * @param {StatsSnapshot} previous
 * @param {StatsSnapshot} current
 * @param {{sendVideo: boolean, noVideoFrom?: Set<string>}} state
 * @returns {MediaReport | null}  null when the window is empty
 */
export function mediaReport(previous, current, { sendVideo, noVideoFrom = new Set() }) {
  const windowMs = current.at - previous.at;
  if (!(windowMs > 0)) return null;
  /** @type {Map<string, {user: string, kind: "audio" | "video", received: number, lost: number, retransmitted: number, bytes: number, frames: number, freezesS: number}>} */
  const sums = new Map();
  for (const [id, now] of current.inbound) {
    const before = previous.inbound.get(id);
    if (!before || before.user !== now.user || before.kind !== now.kind) continue;
    if (now.kind === "video" && noVideoFrom.has(now.user)) continue;
    const delta = {
      received: now.packetsReceived - before.packetsReceived, lost: now.packetsLost - before.packetsLost,
      retransmitted: now.retransmitted - before.retransmitted, bytes: now.bytesReceived - before.bytesReceived,
      frames: now.framesDecoded - before.framesDecoded, freezesS: now.freezesS - before.freezesS,
    };
    // Counters that went backwards: a connection replaced between the snapshots. Not `lost`,
    // which duplicates lower.
    if (Object.entries(delta).some(([name, x]) => name !== "lost" && x < 0)) continue;
    const key = `${now.user}\u0000${now.kind}`;
    const sum = sums.get(key) ?? { user: now.user, kind: now.kind, received: 0, lost: 0, retransmitted: 0,
      bytes: 0, frames: 0, freezesS: 0 };
    for (const name of /** @type {const} */ (["received", "lost", "retransmitted", "bytes", "frames", "freezesS"])) {
      sum[name] += delta[name];
    }
    sums.set(key, sum);
  }
  /** @type {ReceiveEntry[]} */
  const receive = [];
  for (const sum of sums.values()) {
    // Loss before retransmission: what was never received, plus what arrived only as a
    // retransmission, over what was sent. packetsReceived counts every copy (retransmissions and
    // duplicates) and packetsLost is what was sent less every copy received, so lost +
    // retransmitted counts each packet whose first copy went missing once, duplicates cancelling
    // out, and received + lost is what was sent.
    const expected = sum.received + sum.lost;
    const loss = expected > 0 ? Math.max(0, Math.min(1, (sum.lost + sum.retransmitted) / expected)) : 0;
    /** @type {ReceiveEntry} */
    const entry = { user: sum.user, kind: sum.kind, loss: round(loss, 4),
      kbps: Math.round((sum.bytes * 8) / windowMs) };
    if (sum.kind === "video") {
      entry.fps = round((sum.frames * 1000) / windowMs, 1);
      entry.frozen_ms = Math.min(windowMs, Math.round(sum.freezesS * 1000));
    }
    receive.push(entry);
  }
  receive.sort((a, b) => (a.user === b.user ? a.kind.localeCompare(b.kind) : a.user.localeCompare(b.user)));
  const sent = Math.max(0, current.bytesSent - previous.bytesSent);
  const limited = sendVideo && current.limited ? (LIMITED.has(current.limited) ? current.limited : "other") : "none";
  return {
    receive: receive.slice(0, REPORT_MAX_ENTRIES),
    send: { video: sendVideo, kbps: Math.round((sent * 8) / windowMs), limited },
    window_ms: windowMs,
  };
}

/**
 * The session's ICE username fragment: it changes exactly when the node made a new connection.
 * @param {string} sdp
 */
function iceUfrag(sdp) {
  return /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1] ?? null;
}

export class Interview {
  /**
   * Made by `RtClient.interview(room)`; not constructed directly.
   * @param {RtClient} client
   * @param {string} room
   * @param {() => void} onDispose
   */
  constructor(client, room, onDispose) {
    this.client = client;
    this.room = room;
    this._onDispose = onDispose;
    /** Whether the others' video is wanted (false after `audioOnly()`). */
    this.receiveVideo = true;
    /** @type {"idle" | "joining" | "joined" | "left"} */ this.state = "idle";
    /** The `media_joined` reply: user, role, participants, ice_servers, drop_timeout_ms. */
    /** @type {Event | null} */ this.joined = null;
    /** Other participants by user id (`user`, `name`, `role`, `connected`, `tracks`). */
    /** @type {Map<string, Event>} */ this.participants = new Map();
    /** One MediaStream per other participant, kept for the whole interview (tracks come and go). */
    /** @type {Map<string, MediaStream>} */ this.remoteStreams = new Map();
    /** @type {MediaStream | null} */ this.localStream = null;
    /** @type {RTCPeerConnection | null} */ this.publishPc = null;
    /** @type {RTCPeerConnection | null} */ this.subscribePc = null;
    this.camera = false;
    this.microphone = false;
    this._ownsLocalStream = false;
    /** @type {boolean | MediaTrackConstraints} */ this._videoConstraints = true;
    /** What the node receives from this page (the last `media_answer`'s `tracks`). */
    /** @type {Event[]} */ this.published = [];
    /** @type {RemoteSection[]} */ this._sections = [];
    /**
     * The node paused this page's camera video because its uplink cannot carry it
     * (`media_fallback`, direction `send`): the camera stays on (preview) but sends nothing.
     */
    this.sendPaused = false;
    /**
     * A cap on the camera's encoding, kbit/s (`limitVideo`: the pre-call check's hold), or null:
     * the browser's own estimate sets the rate.
     * @type {number | null}
     */
    this.videoMaxKbps = null;
    /** The node stopped forwarding the others' video to this page (its downlink cannot carry it). */
    this.receivePaused = false;
    /** Others whose camera video the node paused (their uplink cannot carry it). */
    /** @type {Set<string>} */ this.pausedFrom = new Set();
    /** The latest `media_link` entries, by user (this page's own included). */
    /** @type {Map<string, Event>} */ this.links = new Map();
    /** What this page received and sent over the latest window (`report` event). */
    /** @type {MediaReport | null} */ this.lastReport = null;
    /** @type {StatsSnapshot | null} */ this._snapshot = null;
    /** @type {Array<RTCPeerConnection | null>} */ this._snapshotPcs = [];
    /** @type {ReturnType<typeof setInterval> | null} */ this._reportTimer = null;
    /** @type {Map<string, Set<Listener>>} */ this._listeners = new Map();
    /** @type {Array<() => void>} */ this._unsubscribe = [];
    /** Publish negotiations and subscribe offers each run one at a time, in order. */
    this._publishQueue = Promise.resolve();
    this._subscribeQueue = Promise.resolve();
    /** @type {(joined: Event) => void} */ this._markReady = () => {};
    /** @type {Promise<Event>} */ this._ready = new Promise((resolve) => { this._markReady = resolve; });
  }

  // -- events ------------------------------------------------------------------------------------

  /**
   * Interview events: `remote_stream` ({user, stream}: a participant's stream gained or lost a
   * track), `participant` (the server's media_participant, others only), `tracks` (media_tracks;
   * `self: true` for this page's own),
   * `connection` ({pc, state}: a peer connection's state, as this browser sees it), `closed`
   * ({reason}: out of the interview), `error` ({error}: a background step failed), `report`
   * ({report}: what this page received and sent over the last window), `link` ({links}: the
   * node's `media_link`, how each participant receives and sends), `fallback` (the node's
   * `media_fallback`, `self: true` when about this page: video paused or back in one direction).
   * @param {string} type
   * @param {Listener} listener
   * @returns {() => void} unsubscribe
   */
  on(type, listener) {
    let set = this._listeners.get(type);
    if (!set) this._listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** @param {Event} event */
  _emit(event) {
    for (const listener of this._listeners.get(event.type) ?? []) {
      try {
        listener(event);
      } catch (error) {
        console.error("interview listener failed", error);
      }
    }
  }

  /** @param {unknown} error */
  _fail(error) {
    if (this.state === "left") return; // a step cut short by leaving
    console.warn("interview step failed", error);
    this._emit({ type: "error", error });
  }

  // -- joining -----------------------------------------------------------------------------------

  /**
   * Join the interview and publish the camera and microphone (or `stream`).
   * @param {JoinOptions} [options]
   * @returns {Promise<Event>} the `media_joined` reply
   */
  async join({ audio = true, video = true, stream } = {}) {
    if (this.state !== "idle") throw new Error(`interview already ${this.state}`);
    this.state = "joining";
    for (const type of MEDIA_EVENTS) {
      this._unsubscribe.push(this.client.on(type, (event) => {
        if (event.room === this.room) this._onEvent(event);
      }));
    }
    try {
      if (stream) {
        this.localStream = stream;
      } else {
        this._videoConstraints = video;
        this.localStream = audio || video
          ? await navigator.mediaDevices.getUserMedia({ audio, video })
          : new MediaStream();
        this._ownsLocalStream = true;
      }
      this.camera = this.localStream.getVideoTracks().length > 0;
      this.microphone = this.localStream.getAudioTracks().length > 0;
      const joined = await this._mediaJoin();
      // Resumed from another page of this user (this tab reloaded within the drop timeout, or a
      // second tab taking the call over): the node's connections belong to that page. Both start
      // over: a publish offer with `restart`, and a fresh subscribe offer (`media_restart`).
      await this._publish(Boolean(joined.resumed));
      if (joined.resumed) await this.client.request("media_restart", { room: this.room });
      this._startReports();
      return joined;
    } catch (error) {
      await this._teardown("join_failed");
      throw error;
    }
  }

  async _mediaJoin() {
    const joined = await this.client.request("media_join", { room: this.room });
    this.joined = joined;
    for (const participant of joined.participants) this.participants.set(participant.user, participant);
    this.state = "joined";
    this._markReady(joined);
    // A new host (or a removed participant joining again) starts with video on: repeat the choice.
    if (this.receiveVideo === false) {
      await this.client.request("media_receive", { room: this.room, video: false });
    }
    return joined;
  }

  /** The WebSocket came back: resume (within the drop timeout) or start over. Called by RtClient. */
  _reconnected() {
    if (this.state !== "joined") return;
    this.client.request("media_join", { room: this.room }).then((joined) => {
      this.joined = joined;
      // Removed meanwhile (past the drop timeout): the node knows nothing of our connections.
      if (!joined.resumed) return this._restartAll(joined);
      return undefined;
    }).catch((error) => this._fail(error));
  }

  /**
   * Start over with new peer connections: the node hosting the interview changed, or it removed
   * us. `joined` is the `media_joined` already received, if any.
   * @param {Event | null} [joined]
   */
  async _restartAll(joined = null) {
    // The subscribe connection is replaced when the node's next offer comes (new ICE credentials).
    this.participants.clear();
    // A new host knows nothing of the old one's fallbacks: video starts again in both directions
    // and the new host pauses it anew if the link still cannot carry it.
    this.sendPaused = false;
    this.receivePaused = false;
    this.pausedFrom.clear();
    this.links.clear();
    this._ready = new Promise((resolve) => { this._markReady = resolve; });
    if (joined) {
      for (const participant of joined.participants) this.participants.set(participant.user, participant);
      this._markReady(joined);
    } else {
      await this._mediaJoin();
    }
    await this._enqueuePublish(() => this._renewPublish());
  }

  // -- publish connection ------------------------------------------------------------------------

  /** @param {() => Promise<void>} step */
  _enqueuePublish(step) {
    const run = this._publishQueue.then(step);
    this._publishQueue = run.catch(() => {});
    return run;
  }

  /** @param {boolean} restart */
  _publish(restart) {
    return this._enqueuePublish(async () => {
      if (!this.publishPc) this.publishPc = this._newPublishPc();
      await this._offerPublish(this.publishPc, restart);
    });
  }

  _newPublishPc() {
    const pc = new RTCPeerConnection({ iceServers: this.joined?.ice_servers ?? [] });
    const stream = /** @type {MediaStream} */ (this.localStream);
    for (const kind of ["audio", "video"]) {
      const track = kind === "audio" ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
      const on = kind === "audio" ? this.microphone : this.camera;
      if (track || kind === "audio" || this._videoConstraints) {
        // A section per kind even without a device, so turning it on later is a renegotiation
        // of the same section.
        pc.addTransceiver(track ?? kind, { direction: track && on ? "sendonly" : "inactive", streams: [stream] });
      }
    }
    this._watch(pc, "publish");
    return pc;
  }

  /**
   * Offer the publish connection's current state and apply the node's answer.
   * @param {RTCPeerConnection} pc
   * @param {boolean} restart
   */
  async _offerPublish(pc, restart) {
    await pc.setLocalDescription(await pc.createOffer());
    const sdp = /** @type {RTCSessionDescription} */ (pc.localDescription).sdp;
    const reply = this.client.request("media_offer", { room: this.room, sdp, restart });
    this._trickle(pc, "publish"); // written after the offer: the node applies them in order
    const answer = await reply;
    if (pc.signalingState === "closed") return;
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    this.published = answer.tracks;
    await this._applySendState(pc);
  }

  /** Whether this page sends camera video now: the camera is on and the node did not pause it. */
  get sendingVideo() {
    return this.camera && !this.sendPaused;
  }

  /**
   * Cap the camera's encoding at `kbps` (null lifts the cap), on this connection and any that
   * replaces it. The pre-call check holds its sender below the link's capacity with it: the
   * node's REMB alone does not bring Chromium down (without transport-wide feedback it follows a
   * REMB loosely: held at 405 kbit/s, it went on sending 1.9 Mbit/s), while an encoding's
   * `maxBitrate` caps the encoder itself.
   * @param {number | null} kbps
   */
  limitVideo(kbps) {
    this.videoMaxKbps = kbps;
    return this._enqueuePublish(() => this._applySendState());
  }

  /**
   * Pause or resume the camera's encoding as `sendPaused` says, and cap it at `videoMaxKbps`.
   * The track stays (the preview goes on, the camera light too) and the section stays
   * negotiated: only the encoder stops, so resuming is immediate and needs no renegotiation. A
   * camera the person turned off stays off (no track to resume).
   * @param {RTCPeerConnection | null} pc
   */
  async _applySendState(pc = this.publishPc) {
    const sender = pc?.getTransceivers().find((t) => t.receiver.track.kind === "video")?.sender;
    if (!sender) return;
    const params = sender.getParameters();
    const encoding = params.encodings?.[0];
    if (!encoding) return;
    const maxBitrate = this.videoMaxKbps === null ? undefined : Math.round(this.videoMaxKbps * 1000);
    if (encoding.active === !this.sendPaused && encoding.maxBitrate === maxBitrate) return;
    encoding.active = !this.sendPaused;
    if (maxBitrate === undefined) delete encoding.maxBitrate;
    else encoding.maxBitrate = maxBitrate;
    await sender.setParameters(params);
  }

  /**
   * Send this connection's candidates once its description went out (buffered until then).
   * @param {RTCPeerConnection} pc
   * @param {"publish" | "subscribe"} role
   */
  _trickle(pc, role) {
    const state = /** @type {any} */ (pc)._rtTrickle;
    if (!state) return;
    state.open = true;
    for (const candidate of state.buffer.splice(0)) this._sendCandidate(role, candidate);
  }

  /**
   * @param {"publish" | "subscribe"} role
   * @param {RTCIceCandidate | null} candidate
   */
  _sendCandidate(role, candidate) {
    const wire = candidate && candidate.candidate
      ? { candidate: candidate.candidate, sdp_mid: candidate.sdpMid, sdp_mline_index: candidate.sdpMLineIndex }
      : null;
    this.client.request("media_candidate", { room: this.room, pc: role, candidate: wire })
      .catch((error) => this._fail(error));
  }

  /**
   * @param {RTCPeerConnection} pc
   * @param {"publish" | "subscribe"} role
   */
  _watch(pc, role) {
    const trickle = { open: false, buffer: /** @type {Array<RTCIceCandidate | null>} */ ([]) };
    /** @type {any} */ (pc)._rtTrickle = trickle;
    pc.onicecandidate = (e) => {
      if (trickle.open) this._sendCandidate(role, e.candidate);
      else trickle.buffer.push(e.candidate);
    };
    pc.onconnectionstatechange = () => {
      const current = role === "publish" ? this.publishPc : this.subscribePc;
      if (pc !== current) return;
      this._emit({ type: "connection", pc: role, state: pc.connectionState });
      if (pc.connectionState === "failed" && this.state === "joined") {
        this.restartIce({ publish: role === "publish", subscribe: role === "subscribe" })
          .catch((error) => this._fail(error));
      }
    };
  }

  /** A fresh publish connection offered with `restart: true` (the node replaces its own). */
  async _renewPublish() {
    const old = this.publishPc;
    this.publishPc = this._newPublishPc();
    old?.close();
    await this._offerPublish(this.publishPc, true);
  }

  /**
   * @param {"audio" | "video"} kind
   * @returns {RTCRtpTransceiver | undefined}
   */
  _transceiver(kind) {
    return this.publishPc?.getTransceivers().find((t) => t.receiver.track.kind === kind);
  }

  /**
   * Camera off: the device is released (its light goes off) and the video section goes inactive,
   * so the others get `media_tracks` without video. On: a new camera track on the same section.
   * @param {boolean} on
   */
  setCamera(on) {
    return this._enqueuePublish(async () => {
      const stream = /** @type {MediaStream} */ (this.localStream);
      const transceiver = this._transceiver("video");
      if (on === this.camera) return;
      if (!on) {
        for (const track of stream.getVideoTracks()) {
          stream.removeTrack(track);
          if (this._ownsLocalStream) track.stop();
        }
        await transceiver?.sender.replaceTrack(null);
        if (transceiver) transceiver.direction = "inactive";
      } else {
        const captured = await navigator.mediaDevices.getUserMedia({ video: this._videoConstraints || true });
        const track = captured.getVideoTracks()[0];
        stream.addTrack(track);
        if (!transceiver) throw new Error("this interview was joined without a video section");
        await transceiver.sender.replaceTrack(track);
        transceiver.direction = "sendonly";
      }
      this.camera = on;
      if (this.publishPc) await this._offerPublish(this.publishPc, false);
    });
  }

  /**
   * Capture from another camera or microphone (a `deviceId` from `enumerateDevices()`): the new
   * track replaces the old one on the same sender, so nothing is renegotiated and the others see
   * and hear the new device from its first frame. A camera that is off uses it when turned on.
   * @param {"audio" | "video"} kind
   * @param {string} deviceId
   */
  useDevice(kind, deviceId) {
    return this._enqueuePublish(async () => {
      const stream = /** @type {MediaStream} */ (this.localStream);
      const constraints = { deviceId: { exact: deviceId } };
      if (kind === "video") {
        this._videoConstraints = constraints;
        if (!this.camera) return;
      }
      const captured = await navigator.mediaDevices.getUserMedia(kind === "video" ? { video: constraints } : { audio: constraints });
      const track = kind === "video" ? captured.getVideoTracks()[0] : captured.getAudioTracks()[0];
      if (kind === "audio") track.enabled = this.microphone; // a muted microphone stays muted
      const old = kind === "video" ? stream.getVideoTracks() : stream.getAudioTracks();
      await this._transceiver(kind)?.sender.replaceTrack(track);
      for (const previous of old) {
        stream.removeTrack(previous);
        if (this._ownsLocalStream) previous.stop();
      }
      stream.addTrack(track);
    });
  }

  /**
   * Microphone off: the track is disabled (silence, no re-capture on unmute) and the audio
   * section goes inactive, so the others see the microphone off in `media_tracks`.
   * @param {boolean} on
   */
  setMicrophone(on) {
    return this._enqueuePublish(async () => {
      const transceiver = this._transceiver("audio");
      if (on === this.microphone || !transceiver) return;
      for (const track of /** @type {MediaStream} */ (this.localStream).getAudioTracks()) track.enabled = on;
      transceiver.direction = on && transceiver.sender.track ? "sendonly" : "inactive";
      this.microphone = on;
      if (this.publishPc) await this._offerPublish(this.publishPc, false);
    });
  }

  /**
   * Fall back to audio for a weak connection: the camera goes off and the node stops sending the
   * others' video (`media_receive`), so the link carries sound only. `audioOnly(false)` receives
   * video again (from the next keyframe); the camera stays as it is.
   * @param {boolean} [on]
   */
  async audioOnly(on = true) {
    this.receiveVideo = !on;
    if (on) await this.setCamera(false);
    if (this.state === "joined") {
      await this.client.request("media_receive", { room: this.room, video: this.receiveVideo });
    }
  }

  /**
   * Restart ICE. Publish side: by default a fresh RTCPeerConnection offered with `restart: true`;
   * with `sameConnection`, the browser's own `restartIce()` on the current one (its new ICE
   * credentials make the node replace its connection, and the browser accepts the answer's new
   * DTLS fingerprint as a new DTLS session: checked with Chromium). Either way the node starts a
   * new connection and the others see the stream continue from the next keyframe. Subscribe side:
   * `media_restart`; the node's `media_offer` with `restart: true` is answered on a new
   * RTCPeerConnection.
   * @param {{publish?: boolean, subscribe?: boolean, sameConnection?: boolean}} [which]
   */
  async restartIce({ publish = true, subscribe = false, sameConnection = false } = {}) {
    const steps = [];
    if (publish) {
      steps.push(this._enqueuePublish(async () => {
        const pc = this.publishPc;
        if (!sameConnection || !pc) return this._renewPublish();
        pc.restartIce();
        return this._offerPublish(pc, true);
      }));
    }
    if (subscribe) steps.push(this.client.request("media_restart", { room: this.room }));
    await Promise.all(steps);
  }

  // -- subscribe connection ----------------------------------------------------------------------

  /** @param {Event} event */
  _onEvent(event) {
    switch (event.type) {
      case "media_offer":
        this._subscribeQueue = this._subscribeQueue.then(() => this._answer(event))
          .catch((error) => this._fail(error));
        break;
      case "media_participant":
        if (event.user === this.client.hello?.user) break; // our own arrival, told to everyone
        if (event.event === "left") {
          this.participants.delete(event.user);
          this.remoteStreams.delete(event.user);
        } else {
          const known = this.participants.get(event.user) ?? { tracks: [] };
          this.participants.set(event.user, { ...known, user: event.user, name: event.name, role: event.role,
            connected: event.event !== "dropped" });
        }
        this._emit({ ...event, type: "participant" });
        break;
      case "media_tracks": {
        const self = event.user === this.client.hello?.user;
        const known = this.participants.get(event.user);
        if (known) known.tracks = event.tracks;
        this._emit({ ...event, type: "tracks", self }); // `self`: what the node receives from this page
        break;
      }
      case "media_connection":
        break; // the node's view; this page watches its own connections (`connection` events)
      case "media_link":
        this.links = new Map((event.links ?? []).map((/** @type {Event} */ l) => [l.user, l]));
        this._emit({ ...event, type: "link" });
        break;
      case "media_fallback":
        this._onFallback(event);
        break;
      case "media_closed":
        if (REJOIN_REASONS.has(event.reason) && this.state === "joined") {
          this._restartAll().catch((error) => this._fail(error));
        } else {
          this._teardown(event.reason).catch((error) => this._fail(error));
        }
        break;
      default:
        break;
    }
  }

  /**
   * The node paused or resumed video in one direction. About this page's sending: stop or
   * restart the camera's encoding (never turning on a camera the person turned off). The event
   * goes to the page (`fallback`) either way.
   * @param {Event} event
   */
  _onFallback(event) {
    const self = event.user === this.client.hello?.user;
    const video = event.video !== false;
    if (self && event.direction === "send") {
      this.sendPaused = !video;
      this._enqueuePublish(() => this._applySendState()).catch((error) => this._fail(error));
    } else if (self && event.direction === "receive") {
      this.receivePaused = !video;
    } else if (event.direction === "send") {
      if (video) this.pausedFrom.delete(event.user);
      else this.pausedFrom.add(event.user);
    }
    this._emit({ ...event, type: "fallback", self });
  }

  /**
   * Answer the node's subscribe offer (on a new RTCPeerConnection for a restart).
   * @param {Event} offer
   */
  async _answer(offer) {
    const joined = await this._ready;
    if (this.state === "left") return;
    const current = this.subscribePc?.remoteDescription?.sdp;
    // A restart, or an offer from a connection the node made anew (after it removed us, or on
    // another node): its ICE credentials differ from the current one's.
    if (offer.restart || !this.subscribePc || (current && iceUfrag(current) !== iceUfrag(offer.sdp))) {
      this._closeSubscribe();
      this.subscribePc = new RTCPeerConnection({ iceServers: joined.ice_servers ?? [] });
      this._watch(this.subscribePc, "subscribe");
    }
    const pc = this.subscribePc;
    await pc.setRemoteDescription({ type: "offer", sdp: offer.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    const sdp = /** @type {RTCSessionDescription} */ (pc.localDescription).sdp;
    const reply = this.client.request("media_answer", { room: this.room, sdp });
    this._trickle(pc, "subscribe");
    this._sections = offer.tracks;
    this._syncRemoteStreams();
    await reply;
  }

  /** Put each receiving section's track into its participant's stream; take out the rest. */
  _syncRemoteStreams() {
    /** @type {Map<string, Set<MediaStreamTrack>>} */
    const wanted = new Map();
    const transceivers = this.subscribePc?.getTransceivers() ?? [];
    for (const section of this._sections) {
      const transceiver = transceivers.find((t) => t.mid === section.mid);
      if (!transceiver) continue;
      if (!wanted.has(section.user)) wanted.set(section.user, new Set());
      wanted.get(section.user)?.add(transceiver.receiver.track);
    }
    for (const user of new Set([...wanted.keys(), ...this.remoteStreams.keys()])) {
      let stream = this.remoteStreams.get(user);
      if (!stream) this.remoteStreams.set(user, (stream = new MediaStream()));
      const tracks = wanted.get(user) ?? new Set();
      let changed = false;
      for (const track of stream.getTracks()) {
        if (!tracks.has(track)) {
          stream.removeTrack(track);
          changed = true;
        }
      }
      for (const track of tracks) {
        if (!stream.getTracks().includes(track)) {
          stream.addTrack(track);
          changed = true;
        }
      }
      if (changed) this._emit({ type: "remote_stream", user, stream });
    }
  }

  _closeSubscribe() {
    const pc = this.subscribePc;
    this.subscribePc = null;
    pc?.close();
  }

  // -- statistics --------------------------------------------------------------------------------

  /**
   * The browser's own statistics of both connections (null where there is no connection).
   * @returns {Promise<{publish: RTCStatsReport | null, subscribe: RTCStatsReport | null}>}
   */
  async getStats() {
    const [publish, subscribe] = await Promise.all([
      this.publishPc ? this.publishPc.getStats() : null,
      this.subscribePc ? this.subscribePc.getStats() : null,
    ]);
    return { publish, subscribe };
  }

  /**
   * What arrives from each participant, from the subscribe connection's `inbound-rtp` stats:
   * `{user: {video: {framesDecoded, packetsReceived, ...}, audio: {totalSamplesReceived, ...}}}`.
   * @returns {Promise<Record<string, Record<string, Record<string, number>>>>}
   */
  async receivedStats() {
    /** @type {Record<string, Record<string, Record<string, number>>>} */
    const out = {};
    const report = this.subscribePc ? await this.subscribePc.getStats() : null;
    report?.forEach((stat) => {
      if (stat.type !== "inbound-rtp") return;
      const section = this._sections.find((s) => s.mid === stat.mid);
      if (!section) return;
      out[section.user] ??= {};
      out[section.user][section.kind] = {
        packetsReceived: stat.packetsReceived ?? 0, packetsLost: stat.packetsLost ?? 0,
        bytesReceived: stat.bytesReceived ?? 0, jitter: stat.jitter ?? 0,
        framesDecoded: stat.framesDecoded ?? 0, frameWidth: stat.frameWidth ?? 0,
        frameHeight: stat.frameHeight ?? 0, totalSamplesReceived: stat.totalSamplesReceived ?? 0,
        audioLevel: stat.audioLevel ?? 0,
      };
    });
    return out;
  }

  // -- reports ---------------------------------------------------------------------------------

  /**
   * Measure what this page receives and sends every `report_every_ms` (from `media_joined`,
   * 2000 by default): the `report` event for the page's own indicator, and `media_report` to a
   * node that asked for reports (one that names `report_every_ms`; older nodes are not sent
   * a request they do not know).
   */
  _startReports() {
    if (this._reportTimer !== null) return;
    const every = Math.max(REPORT_MIN_MS, Number(this.joined?.report_every_ms) || REPORT_EVERY_MS);
    this._reportTimer = setInterval(() => {
      this.measure().catch((error) => console.warn("interview statistics unavailable", error));
    }, every);
  }

  /**
   * Take a snapshot of both connections' statistics and, from the previous one, the report of
   * the window between them (null for the first window or after a connection was replaced).
   * Sends it as `media_report` when the node asked for reports.
   * @returns {Promise<MediaReport | null>}
   */
  async measure() {
    if (this.state !== "joined") return null;
    const pcs = [this.publishPc, this.subscribePc];
    const snapshot = statsSnapshot(await this.getStats(), this._sections, performance.now());
    const previous = this._snapshot;
    const samePcs = pcs.every((pc, i) => pc === this._snapshotPcs[i]);
    this._snapshot = snapshot;
    this._snapshotPcs = pcs;
    if (!previous || !samePcs || this.state !== "joined") return null;
    /** @type {Set<string>} */
    const noVideoFrom = new Set(this.pausedFrom);
    for (const [user, participant] of this.participants) {
      if (!this.receiveVideo || this.receivePaused
        || !(participant.tracks ?? []).some((/** @type {Event} */ t) => t.kind === "video")) noVideoFrom.add(user);
    }
    const report = mediaReport(previous, snapshot, { sendVideo: this.sendingVideo, noVideoFrom });
    if (!report) return null;
    this.lastReport = report;
    if (this.joined?.report_every_ms !== undefined) {
      this.client.notify("media_report", { room: this.room, receive: report.receive, send: report.send });
    }
    this._emit({ type: "report", report });
    return report;
  }

  // -- leaving -----------------------------------------------------------------------------------

  /** Leave the interview: the node closes this participant's connections; local devices are released. */
  async leave() {
    if (this.state === "left") return;
    const wasJoined = this.state === "joined";
    await this._teardown("left");
    if (wasJoined && this.client.state === "open") {
      await this.client.request("media_leave", { room: this.room }).catch(() => {}); // gone already is fine
    }
  }

  /**
   * Close everything on this side (no message to the node).
   * @param {string} reason
   */
  async _teardown(reason) {
    if (this.state === "left") return;
    this.state = "left";
    this._closeLocal(reason);
  }

  /**
   * Release connections, devices and listeners; emit `closed`. Also used by RtClient.close().
   * @param {string} reason
   */
  _closeLocal(reason) {
    this.state = "left";
    if (this._reportTimer !== null) clearInterval(this._reportTimer);
    this._reportTimer = null;
    for (const off of this._unsubscribe.splice(0)) off();
    this.publishPc?.close();
    this.publishPc = null;
    this._closeSubscribe();
    if (this._ownsLocalStream) for (const track of this.localStream?.getTracks() ?? []) track.stop();
    this._onDispose();
    this._emit({ type: "closed", reason });
  }
}
