"""The erasure's rule for one message (``rtserver/backends/erasure.py``), which the Redis script
``lua/erase_stream.lua`` repeats (held to it by tests/integration/backends/test_store_contract.py)."""

from __future__ import annotations

from rtserver.backends.base import StoredMessage
from rtserver.backends.erasure import ERASED_SENDER, NOTICE_SENDER, SCRUBBED, TOMBSTONE_TEXT, erased_message
from rtserver.ids import valid_user_id
from rtserver.workflow.callbacks import QUOTED_BY, quoted
from rtserver.workflow.notify import SYSTEM_SENDER


def _m(sender: str, text: str, key: str | None = None, data: dict | None = None) -> StoredMessage:
    return StoredMessage("followup-js", 7, 1000, sender, sender.upper(), text, key, data)


def test_the_persons_message_becomes_a_tombstone_in_its_place() -> None:
    erased = erased_message(_m("js", "mes dettes", key="k1"), "js", ())
    assert erased == StoredMessage("followup-js", 7, 1000, ERASED_SENDER, "", TOMBSTONE_TEXT, None, {"erased": True})
    assert not valid_user_id(ERASED_SENDER)  # nobody can post as it


def test_notices_lose_the_quotes_of_the_person_and_nothing_else() -> None:
    assert NOTICE_SENDER == SYSTEM_SENDER
    reason = "ma santé « grave »"
    notice = _m(SYSTEM_SENDER, f"Demande de rappel en visio. {QUOTED_BY}{quoted(reason)}")
    scrubbed = erased_message(notice, "js", [quoted(reason)])
    assert scrubbed is not None and scrubbed.text == f"Demande de rappel en visio. {QUOTED_BY}{SCRUBBED}"
    assert erased_message(_m(SYSTEM_SENDER, "Rendez-vous planifié."), "js", [quoted(reason)]) is None
    assert erased_message(_m("adv", f"vous avez écrit {quoted(reason)}"), "js", [quoted(reason)]) is None
