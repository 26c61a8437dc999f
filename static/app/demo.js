// The demo sign-in page (demo.html): lists the seeded users and signs in as the one picked.

import { byId, el } from "./dom.js";
import { errorText } from "./errors.js";
import { switchLang, t, translate } from "./i18n.js";
import { demoSignIn } from "./session.js";

const PAGE_OF_ROLE = { advisor: "/static/advisor.html", jobseeker: "/static/jobseeker.html" };

async function main() {
  translate();
  byId("lang").addEventListener("click", switchLang);
  const response = await fetch("/api/demo/users");
  if (!response.ok) {
    byId("status").textContent = t("demoUnavailable");
    return;
  }
  const { users } = await response.json();
  for (const user of users) {
    const button = el("button", { type: "button", "data-user": user.id, onclick: () => signIn(user.id) },
      el("span", { class: "name" }, el("span", { class: "visually-hidden" }, t("signInAs", "")), user.name),
      el("span", { class: "role" }, user.about));
    byId(user.role === "advisor" ? "advisors" : "jobseekers").append(el("li", {}, button));
  }
  document.body.dataset.ready = "true";
}

/** @param {string} user */
async function signIn(user) {
  try {
    const session = await demoSignIn(user);
    location.assign(PAGE_OF_ROLE[session.role]);
  } catch (error) {
    byId("status").textContent = errorText(error, "demo_token");
  }
}

main().catch((error) => { byId("status").textContent = errorText(error); });
