// "Write to several": one message to every jobseeker the portfolio shows now (its search and
// filter), or to those of them the advisor keeps ticked. A modal dialog (Escape closes it, the
// focus comes back to its button); the messages go out one per conversation (bulk-send.js),
// with the progress said as they go.

import { sendToMany } from "./bulk-send.js";
import { el } from "./dom.js";
import { t } from "./i18n.js";

export class BulkMessage {
  /**
   * @param {object} options
   * @param {import("/static/rtclient.js").RtClient} options.client
   * @param {HTMLButtonElement} options.opener
   * @param {() => Array<{jobseeker: string, name: string, room: string}>} options.recipients  the rows shown
   */
  constructor({ client, opener, recipients }) {
    this.client = client;
    this.opener = opener;
    this.recipients = recipients;
    this.text = /** @type {HTMLTextAreaElement} */ (el("textarea", { id: "bulk-text", rows: "4", required: true }));
    this.list = el("ul", { class: "bulk-recipients" });
    this.status = el("p", { class: "form-message", role: "status", id: "bulk-status" });
    this.send = /** @type {HTMLButtonElement} */ (el("button", { type: "submit", class: "primary" }, t("bulkSend")));
    this.all = /** @type {HTMLInputElement} */ (el("input", { type: "checkbox", id: "bulk-all", checked: true }));
    this.all.addEventListener("change", () => {
      for (const box of this._boxes()) box.checked = this.all.checked;
      this._count();
    });
    const form = el("form", { method: "dialog", novalidate: true },
      el("h2", { id: "bulk-title" }, t("bulkTitle")),
      el("p", { class: "field" }, el("label", { for: "bulk-text" }, t("yourMessage")), this.text),
      el("fieldset", {}, el("legend", { id: "bulk-legend" }, t("bulkRecipients")),
        el("p", { class: "choice" }, this.all, " ", el("label", { for: "bulk-all" }, t("bulkAll"))),
        this.list),
      el("div", { class: "field-row" }, this.send,
        el("button", { type: "button", onclick: () => this.dialog.close() }, t("close"))),
      this.status);
    form.addEventListener("submit", (event) => { event.preventDefault(); this.submit(); });
    this.dialog = /** @type {HTMLDialogElement} */ (el("dialog", { class: "bulk", "aria-labelledby": "bulk-title" }, form));
    this.dialog.addEventListener("close", () => opener.focus());
    document.body.append(this.dialog);
    opener.addEventListener("click", () => this.open());
  }

  /** @returns {HTMLInputElement[]} */
  _boxes() {
    return /** @type {HTMLInputElement[]} */ ([...this.list.querySelectorAll("input[type=checkbox]")]);
  }

  _count() {
    const chosen = this._boxes().filter((b) => b.checked).length;
    this.send.textContent = t("bulkSendTo", chosen);
    this.send.disabled = chosen === 0;
  }

  open() {
    const rows = this.recipients();
    this.list.replaceChildren(...rows.map((r, i) => el("li", {},
      el("input", { type: "checkbox", id: `bulk-${i}`, value: r.room, checked: true, onchange: () => this._count() }), " ",
      el("label", { for: `bulk-${i}` }, r.name))));
    this.all.checked = true;
    this.status.textContent = "";
    this._count();
    this.dialog.showModal();
    this.text.focus();
  }

  async submit() {
    const text = this.text.value.trim();
    if (!text) {
      this.status.textContent = t("bulkEmpty");
      this.status.dataset.kind = "error";
      this.text.focus();
      return;
    }
    const rooms = this._boxes().filter((b) => b.checked).map((b) => b.value);
    this.send.disabled = true;
    const total = rooms.length;
    const result = await sendToMany(this.client, rooms, text, { limits: this.client.hello?.limits ?? {},
      onProgress: (done, failed) => { this.status.textContent = t("bulkProgress", done + failed, total); } });
    this.status.dataset.kind = result.failed.length ? "error" : "ok";
    this.status.textContent = result.failed.length ? t("bulkFailed", result.sent.length, result.failed.length)
      : t("bulkDone", result.sent.length);
    if (!result.failed.length) this.text.value = "";
    this.send.disabled = false;
  }
}
