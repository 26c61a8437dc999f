"""The real command: a server process that is killed or stopped loses nothing acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from rtserver.auth import mint_token
from rtserver.client import Client
from rtserver.errors import CloseCode

API_KEY = "process-test-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``python -m rtserver serve`` on a free port; ``settings`` (name: value) become its
    ``RTSERVER_*`` variables; its stderr (the log) goes to ``log_path`` when given."""

    def __init__(self, tmp: Path, *, log_path: Path | None = None, **settings: object):
        self.port = _free_port()
        self.secret = secrets.token_urlsafe(32)
        self.env = {**os.environ, "RTSERVER_HOST": "127.0.0.1", "RTSERVER_PORT": str(self.port),
                    "RTSERVER_STORE": f"sqlite:{tmp / 'rt.db'}", "RTSERVER_SECRET": self.secret,
                    "RTSERVER_API_KEY": API_KEY, "RTSERVER_LOG_LEVEL": "warning",
                    **{f"RTSERVER_{name.upper()}": str(value) for name, value in settings.items()}}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        stderr = None if self.log_path is None else self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "rtserver", "serve"], env=self.env, stderr=stderr)
        if stderr is not None:
            stderr.close()  # the child holds its own copy
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
                try:
                    async with session.get(self.url + "/readyz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                assert self.proc.poll() is None, "server exited during start-up"
                await asyncio.sleep(0.05)
        raise AssertionError("server did not become ready in 10 s")

    def token(self, user: str, role: str = "jobseeker") -> str:
        return mint_token(secret=self.secret, user_id=user, role=role, ttl_s=600)

    def stop(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=20)


@pytest.fixture
async def server(tmp_path):
    srv = ServerProcess(tmp_path)
    await srv.start()
    yield srv
    if srv.proc and srv.proc.poll() is None:
        srv.proc.kill()
        srv.proc.wait()


async def _create_room(srv: ServerProcess) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(srv.url + "/api/rooms", headers={"X-Api-Key": API_KEY}, json={
                "id": "conv", "kind": "conversation", "members": [{"user": "adv"}, {"user": "js"}]}) as resp:
            assert resp.status == 201


async def test_sigkill_loses_no_acknowledged_message(server):
    await _create_room(server)
    async with Client(server.url + "/ws", token=server.token("adv", "advisor"), reconnect=False) as adv:
        await adv.join("conv")
        acked = [(await adv.send("conv", f"message {i}"))["offset"] for i in range(50)]
    assert acked == list(range(1, 51))
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL  # no chance to flush anything
    await server.start()
    async with Client(server.url + "/ws", token=server.token("js")) as js:
        await js.join("conv")
        page = await js.history("conv", limit=100)
    assert [m["text"] for m in page["messages"]] == [f"message {i}" for i in range(50)]


async def test_sigterm_tells_clients_to_reconnect_and_they_resume(server):
    await _create_room(server)
    js = Client(server.url + "/ws", token=server.token("js"), backoff_initial_s=0.05)
    await js.connect()
    await js.join("conv")
    async with Client(server.url + "/ws", token=server.token("adv", "advisor"), reconnect=False) as adv:
        await adv.join("conv")
        await adv.send("conv", "before restart")
    assert (await js.next_event("message", timeout=5))["text"] == "before restart"
    assert server.stop(signal.SIGTERM) == 0, "graceful shutdown exits cleanly"
    gone = await js.next_event("disconnected", timeout=5)
    assert gone["code"] == CloseCode.SERVICE_RESTART
    # While the server is down the advisor writes again, through the restarted server.
    await server.start()
    async with Client(server.url + "/ws", token=server.token("adv", "advisor"), reconnect=False) as adv:
        await adv.join("conv")
        await adv.send("conv", "after restart")
    await js.next_event("reconnected", timeout=10)
    missed = await js.next_event("message", timeout=5)
    assert (missed["text"], missed["offset"]) == ("after restart", 2)
    await js.close()


def test_token_command_mints_a_token_the_server_accepts(tmp_path):
    secret_file = tmp_path / "dev.secret"
    out = subprocess.run([sys.executable, "-m", "rtserver", "token", "--user", "js-1", "--role", "jobseeker",
                          "--name", "Ada", "--secret-file", str(secret_file)],
                         check=True, capture_output=True, text=True).stdout.strip()
    assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
    from rtserver.auth import TokenVerifier
    identity = TokenVerifier(secret=secret_file.read_text().strip()).verify(out)
    assert (identity.user_id, identity.name, str(identity.role)) == ("js-1", "Ada", "jobseeker")


def test_serve_refuses_a_short_secret_with_a_clear_message(tmp_path):
    result = subprocess.run([sys.executable, "-m", "rtserver", "serve", "--secret", "short",
                             "--store", f"sqlite:{tmp_path / 'x.db'}"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "at least 32 characters" in result.stderr and "Traceback" not in result.stderr


def test_serve_says_when_its_port_is_taken_and_demo_seeds_nothing(tmp_path):
    """A second `./scripts/serve --demo` while the first runs: one clear line and exit 1, before
    any "listening" line, traceback or demo seeding of the database."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        db = tmp_path / "demo.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith("RTSERVER_")}
        result = subprocess.run([sys.executable, "-m", "rtserver", "serve", "--demo", "--host", "127.0.0.1",
                                 "--port", str(port), "--store", f"sqlite:{db}",
                                 "--secret-file", str(tmp_path / "dev.secret")],
                                capture_output=True, text=True, timeout=30, env=env)
    assert result.returncode == 1, result.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr and "listening" not in result.stdout, result
    if db.exists():  # the store was never opened, so nothing was seeded into it
        import sqlite3

        with contextlib.closing(sqlite3.connect(db)) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            assert "messages" not in tables or conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
