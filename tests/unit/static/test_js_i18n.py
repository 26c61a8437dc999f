"""The pages' French follows French typography (static/app/i18n.js): a non-breaking space before
« : », « ; », « ! », « ? », « % » and « » », and after « « » (U+00A0, or the narrow U+202F),
so that a line never starts with a colon or a question mark. Every French text is checked as
the page shows it: the functions are called with sample values."""

from __future__ import annotations

import re

from js_support import STATIC, run_js

# i18n.js reads `location` when imported: the pages' globals are stood in for before importing it.
RENDER = f"""
globalThis.location = {{ search: "?lang=fr" }};
console.warn = () => {{}};
const i18n = await import({(STATIC / "app/i18n.js").as_uri()!r});
const rendered = {{}};
for (const [lang, strings] of Object.entries(i18n.STRINGS)) {{
  rendered[lang] = {{}};
  for (const [key, entry] of Object.entries(strings)) {{
    if (typeof entry !== "function") {{ rendered[lang][key] = entry; continue; }}
    // Numbers suit every parameter: counts are formatted, names and texts interpolated.
    try {{ rendered[lang][key] = entry(...Array(entry.length).fill(2)); }}
    catch {{ rendered[lang][key] = entry(...Array(entry.length).fill("X")); }}
  }}
}}
result = rendered;
"""

SPACES = "\u00a0\u202f"
# A plain space where a non-breaking one belongs, or no space at all before the high signs and
# after the opening guillemet (a time like 11:44, or "https://", is not punctuation).
PLAIN_SPACE_BEFORE = re.compile(r" [:;!?%»]")
PLAIN_SPACE_AFTER = re.compile(r"« ")
GLUED = re.compile(rf"[^{SPACES}\s\d]([;!?»])|[^{SPACES}\s\d/]:(?!//)|«[^{SPACES}]|\d%")


def rendered() -> dict[str, dict[str, str]]:
    return run_js({}, RENDER)


def test_french_texts_have_non_breaking_spaces_before_high_punctuation() -> None:
    french = rendered()["fr"]
    assert len(french) > 250
    wrong = {key: text for key, text in french.items()
             if PLAIN_SPACE_BEFORE.search(text) or PLAIN_SPACE_AFTER.search(text) or GLUED.search(text)}
    assert not wrong, "\n".join(f"{key}: {text!r}" for key, text in sorted(wrong.items()))


def test_the_rule_catches_plain_and_missing_spaces() -> None:
    for bad in ("Connexion : perdue", "Prêt ?", "Prêt?", "« Rejoindre »", "10 %", "10%"):
        assert PLAIN_SPACE_BEFORE.search(bad) or PLAIN_SPACE_AFTER.search(bad) or GLUED.search(bad), bad
    for good in ("Connexion\u00a0: perdue", "Prêt\u202f?", "«\u00a0Rejoindre\u00a0»", "10\u00a0%", "à 11:44",
                 "https://exemple.fr"):
        assert not (PLAIN_SPACE_BEFORE.search(good) or PLAIN_SPACE_AFTER.search(good) or GLUED.search(good)), good


def test_english_texts_keep_plain_punctuation() -> None:
    english = rendered()["en"]
    assert not {key: text for key, text in english.items() if re.search(rf"[{SPACES}][:;!?]", text)}
