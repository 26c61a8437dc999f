// The advisor console (advisor.html): portfolio, callback queue, conversation pane, appointments
// and interviews. Every conversation of the portfolio is joined, so unread counts, presence and
// callback events stay live for all of them, not only the one on screen.

import { RtClient } from "/static/rtclient.js";
import { AppointmentsView } from "./appointments-view.js";
import { CallbackQueue } from "./callbacks-view.js";
import { ChatView } from "./chat-view.js";
import { showConnectionState } from "./connection-status.js";
import { failureText } from "./client-config.js";
import { byId, el } from "./dom.js";
import { switchLang, t, translate } from "./i18n.js";
import { InterviewView } from "./interview-view.js";
import { keptCall } from "./call-signals.js";
import { otherNameOf } from "./names.js";
import { PortfolioView } from "./portfolio-view.js";
import { reportAway } from "./presence.js";
import { RoomState } from "./room-state.js";
import { loadVerdicts } from "./verdicts.js";
import { storedSession, tokenSource } from "./session.js";

/** @typedef {import("./portfolio-view.js").Entry} Entry */

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
  const page = /** @type {any} */ (window).rtPage = { client };  // for the browser tests and debugging
  const hello = await client.connect();
  reportAway(client);
  byId("who").textContent = hello.name || hello.user;
  const state = page.state = new RoomState(client);

  const entries = await portfolioEntries(client, state, hello);
  const names = new Map(entries.map((e) => [e.jobseeker, e.name]));
  const nameOf = (/** @type {string} */ user) => names.get(user) ?? user;

  /** @type {ChatView | null} */ let chat = null;
  /** @type {InterviewView | null} */ let interview = null;
  /** @type {Entry | null} */ let current = null;
  const portfolio = page.portfolio = new PortfolioView({ list: byId("portfolio"), state, onSelect: (entry) => {
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

  byId("start-video").addEventListener("click", async () => {
    if (!interview || !current) return;
    await interview.start({ video: true });
    if (interview.active) {
      // The jobseeker's page is not in the interview yet: tell them in the conversation.
      client.send(current.room, t("interviewInvite")).catch((error) => console.warn(error));
    }
  });

  const workflow = entries.some((e) => e.followup);
  if (workflow) {
    byId("queue").hidden = false;
    page.queue = new CallbackQueue({ client, container: byId("queue"), nameOf,
      onOpen: (user) => portfolio.select(user) });
    byId("appointments").hidden = false;
    page.appointments = new AppointmentsView({ client, container: byId("appointments"), nameOf,
      scheduleFor: () => current?.jobseeker ?? null,
      onJoin: (appointment) => {
        portfolio.select(appointment.jobseeker);
        interview?.start({ video: true });
      } });
    await Promise.all([page.queue.refresh(), page.appointments.refresh()]);
  }

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
  const rows = await client.request("followup").then((r) => r.portfolio ?? []).catch(() => []);
  const rooms = rows.length ? rows.map((r) => r.room) : hello.rooms.map((/** @type {any} */ r) => r.room);
  const verdicts = await loadVerdicts(client, rows);
  /** @type {Map<string, number | null>} */
  const lastTs = new Map(hello.rooms.map((/** @type {any} */ r) => [r.room, r.last_ts ?? null]));
  return Promise.all(rooms.map(async (/** @type {string} */ room, /** @type {number} */ i) => {
    const joined = await state.join(room);
    const row = rows[i];
    const known = state.rooms.get(room);
    const ts = row?.last_ts ?? lastTs.get(room);  // the node says when the latest message came
    if (known && ts) known.lastTs = Math.max(known.lastTs ?? 0, ts);
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
