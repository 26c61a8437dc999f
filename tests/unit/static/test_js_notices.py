"""``static/app/notices.js``: the text a page shows for a message, under Node."""

from __future__ import annotations

import json

from js_support import STATIC, run_js

SCRIPT = """
globalThis.location = {search: "?lang=en"};
globalThis.localStorage = {getItem: () => null, setItem: () => {}};
const n = await import(MODULE);
result = [
  n.messageText({from: "*erased", text: "Message effacé", data: {erased: true}}),
  n.messageText({from: "js-1", text: "Message effacé"}),
  n.messageText({from: "adv-1", text: "bonjour"}),
];
"""


def test_a_tombstone_reads_as_an_erased_message_and_people_keep_their_words() -> None:
    """A person's erasure leaves tombstones (sender ``*erased``, ``data.erased``: docs/privacy.md):
    the page says so in its reader's language instead of showing the stored French text; someone
    writing the same words is shown as written. (i18n.js reads the page's address and storage when
    imported: a page asked in English, nothing kept.)"""
    module = json.dumps((STATIC / "app" / "notices.js").as_uri())
    result = run_js({}, SCRIPT.replace("MODULE", module))
    assert result == ["Message erased at its author's request", "Message effacé", "bonjour"]
