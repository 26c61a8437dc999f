"""The pre-call check's measurements as a schema: each known field with its type and range.

    clean_measurements(value) -> the measurements to store, or MeasurementError naming the field

The schema is a table (``MEASUREMENTS``): sections of fields, each field a validator that returns
the value to keep. A known field may be null or absent (not measured); when present it must be a
finite number in its range, a boolean, one of an enum's values or a bounded string, else the
whole check is refused (``MeasurementError``, a ``ValueError`` whose message names the field).
Fields and sections the table does not know are dropped, whatever they hold, without being read:
so what is stored is at most as deep as the table (``network.probe.steps``, a bounded list of
objects, is the deepest: four levels), finite and bounded, and always encodes as JSON and msgpack.
What the fields mean is ``rtserver.precall.verdict``'s; see ``docs/precall.md``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_ERROR_CHARS", "MAX_PROBE_STEPS", "MAX_USER_AGENT_CHARS", "MEASUREMENTS", "PERMISSIONS", "TRANSPORTS",
           "MeasurementError", "Section", "clean_measurements", "encoded_size"]

MAX_MS = 3_600_000.0  # an hour: any duration or delay beyond it is a broken measurement
MAX_KBPS = 10_000_000.0
MAX_PIXELS = 100_000.0
MAX_FPS = 1000.0
MAX_DEVICES = 1000
MAX_USER_AGENT_CHARS = 300  # the browser page sends the first 300 characters of navigator.userAgent
MAX_ERROR_CHARS = 64  # a getUserMedia error's name: "NotReadableError", "OverconstrainedError", ...
ERROR_NAME = re.compile(r"[A-Za-z]+")  # a DOMException's name: letters only, nothing to render as markup
TRANSPORTS = ("udp", "turn-udp", "turn-tcp", "turn-tls")
PERMISSIONS = ("granted", "denied", "prompt", "unavailable")
CLIENT_KINDS = ("browser", "python")  # static/rtprecall.js, rtserver.client.precall


class MeasurementError(ValueError):
    """A known field's value is wrong; the message names the field (``'network.rtt_ms' must be ...``)."""


Validator = Callable[[str, Any], Any]  # (the field's dotted name, its value) -> the value to keep


def _shown(value: Any) -> str:
    """The value in an error message: short, whatever was sent (a container is named, not printed)."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _bound(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:g}"  # 3600000, not 3.6e+06


def number(low: float, high: float) -> Validator:
    def check(where: str, value: Any) -> float:
        # Compared first: NaN fails every comparison, and math.isfinite overflows on huge ints.
        if isinstance(value, bool) or not isinstance(value, int | float) or not (
                low <= value <= high and math.isfinite(value)):
            raise MeasurementError(
                f"'{where}' must be a number from {_bound(low)} to {_bound(high)}, not {_shown(value)}")
        return value
    return check


def integer(low: int, high: int) -> Validator:
    def check(where: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise MeasurementError(f"'{where}' must be an integer from {low} to {high}, not {_shown(value)}")
        return value
    return check


def boolean(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise MeasurementError(f"'{where}' must be true or false, not {_shown(value)}")
    return value


def text(max_chars: int, pattern: re.Pattern[str] | None = None) -> Validator:
    def check(where: str, value: Any) -> str:
        if not isinstance(value, str) or len(value) > max_chars:
            raise MeasurementError(f"'{where}' must be a string of at most {max_chars} characters, not {_shown(value)}")
        if pattern is not None and not pattern.fullmatch(value):
            raise MeasurementError(f"'{where}' must match {pattern.pattern}, not {_shown(value)}")
        try:
            value.encode()
        except UnicodeEncodeError:  # a lone surrogate: neither orjson nor msgpack would encode it
            raise MeasurementError(f"'{where}' must be valid Unicode text") from None
        return value
    return check


def items(validator: Validator, max_items: int) -> Validator:
    """A list of at most ``max_items`` values, each checked by ``validator``."""
    def check(where: str, value: Any) -> list[Any]:
        if not isinstance(value, list) or len(value) > max_items:
            raise MeasurementError(f"'{where}' must be a list of at most {max_items} items, not {_shown(value)}")
        return [validator(f"{where}[{i}]", item) for i, item in enumerate(value)]
    return check


def one_of(*choices: str) -> Validator:
    def check(where: str, value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise MeasurementError(f"'{where}' must be one of {', '.join(choices)}, not {_shown(value)}")
        return value
    return check


@dataclasses.dataclass(frozen=True, slots=True)
class Section:
    """An object of known fields: each present one validated and kept (null kept as null), the
    others dropped unread. ``required`` fields must be present and not null; ``rule`` checks what
    involves several fields, once each has passed its own check."""

    fields: dict[str, Validator]
    required: tuple[str, ...] = ()
    rule: Callable[[str, dict[str, Any]], None] | None = None

    def __call__(self, where: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise MeasurementError(f"'{where or 'measurements'}' must be an object, not {_shown(value)}")
        kept: dict[str, Any] = {}
        for name, validator in self.fields.items():
            path = f"{where}.{name}" if where else name
            field = value.get(name)
            if field is None and name in self.required:
                raise MeasurementError(f"'{path}' is required")
            if name in value:
                kept[name] = None if field is None else validator(path, field)
        if self.rule is not None:
            self.rule(where, kept)
        return kept


def _loopback_figures(where: str, network: dict[str, Any]) -> None:
    """What every connected loopback measures, and the verdict needs."""
    if network["connected"]:
        for name in ("loss_pct", "send_kbps"):
            if network.get(name) is None:
                raise MeasurementError(f"'{where}.{name}' is required when '{where}.connected' is true")


_DEVICE: dict[str, Validator] = {"permission": one_of(*PERMISSIONS), "devices": integer(0, MAX_DEVICES),
                                 "error": text(MAX_ERROR_CHARS, ERROR_NAME)}
_MS, _KBPS, _PCT = number(0, MAX_MS), number(0, MAX_KBPS), number(0, 100)
MAX_PROBE_STEPS = 8  # rtserver.precall.probe.MAX_STEPS: what the node's probe reports at most

# The capacity probe's record (rtserver.precall.probe): whether each way's capacity was reached
# (true: the link's; false: at least that, the sender was the limit), the hold's rate, its steps.
_PROBE = Section({
    "saturated_up": boolean, "saturated_down": boolean, "hold_kbps": _KBPS, "duration_ms": _MS,
    "steps": items(Section({"at_ms": _MS, "kbps": _KBPS, "recv_kbps": _KBPS, "loss_pct": _PCT, "queue_ms": _MS}),
                   MAX_PROBE_STEPS),
})

# Every section is optional (absent: not tested). docs/precall.md documents each field.
MEASUREMENTS = Section({
    "client": Section({"kind": one_of(*CLIENT_KINDS), "user_agent": text(MAX_USER_AGENT_CHARS)}),
    "browser": Section({"webrtc": boolean, "get_user_media": boolean, "secure_context": boolean}),
    "camera": Section({**_DEVICE, "width": number(0, MAX_PIXELS), "height": number(0, MAX_PIXELS),
                       "fps": number(0, MAX_FPS)}),
    "microphone": Section({**_DEVICE, "level": number(0, 1), "silent": boolean}),
    "network": Section({"connected": boolean, "transport": one_of(*TRANSPORTS), "rtt_ms": _MS, "jitter_ms": _MS,
                        "loss_pct": _PCT, "loss_up_pct": _PCT, "loss_down_pct": _PCT, "loss_echo_pct": _PCT,
                        "send_kbps": _KBPS, "recv_kbps": _KBPS, "duration_ms": _MS,
                        "capacity_up_kbps": _KBPS, "capacity_down_kbps": _KBPS, "probe": _PROBE},
                       required=("connected",), rule=_loopback_figures),
    "transports": Section({**{name: boolean for name in TRANSPORTS}, "turn_configured": boolean}),
    "duration_ms": _MS,
})


def clean_measurements(value: Any) -> dict[str, Any]:
    """The measurements to store: the known fields, checked. Raises MeasurementError naming the
    first wrong field."""
    return MEASUREMENTS("", value)


def encoded_size(value: Any, limit: int) -> int:
    """About how many bytes ``value`` takes as compact JSON (strings counted in UTF-8), or
    ``limit + 1`` as soon as it is over ``limit``. Iterative, so no nesting depth makes it
    recurse, and it stops within ``limit`` steps; values JSON has no form for (msgpack's bytes
    and extension types) are counted by their length or their repr's."""
    size, stack = 0, [value]
    while stack and size <= limit:
        item = stack.pop()
        if isinstance(item, dict):
            size += 2 + len(item)  # braces, a colon per key (commas are one fewer than colons)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            size += 2 + len(item)
            stack.extend(item)
        elif isinstance(item, str):
            size += 2 + len(item.encode(errors="replace"))
        elif isinstance(item, bytes | bytearray):
            size += 2 + len(item)
        else:
            size += len(repr(item))
    return size if size <= limit else limit + 1
