"""Background tasks an object starts and must not lose: kept referenced, failures logged, cancelled on close."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

__all__ = ["BackgroundTasks", "honour_cancellation"]


def honour_cancellation() -> None:
    """Raise CancelledError if the current task was cancelled but something it awaited swallowed
    the cancellation. ``asyncio.wait_for`` does that on Python 3.11 when its awaitable finishes as
    the cancellation arrives (libraries such as aiosmtplib use it): a loop that carries on past
    its job after that never stops, and whoever awaits it on shutdown waits forever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class BackgroundTasks:
    """A set of fire-and-forget tasks owned by one object.

    asyncio keeps only weak references to tasks, so an unreferenced task may vanish mid-run;
    this holds each one until it ends and logs a failure nobody awaited (``what`` says whose).
    """

    __slots__ = ("_log", "_tasks", "_what")

    def __init__(self, what: str, *, logger: logging.Logger | None = None, level: int = logging.ERROR):
        self._what = what
        self._log = (logger or logging.getLogger(__name__), level)
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger, level = self._log
            logger.log(level, "%s failed: %r", self._what, task.exception(), exc_info=task.exception())

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def wait(self) -> None:
        """Wait for every task to end (after ``cancel``, for them to finish cancelling)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        self.cancel()
        await self.wait()

    def __len__(self) -> int:
        return len(self._tasks)
