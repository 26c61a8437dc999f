// The page's side of the postMessage API when it runs in the widget's iframe (docs/web-client.md).
//
// The iframe URL carries `embed=1` and `host=ORIGIN` (the host page's origin, set by widget.js).
// That origin is trusted only when the node lists it in `allowed_origins` (hostReady); messages
// are then only posted to it and only accepted from it, so another site framing the page learns
// nothing and cannot feed it a token (which would sign the visitor in as the site's choice). Every message is an object with
// `source: "rtserver"` and a `type`.
//
// page -> host: `ready`, `token_request` {id}, `unread` {count}, `call_started` {room},
//               `call_ended` {room, reason}, `connection` {state}
// host -> page: `token` {id, token} (or {id, error}), `visibility` {visible}: whether the widget
//               shows the page (a collapsed widget does not mark messages read)

import { RefusedOrigin, trustedOrigin } from "./client-config.js";

const SOURCE = "rtserver";
const TOKEN_TIMEOUT_MS = 15000;

const hostParameter = new URLSearchParams(location.search).get("host") ?? "";
/** The host page's origin once the node confirmed it may be trusted (see hostReady). */
let hostOrigin = "";
let nextId = 1;

/**
 * Check the `host` parameter against the node's allowed origins (./client-config.js) before
 * trusting it: until then, and for ever if refused, nothing is posted to it or taken from it.
 * Rejects with RefusedOrigin when the host is not allowed.
 * @returns {Promise<string>}
 */
export async function hostReady() {
  if (!hostParameter) return "";
  const origin = await trustedOrigin(hostParameter);
  // A host origin is exactly an origin: "https://portal.example/path" is not accepted as one.
  if (origin === null || origin !== hostParameter.replace(/\/$/, "")) throw new RefusedOrigin("host", hostParameter);
  hostOrigin = origin;
  return origin;
}

if (hostParameter && window.parent !== window) {
  // Hidden until the host says it shows the page: a collapsed widget must not mark messages read.
  document.body.dataset.hostHidden = "true";
  window.addEventListener("message", (event) => {
    const data = event.data;
    if (!hostOrigin || event.origin !== hostOrigin || data?.source !== SOURCE || data.type !== "visibility") return;
    document.body.dataset.hostHidden = String(!data.visible);
    document.dispatchEvent(new Event("visibilitychange")); // views re-check what the user can see
  });
}

/** Whether the user can see the page: the tab is visible and, in the widget, the panel is open. */
export function pageVisible() {
  return document.visibilityState === "visible" && document.body.dataset.hostHidden !== "true";
}

/**
 * Tell the host page something (no-op outside the widget).
 * @param {string} type
 * @param {Record<string, unknown>} [fields]
 */
export function notifyHost(type, fields = {}) {
  if (window.parent === window || !hostOrigin) return;
  window.parent.postMessage({ source: SOURCE, type, ...fields }, hostOrigin);
}

/**
 * Ask the host page for a fresh token (it fetches one from the portal's token endpoint).
 * @returns {Promise<string>}
 */
export function requestTokenFromHost() {
  if (!hostOrigin) return Promise.reject(new Error("embedded without a trusted host origin"));
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { done(); reject(new Error("the host page gave no token in time")); },
      TOKEN_TIMEOUT_MS);
    /** @param {MessageEvent} event */
    const onMessage = (event) => {
      const data = event.data;
      if (event.origin !== hostOrigin || data?.source !== SOURCE || data.type !== "token" || data.id !== id) return;
      done();
      if (typeof data.token === "string" && data.token) resolve(data.token);
      else reject(new Error(data.error || "the host page could not get a token"));
    };
    const done = () => { clearTimeout(timer); window.removeEventListener("message", onMessage); };
    window.addEventListener("message", onMessage);
    notifyHost("token_request", { id });
  });
}
