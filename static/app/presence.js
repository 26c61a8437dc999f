// This user's own presence: "away" while the page is hidden (another tab, a locked phone, a
// closed widget panel), "online" when it is seen again. The server sets "online" on connection
// and "offline" when the last connection closes; this only adds the step in between.

import { pageVisible } from "./embed.js";

/** @param {import("/static/rtclient.js").RtClient} client */
export function reportAway(client) {
  let last = "online";
  const update = () => {
    const status = pageVisible() ? "online" : "away";
    if (status === last || client.state !== "open") return;
    last = status;
    client.setPresence({ status }).catch((error) => console.warn("presence not updated", error));
  };
  document.addEventListener("visibilitychange", update);
  client.on("hello", () => { last = "online"; update(); }); // a new connection starts online
  client.on("reconnected", () => { last = "online"; update(); });
  update();
}
