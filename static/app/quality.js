// Connection quality from statistics, as one of "good", "fair", "poor" (or "unknown" before
// there is anything to judge). Pure functions: each takes the previous sample so that loss is
// measured over the last interval, not since the start of the call.
//
// Thresholds are those usual for conversational video: under 2 % loss and 300 ms round trip
// a call is comfortable; past 8 % or 600 ms speech breaks up and audio only is the better choice.

/** @typedef {"good" | "fair" | "poor" | "unknown"} Level */
/** @typedef {{level: Level, loss: number | null, rttMs: number | null, totals: {lost: number, expected: number}}} Quality */

const FAIR_LOSS = 0.02;
const POOR_LOSS = 0.08;
const FAIR_RTT_MS = 300;
const POOR_RTT_MS = 600;

/**
 * @param {number | null} loss  fraction 0..1
 * @param {number | null} rttMs
 * @param {boolean} connected
 * @returns {Level}
 */
export function levelOf(loss, rttMs, connected) {
  if (!connected) return "poor";
  if (loss === null && rttMs === null) return "unknown";
  if ((loss ?? 0) >= POOR_LOSS || (rttMs ?? 0) >= POOR_RTT_MS) return "poor";
  if ((loss ?? 0) >= FAIR_LOSS || (rttMs ?? 0) >= FAIR_RTT_MS) return "fair";
  return "good";
}

/**
 * @param {{lost: number, expected: number}} totals
 * @param {Quality | null} previous
 */
function intervalLoss(totals, previous) {
  const expected = totals.expected - (previous?.totals.expected ?? 0);
  const lost = totals.lost - (previous?.totals.lost ?? 0);
  return expected > 0 ? Math.max(0, Math.min(1, lost / expected)) : null;
}

/**
 * A participant's quality as the node sees it (`media_stats`, given to advisors): loss on what
 * the node receives from them (audio: video loss is hidden by retransmissions) and the round trip.
 * @param {Record<string, any>} entry  one element of media_stats `participants`
 * @param {Quality | null} previous
 * @returns {Quality}
 */
export function fromMediaStats(entry, previous) {
  const totals = { lost: 0, expected: 0 };
  for (const track of entry.published ?? []) {
    if (track.kind !== "audio" || track.packets_expected === undefined) continue;
    totals.lost += track.packets_lost ?? 0;
    totals.expected += track.packets_expected;
  }
  const loss = intervalLoss(totals, previous);
  const rttMs = typeof entry.rtt_ms === "number" ? entry.rtt_ms : null;
  const connected = entry.connected !== false && entry.publish_state === "connected";
  return { level: levelOf(loss, rttMs, connected), loss, rttMs, totals };
}

/**
 * The page's own view of its connection, from the browser's statistics: what it receives
 * (audio loss on the subscribe connection) and the round trip of the publish connection.
 * @param {{publish: RTCStatsReport | null, subscribe: RTCStatsReport | null}} reports
 * @param {Quality | null} previous
 * @param {boolean} connected
 * @returns {Quality}
 */
export function fromBrowserStats(reports, previous, connected) {
  const totals = { lost: 0, expected: 0 };
  reports.subscribe?.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      totals.lost += Math.max(0, s.packetsLost ?? 0);
      totals.expected += (s.packetsReceived ?? 0) + Math.max(0, s.packetsLost ?? 0);
    }
  });
  /** @type {number | null} */
  let rttMs = null;
  reports.publish?.forEach((s) => {
    if (s.type === "candidate-pair" && s.nominated && typeof s.currentRoundTripTime === "number") {
      rttMs = Math.round(s.currentRoundTripTime * 1000);
    }
  });
  const loss = intervalLoss(totals, previous);
  return { level: levelOf(loss, rttMs, connected), loss, rttMs, totals };
}

// -- both directions ------------------------------------------------------------------------------
//
// What a person receives is judged from the page's own `media_report` (frames decoded per second,
// time frozen, audio loss); how the other side receives is the node's `media_link` (the other's
// `receive`, and this page's own `send`: what its uplink delivers). Video under 15 frames per
// second looks jerky, under 8 it no longer shows lips or expressions (a jobseeker decoding 1-7 fps
// had read "good"); a picture frozen a tenth of the time is noticed, a third of the time it is
// useless. Video loss alone is not judged: retransmissions hide it, and the frame rate shows
// what they could not.

export const FAIR_FPS = 15;
export const POOR_FPS = 8;
export const FAIR_FROZEN = 0.1;
export const POOR_FROZEN = 0.3;

const RANK = { unknown: 0, good: 1, fair: 2, poor: 3 };

/**
 * The worse of some levels ("unknown" counts only when nothing is known).
 * @param {...(Level | null | undefined)} levels
 * @returns {Level}
 */
export function worst(...levels) {
  /** @type {Level} */
  let out = "unknown";
  for (const level of levels) if (level && RANK[level] > RANK[out]) out = level;
  return out;
}

/**
 * How this page receives `from`, from its own report (`Interview.lastReport`).
 * @param {{receive: Array<Record<string, any>>, window_ms: number} | null} report
 * @param {string} from
 * @returns {{level: Level, fps: number | null, frozen: number | null, loss: number | null}}
 */
export function fromReport(report, from) {
  const entries = (report?.receive ?? []).filter((e) => e.user === from);
  const video = entries.find((e) => e.kind === "video");
  const audio = entries.find((e) => e.kind === "audio");
  /** @type {Level} */
  let videoLevel = "unknown";
  const fps = typeof video?.fps === "number" ? video.fps : null;
  const frozen = video && report?.window_ms ? (video.frozen_ms ?? 0) / report.window_ms : null;
  if (fps !== null) {
    if (fps < POOR_FPS || (frozen ?? 0) >= POOR_FROZEN) videoLevel = "poor";
    else if (fps < FAIR_FPS || (frozen ?? 0) >= FAIR_FROZEN) videoLevel = "fair";
    else videoLevel = "good";
  }
  const loss = typeof audio?.loss === "number" ? audio.loss : null;
  const audioLevel = loss === null ? "unknown" : levelOf(loss, null, true);
  return { level: worst(videoLevel, audioLevel), fps, frozen, loss };
}

/**
 * @typedef {object} Direction  One direction of the call, as the person sees it.
 * @property {Level} level
 * @property {boolean} paused  video does not flow in this direction because a link cannot carry it
 * @property {"your_link" | "your_upload" | "their_link" | "their_upload" | null} cause
 */
/**
 * @typedef {object} LinkQuality
 * @property {Level} level  the worse direction
 * @property {Direction} toMe  what the other sends and this person receives
 * @property {Direction} fromMe  what this person sends and the other receives
 * @property {string | null} problem  what to tell, as `<direction>_<bad|paused>_<cause>`
 *   (`from_me_bad_their_link`: the other receives your video badly...), null when all is well
 */

/** @param {Record<string, any> | undefined} side */
const pausedBy = (side) => side?.video === false && side.reason !== "by_choice";
/** @param {Record<string, any> | undefined} side */
const levelIn = (side) => /** @type {Level | undefined} */ (side?.level in RANK ? side?.level : undefined);

/**
 * Both directions of a two-person call. `local`: how this page receives the other (`fromReport`);
 * `links`: the latest `media_link` entries by user (empty before the node sent any).
 * @param {{me: string, other: string, local: Level, links: Map<string, Record<string, any>>}} input
 * @returns {LinkQuality}
 */
export function linkQuality({ me, other, local, links }) {
  const mine = links.get(me);
  const theirs = links.get(other);
  /**
   * @param {Record<string, any> | undefined} near  this end of the direction (its link)
   * @param {Record<string, any> | undefined} far  the sending end (its uplink)
   * @param {Level} measured
   * @param {"your" | "their"} nearIs
   * @returns {Direction}
   */
  const direction = (near, far, measured, nearIs) => {
    const farPaused = pausedBy(far);
    const nearPaused = pausedBy(near);
    const paused = farPaused || nearPaused;
    // While video is paused the sound goes on: at least "fair", so the person is told.
    const level = worst(measured, levelIn(near), levelIn(far), paused ? "fair" : null);
    const farCause = nearIs === "your" ? "their_upload" : "your_upload";
    const nearCause = nearIs === "your" ? "your_link" : "their_link";
    /** @type {Direction["cause"]} */
    let cause = null;
    if (paused) cause = farPaused ? farCause : nearCause;
    else if (RANK[level] >= RANK.fair) {
      // The sender's uplink when it is at least as bad as the whole direction, else the receiver's link.
      cause = RANK[levelIn(far) ?? "unknown"] >= RANK[level] ? farCause : nearCause;
    }
    return { level, paused, cause };
  };
  const toMe = direction(mine?.receive, theirs?.send, local, "your");
  const fromMe = direction(theirs?.receive, mine?.send, "unknown", "their");
  const level = worst(toMe.level, fromMe.level);
  /** @type {string | null} */
  let problem = null;
  // The more serious direction; on a tie, what the other person lives through first (they may
  // not say so), then this person's own.
  const toMeFirst = RANK[toMe.level] > RANK[fromMe.level]
    || (RANK[toMe.level] === RANK[fromMe.level] && toMe.paused && !fromMe.paused);
  const pick = toMeFirst ? ["to_me", toMe] : ["from_me", fromMe];
  const [name, chosen] = /** @type {[string, Direction]} */ (pick);
  if (chosen.cause) problem = `${name}_${chosen.paused ? "paused" : "bad"}_${chosen.cause}`;
  return { level, toMe, fromMe, problem };
}
