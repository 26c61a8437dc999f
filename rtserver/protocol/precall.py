"""Pre-call check requests: store a check's measurements, read results. Shapes and bounds only.

The measurements are checked against their schema (``measurements.MEASUREMENTS``) here, before
anything is stored: a wrong known field is refused with ``invalid_message`` naming it, unknown
fields are dropped. What the measurements mean (and the verdict computed from them) is
``rtserver.precall.verdict``'s; see ``docs/precall.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from .measurements import MeasurementError, clean_measurements, encoded_size
from .requests import Request, _invalid, _string

__all__ = ["DEFAULT_RESULTS_PAGE", "MAX_MEASUREMENTS_BYTES", "MAX_RESULTS_PAGE", "PRECALL_PARSERS", "PrecallResult",
           "PrecallResults"]

# A check's measurements are a few hundred bytes (a browser's user agent included); this bounds
# what a client may send, unknown fields included, before any of it is read.
MAX_MEASUREMENTS_BYTES = 8192
MAX_USER_CHARS = 128
MAX_RESULTS_PAGE = 50
DEFAULT_RESULTS_PAGE = 10


@dataclasses.dataclass(frozen=True, slots=True)
class PrecallResult(Request):
    measurements: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class PrecallResults(Request):
    user: str | None
    limit: int


def _parse_result(rid: Any, f: dict[str, Any], limits: Any) -> Request:
    measurements = f.get("measurements")
    if not isinstance(measurements, dict):
        raise _invalid("'measurements' is required: an object (see docs/precall.md)")
    if encoded_size(measurements, MAX_MEASUREMENTS_BYTES) > MAX_MEASUREMENTS_BYTES:
        raise _invalid(f"'measurements' is larger than {MAX_MEASUREMENTS_BYTES} bytes")
    try:
        return PrecallResult(rid, clean_measurements(measurements))
    except MeasurementError as exc:
        raise _invalid(f"measurements: {exc}") from None


def _parse_results(rid: Any, f: dict[str, Any], limits: Any) -> Request:
    limit = f.get("limit", DEFAULT_RESULTS_PAGE)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_RESULTS_PAGE:
        raise _invalid(f"'limit' must be an integer from 1 to {MAX_RESULTS_PAGE}")
    return PrecallResults(rid, _string(f, "user", MAX_USER_CHARS, required=False), limit)


PRECALL_PARSERS: dict[str, Callable[[Any, dict[str, Any], Any], Request]] = {
    "precall_result": _parse_result, "precall_results": _parse_results}
