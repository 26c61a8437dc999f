// rtserver widget: a portal adds the jobseeker's conversation, call-back form and video interview
// to its own pages with one script tag (docs/web-client.md):
//
//   <script src="https://rt.example.org/static/widget.js" data-token-endpoint="/rt-token" async></script>
//
// The widget puts a button and a panel on the host page; the panel is an iframe of the node's
// jobseeker page (same origin as the node, so its WebSocket needs no CORS). The host page fetches
// tokens from the portal's endpoint with its own cookies and hands them to the iframe; the iframe
// tells the host page about unread messages and calls. Messages go only to, and are only taken
// from, the other side's exact origin.
//
// Options (data- attributes of the script tag):
//   data-token-endpoint  (required) URL on the portal answering a token, as text or {"token": "..."}
//   data-lang            fr (default) or en
//   data-target          CSS selector of an element to show the page in, instead of a floating panel
//   data-label           the button's text (default "Mon conseiller" / "My advisor")
//
// The host page listens to `message` events whose origin is the node's and whose data has
// `source: "rtserver"`: `ready`, `unread` {count}, `call_ringing` {room}, `call_started` {room},
// `call_ended` {room, reason}, `connection` {state}. A ringing call opens the panel, so that the
// jobseeker sees who calls and can answer. `window.rtserverWidget.open()` / `.close()` show and hide the panel.
(() => {
  "use strict";
  const SOURCE = "rtserver";
  const script = /** @type {HTMLScriptElement | null} */ (document.currentScript
    || document.querySelector("script[src*='/static/widget.js']"));
  if (!script) return;
  const nodeOrigin = new URL(script.src, location.href).origin;
  const tokenEndpoint = script.dataset.tokenEndpoint;
  const lang = script.dataset.lang === "en" ? "en" : "fr";
  const label = script.dataset.label || (lang === "en" ? "My advisor" : "Mon conseiller");
  const target = script.dataset.target ? document.querySelector(script.dataset.target) : null;
  if (!tokenEndpoint) {
    console.error("rtserver widget: data-token-endpoint is required");
    return;
  }

  const style = document.createElement("style");
  style.textContent = `
    .rtw-launcher { position: fixed; right: 1rem; bottom: 1rem; z-index: 2147483000; font: 600 1rem system-ui, sans-serif;
      padding: 0.75rem 1.1rem; border-radius: 2rem; border: none; background: #0b5cad; color: #fff; cursor: pointer;
      box-shadow: 0 2px 8px rgb(0 0 0 / 0.3); }
    .rtw-launcher:focus-visible { outline: 3px solid #ffbf47; outline-offset: 2px; }
    .rtw-badge { display: inline-block; min-width: 1.4rem; margin-left: 0.5rem; padding: 0 0.4rem; border-radius: 1rem;
      background: #fff; color: #a4161a; font-weight: 700; }
    .rtw-badge[hidden] { display: none; }
    .rtw-panel { position: fixed; right: 1rem; bottom: 4.5rem; z-index: 2147483000; width: min(28rem, calc(100vw - 2rem));
      height: min(44rem, calc(100vh - 6rem)); background: #fff; border: 1px solid #c4cad3; border-radius: 0.75rem;
      box-shadow: 0 4px 24px rgb(0 0 0 / 0.3); overflow: hidden; }
    .rtw-panel[hidden] { display: block !important; visibility: hidden; pointer-events: none; }
    .rtw-inline { width: 100%; height: 100%; min-height: 36rem; border: 0; }
    .rtw-panel iframe { width: 100%; height: 100%; border: 0; }
    @media (max-width: 32rem) { .rtw-panel { right: 0; bottom: 4rem; width: 100vw; height: calc(100vh - 4rem);
      border-radius: 0; } }`;
  document.head.append(style);

  const src = new URL("/static/jobseeker.html", nodeOrigin);
  src.searchParams.set("embed", "1");
  src.searchParams.set("host", location.origin);
  src.searchParams.set("lang", lang);
  const frame = document.createElement("iframe");
  frame.src = src.href;
  frame.title = label;
  frame.allow = "camera; microphone; autoplay";
  frame.id = "rtserver-widget-frame";

  /** @param {Record<string, unknown>} message */
  const post = (message) => frame.contentWindow?.postMessage({ source: SOURCE, ...message }, nodeOrigin);

  let open = Boolean(target);
  /** @type {HTMLButtonElement | null} */ let launcher = null;
  /** @type {HTMLSpanElement | null} */ let badge = null;
  /** @type {HTMLElement} */ let panel;
  if (target) {
    frame.className = "rtw-inline";
    target.append(frame);
    panel = frame;
  } else {
    panel = document.createElement("div");
    panel.className = "rtw-panel";
    panel.id = "rtserver-widget-panel";
    panel.setAttribute("role", "region");
    panel.setAttribute("aria-label", label);
    panel.hidden = true;
    panel.append(frame);
    launcher = document.createElement("button");
    launcher.type = "button";
    launcher.className = "rtw-launcher";
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-controls", panel.id);
    launcher.append(label);
    badge = document.createElement("span");
    badge.className = "rtw-badge";
    badge.hidden = true;
    launcher.append(badge);
    launcher.addEventListener("click", () => setOpen(!open));
    panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") { setOpen(false); launcher?.focus(); }
    });
    document.body.append(panel, launcher);
  }

  /** @param {boolean} value */
  function setOpen(value) {
    if (target) return;
    open = value;
    panel.hidden = !value;
    launcher?.setAttribute("aria-expanded", String(value));
    post({ type: "visibility", visible: value });
    if (value) frame.focus();
  }

  /** @param {number} id */
  async function giveToken(id) {
    try {
      const response = await fetch(tokenEndpoint, { credentials: "same-origin",
        headers: { Accept: "application/json, text/plain" } });
      if (!response.ok) throw new Error(`token endpoint answered HTTP ${response.status}`);
      const text = (await response.text()).trim();
      post({ type: "token", id, token: text.startsWith("{") ? JSON.parse(text).token : text });
    } catch (error) {
      post({ type: "token", id, error: String(error instanceof Error ? error.message : error) });
    }
  }

  window.addEventListener("message", (event) => {
    const data = event.data;
    if (event.origin !== nodeOrigin || event.source !== frame.contentWindow || data?.source !== SOURCE) return;
    switch (data.type) {
      case "token_request": giveToken(data.id); break;
      case "ready": post({ type: "visibility", visible: open }); break;
      case "unread":
        if (badge) {
          badge.textContent = String(data.count);
          badge.hidden = !data.count;
          launcher?.setAttribute("aria-label", data.count ? `${label} (${data.count})` : label);
        }
        break;
      case "call_ringing": case "call_started": setOpen(true); break;
      default: break;
    }
  });

  // The page loads with the panel closed: messages are not marked read until it is opened.
  frame.addEventListener("load", () => post({ type: "visibility", visible: open }));
  /** @type {any} */ (window).rtserverWidget = { open: () => setOpen(true), close: () => setOpen(false), frame };
})();
