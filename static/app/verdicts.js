// The latest pre-call verdict of each jobseeker of the portfolio. The portfolio rows carry it
// when the server includes it (`precall`); nothing else is asked for until the node offers it.

/**
 * @param {import("/static/rtclient.js").RtClient} client
 * @param {Array<Record<string, any>>} rows  the portfolio rows
 * @returns {Promise<Map<string, Record<string, any>>>}
 */
export async function loadVerdicts(client, rows) {
  /** @type {Map<string, Record<string, any>>} */
  const out = new Map();
  for (const row of rows) if (row.precall) out.set(row.jobseeker, row.precall);
  return out;
}
