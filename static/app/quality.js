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
