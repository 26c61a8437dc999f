"""The export's cursor (``rtserver/privacy/cursor.py``): what ``encode`` makes ``decode`` reads
back; anything else is ``invalid_message``, never an exception of another kind."""

from __future__ import annotations

import base64

import pytest

from rtserver.errors import ErrorCode, RtError
from rtserver.privacy.cursor import MAX_CURSOR_CHARS, decode, encode


@pytest.mark.parametrize("position", [("m", "followup-js-1", 0, 0), ("m", "group:a.b", 2**40, 0),
                                      ("j", "", 1_764_000_000_000, 17)])
def test_a_cursor_reads_back_as_made(position) -> None:
    raw = encode(position)
    assert decode(raw) == position and "=" not in raw and "/" not in raw


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("raw", ["", "%%%", _b64("not json"), _b64("{}"), _b64('["m","r",1]'),
                                 _b64('["x","r",1,0]'), _b64('["m","r",-1,0]'), _b64('["m","r",true,0]'),
                                 _b64('["m","",1,0]'), _b64('["m","a b",1,0]'), _b64('["j","",1.5,0]'),
                                 "A" * (MAX_CURSOR_CHARS + 1)])
def test_anything_else_is_invalid_message(raw: str) -> None:
    with pytest.raises(RtError) as caught:
        decode(raw)
    assert caught.value.code is ErrorCode.INVALID_MESSAGE
