"""The web client's pages in real Chromium: the jobseeker page, the advisor console, the demo sign-in
and the embeddable widget, against a node (static/jobseeker.html, advisor.html, demo.html, widget.js).

Two ways in, as the pages are used: a newcomer on a ``--demo`` node who signs in through the demo
page, and a portal that mints tokens itself and embeds the jobseeker page with the widget. Each
test saves a screenshot of every page in ``test-artifacts/`` (browser_support). Accessibility is
checked with axe-core (installed by npm from tests/package.json) injected into the same pages.
Every wait is bounded (``wait_for_function``, ``expect``); nothing sleeps.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from conftest import Harness, make_settings
from playwright.async_api import Browser, Page, expect
from repo_paths import ARTIFACTS, AXE

from rtserver.app import build_app

if TYPE_CHECKING:
    from browser_support import BrowserSession

pytest_plugins = ["browser_support"]  # browser, node, browser_session
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(90)]

WAIT_MS = 10_000


# -- fixtures ------------------------------------------------------------------------------------

@pytest_asyncio.fixture(loop_scope="module")
async def demo_node(tmp_path: Path) -> AsyncIterator[Harness]:
    """A node started as a newcomer starts it: ``--demo``, the development secret file, no API key."""
    settings = make_settings(tmp_path, demo=True, secret="", api_key="", secret_file=str(tmp_path / "dev.secret"),
                             media_listen_address="127.0.0.1", media_drop_timeout_s=5.0)
    server = TestServer(build_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            yield Harness(server, settings, session)
    finally:
        await server.close()


# -- helpers -------------------------------------------------------------------------------------

async def ready(page: Page) -> None:
    await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=WAIT_MS)


def track(browser_session: BrowserSession, label: str, page: Page) -> None:
    """Keep ``page``'s console output and screenshot with the test's artifacts."""
    browser_session.track(label, page)


async def demo_sign_in(browser_session: BrowserSession, label: str, base: str, user: str) -> Page:
    """Open /demo in a new tab and pick ``user``, as a visitor does."""
    page = await browser_session.context.new_page()
    track(browser_session, label, page)
    await page.goto(f"{base}/demo")
    await ready(page)
    await page.screenshot(path=str(ARTIFACTS / "pages-demo-sign-in.png"))
    async with page.expect_navigation(timeout=WAIT_MS):
        await page.click(f"button[data-user='{user}']")
    await ready(page)
    return page


def message_texts(page: Page) -> Any:
    return page.eval_on_selector_all(".chat .message:not(.pending) .text", "els => els.map(e => e.textContent)")


async def wait_message(page: Page, text: str) -> None:
    await expect(page.locator(".chat .message .text", has_text=text)).to_have_count(1, timeout=WAIT_MS)


async def tick_of(page: Page, text: str) -> str | None:
    item = page.locator(".chat li.message.mine", has=page.locator(".text", has_text=text))
    return await item.locator(".ticks").get_attribute("data-tick")


async def wait_tick(page: Page, text: str, tick: str) -> None:
    item = page.locator(".chat li.message.mine", has=page.locator(".text", has_text=text))
    await expect(item.locator(".ticks")).to_have_attribute("data-tick", tick, timeout=WAIT_MS)


async def send(page: Page, text: str) -> None:
    await page.fill(".chat textarea", text)
    await page.keyboard.press("Enter")


# Frames decoded from the other side, read from the browser's own statistics (getStats through
# the SDK's receivedStats), sampled by the page for the synchronous wait_for_function predicate.
SAMPLE_STATS = """() => {
  if (window.receivedNow) return;
  window.receivedNow = {};
  setInterval(async () => {
    const view = window.rtPage.interview;
    if (view && view.interview) window.receivedNow = await view.interview.receivedStats();
  }, 100);
}"""


async def frames_from(page: Page, user: str, above: int = 0) -> int:
    await page.evaluate(SAMPLE_STATS)
    handle = await page.wait_for_function(
        "([user, above]) => { const v = (window.receivedNow[user] || {}).video;"
        " return v && v.framesDecoded > above ? v.framesDecoded : false; }",
        arg=[user, above], polling=100, timeout=WAIT_MS)
    return int(await handle.json_value())


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Serious and critical WCAG 2.x A/AA violations axe-core finds on the page as it is now."""
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `npm ci` in tests/ (scripts/test does)", pytrace=False)
    # Evaluated through the browser's debugging protocol: the page's CSP refuses inline scripts,
    # which add_script_tag would be.
    await page.evaluate(AXE.read_text() + "\n;undefined")
    result = await page.evaluate("""async () => {
      const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
      return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ': ' + n.failureSummary)}));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]


# -- the newcomer on a demo node -----------------------------------------------------------------

async def test_newcomer_on_a_demo_node_chats_goes_offline_and_holds_a_video_interview(
        browser: Browser, demo_node: Harness, request: pytest.FixtureRequest) -> None:
    from browser_support import BrowserSession

    context = await browser.new_context(permissions=["camera", "microphone"])
    session = await BrowserSession.start(context, demo_node, request.node.name)
    base = demo_node.url("").rstrip("/")
    try:
        advisor = await demo_sign_in(session, "advisor", base, "demo-advisor")
        karim = await demo_sign_in(session, "jobseeker", base, "demo-karim")
        assert advisor.url.endswith("/static/advisor.html") and karim.url.endswith("/static/jobseeker.html")
        # The token lives in the tab's sessionStorage, never in a URL.
        assert "token" not in advisor.url and "token" not in karim.url
        assert await karim.evaluate("() => JSON.parse(sessionStorage.getItem('rtserver.session')).user") == "demo-karim"

        # The portfolio lists the three demo jobseekers; Karim's page shows the follow-up notice and
        # the welcome after the unread marker.
        rows = advisor.locator("#portfolio button.row")
        await expect(rows).to_have_count(3, timeout=WAIT_MS)
        await expect(karim.locator(".chat .unread-marker")).to_have_count(1)
        assert [text[:13] for text in await message_texts(karim)] == ["Claire Martin", "Bonjour Karim"]
        # Demo users have follow-ups: the call-back form and the queue are there.
        await expect(karim.locator("#callbacks .callback-form")).to_be_visible()
        await expect(advisor.locator("#queue .empty")).to_have_text("Aucune demande en attente.")
        karim_row = advisor.locator("#portfolio button.row[data-jobseeker='demo-karim']")
        await expect(karim_row.locator(".presence")).to_have_attribute("data-status", "online", timeout=WAIT_MS)
        # By keyboard: the arrow keys walk the portfolio (sorted by name: Karim, Lucas, Sophie;
        # "needs attention first" is the default order), Enter opens a conversation and puts the
        # focus in its message field.
        await advisor.select_option("#portfolio-sort", "name")
        await rows.nth(2).focus()
        await advisor.keyboard.press("Home")
        await expect(karim_row).to_be_focused()
        await advisor.keyboard.press("ArrowDown")
        await expect(rows.nth(1)).to_be_focused()
        await advisor.keyboard.press("ArrowUp")
        await advisor.keyboard.press("Enter")
        await expect(advisor.locator(".chat h2")).to_have_text("Conversation avec Karim Benali")
        await expect(karim_row).to_have_attribute("aria-current", "true")
        await expect(advisor.locator(".chat textarea")).to_be_focused()

        # Typing, then a message: the advisor sees both; her reading moves Karim's tick to "read".
        await karim.fill(".chat textarea", "Bonjour Claire")
        await karim.dispatch_event(".chat textarea", "input")
        await expect(advisor.locator(".chat .typing")).to_have_text("Karim Benali écrit…", timeout=WAIT_MS)
        await karim.keyboard.press("Enter")
        await wait_message(advisor, "Bonjour Claire")
        await expect(advisor.locator(".chat .typing")).to_have_text("")
        await wait_tick(karim, "Bonjour Claire", "read")
        await send(advisor, "Bonjour Karim, avez-vous vu l'offre ?")
        await wait_message(karim, "avez-vous vu l'offre")
        await wait_tick(advisor, "avez-vous vu l'offre", "read")

        # Karim's connection drops and stays down while Claire writes twice; the page says so,
        # and when it is back he has both messages, once each, in order.
        await karim.evaluate("""() => {
          window.gate = new Promise((resolve) => { window.openGate = resolve; });
          window.rtPage.client.dropConnection({until: window.gate});
        }""")
        banner = karim.locator("#connection")
        await expect(banner).to_have_attribute("data-state", "lost", timeout=WAIT_MS)
        await expect(banner).to_contain_text("Connexion perdue")
        await send(advisor, "Message pendant votre absence")
        await send(advisor, "Et un deuxième")
        await wait_tick(advisor, "Et un deuxième", "delivered")
        await karim.evaluate("() => window.openGate()")
        await expect(banner).to_have_attribute("data-state", "back", timeout=WAIT_MS)
        await wait_message(karim, "Et un deuxième")
        texts = await message_texts(karim)
        assert texts[-2:] == ["Message pendant votre absence", "Et un deuxième"]
        assert len(texts) == len(set(texts))
        await wait_tick(advisor, "Et un deuxième", "read")
        await karim.screenshot(path=str(ARTIFACTS / "pages-jobseeker-chat.png"))
        await advisor.screenshot(path=str(ARTIFACTS / "pages-advisor-chat.png"))

        # The video interview: Claire starts it (Karim gets the invitation in the conversation),
        # Karim joins; each page's getStats() shows frames decoded from the other.
        await advisor.click("#start-video")
        await wait_message(karim, "J'ai démarré l'entretien vidéo")
        await karim.click("#join-video")
        advisor_frames = await frames_from(advisor, "demo-karim")
        karim_frames = await frames_from(karim, "demo-advisor")
        await frames_from(advisor, "demo-karim", above=advisor_frames + 10)
        await frames_from(karim, "demo-advisor", above=karim_frames + 10)
        # Claire sees Karim's connection quality as the node measures it.
        quality = advisor.locator(".interview .quality")
        await expect(quality).to_have_attribute("data-level", "good", timeout=WAIT_MS)
        await expect(quality).to_contain_text("Connexion de Karim Benali")
        # Karim mutes, turns his camera off, then leaves.
        await karim.click("[data-action=microphone]")
        await expect(karim.locator("[data-action=microphone]")).to_have_attribute("aria-pressed", "true")
        await karim.click("[data-action=camera]")
        await expect(advisor.locator("figure[data-user='demo-karim']")).to_have_class(
            re.compile(r"\bcamera-off\b"), timeout=WAIT_MS)
        await expect(advisor.locator("figure[data-user='demo-karim'] [data-badge=mic-off]")).to_have_text("Micro coupé")
        await karim.screenshot(path=str(ARTIFACTS / "pages-jobseeker-interview.png"))
        await advisor.screenshot(path=str(ARTIFACTS / "pages-advisor-interview.png"))
        await karim.click("[data-action=leave]")
        await expect(karim.locator("#join-video")).to_be_visible(timeout=WAIT_MS)
        await expect(advisor.locator(".call-status")).to_have_text("Karim Benali a quitté l'entretien", timeout=WAIT_MS)
        session.assert_no_csp_violation()  # the demo page, the console and the jobseeker page
    finally:
        await session.save_artifacts()
        await context.close()


HOME = {"fr": ("Suivi en ligne", "Essayer la démonstration"), "en": ("Online follow-up", "Try the demo")}


@pytest.mark.parametrize("lang", ["fr", "en"])
async def test_the_root_of_a_demo_node_leads_a_newcomer_to_the_demo(
        browser: Browser, demo_node: Harness, lang: str, request: pytest.FixtureRequest) -> None:
    """http://127.0.0.1:8080/ gave a bare 404: it is now a home page linking the demo, the pages
    and the documentation, in either language, axe clean."""
    from browser_support import BrowserSession

    context = await browser.new_context()
    session = await BrowserSession.start(context, demo_node, request.node.name)
    try:
        page = await context.new_page()
        track(session, "home", page)
        await page.goto(demo_node.url("/"))
        if lang == "en":
            await page.click("#lang")
        await ready(page)
        await expect(page.locator("h1")).to_have_text(HOME[lang][0])
        assert await axe_violations(page) == []
        async with page.expect_navigation(timeout=WAIT_MS):
            await page.click(f"text={HOME[lang][1]}")
        await ready(page)
        assert page.url.endswith("/static/demo.html")
        session.assert_no_csp_violation()
    finally:
        await session.save_artifacts()
        await context.close()


# -- a portal: its own tokens, the follow-up workflow, the widget ---------------------------------

HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Portal</title><link rel="icon" href="data:,"></head>
<body><h1>Job portal</h1>
<script>
  window.hostEvents = [];
  window.addEventListener("message", (e) => {
    if (e.origin === "%(node)s" && e.data && e.data.source === "rtserver") window.hostEvents.push(e.data);
  });
</script>
<script src="%(node)s/static/widget.js" data-token-endpoint="/rt-token" data-lang="%(lang)s" async></script>
</body></html>"""


@pytest.fixture
def portal_port() -> int:
    from browser_support import free_port  # the plugin, imported by then

    return free_port()


@pytest.fixture
def portal_host() -> str:
    """The portal's host name: 127.0.0.1 is the node's own site (ports do not make sites); a
    test parametrizes it as ``localhost`` to embed the widget from another site."""
    return "127.0.0.1"


@pytest.fixture
def portal_lang() -> str:
    """The widget's data-lang on the portal's page."""
    return "fr"


@pytest.fixture
def node_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """A test with a portal lists the portal's origin in the node's allowed_origins, as a deployment
    embedding the widget must (the widget's host and frame-ancestors are checked against it)."""
    if "portal" not in request.fixturenames:
        return {}
    host, port = request.getfixturevalue("portal_host"), request.getfixturevalue("portal_port")
    return {"allowed_origins": f"http://{host}:{port}"}


@pytest_asyncio.fixture(loop_scope="module")
async def portal(node: Harness, portal_port: int, portal_host: str, portal_lang: str
                 ) -> AsyncIterator[dict[str, Any]]:
    """A portal on another origin (listed in the node's allowed_origins): a page embedding the widget
    and the token endpoint it calls.

    The follow-up (advisor adv-1 for jobseeker js-1) is set up through the HTTP API, as a portal does.
    """
    await node.followup()
    origin = node.url("/").rstrip("/")
    tokens_given: list[str] = []

    async def host_page(request: web.Request) -> web.Response:
        return web.Response(text=HOST_PAGE % {"node": origin, "lang": portal_lang}, content_type="text/html")

    async def rt_token(request: web.Request) -> web.Response:
        # A real portal checks its own session cookie here, then mints a token for that user.
        tokens_given.append("js-1")
        return web.json_response({"token": node.token("js-1", "jobseeker", name="Karim Benali")})

    app = web.Application()
    app.router.add_get("/", host_page)
    app.router.add_get("/rt-token", rt_token)
    server = TestServer(app, host="127.0.0.1", port=portal_port)
    await server.start_server()
    try:
        yield {"url": f"http://{portal_host}:{portal_port}/", "tokens_given": tokens_given}
    finally:
        await server.close()


async def open_as(browser_session: BrowserSession, label: str, path: str, token: str,
                  viewport: dict[str, int] | None = None) -> Page:
    """Open a page of the node signed in (token in sessionStorage, as a portal would), once ready."""
    page = await browser_session.open_signed_in(label, path, token, viewport)
    await ready(page)
    return page


def host_events(page: Page, kind: str) -> Any:
    return page.evaluate("(kind) => window.hostEvents.filter(e => e.type === kind)", kind)


async def wait_host_event(page: Page, predicate: str) -> Any:
    handle = await page.wait_for_function(f"() => window.hostEvents.find(e => {predicate})", timeout=WAIT_MS)
    return await handle.json_value()


async def test_portal_embeds_the_widget_and_the_advisor_claims_a_callback_request(
        browser_session: BrowserSession, node: Harness, portal: dict[str, Any]) -> None:
    advisor = await open_as(browser_session, "advisor", "/static/advisor.html",
                            node.token("adv-1", "advisor", name="Claire Martin"))
    host = await browser_session.context.new_page()
    track(browser_session, "portal", host)
    await host.goto(portal["url"])
    await wait_host_event(host, "e.type === 'ready'")
    assert portal["tokens_given"] == ["js-1"]  # the host page fetched it with the portal's cookies
    frame = next(f for f in host.frames if "/static/jobseeker.html" in f.url)
    assert "token" not in frame.url

    # The assignment notice is unread while the widget is closed; the host page is told, and the
    # launcher shows the count. Opening the widget reads it.
    await wait_host_event(host, "e.type === 'unread' && e.count === 1")
    await expect(host.locator(".rtw-launcher .rtw-badge")).to_have_text("1")
    # Closed, the widget makes the jobseeker "away" for the advisor; open, "online".
    row = advisor.locator("#portfolio button.row[data-jobseeker='js-1']")
    await expect(row.locator(".presence")).to_have_attribute("data-status", "away", timeout=WAIT_MS)
    await host.click(".rtw-launcher")
    await expect(host.locator(".rtw-launcher")).to_have_attribute("aria-expanded", "true")
    await wait_host_event(host, "e.type === 'unread' && e.count === 0")
    await expect(host.locator(".rtw-launcher .rtw-badge")).to_be_hidden()

    # The jobseeker asks to be called back; the request appears in the advisor's queue with its
    # age, and she claims it; the jobseeker sees it taken.
    await expect(row.locator(".presence")).to_have_attribute("data-status", "online", timeout=WAIT_MS)
    await expect(advisor.locator("#queue .empty")).to_be_visible()
    await frame.fill("#callback-reason", "Question sur mon inscription")
    await frame.check("input[name=channel][value=phone]")
    await frame.click(".callback-form button[type=submit]")
    await expect(frame.locator(".callback-form .form-message")).to_have_text("Votre demande de rappel est envoyée.",
                                                                           timeout=WAIT_MS)
    item = advisor.locator("#queue .queue-item")
    await expect(item).to_have_count(1, timeout=WAIT_MS)
    await expect(item.locator(".reason")).to_have_text("Question sur mon inscription")
    await expect(item.locator(".age")).to_have_text("demandé à l'instant")
    await expect(item.locator(".queue-head button")).to_have_text("Karim Benali")
    await item.locator("[data-action=claim]").click()
    await expect(item).to_have_attribute("data-status", "claimed", timeout=WAIT_MS)
    await expect(item.locator(".claimed")).to_have_text("Pris en charge par Vous")
    await expect(frame.locator(".callback-list li .status")).to_have_text("prise en charge", timeout=WAIT_MS)
    status, data = await node.api("GET", "/api/followups/js-1/callbacks")
    assert status == 200 and [(cb["status"], cb["claimed_by"]) for cb in data["callbacks"]] == [("claimed", "adv-1")]

    # Chat through the widget: the advisor's reading gives the jobseeker's message its read tick.
    await row.click()
    await send_in(frame, "Merci, je suis joignable ce matin")
    await wait_message(advisor, "je suis joignable ce matin")
    item_in_frame = frame.locator(".chat li.message.mine", has=frame.locator(".text", has_text="joignable"))
    await expect(item_in_frame.locator(".ticks")).to_have_attribute("data-tick", "read", timeout=WAIT_MS)

    # An appointment in ten minutes: both may join already (from 15 minutes before). The
    # jobseeker joins first and, alone, says so in the conversation; the advisor joins from her
    # list. The host page is told when the call starts and ends.
    await advisor.evaluate("""() => {
      const start = new Date(Date.now() + 600000);
      document.querySelector('#appointment-start').value =
        new Date(start.getTime() - start.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    }""")
    await advisor.click(".appointment-form button[type=submit]")
    await expect(frame.locator(".appointments li[data-appointment]")).to_have_count(1, timeout=WAIT_MS)
    await frame.click(".appointments li[data-appointment] button[data-action=join]")
    await wait_message(advisor, "Je suis dans l'entretien vidéo et je vous attends.")
    await advisor.click(".appointments li[data-appointment] button[data-action=join]")
    started = await wait_host_event(host, "e.type === 'call_started'")
    assert started["room"] == "followup-js-1"
    await frames_from(advisor, "js-1")
    status, data = await node.api("GET", "/api/users/js-1/appointments")
    assert status == 200 and sorted(data["appointments"][0]["joined"]) == ["adv-1", "js-1"]
    await frame.click("[data-action=leave]")
    await frame.click("[data-action=leave-yes]")  # the widget's frame is phone-narrow: leaving asks first
    ended = await wait_host_event(host, "e.type === 'call_ended'")
    assert ended["reason"] == "left"
    await expect(advisor.locator(".call-status")).to_have_text("Karim Benali a quitté l'entretien", timeout=WAIT_MS)
    await expect(advisor.locator(".interview .quality")).to_have_attribute("data-level", "unknown")

    # A message the server refuses (the jobseeker paused the online follow-up) says it was not sent.
    await frame.evaluate("() => window.rtPage.client.request('followup_opt_out')")
    await send_in(frame, "Pendant la pause")
    refused = frame.locator(".chat li.message.pending", has=frame.locator(".text", has_text="Pendant la pause"))
    await expect(refused.locator(".ticks")).to_have_attribute("data-tick", "failed", timeout=WAIT_MS)
    await expect(refused.locator(".ticks")).to_contain_text("Non envoyé. Vous ne pouvez pas écrire")

    # Accessibility of the console and of the jobseeker page, as they are now.
    assert await axe_violations(advisor) == []
    jobseeker = await open_as(browser_session, "jobseeker-phone", "/static/jobseeker.html?lang=en",
                              node.token("js-1", "jobseeker", name="Karim Benali"),
                              viewport={"width": 390, "height": 844})
    assert await axe_violations(jobseeker) == []
    assert await jobseeker.evaluate("() => document.documentElement.lang") == "en"
    await expect(jobseeker.locator(".chat h2")).to_have_text("Conversation with Claire Martin")
    # Phone-sized: one column, nothing wider than the screen.
    assert await jobseeker.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    await jobseeker.screenshot(path=str(ARTIFACTS / "pages-jobseeker-phone.png"), full_page=True)
    await advisor.screenshot(path=str(ARTIFACTS / "pages-advisor-console.png"), full_page=True)
    await host.screenshot(path=str(ARTIFACTS / "pages-portal-widget.png"))


# The widget's frame says its conversation's heading in the page's language.
HEADING = {"fr": "Conversation avec Claire Martin", "en": "Conversation with Claire Martin"}
SWITCHED = {"fr": "Conversation with Claire Martin", "en": "Conversation avec Claire Martin"}


@pytest.mark.parametrize("portal_host", ["localhost"])
@pytest.mark.parametrize("portal_lang", ["fr", "en"])
async def test_widget_on_a_portal_of_another_site_without_third_party_storage(
        browser_session: BrowserSession, node: Harness, portal: dict[str, Any], portal_lang: str) -> None:
    """The portal (localhost) is another site than the node (127.0.0.1); this Chromium, like
    Chrome in incognito or with third-party cookies blocked (browser_support's flags), refuses the
    node's frame its sessionStorage. The page must still start, tell the portal `ready`, chat and
    switch languages."""
    host = await browser_session.context.new_page()
    track(browser_session, "portal", host)
    await host.goto(portal["url"])
    frame = await (await host.wait_for_selector("#rtserver-widget-frame", state="attached")).content_frame()
    assert frame is not None
    await frame.wait_for_load_state()
    refused = await frame.evaluate("() => { try { sessionStorage.length; return ''; } catch (e) { return e.name; } }")
    assert refused == "SecurityError", "the frame must run without third-party storage"
    await wait_host_event(host, "e.type === 'ready'")
    await host.click(".rtw-launcher")
    await expect(frame.locator(".chat h2")).to_have_text(HEADING[portal_lang], timeout=WAIT_MS)
    await send_in(frame, "Bonjour depuis le portail")
    item = frame.locator(".chat li.message.mine", has=frame.locator(".text", has_text="depuis le portail"))
    await expect(item.locator(".ticks")).to_have_attribute("data-tick", "delivered", timeout=WAIT_MS)
    # The language switch keeps its choice in the frame's URL, as storage is refused.
    await frame.locator("#lang").click()
    await expect(frame.locator(".chat h2")).to_have_text(SWITCHED[portal_lang], timeout=WAIT_MS)


async def send_in(frame: Any, text: str) -> None:
    await frame.fill(".chat textarea", text)
    await frame.press(".chat textarea", "Enter")


async def test_connection_quality_levels_from_the_nodes_statistics(browser_session: BrowserSession,
                                                                   node: Harness) -> None:
    """quality.js: loss over the last interval (not since the start), round trip, a link that is down."""
    page = await browser_session.context.new_page()
    track(browser_session, "quality", page)
    await page.goto(node.url("/static/demo.html"))
    levels = await page.evaluate("""async () => {
      const q = await import('/static/app/quality.js');
      const entry = (lost, expected, rtt, state = 'connected') => ({connected: true, publish_state: state, rtt_ms: rtt,
        published: [{kind: 'audio', packets_lost: lost, packets_expected: expected},
                    {kind: 'video', packets_lost: 900, packets_expected: 1000}]});
      const first = q.fromMediaStats(entry(0, 100, 40), null);
      const lossy = q.fromMediaStats(entry(10, 200, 40), first);         // 10 of the last 100: 10 %
      const better = q.fromMediaStats(entry(11, 300, 40), lossy);        // 1 of the last 100
      const slow = q.fromMediaStats(entry(11, 400, 450), better);
      const down = q.fromMediaStats(entry(11, 500, 40, 'connecting'), slow);
      const none = {level: q.levelOf(null, null, true), loss: null};
      return [first, lossy, better, slow, down, none].map(x => [x.level, x.loss]);
    }""")
    assert levels == [["good", 0], ["poor", 0.1], ["good", 0.01], ["fair", 0], ["poor", 0], ["unknown", None]]
