// Where a page gets its tokens. Never from the URL: URLs end up in histories, logs and Referer
// headers. Three sources, tried in this order:
//
// 1. Embedded (`?embed=1&host=ORIGIN`, set by widget.js): the host page fetches tokens from the
//    portal's token endpoint and hands them over by postMessage (see ./embed.js).
// 2. A token endpoint (`?token_endpoint=URL`): the page fetches a token from it before every
//    connection, with the user's cookies (the portal's own sign-in).
//
// The host and the token endpoint must be of this page's origin or of the node's
// `allowed_origins` (./client-config.js): otherwise tokenSource rejects with RefusedOrigin and
// the page says so, rather than sign its visitor in with whatever token a stranger's link chose.
// 3. sessionStorage (`rtserver.session`): put there by the demo sign-in page (demo.html) or by a
//    portal page of the same origin. It lasts as long as the tab (as long as the page where the
//    browser refuses storage: ./storage.js).

import { RefusedOrigin, trustedOrigin } from "./client-config.js";
import { hostReady, requestTokenFromHost } from "./embed.js";
import { forget, keep, readKept } from "./storage.js";

export const SESSION_KEY = "rtserver.session";
/** Fetch a new demo token this long before the stored one expires. */
const RENEW_BEFORE_MS = 5 * 60 * 1000;

/**
 * @typedef {object} StoredSession
 * @property {string} token
 * @property {string} user
 * @property {string} name
 * @property {"advisor" | "jobseeker"} role
 * @property {number} expires_at  ms since the epoch
 * @property {boolean} [demo]  a demo token: renewed from /api/demo/token
 */

/** @returns {StoredSession | null} */
export function storedSession() {
  try {
    const raw = readKept(SESSION_KEY);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

/** @param {StoredSession} session */
export function storeSession(session) {
  keep(SESSION_KEY, JSON.stringify(session));
}

export function forgetSession() {
  forget(SESSION_KEY);
}

/**
 * A demo token for `user` from the node (demo mode only), kept in sessionStorage.
 * @param {string} user
 * @returns {Promise<StoredSession>}
 */
export async function demoSignIn(user) {
  const response = await fetch("/api/demo/token", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ user }),
  });
  const body = await response.json();
  // The code says what went wrong (./errors.js); the English message is for the console.
  if (!response.ok) {
    throw Object.assign(new Error(body?.error?.message ?? `HTTP ${response.status}`), { code: body?.error?.code });
  }
  /** @type {StoredSession} */
  const session = { token: body.token, user: body.user, name: body.name, role: body.role,
    expires_at: Date.now() + body.expires_in_s * 1000, demo: true };
  storeSession(session);
  return session;
}

/**
 * @param {string} url
 * @returns {Promise<string>}
 */
async function fetchToken(url) {
  const response = await fetch(url, { credentials: "include", headers: { Accept: "application/json, text/plain" } });
  if (!response.ok) throw new Error(`token endpoint answered HTTP ${response.status}`);
  const text = (await response.text()).trim();
  if (text.startsWith("{")) return JSON.parse(text).token;
  return text;
}

/** @returns {boolean} */
export function isEmbedded() {
  return new URLSearchParams(location.search).get("embed") === "1" && window.parent !== window;
}

/**
 * The token callback for RtClient, or null when the page has no way to get one (not signed in).
 * Rejects with RefusedOrigin when the URL names a host or token endpoint the node does not allow.
 * @returns {Promise<(() => Promise<string>) | null>}
 */
export async function tokenSource() {
  const query = new URLSearchParams(location.search);
  if (isEmbedded()) {
    await hostReady();
    return requestTokenFromHost;
  }
  const endpoint = query.get("token_endpoint");
  if (endpoint) {
    if (await trustedOrigin(endpoint) === null) throw new RefusedOrigin("token_endpoint", endpoint);
    return () => fetchToken(endpoint);
  }
  const stored = storedSession();
  if (!stored) return null;
  return async () => {
    const current = storedSession() ?? stored;
    if (current.demo && current.expires_at - Date.now() < RENEW_BEFORE_MS) {
      return (await demoSignIn(current.user)).token;
    }
    return current.token;
  };
}
