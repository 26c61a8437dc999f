"""What people's text may hold: the rules shared by chat messages, notes, one-line fields
(a callback's reason) and display names. Pure: no I/O, tested without sockets.

- Message text and notes may span lines: no C0 control but tab and newline (NUL, escape
  sequences, a bare CR that rewrites a line in a terminal), no lone surrogate (a JSON "\\ud800"
  decodes to one; no UTF-8 can store it).
- One-line text (a reason quoted in a system notice, a display name shown to others): no control
  character at all (C0 and C1, newlines included), no line or paragraph separator, no bidi
  embedding, override or isolate (which reorder the text around them on screen: "\\u202e" makes
  "gpj.exe" read "exe.jpg"), no lone surrogate. Joiners (U+200D) stay: emoji use them.
- Text that must say something has a visible character: not only whitespace and format
  characters (zero-width spaces and joiners, the byte order mark).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["FORBIDDEN_IN_TEXT", "LINE_BREAKERS", "NOT_IN_ONE_LINE", "visible"]

FORBIDDEN_IN_TEXT = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff]")
# As a regex character range: controls (Unicode Cc), line and paragraph separators (Zl, Zp), bidi controls.
LINE_BREAKERS = "\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
NOT_IN_ONE_LINE = re.compile(f"[{LINE_BREAKERS}\ud800-\udfff]")


def visible(text: str) -> bool:
    """Whether ``text`` has a character that shows: not whitespace, not a format character
    (Unicode Cf: zero-width space and joiners, word joiner, byte order mark, bidi controls...).
    Ordinary text answers at its first character; only invisible text is read to the end."""
    return any(not ch.isspace() and unicodedata.category(ch) != "Cf" for ch in text)
