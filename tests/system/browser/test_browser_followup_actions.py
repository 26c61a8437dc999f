"""Follow-up actions finished in the pages (issue 15, defect 6), in headless Chromium with the
browser's zone set to America/Cayenne (UTC-3, the service's clock in Paris): after claiming a
call-back the advisor records done, no answer or a new window, so claimed requests leave the
queue; a phone request says where the number is (the service stores none); either side cancels
or moves an appointment; the calendar file gives the right instant whatever the zones."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from conftest import Harness
from playwright.async_api import Browser, Page, expect
from test_browser_pages import axe_violations

if TYPE_CHECKING:  # imported by pytest as a plugin (below), so that its asserts are rewritten
    from browser_support import BrowserSession

pytest_plugins = ["browser_support"]  # browser, node
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

WAIT_MS = 10_000
ZONE = "America/Cayenne"
HOUR_MS = 3_600_000
FORMAT_FR = """(ms) => new Intl.DateTimeFormat("fr", {weekday: "short", day: "numeric", month: "short",
  hour: "2-digit", minute: "2-digit"}).format(ms)"""


@pytest_asyncio.fixture(loop_scope="module")
async def cayenne(browser: Browser, node: Harness, request: pytest.FixtureRequest) -> AsyncIterator[BrowserSession]:
    from browser_support import BrowserSession

    context = await browser.new_context(timezone_id=ZONE, base_url=node.url("/"), accept_downloads=True)
    session = await BrowserSession.start(context, node, request.node.name)
    try:
        yield session
        session.assert_no_csp_violation()
    finally:
        await session.save_artifacts()
        await context.close()


async def ready(session: BrowserSession, node: Harness, label: str, path: str, user: str, role: str, name: str) -> Page:
    page = await session.open_signed_in(label, path, node.token(user, role, name=name),
                                        viewport={"width": 1280, "height": 900})
    await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=WAIT_MS)
    return page


async def callback(node: Harness, channel: str) -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    status, data = await node.api("POST", "/api/followups/js-1/callbacks", {
        "reason": "Question sur mon inscription", "channel": channel,
        "windows": [{"start": now_ms + HOUR_MS, "end": now_ms + 2 * HOUR_MS}]})
    assert status == 201, data
    return data


async def appointment(node: Harness, start_ms: int, duration_min: int = 30) -> dict[str, Any]:
    status, data = await node.api("POST", "/api/appointments", {"advisor": "adv-1", "jobseeker": "js-1",
                                                                 "start": start_ms, "duration_min": duration_min})
    assert status == 201, data
    return data


async def status_of(node: Harness, path: str) -> dict[str, Any]:
    status, data = await node.api("GET", path)
    assert status == 200, data
    return data


async def test_the_advisor_closes_claimed_callbacks_done_no_answer_or_rescheduled(cayenne: BrowserSession,
                                                                                  node: Harness) -> None:
    await node.followup()
    phone = await callback(node, "phone")
    advisor = await ready(cayenne, node, "advisor", "/static/advisor.html", "adv-1", "advisor", "Claire Martin")
    item = advisor.locator(f"#queue .queue-item[data-callback='{phone['id']}']")
    await item.locator("[data-action=claim]").click()
    await expect(item).to_have_attribute("data-status", "claimed", timeout=WAIT_MS)
    # The claimer is told where the number is: the workflow stores none.
    await expect(item.locator(".phone-hint")).to_have_text(
        "Le service n'enregistre pas de numéro de téléphone : appelez le numéro du dossier de l'agence.")
    await item.locator(".outcome-note").fill("Joint, dossier complété")
    await item.locator("[data-action=done]").click()
    await expect(item).to_have_count(0, timeout=WAIT_MS)  # it leaves the queue (it stayed "claimed" for ever)
    done = await status_of(node, f"/api/callbacks/{phone['id']}")
    assert done["status"] == "done" and done["outcomes"][-1]["note"] == "Joint, dossier complété"

    video = await callback(node, "video")
    item = advisor.locator(f"#queue .queue-item[data-callback='{video['id']}']")
    await item.locator("[data-action=claim]").click()
    await expect(item).to_have_attribute("data-status", "claimed", timeout=WAIT_MS)
    await expect(item.locator(".phone-hint")).to_have_count(0)
    await item.locator("[data-action=reschedule]").click()
    await item.locator(f"#reschedule-from-{video['id']}").fill("14:00")
    await item.locator(f"#reschedule-to-{video['id']}").fill("15:30")
    await item.locator(".reschedule-form button[type=submit]").click()
    await expect(item).to_have_attribute("data-status", "open", timeout=WAIT_MS)
    again = await status_of(node, f"/api/callbacks/{video['id']}")
    assert again["status"] == "open" and again["outcomes"][-1]["outcome"] == "rescheduled"
    # The window typed is Cayenne's 14:00-15:30 tomorrow (the browser's zone), as an instant.
    window = again["windows"][0]
    start = datetime.fromtimestamp(window["start"] / 1000, ZoneInfo(ZONE))
    assert (start.hour, start.minute, (window["end"] - window["start"]) // 60_000) == (14, 0, 90)
    await item.locator("[data-action=claim]").click()
    await item.locator("[data-action=no_answer]").click()
    await expect(item).to_have_count(0, timeout=WAIT_MS)
    assert (await status_of(node, f"/api/callbacks/{video['id']}"))["status"] == "no_answer"
    await expect(advisor.locator("#queue .form-message")).to_have_text("Rappel enregistré : pas de réponse.")
    assert await axe_violations(advisor) == []


async def test_appointments_are_moved_cancelled_and_exported_to_a_calendar(cayenne: BrowserSession,
                                                                          node: Harness) -> None:
    await node.followup()
    # Two days ahead at 10:44 UTC: 07:44 in Cayenne, 11:44 in Paris.
    day = datetime.fromtimestamp(time.time() + 2 * 86_400, UTC).replace(hour=10, minute=44, second=0, microsecond=0)
    first = await appointment(node, int(day.timestamp() * 1000))
    advisor = await ready(cayenne, node, "advisor", "/static/advisor.html", "adv-1", "advisor", "Claire Martin")
    await advisor.locator("#portfolio button.row[data-jobseeker='js-1']").click()
    row = advisor.locator(f"#appointments li[data-appointment='{first['id']}']")
    await expect(row).to_contain_text("07:44")

    # The calendar file: the instant in UTC, whatever the zones of the page and the service.
    async with advisor.expect_download() as info:
        await row.locator("[data-action=ics]").click()
    download = await info.value
    text = (await download.path()).read_bytes().decode()
    assert download.suggested_filename.endswith(".ics")
    stamp = day.strftime("%Y%m%dT%H%M%SZ")
    end = datetime.fromtimestamp(day.timestamp() + 1800, UTC).strftime("%Y%m%dT%H%M%SZ")
    assert f"\r\nDTSTART:{stamp}\r\nDTEND:{end}\r\n" in text, text
    assert "SUMMARY:Entretien vidéo avec Karim Benali\r\n" in text and text.startswith("BEGIN:VCALENDAR\r\n")

    # The advisor moves it: the new one is scheduled, then the old one cancelled.
    await row.locator("[data-action=move]").click()
    await expect(advisor.locator(".appointment-form h3")).to_contain_text("Déplacer le rendez-vous avec Karim Benali")
    await expect(advisor.locator("#appointment-duration")).to_have_value("30")
    await advisor.fill("#appointment-start", day.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%dT09:15"))
    await advisor.click(".appointment-form button[type=submit]")
    await expect(advisor.locator("#appointments .form-message")).to_have_text("Rendez-vous déplacé.", timeout=WAIT_MS)
    listing = (await status_of(node, "/api/users/js-1/appointments"))["appointments"]
    by_id = {a["id"]: a for a in listing}
    assert by_id[first["id"]]["status"] == "cancelled"
    moved = [a for a in listing if a["id"] != first["id"]]
    assert len(moved) == 1 and moved[0]["status"] == "scheduled" and moved[0]["duration_min"] == 30
    assert datetime.fromtimestamp(moved[0]["start"] / 1000, ZoneInfo(ZONE)).strftime("%H:%M") == "09:15"

    # Today's appointments of the whole portfolio stay in the side column.
    soon = await appointment(node, int(time.time() * 1000) + 10 * 60_000)
    now_local = datetime.now(ZoneInfo(ZONE))
    same_day = datetime.fromtimestamp(soon["start"] / 1000, ZoneInfo(ZONE)).date() == now_local.date()
    await expect(advisor.locator(f"#today li[data-today='{soon['id']}']")).to_have_count(1 if same_day else 0,
                                                                                          timeout=WAIT_MS)

    # The jobseeker cancels one, and moves the other: a call-back request asks for another time,
    # then the appointment is cancelled.
    jobseeker = await ready(cayenne, node, "jobseeker", "/static/jobseeker.html", "js-1", "jobseeker", "Karim Benali")
    mine = jobseeker.locator(f"#appointments li[data-appointment='{soon['id']}']")
    await mine.locator("[data-action=cancel]").click()
    await expect(mine).to_have_count(0, timeout=WAIT_MS)
    assert (await status_of(node, f"/api/appointments/{soon['id']}"))["status"] == "cancelled"
    other = jobseeker.locator(f"#appointments li[data-appointment='{moved[0]['id']}']")
    await other.locator("[data-action=move]").click()
    when = await jobseeker.evaluate(FORMAT_FR, moved[0]["start"])  # the page's formatDateTime, in Cayenne
    await expect(jobseeker.locator("#callback-reason")).to_have_value(f"Je souhaite déplacer le rendez-vous du {when}.")
    await jobseeker.click(".callback-form button[type=submit]")
    await expect(jobseeker.locator(".callback-form .form-message")).to_contain_text("le rendez-vous est annulé",
                                                                                   timeout=WAIT_MS)
    assert (await status_of(node, f"/api/appointments/{moved[0]['id']}"))["status"] == "cancelled"
    requests = (await status_of(node, "/api/followups/js-1/callbacks"))["callbacks"]
    assert [cb["reason"][:37] for cb in requests] == ["Je souhaite déplacer le rendez-vous d"]
    # The advisor's side follows: the request is in the queue, the appointment gone.
    await expect(advisor.locator("#queue .queue-item")).to_have_count(1, timeout=WAIT_MS)
    await expect(advisor.locator(f"#appointments li[data-appointment='{moved[0]['id']}']")).to_have_count(0)
    assert await axe_violations(jobseeker) == []
    assert await axe_violations(advisor) == []
