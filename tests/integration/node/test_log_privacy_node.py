"""A node's log at the default level holds no personal data: a real ``rtserver serve`` process
(its stderr is the log), a real SMTP server, real aiortc media, and clients on 127.0.0.2 so that
their address can be told from the node's own (127.0.0.1).

The flow touches what people give the service: display names, e-mail addresses, message text, a
callback's reason and the advisor's note, a pre-call check (ICE candidates, the client's address),
an interview a transferred advisor is taken out of (the node logs who and which interview), a
digest mail, a refused session, a WebSocket asking for an unknown subprotocol and a malformed HTTP
request (aiohttp names the client's address in both). Media: run under
``flock /tmp/rtserver-measure.lock``.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from pathlib import Path

import aiohttp
import pytest
from test_process import API_KEY, ServerProcess
from workflow_support import Mailbox

from rtserver.client import Client
from rtserver.client.precall import check_network
from rtserver.logprivacy import log_key, pseudonym
from rtserver.media.forwarder import HostAddresses

pytestmark = pytest.mark.timeout(90)

CLIENT_ADDRESS = "127.0.0.2"  # loopback too, but not the node's: only a client can bring it into the log
ADVISOR, JOBSEEKER, COLLEAGUE = "adv-7731", "js-4402", "adv-9918"
PERSONAL = {
    "names": ["Ada Lovelace", "Marguerite Conseil", "Paul Collègue"],
    "addresses": ["ada.lovelace@example.org", "marguerite@example.org", "example.org"],
    "message": ["Ma santé m'empêche de venir mardi"],
    "reason": ["Mes droits finissent en mars"],
    "note": ["Appelée, dossier RSA en cours"],
    "user ids": [ADVISOR, JOBSEEKER, COLLEAGUE],
    "client address": [CLIENT_ADDRESS],
    "ICE candidates": ["candidate", "Candidate", "typ host"],
}
HOUR_MS = 3_600_000


def _client_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(CLIENT_ADDRESS, 0)))


async def _api(session: aiohttp.ClientSession, srv: ServerProcess, method: str, path: str, body: object) -> object:
    async with session.request(method, srv.url + path, json=body, headers={"X-Api-Key": API_KEY}) as resp:
        assert resp.status < 300, await resp.text()
        return await resp.json()


async def _logged(log_path: Path, text: str, timeout_s: float = 10.0) -> None:
    """Wait (bounded) until the node's log holds ``text``: a file another process writes, polled."""
    async with asyncio.timeout(timeout_s):
        while text not in await asyncio.to_thread(log_path.read_text, errors="replace"):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


@pytest.fixture
async def mailbox():
    box = Mailbox()
    box.start()
    yield box
    box.stop()


async def test_a_node_logs_no_personal_data_at_the_default_level(tmp_path, mailbox):
    log_path = tmp_path / "node.log"
    srv = ServerProcess(tmp_path, log_path=log_path, log_level="info", media_listen_address="127.0.0.1",
                        smtp_host="127.0.0.1", smtp_port=mailbox.port, smtp_tls="none",
                        smtp_sender="suivi@service.test", digest_delay_s=0.3, workflow_tick_s=0.05)
    await srv.start()
    try:
        async with _client_session() as session:
            for user, role, name, email in ((ADVISOR, "advisor", "Marguerite Conseil", "marguerite@example.org"),
                                            (COLLEAGUE, "advisor", "Paul Collègue", ""),
                                            (JOBSEEKER, "jobseeker", "Ada Lovelace", "ada.lovelace@example.org")):
                await _api(session, srv, "PUT", f"/api/users/{user}",
                           {"name": name, "role": role, "email": email, "volunteer": role == "advisor"})
            room = (await _api(session, srv, "POST", "/api/followups",
                               {"jobseeker": JOBSEEKER, "advisor": ADVISOR}))["room"]
            url = srv.url.replace("http", "ws") + "/ws"
            adv = Client(url, token=srv.token(ADVISOR, "advisor"), reconnect=False, session=session)
            js = Client(url, token=srv.token(JOBSEEKER), reconnect=False, session=session)
            await adv.connect()
            await js.connect()
            await adv.join(room)
            await js.join(room)
            # Chat, and a callback with a reason, claimed and answered with a note.
            await js.send(room, "Ma santé m'empêche de venir mardi")
            now = int(time.time() * 1000)
            callback = (await js.request("callback_request", reason="Mes droits finissent en mars", channel="phone",
                                         windows=[{"start": now + HOUR_MS, "end": now + 2 * HOUR_MS}]))["callback"]
            await adv.request("callback_claim", callback=callback["id"])
            await adv.request("callback_outcome", callback=callback["id"], outcome="done",
                              note="Appelée, dossier RSA en cours")
            # A pre-call check with real media from the client's address.
            measured = await check_network(js, measure_s=1.0, host_addresses=HostAddresses((CLIENT_ADDRESS,)))
            assert measured["network"]["connected"] is True
            # A digest mail to the jobseeker, now away.
            await js.close()
            await adv.send(room, "Votre dossier avance")
            mail = await mailbox.next(timeout=10)
            assert mail["To"] == "ada.lovelace@example.org"
            # An interview; the advisor is transferred away and taken out of it (logged).
            await adv.request("media_join", room=room)
            await _api(session, srv, "POST", f"/api/followups/{JOBSEEKER}/transfer", {"advisor": COLLEAGUE})
            await adv.next_event("media_closed", timeout=10)
            await adv.close()
            # Refused and malformed requests from the client's address.
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await session.ws_connect(url, protocols=("rtserver.v1.json",),
                                         headers={"Authorization": "Bearer not-a-token"})
            async with session.ws_connect(url, protocols=("bogus.v9",)) as ws:
                await ws.close()
            reader, writer = await asyncio.open_connection(srv.url.split("//")[1].split(":")[0], srv.port,
                                                           local_addr=(CLIENT_ADDRESS, 0))
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad\x01Header: y\r\n\r\n")
            await writer.drain()
            await asyncio.wait_for(reader.read(), 5)
            writer.close()
        # What the node logged of the interview names it and the advisor by pseudonym.
        key = log_key(srv.secret)
        await _logged(log_path, f"interview {pseudonym(key, room)}: {pseudonym(key, ADVISOR)} may no longer")
    finally:
        assert srv.proc is not None
        srv.proc.terminate()
        srv.proc.wait(timeout=20)
    log = log_path.read_text(errors="replace")
    assert "node" in log and "ready" in log  # the log was captured
    leaks = {kind: [s for s in strings if s in log] for kind, strings in PERSONAL.items()}
    assert not any(leaks.values()), f"personal data in the node's log: {leaks}\n{log}"
    assert hmac.compare_digest(pseudonym(key, ADVISOR), pseudonym(log_key(srv.secret), ADVISOR))
