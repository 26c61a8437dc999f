// Web addresses in a message's text as links, built with DOM nodes (never parsed as markup).
// Only http: and https: addresses become links: a `javascript:` or `data:` one stays text, so a
// message cannot run code in the reader's page. Links open in a new tab with
// `rel="noopener noreferrer"`: the site opened gets no handle on this page (window.opener) and
// no Referer naming it.

import { el } from "./dom.js";

const ADDRESS = /\bhttps?:\/\/[^\s<>"]+/gi;
// Punctuation that ends a sentence rather than the address ("voir https://x.fr/a.").
const TRAILING = /[.,;:!?'"»)\]]+$/;

/**
 * @param {string} text
 * @returns {Array<string | HTMLElement>}  text and links, in order
 */
export function textWithLinks(text) {
  /** @type {Array<string | HTMLElement>} */
  const parts = [];
  let done = 0;
  for (const match of text.matchAll(ADDRESS)) {
    let address = match[0];
    const trailing = address.match(TRAILING)?.[0] ?? "";
    // A closing parenthesis belongs to an address that opened one (Wikipedia's "Lyon_(ville)").
    const keep = trailing.startsWith(")") && address.includes("(") ? 1 : 0;
    address = address.slice(0, address.length - trailing.length + keep);
    const href = safeHref(address);
    if (!href) continue;
    const at = /** @type {number} */ (match.index);
    parts.push(text.slice(done, at),
      el("a", { href, rel: "noopener noreferrer", target: "_blank" }, address));
    done = at + address.length;
  }
  parts.push(text.slice(done));
  return parts.filter((part) => part !== "");
}

/**
 * @param {string} address
 * @returns {string | null}  the URL to link to, when it is http(s)
 */
export function safeHref(address) {
  try {
    const url = new URL(address);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}
