"""Mail on a real SMTP server (aiosmtpd on a free port): offline digests and appointment reminders."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.header
import logging
import time
from zoneinfo import ZoneInfo

import pytest
from workflow_support import Mailbox, follow, users, workflow_of

from rtserver.workflow.digest import PREVIEW_CHARS, preview
from rtserver.workflow.when import service_time

DIGEST_DELAY_S = 0.4
WEBHOOK_SECRET = "appointment-hook-secret-123"


@pytest.fixture
async def mailbox():
    box = Mailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def mail_content():
    return "none"  # the default; a test parametrizes it to "preview"


@pytest.fixture
def settings_overrides(mailbox, receiver, monkeypatch, mail_content):
    monkeypatch.setenv("RTSERVER_WEBHOOK_SECRET", WEBHOOK_SECRET)
    return {"smtp_host": "127.0.0.1", "smtp_port": mailbox.port, "smtp_tls": "none",
            "smtp_sender": "suivi@example.org", "digest_delay_s": DIGEST_DELAY_S, "workflow_tick_s": 0.05,
            "appointment_reminders_s": "1", "appointment_missed_after_s": 0.3, "webhook_urls": receiver.url,
            "webhook_retry_base_s": 0.05, "mail_content": mail_content}


async def _timers_passed(harness, until_s: float) -> None:
    """Wait (bounded) until the timer loop has run a full pass after ``until_s`` (time.time())."""
    wf = workflow_of(harness)
    async with asyncio.timeout(until_s - time.time() + 5):
        while True:
            await wf.ticked.wait()
            if time.time() > until_s + 0.05:
                await wf.ticked.wait()  # one more complete pass after the deadline
                return


TEXTS = ("Bonjour Ada", "Avez-vous mis votre CV à jour ?", "Je vous propose un atelier jeudi")


async def test_offline_user_gets_one_digest_that_counts_the_unread_messages_without_their_text(harness, mailbox,
                                                                                                caplog):
    await users(harness, ("adv-1", "advisor", "adv@example.org"), ("js-1", "jobseeker", "ada@example.org"))
    room = (await follow(harness, "js-1", "adv-1"))["room"]
    adv = await harness.client("adv-1", "advisor")
    await adv.join(room)
    sent_at = time.time()
    with caplog.at_level(logging.INFO):  # every logger: the node's, aiohttp's, aiosmtplib's
        for text in TEXTS:
            await adv.send(room, text)
        mail = await mailbox.next(timeout=10)
    assert time.time() - sent_at >= DIGEST_DELAY_S * 0.9
    assert mail["To"] == "ada@example.org" and mail["From"] == "suivi@example.org"
    body = mail.get_payload(decode=True).decode()
    # Four unread: the three messages and the assignment notice. No text, no sender, no name.
    assert "4 message(s) non lu(s)" in body and mail["Subject"].startswith("4 ")
    for text in (*TEXTS, "Bonjour Ada", "vous accompagne", "ADV-1", "JS-1"):
        assert text not in body
    node_log = "\n".join(caplog.formatter.format(r) for r in caplog.records if r.name != "mail.log")  # not aiosmtpd's
    assert "example.org" not in node_log, "a recipient's address reached the log at INFO"
    # One mail for the burst, none for the advisor (online), and nothing more later.
    await _timers_passed(harness, time.time() + DIGEST_DELAY_S)
    assert mailbox.messages.empty()
    # A new message after the digest starts a new one, counting only what is new.
    await adv.send(room, "Un dernier mot")
    body = (await mailbox.next(timeout=10)).get_payload(decode=True).decode()
    assert "1 message(s) non lu(s)" in body and "Un dernier mot" not in body


@pytest.mark.parametrize("mail_content", ["preview"])
async def test_with_preview_the_digest_quotes_each_message_start(harness, mailbox):
    await users(harness, ("adv-1", "advisor", "adv@example.org"), ("js-1", "jobseeker", "ada@example.org"))
    room = (await follow(harness, "js-1", "adv-1"))["room"]
    adv = await harness.client("adv-1", "advisor")
    await adv.join(room)
    long_text = "Votre dossier : " + "x" * 3000 + " FIN"
    for text in (*TEXTS, long_text):
        await adv.send(room, text)
    body = (await mailbox.next(timeout=10)).get_payload(decode=True).decode()
    assert "Bonjour JS-1," in body and "5 message(s) non lu(s)" in body
    for text in TEXTS:
        assert f"- adv-1 : {text}" in body
    assert "vous accompagne" in body  # the assignment notice was unread too
    # Bounded: the long message shows its first PREVIEW_CHARS characters, not all 3,000.
    quoted = next(line for line in body.splitlines() if "Votre dossier" in line).removeprefix("- adv-1 : ")
    assert len(quoted) == PREVIEW_CHARS and quoted.endswith("…") and "FIN" not in body


def test_a_preview_is_one_line_of_at_most_preview_chars():
    assert preview("court") == "court"
    assert preview("deux\nlignes\r\n  et  espaces") == "deux lignes et espaces"
    assert preview("a" * PREVIEW_CHARS) == "a" * PREVIEW_CHARS
    cut = preview("mot " * 100)
    assert len(cut) <= PREVIEW_CHARS and cut.endswith("mot…")


def test_mail_content_is_none_or_preview():
    from rtserver.config import Settings
    from rtserver.workflow.settings import WorkflowConfig

    assert WorkflowConfig.from_settings(Settings(), {}).mail_preview is False
    assert WorkflowConfig.from_settings(Settings(mail_content="preview"), {}).mail_preview is True
    with pytest.raises(ValueError, match="mail_content must be one of none, preview"):
        WorkflowConfig.from_settings(Settings(mail_content="full"), {})


async def test_no_digest_when_read_before_the_delay(harness, mailbox):
    await users(harness, ("adv-1", "advisor", "adv@example.org"), ("js-1", "jobseeker", "ada@example.org"))
    room = (await follow(harness, "js-1", "adv-1"))["room"]
    adv = await harness.client("adv-1", "advisor")
    await adv.join(room)
    ack = await adv.send(room, "Message lu à temps")
    sent_at = time.time()
    js = await harness.client("js-1")
    await js.join(room)
    await js.mark_read(room, ack["offset"])
    await js.close()
    await _timers_passed(harness, sent_at + DIGEST_DELAY_S)
    assert mailbox.messages.empty()


async def test_appointment_reminders_in_app_and_by_mail_then_missed(harness, mailbox, receiver):
    await users(harness, ("adv-1", "advisor", "adv@example.org"), ("js-1", "jobseeker", "ada@example.org"))
    room = (await follow(harness, "js-1", "adv-1"))["room"]
    adv = await harness.client("adv-1", "advisor")
    js = await harness.client("js-1")
    await adv.join(room)
    await js.join(room)
    start = int(time.time() * 1000) + 1500  # reminder (lead 1 s) in 0.5 s
    created = (await adv.request("appointment_create", jobseeker="js-1", start=start, duration_min=30))["appointment"]
    assert created["status"] == "scheduled" and created["room"] == room
    listed = (await js.request("appointments"))["appointments"]
    assert [a["id"] for a in listed] == [created["id"]]
    for client in (adv, js):
        reminder = await client.next_event("appointment_reminder", timeout=5)
        assert reminder["appointment"]["id"] == created["id"] and reminder["starts_in_s"] <= 1
    mails = [await mailbox.next() for _ in range(2)]
    assert {mail["To"] for mail in mails} == {"adv@example.org", "ada@example.org"}
    # On the service's clock (working_timezone, Europe/Paris by default), named: not in UTC.
    said = service_time(start, ZoneInfo("Europe/Paris"))
    assert said.endswith("(heure de Europe/Paris)")
    for mail in mails:
        subject = str(email.header.make_header(email.header.decode_header(mail["Subject"])))
        assert said in subject.replace("\r\n", "") and said in mail.get_payload(decode=True).decode()
    # The scheduling notice in the conversation carries the instant for the pages.
    history = (await js.request("history", room=room))["messages"]
    [notice] = [m for m in history if m.get("data", {}).get("event") == "scheduled"]
    assert notice["data"] == {"notice": "appointment", "event": "scheduled", "start": start, "duration_min": 30}
    joined = await adv.request("appointment_join", appointment=created["id"])
    assert joined["room"] == room and "adv-1" in joined["appointment"]["joined"]
    # The jobseeker never comes: missed, by them, with a webhook for the portal.
    event = await js.next_event("appointment", timeout=5, where=lambda e: e.get("event") == "missed")
    assert event["appointment"]["missed_by"] == ["js-1"]
    async with asyncio.timeout(5):
        while (headers := (await receiver.delivered.get())[0])["X-Rtserver-Event"] != "appointment.missed":
            assert headers["X-Rtserver-Event"] == "followup.assigned"
    status, stored = await harness.api("GET", f"/api/appointments/{created['id']}")
    assert status == 200 and stored["status"] == "missed"


async def test_the_timer_loop_stops_even_when_a_job_swallows_its_cancellation(harness):
    """On Python 3.11, asyncio.wait_for (inside aiosmtplib) returns its result when it finishes as
    the cancellation arrives, and the cancellation is lost: the timer loop must stop anyway, or
    the node's shutdown waits for it forever."""
    started = asyncio.Event()

    async def swallowing_job() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            pass  # what wait_for does in that race

    loop_task = asyncio.create_task(workflow_of(harness)._every(0.01, swallowing_job))
    await started.wait()
    loop_task.cancel()
    async with asyncio.timeout(5):
        await asyncio.gather(loop_task, return_exceptions=True)
    assert loop_task.cancelled()


async def test_a_failed_mail_leaves_the_address_out_of_the_log(caplog):
    """Personal data stays out of logs by default: the log says a mail failed and why, not to whom."""
    from prometheus_client import CollectorRegistry
    from redis_server import free_port

    from rtserver.workflow.mail import Mailer
    from rtserver.workflow.settings import SmtpConfig

    mailer = Mailer(SmtpConfig(host="127.0.0.1", port=free_port(), tls="none", user="", password="",
                               sender="suivi@example.org", timeout_s=2.0), registry=CollectorRegistry())
    with caplog.at_level("WARNING"):
        assert await mailer.send("ada.lovelace@example.org", "Rappel", "Bonjour") is False
    assert "a mail failed" in caplog.text
    assert "ada.lovelace" not in caplog.text and "example.org" not in caplog.text


@pytest.mark.parametrize(("zone", "said"), [
    ("Europe/Paris", "02/12/2026 à 11:44 (heure de Europe/Paris)"),  # winter: UTC+1
    ("America/Cayenne", "02/12/2026 à 07:44 (heure de America/Cayenne)"),  # UTC-3
    ("UTC", "02/12/2026 à 10:44 (heure de UTC)"),
])
def test_mail_times_are_on_the_services_clock_and_name_it(zone, said):
    instant = int(dt.datetime(2026, 12, 2, 10, 44, tzinfo=dt.UTC).timestamp() * 1000)
    assert service_time(instant, ZoneInfo(zone)) == said
    summer = int(dt.datetime(2026, 7, 2, 10, 44, tzinfo=dt.UTC).timestamp() * 1000)
    assert service_time(summer, ZoneInfo("Europe/Paris")) == "02/07/2026 à 12:44 (heure de Europe/Paris)"
