// The jobseeker's page (jobseeker.html): wires the SDK to the conversation, the interview, the
// follow-up panels (callbacks, appointments) and the pre-call check.

import { RtClient } from "/static/rtclient.js";
import { AppointmentsView } from "./appointments-view.js";
import { CallbackForm } from "./callbacks-view.js";
import { ChatView } from "./chat-view.js";
import { showConnectionState } from "./connection-status.js";
import { failureText } from "./client-config.js";
import { byId, el } from "./dom.js";
import { notifyHost } from "./embed.js";
import { switchLang, t, translate } from "./i18n.js";
import { InterviewView } from "./interview-view.js";
import { keptCall } from "./call-signals.js";
import { Ringer } from "./ringer.js";
import { reportAway } from "./presence.js";
import { RoomState } from "./room-state.js";
import { isEmbedded, storedSession, tokenSource } from "./session.js";
import { otherNameOf } from "./names.js";

const PRECALL_PAGE = "/static/check.html";

/**
 * @typedef {object} JobseekerPage
 * @property {RtClient} client
 * @property {RoomState} [state]
 * @property {ChatView} [chat]
 * @property {InterviewView} [interview]
 * @property {Ringer} [ringer]
 * @property {CallbackForm} [callbacks]         only with a follow-up
 * @property {AppointmentsView} [appointments]  only with a follow-up
 */

async function main() {
  translate();
  byId("lang").addEventListener("click", switchLang);
  const token = await tokenSource();
  if (!token) return showSignedOut();
  if (storedSession()?.demo && !isEmbedded()) byId("sign-out").hidden = false;

  const client = new RtClient({ token });
  showConnectionState(client, byId("connection"), (state) => notifyHost("connection", { state }));
  // window.rtPage is for the browser tests and debugging; the views join it as they are built.
  const page = /** @type {any} */ (window).rtPage = /** @type {JobseekerPage} */ ({ client });
  const hello = await client.connect();
  reportAway(client);
  byId("who").textContent = t("welcome", hello.name || hello.user);

  const followup = await client.request("followup").then((r) => r.followup)
    .catch(() => /** @type {Record<string, any> | null} */ (null));
  const room = followup?.room ?? hello.rooms[0]?.room;
  if (!room) {
    showNotice(t("noAdvisor"));
    return;
  }
  const state = page.state = new RoomState(client);
  const joined = await state.join(room);
  const advisorName = otherNameOf(joined, "advisor");
  let lastUnread = -1;
  const tellUnread = () => {
    const unread = state.totalUnread();
    if (unread !== lastUnread) notifyHost("unread", { count: (lastUnread = unread) });
  };
  state.onChange(tellUnread);
  tellUnread();

  const chat = page.chat = new ChatView({ client, state, room, otherName: advisorName, container: byId("conversation") });
  await chat.reload();

  const interview = page.interview = new InterviewView({
    client, room, otherName: advisorName, container: byId("interview"),
    onStarted: (r) => {
      page.ringer?.stop();
      byId("call-actions").hidden = true;
      notifyHost("call_started", { room: r });
      // Alone in the interview: the advisor's console is told through the conversation.
      if (interview.interview?.participants.size === 0) client.send(r, t("waitingForYou")).catch(() => {});
    },
    onEnded: (r, reason) => {
      byId("call-actions").hidden = false;
      notifyHost("call_ended", { room: r, reason });
      /** @type {HTMLElement} */ (byId("join-video")).focus();
    },
  });
  byId("call-actions").hidden = false;
  byId("join-video").addEventListener("click", () => interview.start({ video: true }));
  byId("join-audio").addEventListener("click", () => interview.start({ video: false }));
  page.ringer = new Ringer({ client, room, host: /** @type {HTMLElement} */ (document.querySelector("#main .column-main")),
    busy: () => interview.active, onAnswer: (video) => interview.start({ video }),
    onRing: () => notifyHost("call_ringing", { room }) });
  const rejoin = keptCall(room); // this tab was in the call before a reload
  if (rejoin) interview.start({ video: rejoin.video });

  if (followup) {
    byId("callbacks").hidden = false;
    page.callbacks = new CallbackForm({ client, container: byId("callbacks") });
    byId("appointments").hidden = false;
    page.appointments = new AppointmentsView({ client, container: byId("appointments"),
      onJoin: () => interview.start({ video: true }),
      onMove: (appointment) => page.callbacks.moveAppointment(appointment) });
    await Promise.all([page.callbacks.refresh(), page.appointments.refresh()]);
  }
  await offerPrecall({ onAudioOnly: () => interview.start({ video: false }) });
  document.body.dataset.ready = "true";
  notifyHost("ready", { user: hello.user });
}

/**
 * The pre-call check, when this node serves it: loaded in a frame on demand (it uses the camera).
 * The frame tells this page its verdict, passed on to a portal hosting the page, and the
 * jobseeker's choice of the audio-only fallback, which starts the interview without the camera.
 * @param {{onAudioOnly: () => unknown}} actions
 */
async function offerPrecall({ onAudioOnly }) {
  const found = await fetch(PRECALL_PAGE, { method: "HEAD" }).then((r) => r.ok).catch(() => false);
  if (!found) return;
  byId("precall").hidden = false;
  byId("precall-open").addEventListener("click", () => {
    const frame = /** @type {HTMLIFrameElement} */ (el("iframe", { src: `${PRECALL_PAGE}${location.search}`,
      title: t("precall"), allow: "camera; microphone", class: "precall-frame" }));
    window.addEventListener("message", (event) => {
      if (event.origin !== location.origin || event.source !== frame.contentWindow) return;
      const data = event.data;
      if (data?.source !== "rtserver") return;
      if (data.type === "precall") notifyHost("precall", { verdict: data.verdict });
      else if (data.type === "precall_fallback" && data.choice === "audio") onAudioOnly();
    });
    byId("precall-frame").replaceChildren(frame);
    byId("precall-open").hidden = true;
    frame.focus();
  }, { once: true });
}

/** @param {string} text */
function showNotice(text) {
  const notice = byId("no-session");
  notice.textContent = text;
  notice.hidden = false;
  document.body.dataset.ready = "true";
}

function showSignedOut() {
  showNotice(t("noSession"));
  byId("no-session").append(" ", el("a", { href: "/static/demo.html" }, t("signInLink")));
}

main().catch((error) => {
  console.error(error);
  showNotice(failureText(error, t));
});
