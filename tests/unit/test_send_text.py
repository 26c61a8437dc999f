"""Message text that cannot pass for nothing or for something else: ``send`` refuses text made
only of invisible characters and text with control characters (pure parser checks; the same
refusal over a real connection is in test_workflow_text.py)."""

from __future__ import annotations

import pytest

from rtserver.errors import BadRequest
from rtserver.protocol.requests import Limits, Send, parse_request


def _send(text: str) -> Send | str:
    try:
        return parse_request({"type": "send", "room": "r", "text": text}, Limits())  # type: ignore[return-value]
    except BadRequest as exc:
        return str(exc.code)


@pytest.mark.parametrize("text", [
    "\x00", "bonjour\x00", "a\x07b", "a\rb", "\x1b[2J efface", "\u200b", "\u200b\u200c\u200d", "\u2060\ufeff",
    " \n\t\u200b ", "\u00ad", "\ud800 lone surrogate",
])
def test_send_refuses_controls_and_invisible_only_text(text):
    assert _send(text) == "invalid_message"


@pytest.mark.parametrize("text", [
    "Bonjour", "ligne 1\nligne 2\n\tindentée", "famille \U0001F468\u200d\U0001F469\u200d\U0001F467", "x\u200b",
    "مرحبا", "a" * 4000,
])
def test_send_keeps_ordinary_text(text):
    assert isinstance(_send(text), Send)
