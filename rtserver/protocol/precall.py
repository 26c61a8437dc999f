"""Pre-call check requests: store a check's measurements, read results. Shapes and bounds only.

What the measurements mean (and the verdict computed from them) is ``rtserver.precall.verdict``'s;
see ``docs/precall.md``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from .requests import Request, _invalid, _string

__all__ = ["DEFAULT_RESULTS_PAGE", "MAX_MEASUREMENTS_BYTES", "MAX_RESULTS_PAGE", "PRECALL_PARSERS", "PrecallResult",
           "PrecallResults"]

MAX_MEASUREMENTS_BYTES = 8192  # a check's measurements are a few hundred bytes; this bounds what is stored
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
    try:
        size = len(json.dumps(measurements, separators=(",", ":")))
    except (TypeError, ValueError, RecursionError):  # msgpack can carry bytes, non-string keys, deep nesting
        raise _invalid("'measurements' must hold only JSON values") from None
    if size > MAX_MEASUREMENTS_BYTES:
        raise _invalid(f"'measurements' is larger than {MAX_MEASUREMENTS_BYTES} bytes")
    return PrecallResult(rid, measurements)


def _parse_results(rid: Any, f: dict[str, Any], limits: Any) -> Request:
    limit = f.get("limit", DEFAULT_RESULTS_PAGE)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_RESULTS_PAGE:
        raise _invalid(f"'limit' must be an integer from 1 to {MAX_RESULTS_PAGE}")
    return PrecallResults(rid, _string(f, "user", MAX_USER_CHARS, required=False), limit)


PRECALL_PARSERS = {"precall_result": _parse_result, "precall_results": _parse_results}
