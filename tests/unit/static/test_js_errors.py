"""Every documented error code has the pages' words for it, in French and English
(static/app/errors.js, i18n.js), and errorText never passes on the server's English message."""

from __future__ import annotations

import re

from js_support import STATIC, run_js
from repo_paths import DOCS

# The SDK's own failures (rtclient.js ClientError reasons).
CLIENT_REASONS = ("timeout", "connection_lost", "closed")


def documented_codes() -> set[str]:
    """The codes of the error tables of docs/protocol.md (Errors) and docs/workflow.md (Error codes)."""
    codes = set()
    for doc, heading in (("protocol.md", "## Errors"), ("workflow.md", "## Error codes")):
        section = (DOCS / doc).read_text().split(heading, 1)[1].split("\n## ", 1)[0]
        codes |= set(re.findall(r"^\| `([a-z_]+)`", section, flags=re.MULTILINE))
    return codes


# i18n.js reads `location` when imported: the pages' globals are stood in for before importing it.
LOAD = f"""
globalThis.location = {{ search: "?lang=fr" }};
console.warn = () => {{}};
const i18n = await import({(STATIC / "app/i18n.js").as_uri()!r});
const errors = await import({(STATIC / "app/errors.js").as_uri()!r});
"""


def test_every_documented_error_code_has_a_text_in_both_languages() -> None:
    codes = documented_codes()
    assert {"invalid_message", "conflict", "forbidden", "not_found", "already_claimed"} <= codes
    keys = run_js({}, LOAD + "result = {fr: Object.keys(i18n.STRINGS.fr), en: Object.keys(i18n.STRINGS.en)};")
    for lang in ("fr", "en"):
        missing = [c for c in sorted(codes | set(CLIENT_REASONS)) if f"error_{c}" not in keys[lang]]
        assert not missing, f"{lang}: no error_ text for {missing}"
    # Each request-specific text has its counterpart in the other language.
    assert {k for k in keys["fr"] if k.startswith("error_")} == {k for k in keys["en"] if k.startswith("error_")}


def test_error_text_says_what_the_code_means_never_the_servers_message() -> None:
    said = run_js({}, LOAD + """
      const server = (code, message) => Object.assign(new Error(`${code}: ${message}`), { code });
      result = [
        errors.errorText(server("conflict", "already 3 open callback requests (at most 3)"), "callback_request"),
        errors.errorText(server("conflict", "the appointment is cancelled"), "appointment_create"),
        errors.errorText(server("teapot", "I'm a teapot")),
        errors.errorText(Object.assign(new Error("no reply to send within 15000 ms"), { reason: "timeout" }), "send"),
        errors.errorText(new TypeError("Failed to fetch")),
      ];""")
    assert said == [  # French typography: a non-breaking space before the colon
        "Vous avez déjà le nombre maximal de demandes de rappel en cours\u00a0: annulez-en une ou attendez qu'elle "
        "soit traitée.",
        "Ce n'est plus possible\u00a0: la situation a changé entre-temps. Rechargez la page.",
        "Une erreur inattendue est survenue\u00a0: réessayez.",
        "Le service n'a pas répondu à temps\u00a0: vérifiez votre connexion et réessayez.",
        "Une erreur inattendue est survenue\u00a0: réessayez.",
    ]
