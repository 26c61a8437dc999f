// The banner that says when the connection drops and when it is back (a live region, so screen
// readers announce both). The SDK reconnects and resumes by itself; the banner only tells.

import { t } from "./i18n.js";
import { announce } from "./dom.js";

/**
 * Call `listener(reconnected)` after each successful connection: false for the first, true for
 * every reconnection. rtclient.js emits its `connected` and `reconnected` events as
 * `{type, ...hello}`, whose spread hello overwrites `type` with "hello"; listening to all three
 * names and counting reconnections works with that and with a corrected SDK alike.
 * @param {import("/static/rtclient.js").RtClient} client
 * @param {(reconnected: boolean) => void} listener
 */
export function onEachConnection(client, listener) {
  let seen = -1;
  const handle = () => {
    if (client.reconnects === seen) return; // the same connection told twice
    seen = client.reconnects;
    listener(seen > 0);
  };
  client.on("connected", handle);
  client.on("reconnected", handle);
  client.on("hello", handle);
}

/** How long "connection restored" stays shown. */
const BACK_SHOWN_MS = 4000;

/**
 * @param {import("/static/rtclient.js").RtClient} client
 * @param {HTMLElement} banner  an element with role="status" (assertive: a drop matters now)
 * @param {(state: string) => void} [onState]  also told: "open", "reconnecting", "closed"
 */
export function showConnectionState(client, banner, onState = () => {}) {
  /** @type {ReturnType<typeof setTimeout> | null} */
  let hideTimer = null;
  /**
   * @param {string} text
   * @param {"connecting" | "lost" | "back" | "closed" | ""} kind
   */
  const show = (text, kind) => {
    if (hideTimer !== null) clearTimeout(hideTimer);
    banner.textContent = text;
    banner.dataset.state = kind;
    banner.hidden = !text;
    document.body.dataset.connection = kind || "open";
  };
  show(t("connecting"), "connecting");
  onEachConnection(client, (reconnected) => {
    if (!reconnected) {
      show("", "");
      onState("open");
      return;
    }
    show(t("connectionBack"), "back");
    announce(t("connectionBack"));
    hideTimer = setTimeout(() => show("", ""), BACK_SHOWN_MS);
    onState("open");
  });
  client.on("disconnected", () => {
    show(t("connectionLost"), "lost");
    announce(t("connectionLost"), { assertive: true });
    onState("reconnecting");
  });
  client.on("closed", () => {
    show(t("connectionClosed"), "closed");
    announce(t("connectionClosed"), { assertive: true });
    onState("closed");
  });
}
