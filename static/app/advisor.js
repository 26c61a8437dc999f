// The advisor console (advisor.html): portfolio, callback queue, conversation pane, appointments
// and interviews. Every conversation of the portfolio is joined, so unread counts, presence and
// callback events stay live for all of them, not only the one on screen; the attention signals
// (signals.js) come from those events.

import { RtClient } from "/static/rtclient.js";
import { AppointmentsView } from "./appointments-view.js";
import { BulkMessage } from "./bulk-view.js";
import { CallbackQueue } from "./callbacks-view.js";
import { ChatView } from "./chat-view.js";
import { showConnectionState } from "./connection-status.js";
import { failureText } from "./client-config.js";
import { byId, el } from "./dom.js";
import { STRINGS, switchLang, t, translate } from "./i18n.js";
import { InterviewView } from "./interview-view.js";
import { keptCall } from "./call-signals.js";
import { otherNameOf } from "./names.js";
import { PortfolioView } from "./portfolio-view.js";
import { reportAway } from "./presence.js";
import { RoomState, SYSTEM_SENDER } from "./room-state.js";
import { Signals } from "./signals.js";
import { loadVerdicts } from "./verdicts.js";
import { storedSession, tokenSource } from "./session.js";
import { Workspace } from "./workspace.js";

/** @typedef {import("./portfolio-view.js").Entry} Entry */
/**
 * @typedef {object} AdvisorPage
 * @property {RtClient} client
 * @property {RoomState} [state]
 * @property {PortfolioView} [portfolio]
 * @property {CallbackQueue} [queue]        only in a follow-up portfolio
 * @property {AppointmentsView} [appointments]  only in a follow-up portfolio
 * @property {ChatView} [chat]              the conversation on screen
 * @property {InterviewView} [interview]
 * @property {Workspace} [workspace]
 * @property {Signals} [signals]
 * @property {BulkMessage} [bulk]
 */

/**
 * Unread messages a first join replays per conversation to tell people's messages from the
 * workflow's notices (RoomState.unreadPeople): 150 conversations with an unread assignment
 * notice each cost 150 small frames; a conversation with more unread than this counts the older
 * ones as people's (it needs reading anyway).
 */
const REPLAY_UNREAD = 20;

/** What the jobseeker's page writes when he waits alone in the interview (jobseeker.js), in either language. */
const WAITING_TEXTS = new Set([STRINGS.fr.waitingForYou, STRINGS.en.waitingForYou].map(String));

async function main() {
  translate();
  byId("lang").addEventListener("click", switchLang);
  const token = await tokenSource();
  if (!token) {
    const notice = byId("notice");
    notice.replaceChildren(t("noSession"), " ", el("a", { href: "/static/demo.html" }, t("signInLink")));
    return;
  }
  if (storedSession()?.demo) byId("sign-out").hidden = false;
  const client = new RtClient({ token });
  showConnectionState(client, byId("connection"));
  // window.rtPage is for the browser tests and debugging; the views join it as they are built.
  const page = /** @type {any} */ (window).rtPage = /** @type {AdvisorPage} */ ({ client });
  const hello = await client.connect();
  reportAway(client);
  byId("who").textContent = hello.name || hello.user;
  const state = page.state = new RoomState(client);

  /** @type {Map<string, number>} */ const waiting = new Map();  // room -> offset of "I am waiting" unread
  let loaded = false;  // replays of the first joins are not news
  const entries = await portfolioEntries(client, state, hello);
  const names = new Map(entries.map((e) => [e.jobseeker, e.name]));
  const nameOf = (/** @type {string} */ user) => names.get(user) ?? user;
  const byRoom = new Map(entries.map((e) => [e.room, e]));

  /** @type {ChatView | null} */ let chat = null;
  /** @type {InterviewView | null} */ let interview = null;
  /** @type {Entry | null} */ let current = null;
  /** @type {Workspace | null} */ let workspace = null;
  const portfolio = page.portfolio = new PortfolioView({ list: byId("portfolio"), tools: byId("portfolio-tools"), state,
    extra: (entry) => {
      const callbacks = page.queue?.of(entry.jobseeker) ?? { open: 0, late: false };
      const offset = waiting.get(entry.room);
      return { openCallbacks: callbacks.open, lateCallback: callbacks.late,
        nextAppointment: page.appointments?.nextWith(entry.jobseeker) ?? null,
        waiting: offset !== undefined && offset > (state.rooms.get(entry.room)?.read ?? 0) };
    },
    onSelect: (entry) => {
      workspace?.show("pane");
      if (interview?.active && current && current.jobseeker !== entry.jobseeker) return; // finish the call first
      current = entry;
      chat?.dispose();
      byId("notice").hidden = true;
      chat = page.chat = new ChatView({ client, state, room: entry.room, otherName: entry.name,
        container: byId("conversation") });
      chat.reload();
      if (!interview?.active) {
        interview = page.interview = new InterviewView({ client, room: entry.room, otherName: entry.name,
          container: byId("interview"),
          onStarted: () => { byId("call-actions").hidden = true; },
          onEnded: () => { byId("call-actions").hidden = false; byId("start-video").focus(); } });
        byId("call-actions").hidden = false;
      }
      page.appointments?.render();
      chat.input.focus();
    } });
  portfolio.set(entries);
  const rejoin = keptCall(); // this tab was in a call before a reload: back to it
  const rejoinEntry = rejoin && entries.find((e) => e.room === rejoin.room);
  if (rejoin && rejoinEntry) { portfolio.select(rejoinEntry.jobseeker); interview?.start({ video: rejoin.video }); }
  const lastContacts = loadLastContacts(client, state, portfolio, hello.limits ?? {});
  workspace = page.workspace = new Workspace({ main: byId("main"), views: byId("views"), portfolio, queue: byId("queue") });

  const signals = page.signals = new Signals({ line: byId("signal"), sound: /** @type {HTMLInputElement} */ (byId("sound")),
    allow: /** @type {HTMLButtonElement} */ (byId("allow-notifications")), onOpen: (user) => portfolio.select(user) });
  const counts = () => {
    signals.title(state.totalUnreadPeople());
    workspace?.todo((page.queue?.callbacks.length ?? 0) + (page.appointments?.todayCount?.() ?? 0));
  };
  state.onChange(counts);
  client.on("message", (/** @type {Record<string, any>} */ e) => {
    const entry = byRoom.get(e.room);
    if (!entry || e.from === SYSTEM_SENDER || e.from === client.hello?.user) return;
    const isWaiting = WAITING_TEXTS.has(e.text);
    if (isWaiting) waiting.set(e.room, e.offset);
    // A message in the conversation on screen, page in view, needs no signal: it is read there.
    const seen = current?.room === e.room && document.visibilityState === "visible";
    if (!loaded || seen) return;
    signals.raise(isWaiting ? { kind: "waiting", user: entry.jobseeker, text: t("signalWaiting", entry.name) }
      : { kind: "message", user: entry.jobseeker, text: t("signalMessage", entry.name) });
  });
  client.on("callback", (/** @type {Record<string, any>} */ e) => {
    const entry = byRoom.get(e.room);
    if (loaded && entry && e.event === "requested") {
      signals.raise({ kind: "callback", user: entry.jobseeker, text: t("signalCallback", entry.name) });
    }
  });

  byId("start-video").addEventListener("click", async () => {
    if (!interview || !current) return;
    await interview.start({ video: true });
    if (interview.active) {
      // The jobseeker's page is not in the interview yet: tell them in the conversation.
      client.send(current.room, t("interviewInvite")).catch((error) => console.warn(error));
    }
  });

  page.bulk = new BulkMessage({ client, opener: /** @type {HTMLButtonElement} */ (byId("bulk-open")),
    recipients: () => portfolio.shown });

  const workflow = entries.some((e) => e.followup);
  if (workflow) {
    byId("queue").hidden = false;
    page.queue = new CallbackQueue({ client, container: byId("queue"), nameOf,
      onOpen: (user) => portfolio.select(user), onChange: () => { portfolio.render(); counts(); } });
    byId("appointments").hidden = false;
    byId("today").hidden = false;
    page.appointments = new AppointmentsView({ client, container: byId("appointments"), nameOf, today: byId("today"),
      scheduleFor: () => current?.jobseeker ?? null,
      onChange: () => { portfolio.render(); counts(); },
      onJoin: (appointment) => {
        portfolio.select(appointment.jobseeker);
        interview?.start({ video: true });
      } });
    page.appointments.onOpenJobseeker = (/** @type {string} */ user) => portfolio.select(user);
    await Promise.all([page.queue.refresh(), page.appointments.refresh()]);
  }
  loaded = true;
  counts();

  const availability = /** @type {HTMLSelectElement} */ (byId("availability"));
  byId("availability-field").hidden = false;
  availability.addEventListener("change", () => {
    client.setPresence({ availability: /** @type {any} */ (availability.value) }).catch((error) => console.warn(error));
  });
  await lastContacts; // "ready" (for tests) once every row is complete
  document.body.dataset.ready = "true";
}

/**
 * Share of the connection's request budget (hello.limits) the background "last contact" reads
 * may take: the rest stays for what the advisor does meanwhile. Going over the budget would be
 * refused, and refusals in numbers close the connection.
 */
const LAST_CONTACT_SHARE = 0.5;
/** Rows refreshed together while last contacts load. */
const LAST_CONTACT_RENDER_EVERY = 10;

/**
 * The portfolio: the follow-ups the workflow assigned to this advisor or, without any (a
 * deployment that only creates conversations), every conversation of the advisor. Each
 * conversation is joined, so unread counts and presence stay live for all of them.
 * @param {RtClient} client
 * @param {RoomState} state
 * @param {Record<string, any>} hello
 * @returns {Promise<Array<Entry & {followup: boolean}>>}
 */
async function portfolioEntries(client, state, hello) {
  /** @type {Array<Record<string, any>>} */
  const rows = await client.request("followup").then((r) => r.portfolio ?? [])
    .catch(() => /** @type {Array<Record<string, any>>} */ ([]));
  const rooms = rows.length ? rows.map((r) => r.room) : hello.rooms.map((/** @type {any} */ r) => r.room);
  const verdicts = await loadVerdicts(client, rows);
  /** @type {Map<string, Record<string, any>>} */
  const known = new Map(hello.rooms.map((/** @type {any} */ r) => [r.room, r]));
  return Promise.all(rooms.map(async (/** @type {string} */ room, /** @type {number} */ i) => {
    // Joined from a little before the read offset: the unread messages are replayed, so the
    // console knows which are the workflow's notices (RoomState.unreadPeople).
    const info = known.get(room);
    const from = info && typeof info.read === "number" && typeof info.head === "number" && info.epoch
      ? { after: Math.max(info.read, info.head - REPLAY_UNREAD), epoch: info.epoch } : {};
    const joined = await state.join(room, from);
    const row = rows[i];
    const ts = row?.last_ts ?? info?.last_ts;  // the node says when the latest message came
    const ours = state.rooms.get(room);
    if (ours && ts) ours.lastTs = Math.max(ours.lastTs ?? 0, ts);
    const jobseeker = row?.jobseeker ?? [...joined.members.values()].find((m) => m.role !== "advisor")?.user
      ?? [...joined.members.keys()][0] ?? room;
    return { jobseeker, name: row?.name ?? otherNameOf(joined, "jobseeker"), room, followup: Boolean(row),
      precall: row?.precall ?? verdicts.get(jobseeker) ?? null };
  }));
}

/**
 * "Last contact" for the conversations the node did not date (no `last_ts` in the portfolio or
 * the room list): the latest message read in the background one at a time, after which live
 * messages keep it current. The request budget is per connection: the reads use half of its
 * burst at once, then half of its rate (about 13 s for 150 rows with the defaults).
 * @param {RtClient} client
 * @param {RoomState} state
 * @param {PortfolioView} portfolio
 * @param {{max_messages_per_s?: number, burst_messages?: number}} limits
 */
async function loadLastContacts(client, state, portfolio, limits) {
  let free = Math.floor((limits.burst_messages ?? 40) * LAST_CONTACT_SHARE);
  const intervalMs = 1000 / Math.max(1, (limits.max_messages_per_s ?? 20) * LAST_CONTACT_SHARE);
  let done = 0;
  for (const { room } of portfolio.entries) {
    if (state.rooms.get(room)?.lastTs) continue;
    if (free > 0) free -= 1;
    else await new Promise((resolve) => setTimeout(resolve, intervalMs));
    try {
      const last = (await client.history(room, { limit: 1 })).messages.at(-1);
      const known = state.rooms.get(room);
      if (last && known) known.lastTs = Math.max(known.lastTs ?? 0, last.ts);
    } catch (error) {
      console.warn("last contact unavailable", room, error);
    }
    if (++done % LAST_CONTACT_RENDER_EVERY === 0) portfolio.render();
  }
  portfolio.render();
}

main().catch((error) => {
  console.error(error);
  byId("notice").textContent = failureText(error, t);
  document.body.dataset.ready = "true";
});
