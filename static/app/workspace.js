// The console's layout and keyboard. On a desktop the portfolio, the conversation and the
// "to do" column (callback queue, today's appointments) sit side by side, each scrolling on its
// own, so the queue never scrolls away behind 150 rows. On a phone (under 48rem) one of them
// shows at a time, chosen with the view buttons at the top; opening a conversation shows it.
//
// Shortcuts (listed on the page, docs/web-client.md), ignored while typing in a field:
//   /      search the portfolio        j / k  next / previous jobseeker
//   Enter  open the focused jobseeker  Escape (in the search) back to the list
//   g      the callback queue

/** @typedef {"portfolio" | "pane" | "todo"} View */

export class Workspace {
  /**
   * @param {object} options
   * @param {HTMLElement} options.main  carries data-view
   * @param {HTMLElement} options.views  the view buttons (data-view each)
   * @param {import("./portfolio-view.js").PortfolioView} options.portfolio
   * @param {HTMLElement} options.queue
   */
  constructor({ main, views, portfolio, queue }) {
    this.main = main;
    this.views = views;
    this.portfolio = portfolio;
    this.queue = queue;
    for (const button of views.querySelectorAll("button[data-view]")) {
      button.addEventListener("click", () => this.show(/** @type {View} */ (/** @type {HTMLElement} */ (button).dataset.view)));
    }
    this.show("portfolio");
    document.addEventListener("keydown", (event) => this._keys(event));
  }

  /** @param {View} view */
  show(view) {
    this.main.dataset.view = view;
    for (const button of this.views.querySelectorAll("button[data-view]")) {
      button.setAttribute("aria-pressed", String(/** @type {HTMLElement} */ (button).dataset.view === view));
    }
  }

  /**
   * The count shown on the "to do" view button (phones).
   * @param {number} count
   */
  todo(count) {
    const badge = this.views.querySelector("[data-view=todo] .badge");
    if (!badge) return;
    badge.textContent = String(count);
    /** @type {HTMLElement} */ (badge).hidden = count === 0;
  }

  /** @param {KeyboardEvent} event */
  _keys(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = /** @type {HTMLElement} */ (event.target);
    const search = this.portfolio.search;
    if (target === search && event.key === "Escape") {
      event.preventDefault();
      this.portfolio.focusRow(0);
      return;
    }
    if (target.closest("input, textarea, select, [contenteditable]") || target.closest("dialog")) return;
    if (event.key === "/" && search) {
      event.preventDefault();
      this.show("portfolio");
      search.focus();
      search.select();
    } else if (event.key === "j" || event.key === "k") {
      event.preventDefault();
      this.show("portfolio");
      this.portfolio.move(event.key === "j" ? 1 : -1);
    } else if (event.key === "g") {
      event.preventDefault();
      this.show("todo");
      this.queue.focus();
    }
  }
}
