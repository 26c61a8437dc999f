"""Helpers for the follow-up workflow tests (no tests here): users, follow-ups, a real SMTP
server (aiosmtpd) and a real webhook receiver, all on 127.0.0.1 and free ports."""

from __future__ import annotations

import asyncio
import email
import threading
from email.message import Message
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from redis_server import free_port

from rtserver.workflow import WORKFLOW_KEY, Workflow

__all__ = ["Mailbox", "WebhookReceiver", "follow", "users", "workflow_of"]


def workflow_of(harness: Any) -> Workflow:
    return harness.app[WORKFLOW_KEY]


async def users(harness: Any, *specs: tuple[str, str, str]) -> None:
    """(id, role, email) each; advisors are volunteers."""
    for user_id, role, address in specs:
        status, data = await harness.api("PUT", f"/api/users/{user_id}", {
            "name": user_id.upper(), "role": role, "email": address, "volunteer": role == "advisor"})
        assert status == 200, data


async def follow(harness: Any, jobseeker: str, advisor: str) -> dict[str, Any]:
    status, data = await harness.api("POST", "/api/followups", {"jobseeker": jobseeker, "advisor": advisor})
    assert status == 201, data
    return data


class Mailbox:
    """An aiosmtpd server in its thread; mails land in an asyncio queue of the test's loop."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: asyncio.Queue[Message] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd calls it so
        message = email.message_from_bytes(envelope.content)
        self._loop.call_soon_threadsafe(self.messages.put_nowait, message)
        return "250 OK"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    async def next(self, timeout: float = 10.0) -> Message:
        async with asyncio.timeout(timeout):
            return await self.messages.get()


class WebhookReceiver:
    """A real aiohttp endpoint that answers 500 to the first ``fail_first`` attempts."""

    def __init__(self, *, fail_first: int = 0, stall_first: asyncio.Event | None = None):
        self.fail_first = fail_first
        self.stall_first = stall_first
        self.attempts: list[tuple[float, dict[str, str], bytes]] = []
        self.delivered: asyncio.Queue[tuple[dict[str, str], bytes]] = asyncio.Queue()
        self.attempted = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.attempts.append((asyncio.get_running_loop().time(), dict(request.headers), body))
        self.attempted.set()
        if len(self.attempts) == 1 and self.stall_first is not None:
            await self.stall_first.wait()
        if len(self.attempts) <= self.fail_first:
            return web.Response(status=500)
        await self.delivered.put((dict(request.headers), body))
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
