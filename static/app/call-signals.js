// What the call view keeps and tells besides the media: the `call` signals relayed to the other
// members of the conversation (docs/media.md#ringing-and-call-signals), why the camera or the
// microphone could not start, and the call to rejoin after the page is reloaded.

import { forget, keep, readKept } from "./storage.js";

const KEPT_CALL = "rtserver.call";
/**
 * A reloaded page rejoins the call it was in if it left it less than this long ago. The node keeps
 * a dropped participant for `media_drop_timeout_s` (15 s by default) and a reload takes 1 to 5 s;
 * past a minute the person has moved on, and joining unasked would turn on the camera by surprise.
 */
export const REJOIN_WITHIN_MS = 60_000;

/**
 * Tell the conversation's other members (never stored). Best effort: a page that misses it still
 * has the conversation's invitation message.
 * @param {import("/static/rtclient.js").RtClient} client
 * @param {string} room
 * @param {"ringing" | "cancelled" | "declined" | "devices_refused"} signal
 * @param {"camera" | "microphone" | "both"} [devices]
 */
export function sendCallSignal(client, room, signal, devices) {
  return client.request("call", devices ? { room, signal, devices } : { room, signal })
    .catch((error) => console.warn("call signal not sent", signal, error));
}

/**
 * @typedef {object} DeviceTrouble
 * @property {"camera" | "microphone" | "both"} devices  which device(s) could not start
 * @property {"denied" | "missing" | "busy" | "failed"} reason
 * @property {boolean} audioPossible  joining with the microphone alone may work
 */

/** @param {string} name */
async function permission(name) {
  try {
    return (await navigator.permissions.query(/** @type {any} */ ({ name }))).state;
  } catch {
    return null; // not in this browser (Firefox has no "camera" permission name)
  }
}

/**
 * Why getUserMedia failed, and for which device. A refused request for both devices at once does
 * not say which one was refused: the Permissions API does, where the browser has it; asking again
 * would prompt the person who just said no, so it is not done.
 * @param {unknown} error  getUserMedia's
 * @param {boolean} video  the camera was asked for too
 * @returns {Promise<DeviceTrouble>}
 */
export async function diagnoseDevices(error, video) {
  const name = error instanceof Error || error instanceof DOMException ? error.name : "";
  const reason = name === "NotAllowedError" || name === "SecurityError" ? "denied"
    : name === "NotFoundError" || name === "OverconstrainedError" ? "missing"
    : name === "NotReadableError" || name === "AbortError" ? "busy" : "failed";
  if (!video) return { devices: "microphone", reason, audioPossible: false };
  const [camera, microphone] = await Promise.all([permission("camera"), permission("microphone")]);
  if (reason === "denied") {
    const cameraDenied = camera !== "granted";
    const microphoneDenied = microphone === "denied";
    const devices = cameraDenied && microphoneDenied ? "both" : cameraDenied ? "camera" : "microphone";
    return { devices, reason, audioPossible: !microphoneDenied };
  }
  // Missing or busy: the microphone alone may still be there (a laptop with its camera in use).
  return { devices: microphone === "denied" ? "both" : "camera", reason, audioPossible: microphone !== "denied" };
}

/**
 * Remember the call this tab is in, for a reload.
 * @param {{room: string, video: boolean}} call
 */
export function keepCall({ room, video }) {
  keep(KEPT_CALL, JSON.stringify({ room, video, at: Date.now() }));
}

/** The call went on until now (the page is going away): a reload within REJOIN_WITHIN_MS rejoins. */
export function touchKeptCall() {
  const kept = keptCall();
  if (kept) keepCall(kept);
}

export function forgetCall() {
  forget(KEPT_CALL);
}

/**
 * The call this tab was in when it was reloaded, if recent enough.
 * @param {string} [room]  only this conversation's
 * @returns {{room: string, video: boolean} | null}
 */
export function keptCall(room) {
  try {
    const kept = JSON.parse(readKept(KEPT_CALL) ?? "null");
    if (!kept || typeof kept.room !== "string" || typeof kept.at !== "number") return null;
    if (Date.now() - kept.at > REJOIN_WITHIN_MS || (room && kept.room !== room)) return null;
    return { room: kept.room, video: kept.video !== false };
  } catch {
    return null;
  }
}

/**
 * Up to two initials of a name, for the tile of a camera that is off ("Karim Benali" -> "KB").
 * @param {string} name
 */
export function initials(name) {
  const words = name.trim().split(/[\s\-_.@]+/u).filter(Boolean);
  const letters = words.length > 1 ? [words[0], words[words.length - 1]] : words.slice(0, 1);
  return letters.map((w) => [...w][0]?.toLocaleUpperCase() ?? "").join("") || "?";
}

/**
 * "4:05", "1:02:09": a call's duration.
 * @param {number} ms
 */
export function formatDuration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const two = (/** @type {number} */ n) => String(n).padStart(2, "0");
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}
