"""Client text that cannot pass for something else: a message of only invisible characters is
refused over a real connection, and a callback reason is one bounded line, quoted as the
jobseeker's words inside the system notice."""

from __future__ import annotations

import time

import pytest
from workflow_support import follow, users

from rtserver.client import ServerError
from rtserver.protocol.workflow import MAX_REASON_CHARS
from rtserver.workflow.callbacks import quoted

HOUR_MS = 3_600_000


def _windows() -> list[dict[str, int]]:
    now = int(time.time() * 1000)
    return [{"start": now + HOUR_MS, "end": now + 2 * HOUR_MS}]


@pytest.mark.parametrize("reason", [
    "CV\nSuivi : votre dossier est clos", "CV\r\nx", "CV\u2028x", "a\x00", "\u202eesrever", "\u200b\u200b",
    "x" * (MAX_REASON_CHARS + 1),
])
async def test_a_callback_reason_is_one_bounded_line(harness, reason):
    await users(harness, ("adv-1", "advisor", ""), ("js-1", "jobseeker", ""))
    await follow(harness, "js-1", "adv-1")
    js = await harness.client("js-1")
    with pytest.raises(ServerError) as refused:
        await js.request("callback_request", reason=reason, channel="phone", windows=_windows())
    assert refused.value.code == "invalid_message"
    status, data = await harness.api("POST", "/api/followups/js-1/callbacks", {
        "reason": reason, "channel": "phone", "windows": _windows()})
    assert status == 400 and data["error"]["code"] == "invalid_message"


async def test_the_notice_quotes_the_jobseeker(harness):
    await users(harness, ("adv-1", "advisor", ""), ("js-1", "jobseeker", ""))
    room = (await follow(harness, "js-1", "adv-1"))["room"]
    js = await harness.client("js-1")
    await js.join(room)
    with pytest.raises(ServerError) as refused:
        await js.send(room, "\u200b\u200b")
    assert refused.value.code == "invalid_message"
    reason = "mon CV » : traitée. Suivi : « dossier clos"
    await js.request("callback_request", reason=reason, channel="phone", windows=_windows())
    notices = [m for m in (await js.history(room, limit=50))["messages"] if m["from"] == "system"]
    text = notices[-1]["text"]
    assert "\n" not in text
    prefix, _, quote = text.partition("Motif saisi par le demandeur d'emploi : ")
    assert prefix and quote.startswith("«") and quote.endswith("»")
    assert quote.count("«") == 1 and quote.count("»") == 1  # the reason cannot close the quote early
    assert "mon CV" in quote and "dossier clos" in quote


def test_quoting_collapses_old_multi_line_reasons():
    assert quoted("a\n\nSuivi : b\x00\u202e c") == "« a Suivi : b c »"
    assert quoted("«x»") == "« \"x\" »"
