// Pre-call verdicts (docs/precall.md): their names, their words, and the latest one of each
// jobseeker of the portfolio, kept current by the node's live `precall` events.

import { t } from "./i18n.js";

/** The node's verdicts, best first. */
export const VERDICTS = /** @type {const} */ (["ready", "ready-with-warnings", "not-ready"]);

/**
 * The verdict in words: the known ones translated, any other shown as the node wrote it.
 * @param {string | null | undefined} verdict
 */
export function verdictText(verdict) {
  if (!verdict) return t("verdictNone");
  const key = `verdict_${verdict}`;
  const text = t(key);
  return text === key ? verdict : text;
}

/** What the interview can be from where the jobseeker is, best first (docs/precall-verdict.md). */
export const MODES = /** @type {const} */ (["video", "audio", "none"]);

/**
 * A result's mode: its own, or, for a result stored before modes, what its verdict and video meant
 * then (the node adds it when it reads one back; this covers a result held from before).
 * @param {Record<string, any> | null | undefined} result
 * @returns {"video" | "audio" | "none" | null}  null: no check
 */
export function modeOf(result) {
  if (!result) return null;
  if (MODES.includes(result.mode)) return result.mode;
  if (!result.video || result.video === "none") return "none";
  if (result.video === "audio-only" || result.verdict === "not-ready") return "audio";
  return "video";
}

/**
 * The predicted mode in words, with the picture's size for video ("with video (480p)").
 * @param {Record<string, any> | null | undefined} result
 */
export function modeText(result) {
  const mode = modeOf(result);
  if (!mode) return t("verdictNone");
  const tier = mode === "video" && /^\d+p$/.test(result?.video ?? "") ? result?.video : null;
  return tier ? t("modeVideoTier", tier) : t(`mode_${mode}`);
}

/**
 * @param {import("/static/rtclient.js").RtClient} client
 * @param {Array<Record<string, any>>} rows  the portfolio rows (each carries `precall`: the latest result or null)
 * @returns {Promise<Map<string, Record<string, any>>>}
 */
export async function loadVerdicts(client, rows) {
  /** @type {Map<string, Record<string, any>>} */
  const out = new Map();
  for (const row of rows) if (row.precall) out.set(row.jobseeker, row.precall);
  return out;
}

/**
 * Call `listener(user, result)` for every check a jobseeker of this advisor stores (the node
 * sends `precall` in the follow-up conversation, which the console has joined).
 * @param {import("/static/rtclient.js").RtClient} client
 * @param {(user: string, result: Record<string, any>) => void} listener
 * @returns {() => void} unsubscribe
 */
export function onVerdict(client, listener) {
  return client.on("precall", (event) => {
    if (event.user && event.result) listener(event.user, event.result);
  });
}
