// What the node says its pages may trust besides their own origin (GET /client-config): the
// `allowed_origins` of its configuration. A page takes a token endpoint (`?token_endpoint=`) or a
// widget host (`?host=`) from its URL only when it is of one of those origins: anyone can send a
// link, and a page that fetched its token from any URL, or trusted any host page, would sign its
// visitor in as whoever that URL or page chose (docs/web-client.md).

import { errorText } from "./errors.js";

/** @typedef {{allowed_origins: string[], any_origin: boolean}} ClientConfig */

/** @type {Promise<ClientConfig> | null} */
let loaded = null;

/** @returns {Promise<ClientConfig>} */
export function clientConfig() {
  loaded ??= fetch("/client-config", { headers: { Accept: "application/json" } }).then(async (response) => {
    if (!response.ok) throw new Error(`/client-config answered HTTP ${response.status}`);
    return response.json();
  });
  return loaded;
}

/**
 * The origin of `url` (relative to this page) when the page may trust it, else null.
 * @param {string} url
 * @returns {Promise<string | null>}
 */
export async function trustedOrigin(url) {
  let origin;
  try {
    origin = new URL(url, location.href).origin;
  } catch {
    return null;
  }
  if (origin === location.origin) return origin;
  const config = await clientConfig();
  return config.any_origin || config.allowed_origins.includes(origin) ? origin : null;
}

/** A page parameter naming an origin the node does not allow: the page says so and goes no further. */
export class RefusedOrigin extends Error {
  /**
   * @param {string} parameter
   * @param {string} value
   */
  constructor(parameter, value) {
    super(`${parameter}=${value}`);
    this.name = "RefusedOrigin";
    this.parameter = parameter;
    this.value = value;
  }
}

/**
 * What a page shows when its main() failed: a refused parameter says which, anything else what
 * its error code means (./errors.js: never the server's English message).
 * @param {unknown} error
 * @param {(key: string, ...args: any[]) => string} t
 * @returns {string}
 */
export function failureText(error, t) {
  if (error instanceof RefusedOrigin) return t("refusedOrigin", error.parameter);
  return t("failed", errorText(error));
}
