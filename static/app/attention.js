// What in a portfolio needs the advisor's attention, as pure functions (run under Node by the
// unit tests): the search, the filters and the "needs attention first" order of the console's
// list. The console gathers the facts of each row (unread messages from people, the queue, the
// appointments, the pre-call check, presence); nothing here reads the page.

/** An appointment starting within this is "upcoming" (the filter, the order). */
export const UPCOMING_MS = 24 * 3600 * 1000;

/**
 * @typedef {object} Facts
 * @property {string} name
 * @property {number} unread  messages from people not read yet (system notices left out)
 * @property {boolean} waiting  the jobseeker said he waits in the interview, unread
 * @property {number} openCallbacks  open or claimed requests
 * @property {boolean} lateCallback
 * @property {number | null} nextAppointment  start (ms) of the next scheduled appointment, or null
 * @property {string | null} verdict  the latest pre-call verdict
 * @property {string} status  online, away, offline
 * @property {number | null} lastTs
 */

export const FILTERS = ["all", "unread", "callbacks", "appointments", "notready", "online"];
export const SORTS = ["attention", "name", "recent"];

/**
 * Lower case without accents or extra spaces: "Hélène  Dupré" matches "helene dup".
 * @param {string} text
 */
export function fold(text) {
  return text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase().replace(/\s+/g, " ").trim();
}

/**
 * @param {Facts} facts
 * @param {string} query  already folded (fold)
 * @param {string} filter  one of FILTERS
 * @param {number} now
 */
export function matches(facts, query, filter, now) {
  if (query) {
    // Every word typed, in any order, within the name: "tho lef" finds "Thomas Lefèvre".
    const name = fold(facts.name);
    if (!query.split(" ").every((word) => name.includes(word))) return false;
  }
  switch (filter) {
    case "unread": return facts.unread > 0 || facts.waiting;
    case "callbacks": return facts.openCallbacks > 0;
    case "appointments": return facts.nextAppointment !== null && facts.nextAppointment - now < UPCOMING_MS;
    case "notready": return facts.verdict === "not-ready";
    case "online": return facts.status === "online";
    default: return true;
  }
}

/**
 * How urgent a row is, smaller first: waiting in the interview, a late callback, unread
 * messages, an appointment within the hour, an open callback, an appointment within a day,
 * a check not ready, then the rest.
 * @param {Facts} facts
 * @param {number} now
 */
export function rank(facts, now) {
  const soon = facts.nextAppointment !== null ? facts.nextAppointment - now : Infinity;
  if (facts.waiting) return 0;
  if (facts.lateCallback) return 1;
  if (facts.unread > 0) return 2;
  if (soon < 3600 * 1000) return 3;
  if (facts.openCallbacks > 0) return 4;
  if (soon < UPCOMING_MS) return 5;
  if (facts.verdict === "not-ready") return 6;
  return 7;
}

/**
 * @template {{facts: Facts}} T
 * @param {T[]} rows
 * @param {string} sort  one of SORTS
 * @param {number} now
 * @param {string} [locale]
 * @returns {T[]}
 */
export function order(rows, sort, now, locale) {
  const byName = (/** @type {T} */ a, /** @type {T} */ b) => a.facts.name.localeCompare(b.facts.name, locale);
  const recent = (/** @type {T} */ a, /** @type {T} */ b) => (b.facts.lastTs ?? 0) - (a.facts.lastTs ?? 0);
  const sorted = [...rows];
  if (sort === "name") return sorted.sort(byName);
  if (sort === "recent") return sorted.sort((a, b) => recent(a, b) || byName(a, b));
  // Within one level of urgency the latest contact first (the conversation going on), then
  // names, so that rows do not swap places between two renders.
  return sorted.sort((a, b) => rank(a.facts, now) - rank(b.facts, now) || recent(a, b) || byName(a, b));
}
