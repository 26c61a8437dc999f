"""close() while the SDK is still connecting (static/rtclient.js, RtClient._open): the pending
connect() fails with the `closed` reason, and no socket stays open. Both awaits of _open() are
covered: the token callback and the hello."""

from __future__ import annotations

from js_support import run_js

SDK = {"rt": "rtclient.js"}

# A socket that records what the SDK does with it; `hello()` delivers the node's hello.
FAKE = """
globalThis.location = { protocol: "http:", host: "127.0.0.1" };
const sockets = [];
class FakeSocket {
  constructor(url) { this.url = url; this.sent = []; this.closes = []; sockets.push(this); }
  send(data) { this.sent.push(JSON.parse(data).type); }
  close(code) { this.closes.push(code); }
  hello() { this.onmessage({ data: JSON.stringify({ type: "hello", user: "js-1", rooms: [] }) }); }
}
"""


def test_close_during_the_token_callback_opens_no_socket() -> None:
    got = run_js(SDK, FAKE + """
      let release;
      const client = new rt.RtClient({ WebSocket: FakeSocket, token: () => new Promise((r) => { release = r; }) });
      const connecting = client.connect().then(() => "connected", (e) => e.reason);
      await client.close();
      release("token");
      result = { outcome: await connecting, state: client.state, sockets: sockets.length };
    """)
    assert got == {"outcome": "closed", "state": "closed", "sockets": 0}


def test_close_while_the_hello_is_awaited_closes_the_socket() -> None:
    got = run_js(SDK, FAKE + """
      const client = new rt.RtClient({ WebSocket: FakeSocket, token: () => "token" });
      const connecting = client.connect().then(() => "connected", (e) => e.reason);
      while (!sockets.length) await new Promise((r) => setTimeout(r, 0));
      sockets[0].onopen();
      await client.close();
      sockets[0].hello();
      result = { outcome: await connecting, state: client.state, hello: client.hello,
                 sent: sockets[0].sent, closes: sockets[0].closes };
    """)
    assert got == {"outcome": "closed", "state": "closed", "hello": None, "sent": ["auth"], "closes": [1000, 1000]}
