// The tab's storage (sessionStorage), or memory when the browser refuses it.
//
// A browser that blocks third-party cookies (Chrome in incognito, Safari, anyone who chose to)
// also refuses storage to a frame of another site than the top page: reading
// `window.sessionStorage` in the widget's frame on a portal throws a SecurityError. Storage can
// also fail on writing (quota exceeded, private modes). Every page reads and writes through
// here, never `sessionStorage` itself: what was kept then lasts as long as the page instead of
// the tab, and the page still starts.

/** @type {Map<string, string>} */
const memory = new Map();

/** @returns {Storage | null} the tab's sessionStorage when the browser lets this page use it */
function tabStorage() {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

/**
 * @param {string} key
 * @returns {string | null}
 */
export function readKept(key) {
  if (memory.has(key)) return memory.get(key) ?? null;
  try {
    return tabStorage()?.getItem(key) ?? null;
  } catch {
    return null;
  }
}

/**
 * Keep `value` under `key` for the tab (for the page when storage is refused).
 * @param {string} key
 * @param {string} value
 */
export function keep(key, value) {
  try {
    const storage = tabStorage();
    if (storage) {
      storage.setItem(key, value);
      memory.delete(key);
      return;
    }
  } catch {
    // refused or full: kept in memory below
  }
  memory.set(key, value);
}

/** @param {string} key */
export function forget(key) {
  memory.delete(key);
  try {
    tabStorage()?.removeItem(key);
  } catch {
    // nothing was kept there
  }
}
