// The node's home page (index.html): the demo when the node runs with --demo, the pages, and where
// the documentation is.

import { byId } from "./dom.js";
import { switchLang, translate } from "./i18n.js";

async function main() {
  translate();
  byId("lang").addEventListener("click", switchLang);
  const demo = await fetch("/api/demo/users").then((r) => r.ok).catch(() => false);
  byId(demo ? "demo" : "no-demo").hidden = false;
  document.body.dataset.ready = "true";
}

main().catch((error) => console.error(error));
