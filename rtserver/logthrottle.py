"""Logging of repeated failures: one traceback per cause per interval, then how many were not logged.

A failure a client can provoke at will (a request that trips a bug) would otherwise write a full
traceback, about 1.3 KB, for every frame: 300 small frames, 400 KB of log from one connection.
A cause is the exception's type and the line of ours that raised it; the first of a cause is
logged with its traceback, the others within the interval only counted, and the count logged
when it ends (the next one after that gets its traceback again).

Pure apart from the logger: the clock and the timer are passed in (the running loop's by default).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_CAUSES", "LogThrottle", "cause_of"]

# Causes are places in the code, so there are few; the bound only keeps a pathological stream of
# distinct ones (generated exception types) from growing the table. Beyond it they share one entry.
MAX_CAUSES = 256

Cause = tuple[str, str, int]
_OTHER: Cause = ("other causes", "", 0)
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def cause_of(exc: BaseException) -> Cause:
    """The exception's type and where it was raised: the innermost frame of its traceback in this
    package's code (a TypeError inside ``json`` is placed at the line of ours that called it), or the
    innermost frame when none is ours."""
    tb = exc.__traceback__
    if tb is None:
        return (type(exc).__qualname__, "", 0)
    place = None
    while True:
        if tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
            place = tb
        if tb.tb_next is None:
            break
        tb = tb.tb_next
    place = place or tb
    return (type(exc).__qualname__, place.tb_frame.f_code.co_filename, place.tb_lineno)


def _describe(cause: Cause) -> str:
    kind, filename, line = cause
    return f"{kind} at {os.path.basename(filename)}:{line}" if filename else kind


def _loop_call_later(delay: float, callback: Callable[[], None]) -> Any:
    return asyncio.get_running_loop().call_later(delay, callback)


class LogThrottle:
    def __init__(self, logger: logging.Logger, *, interval_s: float,
                 clock: Callable[[], float] = time.monotonic,
                 call_later: Callable[[float, Callable[[], None]], Any] = _loop_call_later,
                 max_causes: int = MAX_CAUSES):
        self._logger = logger
        self._interval = interval_s
        self._clock = clock
        self._call_later = call_later
        self._max_causes = max_causes
        self._causes: dict[Cause, list[float]] = {}  # cause -> [interval start, suppressed count]

    def __len__(self) -> int:
        return len(self._causes)

    def exception(self, message: str, exc: BaseException) -> None:
        """Log ``message`` with the traceback of ``exc``, unless its cause was logged within the interval."""
        cause = cause_of(exc)
        if cause not in self._causes and len(self._causes) >= self._max_causes:
            cause = _OTHER
        now = self._clock()
        entry = self._causes.get(cause)
        if entry is not None:
            if now - entry[0] < self._interval:
                entry[1] += 1
                return
            self._end(cause, entry[0])  # its timer is late: close the interval before starting another
        self._causes[cause] = [now, 0]
        self._logger.error("%s (more %s within %.0f s are counted, not logged)", message, _describe(cause),
                           self._interval, exc_info=exc, stacklevel=2)
        self._call_later(self._interval, functools.partial(self._end, cause, now))

    def _end(self, cause: Cause, started: float) -> None:
        entry = self._causes.get(cause)
        if entry is None or entry[0] != started:
            return  # already ended (a later interval of the same cause has begun)
        del self._causes[cause]
        if entry[1]:
            self._logger.warning("%d more %s in the %.0f s after the one logged (not logged)", entry[1],
                                 _describe(cause), self._interval)
