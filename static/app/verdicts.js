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
