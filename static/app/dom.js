// Small DOM helpers shared by the views: build elements without innerHTML (texts from users are
// always set as text, never parsed as markup).

/**
 * `el("button", {type: "button", class: "primary", onclick}, "Envoyer")`. Attributes whose value
 * is a function become listeners (`on...`), `false`/`null`/`undefined` are left out.
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (typeof value === "function") node.addEventListener(name.replace(/^on/, ""), value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

/**
 * The element with this id (throws when the page lacks it: a broken page should say so at once).
 * @param {string} id
 * @returns {HTMLElement}
 */
export function byId(id) {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found;
}

/**
 * Say `text` to screen-reader users through a live region (polite unless `assertive`).
 * @param {string} text
 * @param {{assertive?: boolean}} [options]
 */
export function announce(text, { assertive = false } = {}) {
  const region = document.getElementById(assertive ? "announce-assertive" : "announce-polite");
  if (!region) return;
  // Clearing first makes the same sentence said twice be announced twice.
  region.textContent = "";
  requestAnimationFrame(() => { region.textContent = text; });
}
