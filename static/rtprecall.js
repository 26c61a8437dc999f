// Pre-call check in the browser (docs/precall.md): camera, microphone and network, measured
// against the real node, then judged by the node.
//
// 1. Devices: WebRTC and getUserMedia support, permission (a refusal reported by the error's
//    name), devices present, the camera's resolution and frame rate, the microphone's level.
// 2. Loopback: the echo room `precall:<user id>` is joined like an interview (./rtinterview.js,
//    so the check exercises the same code and the same forwarding path as a real call); the
//    node sends our media back. It publishes the microphone and a synthetic 1280x720 picture of
//    noise (a camera's picture, the fake one above all, can be too simple for the encoder to
//    fill a fast link; and the person's face need not travel for a network test). The node's
//    capacity probe (`media_stats.probe`) lets the encoder run at 1.5 Mbit/s, reads what the
//    uplink carries, then holds it below that; meanwhile the page reads what came back (the
//    downlink). At the hold the page caps its encoder at the rate held too (a REMB alone does not
//    bring Chromium down) and waits for the node to see it settled there. Then round trip, jitter
//    and each direction's loss come from `getStats()` on both connections and from the node's own
//    receive statistics. It runs while the microphone and camera are measured, and the whole
//    check ends within CHECK_MS.
// 3. Transports: which ICE path the loopback took (direct UDP or a relay), and one short
//    relay-only connection per TURN transport the node hands out.
// 4. Verdict: the measurements go to the node (`precall_result`), which computes and stores the
//    verdict; the client never judges itself, so every client is judged by the same rules.
//
// The client does not judge, but it does decide what counts as "silent": the only threshold that
// needs the raw audio samples, which never leave the browser.

/** @typedef {import("./rtclient.js").RtClient} RtClient */
/** @typedef {Record<string, any>} Measurements */

/**
 * Peak RMS (samples in -1..1) under which the microphone counts as silent: 0.005 is -46 dBFS.
 * A working microphone picking up a voice at arm's length peaks well above it (around -30 to
 * -20 dBFS), while the floor left by the browser's noise suppression in a quiet room, or a
 * muted or dead input, stays below it.
 */
export const SILENCE_RMS = 0.005;
/** How long the microphone level (and the camera's frame rate) is measured. */
export const LEVEL_MS = 3000;
/** How long the loopback is measured at the probe's hold. */
export const MEASURE_MS = 4000;
/** The whole check, answer included, ends within this; the network window is cut to fit. */
export const CHECK_MS = 15000;
/** Kept back from CHECK_MS for leaving the echo room and the node's answer. */
const CLOSING_MS = 1500;
/** The shortest window measured at the hold, however late the probe ended. */
const MIN_WINDOW_MS = 1500;
/** Joining the echo room and getting the first packets back: past this the network step failed. */
const CONNECT_TIMEOUT_MS = 5000;
/** The node's probe state is read this often while it runs (getStats has no change event either). */
const PROBE_POLL_MS = 250;
/** The longest the probe may take once media flows (the node's PROBE_S, 2.5 s, and a margin). */
const PROBE_MAX_MS = 4000;
/**
 * The longest wait, once the node holds the sender, for the hold to settle (`probe.settled_ms`:
 * the video reaching the node came down to the rate held, the bottleneck's queue drained) before
 * measuring anyway. The cap on the encoder takes effect within a frame; the node judges half-second
 * steps, the first of which still carries what was sent before the cap (measured: settled 1-1.5 s
 * into the hold on a 700 kbit/s link).
 */
const HOLD_SETTLE_MAX_MS = 2500;
/** Loss (percent, the downlink's own) above which, while probing, the downlink was the narrower way. */
const SATURATED_LOSS_PCT = 5;
/** What a packet costs the link besides what `bytesReceived` + `headerBytesReceived` count (IPv4, UDP, SRTP tag). */
const PACKET_EXTRA_BYTES = 38;
/** A TURN server that has not given a relay candidate by then is reported as not working. */
const TURN_PROBE_MS = 3000;
/** The node answers `precall_result` at once; the least it is given when the rest ran late. */
const RESULT_TIMEOUT_MS = 1000;
const ECHO_PREFIX = "precall:";
/** Getting our own media back is polled this often (getStats has no change event). */
const POLL_MS = 100;
/**
 * The synthetic video the loopback publishes: 1280x720 (Chrome lets its encoder reach 2.5 Mbit/s
 * from 960x540 up, only 600 kbit/s up to 320x240), drawn from a 160x90 image of noise scaled up
 * (cheap to make, still costly to encode), 15 frames a second. A whole picture of it costs the
 * encoder about `fullKbps` at its coarsest quality (measured: 78 kB frames at 960x540 and
 * 640x360), so only a band of it is drawn, sized for the rate (`setRate` in withSyntheticMedia).
 */
const SYNTHETIC = { width: 1280, height: 720, noiseWidth: 160, noiseHeight: 90, fps: 15, fullKbps: 10000 };
/** The rate the node's probe lets the sender run at (rtserver.precall.probe.PROBE_KBPS). */
const PROBE_KBPS = 1500;

/**
 * @typedef {object} Progress
 * @property {"browser" | "devices" | "microphone" | "network" | "result" | "done"} step
 * @property {number} fraction  0..1 of the whole check
 */

/**
 * @typedef {object} PrecallOptions
 * @property {(progress: Progress) => void} [onProgress]  for a progress bar
 * @property {(stream: MediaStream) => void} [onPreview]  the captured camera and microphone, to show
 * @property {(stream: MediaStream) => void} [onRelease]  called just before that stream's tracks stop
 *   (still live: the moment to keep its last picture)
 * @property {(rms: number) => void} [onLevel]  the microphone's level while it is measured (0..1)
 * @property {AbortSignal} [signal]  abort the check (everything is released)
 * @property {number} [measureMs]  loopback measuring window (MEASURE_MS)
 * @property {number} [levelMs]  microphone and camera measuring window (LEVEL_MS)
 */

/**
 * Run the whole check on a connected client and return what was measured and the node's result
 * (`verdict`, `mos`, `video`, `findings`, `measurements`, `ts`). Every track, audio context and
 * peer connection it made is released when it returns or throws. When the node's answer fails,
 * the error carries what was measured as `error.measurements`.
 * @param {RtClient} client
 * @param {PrecallOptions} [options]
 * @returns {Promise<{measurements: Measurements, result: Record<string, any>}>}
 */
export async function runPrecallCheck(client, {
  onProgress = () => {}, onPreview = () => {}, onRelease = () => {}, onLevel = () => {}, signal,
  measureMs = MEASURE_MS, levelMs = LEVEL_MS,
} = {}) {
  const started = performance.now();
  /** @type {Array<() => void>} */
  const release = [];
  /** @type {Measurements} */
  const measurements = { client: { kind: "browser", user_agent: navigator.userAgent.slice(0, 300) } };
  try {
    onProgress({ step: "browser", fraction: 0.02 });
    measurements.browser = browserSupport();
    if (measurements.browser.webrtc && measurements.browser.get_user_media) {
      onProgress({ step: "devices", fraction: 0.05 });
      const devices = await captureDevices();
      release.push(() => {
        try {
          onRelease(devices.stream);
        } finally {
          stopTracks(devices.stream);
        }
      });
      abortIfAsked(signal);
      measurements.camera = devices.camera;
      measurements.microphone = devices.microphone;
      if (devices.stream.getTracks().length) onPreview(devices.stream);

      onProgress({ step: "microphone", fraction: 0.1 });
      const ticker = progressTicker(onProgress, "microphone", 0.1, 0.35, levelMs);
      release.push(ticker);
      const published = withSyntheticMedia(devices.stream);
      release.push(published.stop);
      // The network is measured meanwhile: the level and frame rate are local, the loopback remote.
      const deadline = started + CHECK_MS - CLOSING_MS;
      const network = measureLoopback(client, published.stream,
        { measureMs, onProgress, signal, deadline, setRate: published.setRate });
      network.catch(() => {}); // awaited below; a failure of the devices' step must not leave it unhandled
      const [level, fps] = await Promise.all([
        measureLevel(devices.stream.getAudioTracks()[0], levelMs, onLevel, signal),
        measureFrameRate(devices.stream.getVideoTracks()[0], levelMs, signal),
      ]);
      ticker();
      Object.assign(measurements.microphone, level);
      if (fps !== null) measurements.camera.fps = fps;

      onProgress({ step: "network", fraction: 0.4 });
      const measured = await network;
      measurements.network = measured.network;
      measurements.transports = measured.transports;
    }
    measurements.duration_ms = Math.round(performance.now() - started);
    onProgress({ step: "result", fraction: 0.95 });
    const answerMs = Math.max(RESULT_TIMEOUT_MS, started + CHECK_MS - performance.now());
    const reply = await client.request("precall_result", { measurements }, { timeoutMs: Math.min(answerMs, 3000) })
      .catch((error) => {
        // What was measured is still worth showing (or sending again) when the node did not judge it.
        if (error && typeof error === "object") error.measurements = measurements;
        throw error;
      });
    onProgress({ step: "done", fraction: 1 });
    return { measurements, result: reply.result };
  } finally {
    for (const undo of release.reverse()) {
      try {
        undo();
      } catch (error) {
        console.warn("pre-call cleanup step failed", error); // the others must still run
      }
    }
  }
}

// -- devices -------------------------------------------------------------------------------------

export function browserSupport() {
  return {
    webrtc: typeof globalThis.RTCPeerConnection === "function",
    get_user_media: typeof navigator.mediaDevices?.getUserMedia === "function",
    // Browsers give getUserMedia only to secure pages (HTTPS, or localhost): without it, the cause
    // is the page's address, not the browser.
    secure_context: globalThis.isSecureContext !== false,
  };
}

/**
 * The permission as the Permissions API tells it, or null where it cannot (Firefox and Safari
 * do not know "camera" everywhere).
 * @param {"camera" | "microphone"} name
 * @returns {Promise<string | null>}
 */
async function permissionState(name) {
  try {
    return (await navigator.permissions.query(/** @type {any} */ ({ name }))).state;
  } catch {
    return null;
  }
}

/**
 * Camera and microphone, asked for together (one prompt). When that fails, each is asked for
 * alone where a second request can tell more than the first, so a missing camera does not hide
 * a working microphone, nor a refused camera a microphone allowed earlier. A refusal is not
 * asked again unless the Permissions API says that device is granted: asking again would
 * prompt the person who just said no.
 */
async function captureDevices() {
  const known = { camera: await permissionState("camera"), microphone: await permissionState("microphone") };
  const stream = new MediaStream();
  /** @type {Record<"camera" | "microphone", string | null>} */
  const errors = { camera: null, microphone: null };
  try {
    for (const track of (await navigator.mediaDevices.getUserMedia({ audio: true, video: true })).getTracks()) {
      stream.addTrack(track);
    }
  } catch (error) {
    const name = errorName(error);
    for (const device of /** @type {const} */ (["camera", "microphone"])) {
      if (name === "NotAllowedError" && known[device] !== "granted") {
        errors[device] = name;
        continue;
      }
      try {
        const alone = await navigator.mediaDevices.getUserMedia(device === "camera" ? { video: true } : { audio: true });
        for (const track of alone.getTracks()) stream.addTrack(track);
      } catch (again) {
        errors[device] = errorName(again);
      }
    }
  }
  const counts = await deviceCounts();
  return {
    stream,
    camera: deviceSection("camera", stream.getVideoTracks()[0], errors.camera, known.camera, counts.videoinput),
    microphone: deviceSection("microphone", stream.getAudioTracks()[0], errors.microphone, known.microphone,
      counts.audioinput),
  };
}

/** @param {unknown} error */
function errorName(error) {
  return error instanceof Error || error instanceof DOMException ? error.name : "Error";
}

async function deviceCounts() {
  const counts = { videoinput: 0, audioinput: 0 };
  try {
    for (const device of await navigator.mediaDevices.enumerateDevices()) {
      if (device.kind === "videoinput" || device.kind === "audioinput") counts[device.kind] += 1;
    }
  } catch {
    // enumerateDevices is refused in some embedded contexts: the counts stay 0, the errors tell the rest.
  }
  return counts;
}

/**
 * @param {"camera" | "microphone"} device
 * @param {MediaStreamTrack | undefined} track
 * @param {string | null} error
 * @param {string | null} known  the Permissions API's state before asking
 * @param {number} devices
 */
function deviceSection(device, track, error, known, devices) {
  const denied = error === "NotAllowedError" || error === "SecurityError";
  const permission = track ? "granted" : denied ? "denied" : known ?? "unavailable";
  /** @type {Record<string, any>} */
  const section = { permission, devices, error: track ? null : error };
  if (track && device === "camera") {
    const settings = track.getSettings();
    section.width = settings.width ?? null;
    section.height = settings.height ?? null;
    section.fps = settings.frameRate ? Math.round(settings.frameRate) : null;
  }
  return section;
}

/**
 * The microphone's peak RMS level over `ms` (WebAudio AnalyserNode), and whether it stayed silent.
 * @param {MediaStreamTrack | undefined} track
 * @param {number} ms
 * @param {(rms: number) => void} onLevel
 * @param {AbortSignal | undefined} signal
 * @returns {Promise<{level?: number, silent?: boolean}>}
 */
async function measureLevel(track, ms, onLevel, signal) {
  if (!track) return {};
  const context = new AudioContext();
  try {
    // Autoplay rules may start the context suspended outside a user gesture: try once, and
    // report no level rather than a false "silent" when the browser keeps it suspended.
    if (context.state !== "running") await Promise.race([context.resume(), delay(500)]);
    if (/** @type {string} */ (context.state) !== "running") return {};
    const analyser = context.createAnalyser();
    analyser.fftSize = 2048;
    context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    let peak = 0;
    const until = performance.now() + ms;
    while (performance.now() < until) {
      await delay(50, signal);
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const sample of samples) sum += sample * sample;
      const rms = Math.sqrt(sum / samples.length);
      peak = Math.max(peak, rms);
      onLevel(rms);
    }
    return { level: Math.round(peak * 10000) / 10000, silent: peak < SILENCE_RMS };
  } finally {
    context.close().catch(() => {});
  }
}

/**
 * The camera's frame rate as frames actually shown (requestVideoFrameCallback), which can be
 * lower than the rate the camera was opened at (dim light lengthens exposures). Null when it
 * cannot be measured: no camera, no rVFC, or a hidden page (its frames are throttled).
 * @param {MediaStreamTrack | undefined} track
 * @param {number} ms
 * @param {AbortSignal | undefined} signal
 * @returns {Promise<number | null>}
 */
async function measureFrameRate(track, ms, signal) {
  if (!track) return null;
  // The frames the camera delivered (Chrome's MediaStreamTrack stats), when the browser counts
  // them: shown frames also depend on the page's load (the loopback's encoder runs meanwhile).
  const stats = /** @type {any} */ (track).stats;
  if (stats && typeof stats.totalFrames === "number") {
    const before = stats.totalFrames;
    const start = performance.now();
    await delay(ms, signal);
    return Math.round(((stats.totalFrames - before) * 1000) / (performance.now() - start));
  }
  if (!("requestVideoFrameCallback" in HTMLVideoElement.prototype)) return null;
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.srcObject = new MediaStream([track]);
  try {
    await video.play();
    /** @type {number[]} */
    const shown = [];
    const count = (/** @type {number} */ now) => { shown.push(now); video.requestVideoFrameCallback(count); };
    video.requestVideoFrameCallback(count);
    await delay(ms, signal);
    if (document.visibilityState !== "visible" || shown.length < 2) return null;
    return Math.round(((shown.length - 1) * 1000) / (/** @type {number} */ (shown.at(-1)) - shown[0]));
  } catch {
    return null;
  } finally {
    video.srcObject = null;
  }
}

/**
 * The stream to publish on the loopback: the microphone (a tone where there is none, so the
 * network is measured all the same) and a synthetic picture of noise (SYNTHETIC): a still or
 * simple picture compresses to almost nothing and would measure no bandwidth.
 *
 * `setRate(kbps)` sizes the noise for a rate (PROBE_KBPS at first): a band of it moving down a
 * grey picture, the band's share of the picture that of `SYNTHETIC.fullKbps`. Noise costs about as
 * much at the encoder's coarsest quality as at its finest: a whole picture of it made Chromium's
 * encoder send 2 frames a second of 78 kB, most of them keyframes, bursts that a link's queue
 * drops half of even under its rate (a 700 kbit/s link read as 368), and that took seconds to
 * leave at a hold of a few hundred kbit/s.
 * @param {MediaStream} captured
 * @returns {{stream: MediaStream, stop: () => void, setRate: (kbps: number) => void}}
 */
function withSyntheticMedia(captured) {
  const stream = new MediaStream(captured.getAudioTracks());
  /** @type {Array<() => void>} */
  const stops = [];
  const canvas = document.createElement("canvas");
  canvas.width = SYNTHETIC.width;
  canvas.height = SYNTHETIC.height;
  const context2d = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  context2d.imageSmoothingEnabled = false; // sharp blocks: smoothing would make the noise cheap to encode
  const noise = document.createElement("canvas");
  noise.width = SYNTHETIC.noiseWidth;
  noise.height = SYNTHETIC.noiseHeight;
  const noise2d = /** @type {CanvasRenderingContext2D} */ (noise.getContext("2d"));
  const image = noise2d.createImageData(noise.width, noise.height);
  const words = new Uint32Array(image.data.buffer);
  const scale = canvas.height / noise.height;
  let rows = noise.height; // of noise, drawn each frame (setRate)
  let top = 0;
  const draw = () => {
    for (let i = 0; i < rows * noise.width; i += 1) words[i] = (Math.random() * 0xffffff) | 0xff000000;
    noise2d.putImageData(image, 0, 0);
    if (rows < noise.height) {
      context2d.fillStyle = "#808080";
      context2d.fillRect(0, 0, canvas.width, canvas.height);
    }
    context2d.drawImage(noise, 0, 0, noise.width, rows, 0, top * scale, canvas.width, rows * scale);
    top = rows < noise.height ? (top + rows) % (noise.height - rows + 1) : 0;
  };
  const setRate = (/** @type {number} */ kbps) => {
    rows = Math.max(1, Math.min(noise.height, Math.round((noise.height * kbps) / SYNTHETIC.fullKbps)));
  };
  setRate(PROBE_KBPS);
  draw();
  const timer = setInterval(draw, 1000 / SYNTHETIC.fps);
  const track = canvas.captureStream(SYNTHETIC.fps).getVideoTracks()[0];
  stream.addTrack(track);
  stops.push(() => { clearInterval(timer); track.stop(); });
  if (!captured.getAudioTracks().length) {
    const context = new AudioContext();
    const tone = context.createOscillator();
    const destination = context.createMediaStreamDestination();
    tone.connect(destination);
    tone.start();
    stream.addTrack(destination.stream.getAudioTracks()[0]);
    stops.push(() => { tone.stop(); context.close().catch(() => {}); });
  }
  return { stream, stop: () => { for (const stop of stops) stop(); }, setRate };
}

// -- network -------------------------------------------------------------------------------------

/**
 * Join the echo room, publish `stream`, wait for it to come back, follow the node's capacity
 * probe to its hold, measure for `measureMs` (less when `deadline` comes first), and probe each
 * TURN transport meanwhile.
 * @param {RtClient} client
 * @param {MediaStream} stream
 * @param {{measureMs: number, onProgress: (p: Progress) => void, signal?: AbortSignal, deadline: number,
 *   setRate?: (kbps: number) => void}} options  `setRate`: sizes the picture published for the rate held
 */
async function measureLoopback(client, stream, { measureMs, onProgress, signal, deadline: end, setRate }) {
  const room = `${ECHO_PREFIX}${client.hello?.user}`;
  const interview = client.interview(room);
  /** @type {Promise<Record<string, boolean | null>>} */
  let probes = Promise.resolve({});
  let turnConfigured = false;
  /** @type {Record<string, any>} */
  let network = { connected: false, transport: null };
  const ticker = progressTicker(onProgress, "network", 0.4, 0.9, Math.max(1000, end - performance.now()));
  let over = false;
  const joining = interview.join({ stream });
  // A join that completes after its timeout (and the leave below) must not leave a session behind.
  joining.then(() => over && interview.leave(), () => {}).catch(() => {});
  try {
    const connectMs = Math.min(CONNECT_TIMEOUT_MS, end - MIN_WINDOW_MS - performance.now());
    const deadline = performance.now() + connectMs;
    const joined = await withTimeout(joining, connectMs);
    const relays = turnServers(joined?.ice_servers ?? []);
    turnConfigured = relays.length > 0;
    probes = probeRelays(relays, Math.min(TURN_PROBE_MS, end - performance.now()));
    if (joined && await mediaReturns(interview, deadline, signal)) {
      const probe = await followProbe(client, interview, room, end - MIN_WINDOW_MS, signal);
      probe.report = await settleHold(client, interview, room, probe.report, end - MIN_WINDOW_MS, signal, setRate);
      const held = await measureWindow(client, interview, room, Math.max(MIN_WINDOW_MS,
        Math.min(measureMs, end - performance.now())), signal);
      network = { connected: true, ...held, ...probeFigures(probe) };
    }
  } finally {
    over = true;
    ticker();
    if (interview.videoMaxKbps !== null) await interview.limitVideo(null).catch(() => {}); // the check is over
    await interview.leave().catch(() => {});
  }
  /** A relay transport not probed (no TURN server offered it, or the join failed) is null. */
  const unprobed = /** @type {boolean | null} */ (null);
  const transports = {
    udp: network.connected ? network.transport === "udp" : false,
    "turn-udp": unprobed, "turn-tcp": unprobed, "turn-tls": unprobed, ...await probes, turn_configured: turnConfigured,
  };
  return { network, transports };
}

/**
 * Resolves with `promise`'s value, or null after `ms` (the caller reports the step as failed).
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @returns {Promise<T | null>}
 */
function withTimeout(promise, ms) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  return Promise.race([
    promise.catch((error) => { console.warn("pre-call loopback did not start", error); return /** @type {T | null} */ (null); }),
    new Promise((resolve) => { timer = setTimeout(() => resolve(null), ms); }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Whether our own media comes back (packets received on the subscribe connection) by `deadline`.
 * @param {import("./rtinterview.js").Interview} interview
 * @param {number} deadline  performance.now() time
 * @param {AbortSignal | undefined} signal
 */
async function mediaReturns(interview, deadline, signal) {
  while (performance.now() < deadline) {
    let received = 0;
    (await interview.subscribePc?.getStats())?.forEach((stat) => {
      if (stat.type === "inbound-rtp") received += stat.packetsReceived ?? 0;
    });
    if (received > 0) return true;
    await delay(POLL_MS, signal);
  }
  return false;
}

/**
 * @typedef {object} Snapshot
 * @property {RTCStatsReport | null} publish
 * @property {RTCStatsReport | null} subscribe
 * @property {Record<string, any> | null} node  the node's `media_stats` reply (null if refused)
 * @property {number} at  performance.now()
 */

/**
 * @param {RtClient} client
 * @param {import("./rtinterview.js").Interview} interview
 * @param {string} room
 * @returns {Promise<Snapshot>}
 */
async function snapshot(client, interview, room) {
  const [stats, node] = await Promise.all([
    interview.getStats(),
    client.request("media_stats", { room }, { timeoutMs: 1000 }).catch(() => /** @type {Record<string, any> | null} */ (null)),
  ]);
  return { ...stats, node, at: performance.now() };
}

/**
 * @param {RTCStatsReport | null} report
 * @param {string} type
 * @returns {any[]}
 */
function statsOf(report, type) {
  /** @type {any[]} */
  const out = [];
  report?.forEach((stat) => { if (stat.type === type) out.push(stat); });
  return out;
}

/**
 * Sum of `field` over the stats of `type` (optionally of one kind).
 * @param {RTCStatsReport | null} report
 * @param {string} type
 * @param {string} field
 * @param {string} [kind]
 */
function total(report, type, field, kind) {
  return statsOf(report, type).filter((s) => !kind || s.kind === kind).reduce((sum, s) => sum + (s[field] ?? 0), 0);
}

/**
 * The node's receive statistics of what we publish: `participants[0].published`, as a list.
 * @param {Record<string, any> | null} node
 * @returns {any[]}
 */
function nodePublished(node) {
  const published = node?.participants?.[0]?.published ?? [];
  return Array.isArray(published) ? published : Object.values(published);
}

/** The window is sampled this often: a counter that restarts (a replaced connection) loses at most one interval. */
const SAMPLE_MS = 1000;

/**
 * @typedef {object} ProbeRun  what was seen while the node's capacity probe ran
 * @property {Record<string, any> | null} report  the node's last `probe` report (null: it has none)
 * @property {Record<string, number>} sums  how much each counter grew meanwhile (`counters`)
 * @property {number} ms  how long that was
 */

/**
 * Follow the node's capacity probe until it holds the sender (or `deadline`), summing the counters
 * meanwhile: what came back tells the downlink's share.
 * @param {RtClient} client
 * @param {import("./rtinterview.js").Interview} interview
 * @param {string} room
 * @param {number} deadline  performance.now() time
 * @param {AbortSignal | undefined} signal
 * @returns {Promise<ProbeRun>}
 */
async function followProbe(client, interview, room, deadline, signal) {
  const until = Math.min(deadline, performance.now() + PROBE_MAX_MS);
  let first = await snapshot(client, interview, room);
  let previous = counters(first);
  /** @type {Record<string, number>} */
  const sums = Object.fromEntries(Object.keys(previous).map((key) => [key, 0]));
  let last = first;
  /** @type {Record<string, any> | null} */
  let report = first.node?.probe ?? null;
  while (performance.now() < until) {
    if (last.node && !last.node.probe) return { report: null, sums, ms: 0 }; // a node without the probe
    if (report?.phase === "holding") break;
    await delay(PROBE_POLL_MS, signal);
    last = await snapshot(client, interview, room);
    report = last.node?.probe ?? report; // a reply lost on the saturated link is not the end
    const now = counters(last);
    if (report && report.phase !== "waiting") {
      for (const key of Object.keys(sums)) sums[key] += grown(previous[key], now[key]);
    } else {
      first = last; // the probe starts with the first packets the node sees
    }
    previous = now;
  }
  return { report, sums, ms: Math.max(1, last.at - first.at) };
}

/**
 * Hold the sender where the node holds it, and wait for the hold to settle (HOLD_SETTLE_MAX_MS at
 * most, never past `deadline`): the encoder is capped at the rate held (`maxBitrate`, which
 * Chromium obeys where it follows a REMB only loosely), and the node says when the video reaching
 * it came down to that rate (`probe.settled_ms`). Returns the node's latest probe report.
 * @param {RtClient} client
 * @param {import("./rtinterview.js").Interview} interview
 * @param {string} room
 * @param {Record<string, any> | null} report  the probe's report at the hold
 * @param {number} deadline  performance.now() time
 * @param {AbortSignal | undefined} signal
 * @param {(kbps: number) => void} [setRate]  sizes the picture published for the rate held
 * @returns {Promise<Record<string, any> | null>}
 */
async function settleHold(client, interview, room, report, deadline, signal, setRate) {
  if (report?.phase !== "holding" || typeof report.hold_kbps !== "number") return report;
  setRate?.(report.hold_kbps);
  await interview.limitVideo(report.hold_kbps).catch((error) => console.warn("pre-call: cannot cap the video", error));
  const until = Math.min(deadline, performance.now() + HOLD_SETTLE_MAX_MS);
  while (typeof report?.settled_ms !== "number" && performance.now() < until) {
    await delay(PROBE_POLL_MS, signal);
    const stats = await client.request("media_stats", { room }, { timeoutMs: 1000 })
      .catch(() => /** @type {Record<string, any> | null} */ (null));
    report = stats?.probe ?? report; // a reply lost on the link is not the end
  }
  return report;
}

/**
 * The capacity figures (docs/precall.md): the uplink's from the node's probe; the downlink carried
 * what the node forwarded of it, so it is at least as wide unless it lost more than the uplink had.
 * @param {ProbeRun} probe
 */
function probeFigures({ report, sums, ms }) {
  if (!report || typeof report.capacity_kbps !== "number") return {};
  const up = ratioPct(sums.nodeLost, sums.nodeExpected);
  const echo = ratioPct(sums.downLost, sums.downLost + sums.downReceived);
  const narrower = downlinkLossPct(echo, up) >= SATURATED_LOSS_PCT;
  const back = Math.round(((sums.bytesReceived + sums.headerBytesReceived + PACKET_EXTRA_BYTES * sums.downReceived)
    * 8) / ms);
  const steps = (Array.isArray(report.steps) ? report.steps : []).slice(0, 8).map((/** @type {any} */ s) => ({
    at_ms: s.at_ms, kbps: s.kbps, recv_kbps: s.recv_kbps, loss_pct: s.loss_pct, queue_ms: s.queue_ms,
  }));
  return {
    capacity_up_kbps: report.capacity_kbps,
    capacity_down_kbps: narrower ? back : Math.max(back, report.capacity_kbps),
    probe: { saturated_up: Boolean(report.saturated), saturated_down: narrower, hold_kbps: report.hold_kbps ?? null,
      duration_ms: report.probe_ms ?? null, steps },
  };
}

/**
 * The downlink's own loss: what came back lost `echoPct` in all, the uplink `upPct` of it (a packet
 * lost on the way up leaves a gap in what the node forwards, which the browser counts as lost).
 * @param {number} echoPct
 * @param {number} upPct
 */
export function downlinkLossPct(echoPct, upPct) {
  if (upPct >= 100) return 0;
  return Math.min(100, Math.max(0, 100 * (1 - (1 - echoPct / 100) / (1 - upPct / 100))));
}

/**
 * Sample both connections and the node's statistics through the window, adding up how much each
 * counter grew from one sample to the next, then turn the sums into the network figures
 * (docs/precall.md, Measurements).
 * @param {RtClient} client
 * @param {import("./rtinterview.js").Interview} interview
 * @param {string} room
 * @param {number} measureMs
 * @param {AbortSignal | undefined} signal
 */
async function measureWindow(client, interview, room, measureMs, signal) {
  const first = await snapshot(client, interview, room);
  let previous = counters(first);
  /** @type {Record<string, number>} */
  const sums = Object.fromEntries(Object.keys(previous).map((key) => [key, 0]));
  let last = first;
  let nodeSeen = first.node !== null;
  while (last.at - first.at < measureMs - SAMPLE_MS / 2) {
    await delay(Math.max(0, Math.min(SAMPLE_MS, measureMs - (performance.now() - first.at))), signal);
    last = await snapshot(client, interview, room);
    nodeSeen &&= last.node !== null;
    const now = counters(last);
    for (const key of Object.keys(sums)) sums[key] += grown(previous[key], now[key]);
    previous = now;
  }
  const ms = Math.max(1, last.at - first.at);
  const kbps = (/** @type {number} */ bytes) => Math.round((bytes * 8) / ms);
  // Uplink: the node's receive statistics; the node's receiver reports about us when it has none.
  const [upLost, upExpected] = nodeSeen && sums.nodeExpected > 0
    ? [sums.nodeLost, sums.nodeExpected] : [sums.reportedLost, sums.packetsSent];
  const up = ratioPct(upLost, upExpected);
  const echo = ratioPct(sums.downLost, sums.downLost + sums.downReceived);
  const down = downlinkLossPct(echo, up);
  const rtt = sums.rttAnswers > 0 ? sums.rttSeconds / sums.rttAnswers : latestRoundTrip(last);
  const round2 = (/** @type {number} */ v) => Math.round(v * 100) / 100;
  return {
    transport: selectedTransport(last.publish),
    rtt_ms: rtt === null ? null : Math.round(rtt * 10000) / 10,
    jitter_ms: jitterMs(last),
    loss_pct: round2(Math.max(up, down)),
    loss_up_pct: round2(up),
    loss_down_pct: round2(down),
    loss_echo_pct: round2(echo),
    send_kbps: kbps(sums.bytesSent),
    recv_kbps: kbps(sums.bytesReceived),
    duration_ms: Math.round(ms),
  };
}

/**
 * The counters of one sample. Losses are counted before retransmission repaired anything (the
 * browser's inbound `packetsLost`, the node's `packets_lost`). Round trip: the ICE consent
 * checks of both selected pairs (`totalRoundTripTime` over `responsesReceived`).
 * @param {Snapshot} s
 * @returns {Record<string, number>}
 */
function counters(s) {
  const node = (/** @type {string} */ field) => nodePublished(s.node).reduce((n, p) => n + (p[field] ?? 0), 0);
  const pairs = [selectedPair(s.publish), selectedPair(s.subscribe)].filter(Boolean);
  return {
    bytesSent: total(s.publish, "outbound-rtp", "bytesSent"),
    bytesReceived: total(s.subscribe, "inbound-rtp", "bytesReceived"),
    headerBytesReceived: total(s.subscribe, "inbound-rtp", "headerBytesReceived"),
    downLost: Math.max(0, total(s.subscribe, "inbound-rtp", "packetsLost")),
    downReceived: total(s.subscribe, "inbound-rtp", "packetsReceived"),
    nodeLost: Math.max(0, node("packets_lost")),
    nodeExpected: node("packets_expected"),
    reportedLost: Math.max(0, total(s.publish, "remote-inbound-rtp", "packetsLost")),
    packetsSent: total(s.publish, "outbound-rtp", "packetsSent"),
    rttSeconds: pairs.reduce((n, p) => n + (p.totalRoundTripTime ?? 0), 0),
    rttAnswers: pairs.reduce((n, p) => n + (p.responsesReceived ?? 0), 0),
  };
}

/**
 * How much a counter grew between two samples. Counters start again from zero when a connection
 * is replaced (an ICE restart, or the node moving the session): then the new one's count is the growth.
 * @param {number} before
 * @param {number} after
 */
function grown(before, after) {
  return after >= before ? after - before : after;
}

/**
 * @param {number} part
 * @param {number} whole
 */
function ratioPct(part, whole) {
  return whole > 0 ? Math.min(100, Math.max(0, (100 * part) / whole)) : 0;
}

/**
 * The latest round trip the browser knows, in seconds, when the window had no ICE check answered:
 * the selected pairs' `currentRoundTripTime`, else the RTCP round trip of the node's reports.
 * @param {Snapshot} last
 * @returns {number | null}
 */
function latestRoundTrip(last) {
  const known = [last.publish, last.subscribe].map((r) => selectedPair(r)?.currentRoundTripTime)
    .concat(statsOf(last.publish, "remote-inbound-rtp").map((s) => s.roundTripTime))
    .filter((v) => typeof v === "number");
  return known.length ? Math.max(...known) : null;
}

/**
 * Interarrival jitter of the worse direction, from audio where there is audio: video packets
 * leave in bursts (a frame's packets share a timestamp), which inflates its RFC 3550 jitter
 * beyond what anyone hears, and published thresholds for jitter are about voice.
 * @param {Snapshot} last
 */
function jitterMs(last) {
  const pick = (/** @type {any[]} */ stats, /** @type {(s: any) => number | undefined} */ value) => {
    const audio = stats.filter((s) => s.kind === "audio").map(value).filter((v) => typeof v === "number");
    return audio.length ? audio : stats.map(value).filter((v) => typeof v === "number");
  };
  const down = pick(statsOf(last.subscribe, "inbound-rtp"), (s) => s.jitter === undefined ? undefined : s.jitter * 1000);
  const up = pick(nodePublished(last.node), (p) => p.jitter_ms);
  const all = [...down, ...up];
  return all.length ? Math.round(Math.max(...all) * 10) / 10 : null;
}

/**
 * @param {RTCStatsReport | null} report
 * @returns {any | null}  the selected candidate pair
 */
function selectedPair(report) {
  if (!report) return null;
  const transport = statsOf(report, "transport").find((t) => t.selectedCandidatePairId);
  if (transport) return report.get(transport.selectedCandidatePairId) ?? null;
  return statsOf(report, "candidate-pair").find((p) => p.nominated && p.state === "succeeded") ?? null;
}

/**
 * How the connection reaches the node: "udp" for a host, server- or peer-reflexive candidate,
 * "turn-<udp|tcp|tls>" for a relayed one.
 * @param {RTCStatsReport | null} report
 */
function selectedTransport(report) {
  const pair = selectedPair(report);
  const local = pair && report?.get(pair.localCandidateId);
  if (!local) return null;
  if (local.candidateType !== "relay") return "udp"; // the node's aiortc gathers UDP candidates only
  return `turn-${local.relayProtocol ?? "udp"}`;
}

// -- TURN transports -----------------------------------------------------------------------------

/**
 * One TURN URL per transport the node hands out (`turn:...?transport=udp|tcp`, `turns:` = TLS).
 * @param {RTCIceServer[]} iceServers
 * @returns {Array<{transport: string, server: RTCIceServer}>}
 */
export function turnServers(iceServers) {
  /** @type {Map<string, RTCIceServer>} */
  const found = new Map();
  for (const server of iceServers) {
    for (const url of Array.isArray(server.urls) ? server.urls : [server.urls]) {
      const transport = turnTransport(url);
      if (transport && !found.has(transport)) {
        found.set(transport, { urls: url, username: server.username, credential: server.credential });
      }
    }
  }
  return [...found].map(([transport, server]) => ({ transport, server }));
}

/** @param {string} url */
function turnTransport(url) {
  if (/^turns:/i.test(url)) return "turn-tls";
  if (!/^turn:/i.test(url)) return null;
  return /[?&]transport=tcp/i.test(url) ? "turn-tcp" : "turn-udp";
}

/**
 * Each TURN transport: does the server give us a relay address through it? Getting one proves
 * the path to the server, the credentials and the allocation; the loopback proves the rest.
 * @param {Array<{transport: string, server: RTCIceServer}>} relays
 * @param {number} timeoutMs
 * @returns {Promise<Record<string, boolean>>}
 */
async function probeRelays(relays, timeoutMs) {
  const results = await Promise.all(relays.map(async ({ transport, server }) =>
    [transport, await probeRelay(server, Math.max(500, timeoutMs))]));
  return Object.fromEntries(results);
}

/**
 * @param {RTCIceServer} server
 * @param {number} timeoutMs
 */
async function probeRelay(server, timeoutMs) {
  const pc = new RTCPeerConnection({ iceServers: [server], iceTransportPolicy: "relay" });
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  try {
    pc.createDataChannel("probe"); // something to gather candidates for
    const gathered = new Promise((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
      pc.onicecandidate = (e) => {
        if (!e.candidate) resolve(false); // gathering over without a relay candidate
        else if (e.candidate.type === "relay" || / typ relay /.test(e.candidate.candidate)) resolve(true);
      };
    });
    await pc.setLocalDescription(await pc.createOffer());
    return await gathered;
  } catch (error) {
    console.warn("TURN probe failed", server.urls, error);
    return false;
  } finally {
    clearTimeout(timer);
    pc.close();
  }
}

// -- helpers -------------------------------------------------------------------------------------

/** @param {MediaStream} stream */
function stopTracks(stream) {
  for (const track of stream.getTracks()) track.stop();
}

/** @param {AbortSignal | undefined} signal */
function abortIfAsked(signal) {
  if (signal?.aborted) throw signal.reason ?? new DOMException("pre-call check aborted", "AbortError");
}

/**
 * Wait `ms`; rejects at once when `signal` aborts.
 * @param {number} ms
 * @param {AbortSignal} [signal]
 * @returns {Promise<void>}
 */
function delay(ms, signal) {
  return new Promise((resolve, reject) => {
    abortIfAsked(signal);
    const onAbort = () => { clearTimeout(timer); reject(signal?.reason ?? new DOMException("aborted", "AbortError")); };
    const timer = setTimeout(() => { signal?.removeEventListener("abort", onAbort); resolve(); }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Move the progress bar from `from` to `to` over `ms` while a timed step runs. Returns the stop function.
 * @param {(p: Progress) => void} onProgress
 * @param {Progress["step"]} step
 * @param {number} from
 * @param {number} to
 * @param {number} ms
 */
function progressTicker(onProgress, step, from, to, ms) {
  const start = performance.now();
  const timer = setInterval(() => {
    const done = Math.min(1, (performance.now() - start) / ms);
    onProgress({ step, fraction: from + (to - from) * done });
  }, 250);
  return () => clearInterval(timer);
}
