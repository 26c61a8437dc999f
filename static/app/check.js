// The pre-call check page (check.html): runs static/rtprecall.js on its own connection, shows
// the progress and the node's verdict, offers the fallbacks when the verdict is `not-ready`, and
// tells the page that framed it (docs/precall.md, docs/web-client.md).

import { RtClient } from "/static/rtclient.js";
import { runPrecallCheck } from "/static/rtprecall.js";
import { CallbackForm } from "./callbacks-view.js";
import { CheckView } from "./check-view.js";
import { failureText } from "./client-config.js";
import { byId, el } from "./dom.js";
import { notifyHost } from "./embed.js";
import { switchLang, t, translate } from "./i18n.js";
import { tokenSource } from "./session.js";
import { modeOf } from "./verdicts.js";

const JOBSEEKER_PAGE = "/static/jobseeker.html";
const ADVISOR_PAGE = "/static/advisor.html";

async function main() {
  translate();
  const framed = window.parent !== window;
  document.body.classList.toggle("framed", framed); // the framing page has its own title bar
  byId("lang").addEventListener("click", switchLang);
  const token = parentPageToken() ?? await tokenSource();
  if (!token) {
    showNotice(t("noSession"));
    byId("notice").append(" ", el("a", { href: "/static/demo.html" }, t("signInLink")));
    return;
  }
  const client = new RtClient({ token });
  // window.rtPage is for the browser tests and debugging: the client, then the node's result and the measurements.
  const page = /** @type {any} */ (window).rtPage = {
    client, result: /** @type {Record<string, any> | null} */ (null), measurements: /** @type {Record<string, any> | null} */ (null) };
  const hello = await client.connect();
  if (!framed) showWayBack(hello.role);

  const view = new CheckView({
    progress: /** @type {HTMLProgressElement} */ (byId("progress")), step: byId("step"),
    preview: /** @type {HTMLVideoElement} */ (byId("preview")),
    still: /** @type {HTMLImageElement} */ (byId("preview-still")), meter: /** @type {HTMLMeterElement} */ (byId("mic-level")),
    verdict: byId("verdict"),
  });
  const run = /** @type {HTMLButtonElement} */ (byId("run"));
  const again = /** @type {HTMLButtonElement} */ (byId("again"));
  const fallbacks = new Fallbacks(client, hello);
  /** @type {AbortController | null} */
  let running = null;

  const check = async () => {
    if (running) return;
    running = new AbortController();
    run.disabled = again.disabled = true;
    view.started();
    fallbacks.hide();
    document.body.dataset.checking = "true";
    try {
      const { result } = await runPrecallCheck(client, { signal: running.signal,
        onProgress: (p) => view.progressed(p), onPreview: (s) => view.preview(s),
        onRelease: () => view.keepStill(), onLevel: (l) => view.level(l) });
      page.result = result;
      page.measurements = result.measurements;
      view.showResult(result);
      run.hidden = true;
      // The best mode that will work: video needs nothing more; otherwise sound only (when it
      // will work) and the call-back are offered.
      const mode = modeOf(result);
      if (mode !== "video") await fallbacks.show(mode);
      tellParent("precall", { verdict: result.verdict, mode, mos: result.mos ?? null, video: result.video ?? null,
        findings: (result.findings ?? []).map((/** @type {any} */ f) => f.code) });
      document.body.dataset.mode = mode ?? "none";
      document.body.dataset.verdict = result.verdict;
    } catch (error) {
      console.warn("pre-call check failed", error);
      page.measurements = /** @type {any} */ (error)?.measurements ?? null;
      view.showError(error instanceof Error ? error.message : String(error));
      run.hidden = false;
      run.textContent = t("precallAgain");
      document.body.dataset.verdict = "error";
    } finally {
      view.stopped();
      running = null;
      run.disabled = again.disabled = false;
      delete document.body.dataset.checking;
    }
  };
  run.addEventListener("click", check);
  again.addEventListener("click", () => { check(); run.focus(); });
  // Leaving the page mid-check releases the camera at once rather than when the page is collected.
  window.addEventListener("pagehide", () => running?.abort());
  run.disabled = false;
  document.body.dataset.ready = "true";
  // In a frame the person already asked for the check (the jobseeker page's button); alone, the
  // page waits for a click, which also lets the browser start audio for the level meter.
  if (framed) await check();
  else run.focus();
}

/** The fallbacks offered when the verdict is `not-ready`: audio only, or being called back. */
class Fallbacks {
  /**
   * @param {RtClient} client
   * @param {Record<string, any>} hello
   */
  constructor(client, hello) {
    this.client = client;
    this.hello = hello;
    this.section = byId("fallbacks");
    /** @type {CallbackForm | null} */ this.callbacks = null;
    byId("audio-only").addEventListener("click", () => this.audioOnly());
  }

  hide() {
    this.section.hidden = true;
    byId("audio-only-how").replaceChildren();
  }

  /** @param {string | null} mode  "audio": sound only will work, offered first; "none": only the call-back */
  async show(mode) {
    this.section.hidden = false;
    byId("audio-only").hidden = mode === "none";
    // A call-back is asked for by a jobseeker of a follow-up (docs/workflow.md); nobody else can.
    if (!this.callbacks && this.hello.role === "jobseeker") {
      const followup = await this.client.request("followup").then((r) => r.followup)
        .catch(() => /** @type {Record<string, any> | null} */ (null));
      if (followup) {
        this.callbacks = new CallbackForm({ client: this.client, container: byId("callback") });
        this.callbacks.reason.value = t("precallCallbackReason");
        await this.callbacks.refresh();
      }
    }
  }

  /** Say how to join without video; a framing page that listens may start it at once. */
  audioOnly() {
    const how = byId("audio-only-how");
    how.replaceChildren(t("precallAudioOnlyHow"));
    if (window.parent === window) how.append(" ", el("a", { href: JOBSEEKER_PAGE }, t("precallOpenSpace")));
    tellParent("precall_fallback", { choice: "audio" });
  }
}

/** Whether the framing page is the node's own (the jobseeker page), which may be scripted. */
function sameOriginParent() {
  if (window.parent === window) return false;
  try {
    return window.parent.location.origin === location.origin;
  } catch {
    return false; // another origin: reading its location throws
  }
}

/**
 * In the jobseeker page's frame, that page's token source. It matters in the widget: the
 * jobseeker page gets its tokens from the portal by postMessage, which this frame cannot do
 * (the portal answers its own frame only); and it keeps one sign-in for both.
 * @returns {(() => string | Promise<string>) | null}
 */
function parentPageToken() {
  if (!sameOriginParent()) return null;
  const token = /** @type {any} */ (window.parent).rtPage?.client?.options?.token;
  return typeof token === "function" ? token : null;
}

/**
 * Tell the framing page, with the widget's message shape (`source: "rtserver"`, `type`): the
 * node's own page at this origin, a portal only at the `host` origin its URL names.
 * @param {string} type
 * @param {Record<string, unknown>} fields
 */
function tellParent(type, fields) {
  if (window.parent === window) return;
  if (sameOriginParent()) window.parent.postMessage({ source: "rtserver", type, ...fields }, location.origin);
  else notifyHost(type, fields);
}

/**
 * Alone in a tab (a link from a mail, a bookmark), the page leads back to the person's own page,
 * in the same language and with the same sign-in parameters. In a frame, the framing page is
 * already there.
 * @param {string} role
 */
function showWayBack(role) {
  const back = /** @type {HTMLAnchorElement} */ (byId("back"));
  back.href = `${role === "advisor" ? ADVISOR_PAGE : JOBSEEKER_PAGE}${location.search}`;
  back.hidden = false;
}

/** @param {string} text */
function showNotice(text) {
  const notice = byId("notice");
  notice.textContent = text;
  notice.hidden = false;
  document.body.dataset.ready = "true";
}

main().catch((error) => {
  console.error(error);
  showNotice(failureText(error, t));
});
