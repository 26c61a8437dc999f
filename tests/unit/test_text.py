"""The text rules of rtserver.text, without sockets."""

from __future__ import annotations

import unicodedata

from rtserver.text import FORBIDDEN_IN_TEXT, NOT_IN_ONE_LINE, visible

BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def test_one_line_text_refuses_exactly_controls_separators_surrogates_and_bidi_controls() -> None:
    for code in range(0x10000):
        ch = chr(code)
        expected = ch in BIDI_CONTROLS or unicodedata.category(ch) in {"Cc", "Cs", "Zl", "Zp"}
        assert bool(NOT_IN_ONE_LINE.search(ch)) is expected, hex(code)


def test_message_text_keeps_tab_and_newline_and_refuses_other_c0_controls() -> None:
    assert not FORBIDDEN_IN_TEXT.search("Bonjour,\n\tà jeudi 👩‍💻")
    for ch in ("\x00", "\x1b", "\r", "\ud800"):
        assert FORBIDDEN_IN_TEXT.search(f"a{ch}b")


def test_visible_text_has_something_besides_spaces_and_format_characters() -> None:
    assert visible("  ok ") and visible("\u200d👍")
    for text in ("", " \n\t", "\u200b\u200c\u200d\u2060\ufeff", "\u202e "):
        assert not visible(text)
