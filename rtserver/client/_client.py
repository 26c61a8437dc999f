from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp

from ..errors import CloseCode
from ..protocol import CODECS, JSON

__all__ = ["Client", "ClientClosed", "ServerError"]

log = logging.getLogger(__name__)
TokenSource = str | Callable[[], str | Awaitable[str]]


class ServerError(Exception):
    """The server answered a request with an error event."""

    def __init__(self, event: dict[str, Any]):
        super().__init__(f"{event.get('code')}: {event.get('message')}")
        self.code: str = event.get("code", "internal")
        self.message: str = event.get("message", "")
        self.retry_after_ms: int | None = event.get("retry_after_ms")


class ClientClosed(Exception):
    """The client is closed, or the server closed it with a code that forbids reconnecting."""

    def __init__(self, message: str, close_code: int | None = None):
        super().__init__(message)
        self.close_code = close_code


class _Position:
    __slots__ = ("epoch", "offset")

    def __init__(self, epoch: str | None, offset: int | None):
        self.epoch = epoch
        self.offset = offset


class Client:
    def __init__(self, urls: str | list[str], *, token: TokenSource, codec: str = "json", reconnect: bool = True,
                 backoff_initial_s: float = 0.1, backoff_max_s: float = 5.0, request_timeout_s: float = 15.0,
                 session: aiohttp.ClientSession | None = None):
        self._urls = [urls] if isinstance(urls, str) else list(urls)
        self._token = token
        self._codec = CODECS.get(f"rtserver.v1.{codec}", JSON)
        self._reconnect = reconnect
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._timeout = request_timeout_s
        self._own_session = session is None
        self._session = session
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]] = {}
        self._events: collections.deque[dict[str, Any]] = collections.deque()
        self._event_ready = asyncio.Event()
        self._connected = asyncio.Event()
        self._closed = False
        self._fatal: ClientClosed | None = None
        self._reader: asyncio.Task[None] | None = None
        self._restoring: asyncio.Task[None] | None = None
        self.positions: dict[str, _Position] = {}  # rooms joined, and the last offset seen in each
        self.hello: dict[str, Any] = {}
        self.reconnects = 0
        self._url_index = 0

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- connection -----------------------------------------------------------------------
    async def connect(self) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            await self._open()
        except BaseException:
            if self._own_session:
                await self._session.close()
            raise
        self._reader = asyncio.create_task(self._run(), name="rtserver-client")
        return self.hello

    async def _token_value(self) -> str:
        value = self._token() if callable(self._token) else self._token
        if isinstance(value, Awaitable):
            value = await value
        return value

    async def _open(self) -> None:
        assert self._session is not None
        url = self._urls[self._url_index % len(self._urls)]
        headers = {"Authorization": f"Bearer {await self._token_value()}"}
        ws = await self._session.ws_connect(url, protocols=(self._codec.subprotocol,), headers=headers,
                                            heartbeat=30.0, max_msg_size=0)
        msg = await ws.receive(timeout=self._timeout)
        hello = self._decode(msg)
        if hello is None or hello.get("type") != "hello":
            code = ws.close_code
            await ws.close()
            raise ClientClosed(f"no hello from server: {hello or msg}", code)
        self.hello = hello
        self._ws = ws
        self._connected.set()

    def _decode(self, msg: aiohttp.WSMessage) -> dict[str, Any] | None:
        if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            return self._codec.decode(msg.data)
        return None

    async def close(self) -> None:
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._ws is not None:
            await self._ws.close()
        self._fail_pending(ClientClosed("client closed"))
        if self._own_session and self._session is not None:
            await self._session.close()
        self._event_ready.set()

    async def _run(self) -> None:
        while not self._closed:
            ws = self._ws
            assert ws is not None
            async for msg in ws:
                event = self._decode(msg)
                if event is not None:
                    self._dispatch(event)
            code = ws.close_code
            self._connected.clear()
            if self._closed:
                return
            if not self._reconnect or (code is not None and code >= 4100 and code != CloseCode.SERVICE_RESTART):
                self._fatal = ClientClosed(f"closed by server ({code})", code)
                self._fail_pending(self._fatal)
                self._push({"type": "closed", "code": code})
                return
            self._push({"type": "disconnected", "code": code})
            await self._reconnect_loop()

    async def _reconnect_loop(self) -> None:
        delay, ceiling = self._backoff
        while not self._closed:
            self._url_index += 1
            try:
                await self._open()
            except (TimeoutError, aiohttp.ClientError, OSError, ClientClosed) as exc:
                log.debug("reconnect failed: %s", exc)
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(ceiling, delay * 2)
                continue
            self.reconnects += 1
            self._push({"type": "reconnected", "url": self._urls[self._url_index % len(self._urls)]})
            self._restoring = asyncio.create_task(self._restore())
            return

    async def _restore(self) -> None:
        """Join every room again from its last offset, then re-send what was never acknowledged."""
        resend = [(frame, fut) for frame, fut in self._pending.values() if frame["type"] == "send"]
        for frame, fut in self._pending.values():
            if frame["type"] != "send" and not fut.done():
                fut.set_exception(ClientClosed("connection lost before the reply"))
        self._pending = {frame["id"]: (frame, fut) for frame, fut in resend}
        for room in list(self.positions):
            try:
                await self._join(room)
            except (TimeoutError, ServerError, ClientClosed) as exc:
                self._push({"type": "rejoin_failed", "room": room, "error": str(exc)})
        for frame, _ in resend:
            await self._write(frame)

    # -- events ---------------------------------------------------------------------------
    def _dispatch(self, event: dict[str, Any]) -> None:
        rid = event.get("id")
        if event.get("type") == "joined":
            self._on_joined(event)
        if rid is not None and rid in self._pending and event.get("type") not in ("message",):
            _, future = self._pending.pop(rid)
            if not future.done():
                if event.get("type") == "error":
                    future.set_exception(ServerError(event))
                else:
                    future.set_result(event)
            return
        if event.get("type") == "message":
            position = self.positions.get(event["room"])
            if position is not None:
                if position.offset is not None and event["offset"] <= position.offset:
                    return  # seen already (a replay overlapping the live stream)
                position.offset = event["offset"]
        self._push(event)

    def _push(self, event: dict[str, Any]) -> None:
        self._events.append(event)
        self._event_ready.set()

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Every event in arrival order; chat messages at most once each, in offset order per room."""
        while True:
            while self._events:
                yield self._events.popleft()
            if self._closed or self._fatal is not None:
                return
            self._event_ready.clear()
            await self._event_ready.wait()

    async def next_event(self, *types: str, timeout: float | None = None,
                         where: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        """The next event of one of ``types`` (and matching ``where``), skipping others, within ``timeout``."""

        async def find() -> dict[str, Any]:
            async for event in self.events():
                if (not types or event.get("type") in types) and (where is None or where(event)):
                    return event
            raise ClientClosed("client closed", self._fatal.close_code if self._fatal else None)

        return await asyncio.wait_for(find(), timeout if timeout is not None else self._timeout)

    # -- requests -------------------------------------------------------------------------
    async def _write(self, frame: dict[str, Any]) -> None:
        if self._ws is None or self._ws.closed:
            return  # sent again by _restore after reconnecting, if it is a send
        data = self._codec.encode(frame)
        try:
            if self._codec is JSON:
                await self._ws.send_str(data.decode())
            else:
                await self._ws.send_bytes(data)
        except (ConnectionError, RuntimeError):
            pass  # the reader notices the loss and reconnects

    async def request(self, type_: str, **fields: Any) -> dict[str, Any]:
        """Send one request and return its reply; waits out ``rate_limited`` answers (up to the timeout)."""
        deadline = asyncio.get_running_loop().time() + self._timeout
        while True:
            try:
                return await self._request_once(type_, fields)
            except ServerError as exc:
                wait_s = (exc.retry_after_ms or 0) / 1000
                if exc.code != "rate_limited" or asyncio.get_running_loop().time() + wait_s > deadline:
                    raise
                await asyncio.sleep(wait_s)

    async def _request_once(self, type_: str, fields: dict[str, Any]) -> dict[str, Any]:
        if self._fatal is not None:
            raise self._fatal
        if self._closed:
            raise ClientClosed("client closed")
        frame = {"type": type_, "id": next(self._ids), **fields}
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[frame["id"]] = (frame, future)
        await self._write(frame)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self._timeout)
        finally:
            self._pending.pop(frame["id"], None)

    async def join(self, room: str) -> dict[str, Any]:
        self.positions.setdefault(room, _Position(None, None))
        try:
            return await self._join(room)
        except BaseException:
            self.positions.pop(room, None)
            raise

    async def _join(self, room: str) -> dict[str, Any]:
        position = self.positions[room]
        fields: dict[str, Any] = {"room": room}
        if position.offset is not None:
            fields["after"] = position.offset
            if position.epoch is not None:
                fields["epoch"] = position.epoch
        return await self.request("join", **fields)

    def _on_joined(self, joined: dict[str, Any]) -> None:
        # Runs in the reader, before any replayed or live message of the room is dispatched.
        position = self.positions.get(joined["room"])
        if position is None:
            return
        if position.offset is None or joined.get("reset"):
            position.offset = joined["head"]  # fresh start: live from the head; older ones via history()
        position.epoch = joined["epoch"]

    async def leave(self, room: str) -> None:
        self.positions.pop(room, None)
        await self.request("leave", room=room)

    async def send(self, room: str, text: str, *, key: str | None = None) -> dict[str, Any]:
        """Send a message; returns the ack once it is stored. Retried across reconnects with the same key."""
        return await self.request("send", room=room, text=text, key=key or uuid.uuid4().hex)

    async def typing(self, room: str, active: bool = True) -> None:
        await self.request("typing", room=room, active=active)

    async def mark_read(self, room: str, offset: int) -> int:
        return (await self.request("read", room=room, offset=offset))["offset"]

    async def history(self, room: str, *, before: int | None = None, limit: int = 50) -> dict[str, Any]:
        fields: dict[str, Any] = {"room": room, "limit": limit}
        if before is not None:
            fields["before"] = before
        return await self.request("history", **fields)

    async def set_presence(self, status: str | None = None, availability: str | None = None) -> None:
        fields = {k: v for k, v in (("status", status), ("availability", availability)) if v is not None}
        await self.request("presence", **fields)

    async def rooms(self) -> list[dict[str, Any]]:
        return (await self.request("rooms"))["rooms"]

    async def wait_connected(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout if timeout is not None else self._timeout)

    def _fail_pending(self, exc: Exception) -> None:
        for _, future in self._pending.values():
            if not future.done():
                future.set_exception(exc)
        self._pending.clear()
