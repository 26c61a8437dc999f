// What the pre-call check page shows: progress while it runs, then the verdict in plain words,
// each finding's message and remedy in the page's language, and the figures measured.
// Texts from the node (findings) are set as text, never parsed as markup.

import { announce, el } from "./dom.js";
import { lang, t } from "./i18n.js";
import { modeOf, verdictText } from "./verdicts.js";

/**
 * The sound's expected quality in words, from the node's MOS (1 to 4.5): the bands of ITU-T
 * G.107's user satisfaction (4.34 very satisfied, 4.03 satisfied, 3.6 some, 3.1 many users
 * dissatisfied). A score "4.4 out of 4.5" means nothing to the person reading it.
 * @param {number} mos
 */
export function voiceLevel(mos) {
  if (mos >= 4.34) return "excellent";
  if (mos >= 4.03) return "good";
  if (mos >= 3.6) return "fair";
  if (mos >= 3.1) return "poor";
  return "bad";
}

/** Blocking findings first: they are what to fix. */
const SEVERITY_ORDER = { blocking: 0, warning: 1, info: 2 };

/**
 * A finding's text in the page's language (French, then English, then whatever there is).
 * @param {Record<string, string> | string | undefined} text
 * @returns {string}
 */
function inLang(text) {
  if (!text) return "";
  if (typeof text === "string") return text;
  return text[lang] ?? text.fr ?? text.en ?? Object.values(text)[0] ?? "";
}

export class CheckView {
  /**
   * @param {object} parts  the page's elements
   * @param {HTMLProgressElement} parts.progress
   * @param {HTMLElement} parts.step  a live region: the step being run
   * @param {HTMLVideoElement} parts.preview
   * @param {HTMLImageElement} parts.still  the preview's last picture, shown once the camera is released
   * @param {HTMLMeterElement} parts.meter
   * @param {HTMLElement} parts.verdict  the section shown once the check is over
   */
  constructor(parts) {
    this.parts = parts;
    /** @type {string} */ this._lastStep = "";
    this._kept = false; // the last picture is already kept (keepStill)
  }

  /** @param {import("/static/rtprecall.js").Progress} progress */
  progressed({ step, fraction }) {
    this.parts.progress.value = fraction;
    if (step !== this._lastStep) {
      this._lastStep = step;
      this.parts.step.textContent = t(`precallStep_${step}`);
    }
  }

  /** @param {MediaStream} stream */
  preview(stream) {
    this.parts.preview.srcObject = stream;
    this.parts.preview.hidden = false;
    this.parts.still.hidden = true;
    this._caption(t("yourVideo"));
    this.parts.preview.closest("figure")?.removeAttribute("hidden");
  }

  /** @param {string} text */
  _caption(text) {
    const caption = this.parts.preview.closest("figure")?.querySelector("figcaption");
    if (caption) caption.textContent = text;
  }

  /** @param {number} rms  0..1; speech is quiet on a linear scale, so the meter shows it enlarged */
  level(rms) {
    this.parts.meter.value = Math.min(1, Math.sqrt(rms) * 2);
  }

  started() {
    this._lastStep = "";
    this.parts.verdict.hidden = true;
    this.parts.progress.value = 0;
    this.parts.meter.value = 0;
  }

  /**
   * The check is over and the camera released: a video element without its stream would stay a
   * black box, so the last picture stays instead (how the person was framed and lit is worth
   * seeing next to the verdict); with no picture at all, the tile goes.
   */
  stopped() {
    const { preview } = this.parts;
    if (!this._kept && !this.keepStill()) preview.closest("figure")?.setAttribute("hidden", "");
    this._kept = false;
    preview.srcObject = null;
    this.parts.meter.value = 0;
  }

  /**
   * Keep the preview's current picture in its place; the check calls it while the camera is still
   * live (drawn after its track stopped, the picture sometimes came out black: a failure in CI).
   * @returns {boolean} whether there was a picture to keep
   */
  keepStill() {
    const { preview, still } = this.parts;
    if (!preview.srcObject || preview.videoWidth <= 0) return false;
    const canvas = document.createElement("canvas");
    canvas.width = preview.videoWidth;
    canvas.height = preview.videoHeight;
    canvas.getContext("2d")?.drawImage(preview, 0, 0);
    still.src = canvas.toDataURL("image/jpeg", 0.85);
    still.hidden = false;
    preview.hidden = true;
    this._caption(t("precallStill"));
    this._kept = true;
    return true;
  }

  /**
   * @param {Record<string, any>} result  the node's result
   */
  showResult(result) {
    const verdict = result.verdict;
    const mode = modeOf(result) ?? "none";
    const section = this.parts.verdict;
    section.dataset.verdict = verdict;
    section.dataset.mode = mode;
    const findings = [...(result.findings ?? [])].sort((a, b) =>
      (SEVERITY_ORDER[/** @type {keyof typeof SEVERITY_ORDER} */ (a.severity)] ?? 3)
      - (SEVERITY_ORDER[/** @type {keyof typeof SEVERITY_ORDER} */ (b.severity)] ?? 3));
    /** @type {HTMLElement} */ (section.querySelector("#verdict-words")).replaceChildren(
      el("p", { class: "verdict-word" }, t("labelled", t("verdict"), verdictText(verdict))),
      el("p", { class: "verdict-headline" }, t(`precallHeadline_${verdict}`)),
      // The best way the interview will work from here, in plain words, and what to do (the node's texts).
      el("h3", {}, t("precallModeTitle")),
      el("p", { class: "mode-message", "data-mode": mode }, inLang(result.advice?.message)),
      result.advice?.remedy ? el("p", { class: "mode-remedy" }, inLang(result.advice.remedy)) : null);
    /** @type {HTMLElement} */ (section.querySelector("#findings")).replaceChildren(
      ...findings.map((f) => el("li", { class: "finding", "data-code": f.code, "data-severity": f.severity },
        el("p", { class: "finding-message" }, el("span", { class: "severity" }, t(`severity_${f.severity}`)), " ",
          inLang(f.message)),
        f.remedy ? el("p", { class: "finding-remedy" }, inLang(f.remedy)) : null)));
    /** @type {HTMLElement} */ (section.querySelector("#figures")).replaceChildren(
      ...figures(result).map((line) => el("li", {}, line)));
    section.hidden = false;
    this.parts.step.textContent = t("precallStep_done");
    announce(`${t(`precallHeadline_${verdict}`)} ${inLang(result.advice?.message)} ${findings.filter((f) => f.severity !== "info").map((f) => inLang(f.message)).join(" ")}`);
  }

  /** @param {string} why */
  showError(why) {
    this.parts.step.textContent = t("precallFailed", why);
  }
}

/**
 * The figures measured, as sentences, for the curious and for the advisor on the phone.
 * @param {Record<string, any>} result
 * @returns {string[]}
 */
function figures(result) {
  const m = result.measurements ?? {};
  const num = (/** @type {unknown} */ v) => typeof v === "number" ? v.toLocaleString(lang, { maximumFractionDigits: 1 }) : "?";
  /** @type {string[]} */
  const lines = [];
  if (m.camera?.width) lines.push(t("precallFigureCamera", m.camera.width, m.camera.height, num(m.camera.fps)));
  if (typeof m.microphone?.level === "number") lines.push(t("precallFigureMicrophone", Math.round(m.microphone.level * 100)));
  const n = m.network;
  if (n?.connected) {
    lines.push(t("precallFigureNetwork", num(n.rtt_ms), num(n.jitter_ms), num(n.loss_pct)));
    if (typeof n.capacity_up_kbps === "number") {
      lines.push(t("precallFigureCapacity", num(n.capacity_up_kbps), num(n.capacity_down_kbps)));
    } else {
      lines.push(t("precallFigureBitrate", num(n.send_kbps), num(n.recv_kbps)));
    }
    if (typeof n.loss_up_pct === "number") {
      lines.push(t("precallFigureLossDirections", num(n.loss_up_pct), num(n.loss_down_pct)));
    }
    lines.push(t("precallFigureTransport", t(`transport_${n.transport ?? "none"}`)));
  } else if (n) {
    lines.push(t("precallFigureNoNetwork"));
  }
  if (typeof result.mos === "number") lines.push(t("precallFigureVoice", t(`voice_${voiceLevel(result.mos)}`)));
  if (result.video) lines.push(t("precallFigureVideo", t(`video_${result.video}`)));
  return lines;
}
