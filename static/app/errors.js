// What a page says when a request fails, in the page's language. The server's `message` is
// English written for developers and logs ("invalid_message: a window's 'end' must follow its
// 'start'…"): it goes to the console, never on the page. The page says what the error code means
// (docs/protocol.md#errors, docs/workflow.md#error-codes), more precisely where the request
// tells it more: `conflict` on `callback_request` can only be too many open requests.
// Errors of the SDK itself (no reply in time, connection lost, client closed) carry a `reason`.

import { hasText, t } from "./i18n.js";

/**
 * @param {unknown} error  a ServerError (`code`), a ClientError (`reason`) or anything else
 * @param {string} [request]  the request's type, for a more precise text where there is one
 * @returns {string}
 */
export function errorText(error, request = "") {
  const failure = /** @type {{code?: string, reason?: string}} */ (error ?? {});
  const code = failure.code ?? failure.reason ?? "";
  console.warn(request || "request", error);
  for (const key of [`error_${request}_${code}`, `error_${code}`]) {
    if (code && hasText(key)) return t(key);
  }
  return t("error_unknown");
}

/**
 * Show `text` as the form's outcome; an error also marks `field` invalid and gives it the focus
 * (a screen reader hears the field and its message, tied by aria-describedby).
 * @param {HTMLElement} message  the form's status line
 * @param {string} text
 * @param {"ok" | "error"} kind
 * @param {HTMLElement | null} [field]
 */
export function showOutcome(message, text, kind, field = null) {
  message.textContent = text;
  message.dataset.kind = kind;
  const form = message.closest("form") ?? message.parentElement;
  for (const marked of form?.querySelectorAll("[aria-invalid]") ?? []) marked.removeAttribute("aria-invalid");
  if (field) {
    if (!message.id) message.id = `${field.id || "field"}-message`;
    field.setAttribute("aria-invalid", "true");
    field.setAttribute("aria-describedby", message.id);
    field.focus();
  }
}
