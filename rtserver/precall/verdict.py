"""The pre-call check's verdict: a pure function from a check's measurements to its result.

    evaluate(measurements) -> {"verdict", "mode", "video", "advice", "mos", "findings", "measurements"}

``mode`` is the best way the interview will work from there: ``video`` (at the tier ``video``
names), ``audio`` (sound only) or ``none`` (not online at all; the blocking findings say why).
``verdict`` judges the interview as planned, with video. Results stored before ``mode`` existed
get one from their verdict and video (``result_mode``).

The measurements are those of docs/precall.md (every section optional: an absent section was not
tested and produces no finding; unknown sections are ignored), checked against their schema
(``rtserver.protocol.measurements``): malformed measurements raise ``ValueError`` saying which
field is wrong; the caller reports it (the node: ``invalid_message``, having already dropped the
unknown fields, so the result carries only the known ones).
The thresholds below are the whole policy; docs/precall-verdict.md lists them with their sources.
A measure at a threshold gets that threshold's severity.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterator
from typing import Any

from ..protocol.measurements import TRANSPORTS, clean_measurements
from .findings import FindingCode, Severity, finding, mode_advice

__all__ = [
    "AUDIO_LOSS_MAX_PCT",
    "AUDIO_MAX_RTT_MS",
    "AUDIO_MIN_KBPS",
    "CAMERA_LOW_FRAMERATE_INFO_FPS",
    "CAMERA_LOW_FRAMERATE_WARNING_FPS",
    "CAMERA_LOW_RESOLUTION_INFO_ROWS",
    "CAMERA_LOW_RESOLUTION_WARNING_ROWS",
    "HIGH_JITTER_WARNING_MS",
    "HIGH_LATENCY_BLOCKING_RTT_MS",
    "HIGH_LATENCY_WARNING_RTT_MS",
    "LOW_BANDWIDTH_BLOCKING_KBPS",
    "LOW_BANDWIDTH_WARNING_KBPS",
    "PACKET_LOSS_BLOCKING_PCT",
    "PACKET_LOSS_WARNING_PCT",
    "VIDEO_TIERS",
    "Mode",
    "Verdict",
    "Video",
    "capacity_kbps",
    "estimate_mos",
    "evaluate",
    "result_mode",
    "supported_video",
]

# -- thresholds --------------------------------------------------------------------------------------
# Round trip client <-> node. In an interview the mouth-to-ear delay between the two people is about
# half of each one's round trip to the node, plus capture, encoding and the jitter buffer (50-100 ms
# in WebRTC). ITU-T G.114 keeps one-way delay under 150 ms for fluent conversation and calls over
# 400 ms unacceptable. A jobseeker at 150 ms facing an advisor on an office network is already
# around G.114's 150 ms; Twilio's diagnostics grade 100 ms "excellent" and 250 ms "good", Daily's
# test warns from 300 ms: we warn earlier than both, for the conversation's sake (an added 200 ms
# must warn). From 600 ms (Daily's "bad"), the one-way delay reaches G.114's 400 ms even when the
# other side adds nothing: people talk over each other; the interview as planned is not ready.
# Video is what such a round trip breaks, not sound: every repair of a lost video packet and every
# keyframe request costs a round trip, sound needs none (calibration, docs/precall-verdict.md: at
# 650 ms the interview's sound arrived whole both ways while the advisor's picture froze 2 s), so
# from 600 ms the mode is sound only.
HIGH_LATENCY_WARNING_RTT_MS = 150.0
HIGH_LATENCY_BLOCKING_RTT_MS = 600.0
# The round trip from which even sound is no conversation: the E-model (MOS_R0 below) gives R = 0,
# a MOS of 1, from an effective latency of 1000 ms; a phone call works better.
AUDIO_MAX_RTT_MS = 1000.0

# Interarrival jitter (the worse direction). Twilio's diagnostics grade 5/10/30 ms and its voice
# SDK raises a warning above 30 ms, as common VoIP guidance does. No blocking level: the jitter
# buffer turns jitter into delay, which the MOS counts (twice the jitter), and no published scale
# makes jitter alone disqualifying.
HIGH_JITTER_WARNING_MS = 30.0

# Packets lost before retransmission, percent, in the worse direction. Twilio's diagnostics grade
# 1/3/8 %, its voice SDK warns from a 3 % average; Daily's test calls under 5 % good, 5-10 % a
# warning, beyond bad. We warn from Twilio's 3 % (a link losing 5 % must warn).
# Video stops at 9 % (calibrated, docs/precall-verdict.md): past 10 % lost each way an interview's
# sound breaks up (the matrix's 10 % link: 11-12 % of the audio lost; sound is not retransmitted),
# and a 5-second window reads the worse direction of a 10 % link as 9.8-10.1 % (three runs; one
# direction alone down to 8.6) and of a 5 % one as 4.9-8.8 % (about a thousand packets: a point of
# sampling error, and now and then a few points high). 9 %
# keeps the 10 % link from a video verdict, whose call then fails, at the cost of a 5 % link read
# high now and then; under it, retransmissions carry the smallest picture (the 5 % links held 30 fps).
PACKET_LOSS_WARNING_PCT = 3.0
PACKET_LOSS_BLOCKING_PCT = 9.0

# The link's capacity, kbit/s, headers and sound included: the narrower direction the capacity
# probe found (``capacity_kbps``; a check from before the probe: the bitrate it sent). Twilio's
# diagnostics grade 1000/500/150 and call 150 or less "bad"; Vonage's network test asks 300 kbit/s
# for 320x240 on a clean link, for the video alone. The capacity carries the sound besides (about
# 50 kbit/s with its headers from a browser, 120 from aiortc) and the room the node leaves for
# retransmissions and keyframes, so at or under 300 video does not hold and the interview goes
# sound only (calibrated, docs/precall-verdict.md: video never held on a 300 kbit/s link either
# way, the jobseeker decoding 0-0.5 frames a second, while 600 kbit/s links held 30 fps). Under 400
# the smallest picture works, blurred: a warning. The probe reads a lower bound when the sender was
# the limit (a clean link: at least about 1.5 Mbit/s), so such a rate never warns by itself.
LOW_BANDWIDTH_WARNING_KBPS = 400.0
LOW_BANDWIDTH_BLOCKING_KBPS = 300.0

# What sound alone needs. Opus carries speech at 16-32 kbit/s, plus 50 packets a second of headers
# (about 25 kbit/s): a link under 50 kbit/s cannot hold the interview even without video.
AUDIO_MIN_KBPS = 50.0
# Loss (the worse direction) from which even sound fails: Opus's concealment hides isolated losses
# and keeps speech intelligible to around 10-15 % random loss (listening tests behind RFC 6716's
# packet-loss concealment and in-band FEC); at 20 % whole words go, and a phone call works better.
AUDIO_LOSS_MAX_PCT = 20.0

# The camera's picture, in rows of the smaller dimension (a phone held upright gives 480x640).
# 240 rows is Vonage's smallest video setting (320x240): under it a face is hard to read, a
# warning; under 360 (the usual "360p") it is worth the advisor knowing, no more.
CAMERA_LOW_RESOLUTION_WARNING_ROWS = 240
CAMERA_LOW_RESOLUTION_INFO_ROWS = 360
# Frames per second. Vonage's lowest video settings run at 15 fps; under 10 fps lips and gestures
# visibly stutter. Low light slows webcams down, and a headless test camera may run under 20 fps,
# so only under 10 is a warning.
CAMERA_LOW_FRAMERATE_WARNING_FPS = 10.0
CAMERA_LOW_FRAMERATE_INFO_FPS = 15.0

# Vonage's network test (opentok-network-test-js, default qualityThresholds): at most 0.5 % loss,
# 1000 kbit/s carries 1280x720, 600 kbit/s 640x480, 300 kbit/s 320x240; at most 3 % loss,
# 150 kbit/s still carries 320x240. Its other 3 % rows (350 kbit/s for 720p, 250 for 480p) are left
# out: they would grade a lossier link better than a clean one at the same rate. Checked in order.
VIDEO_TIERS: tuple[tuple[float, float, str], ...] = (
    (1000.0, 0.5, "720p"),
    (600.0, 0.5, "480p"),
    (300.0, 0.5, "240p"),
    (150.0, 3.0, "240p"),
)

# The E-model simplification Twilio's preflight uses, as published in twilio-video
# (lib/preflight/mos.ts, calculateMOS) and @twilio/voice-sdk (rtc/mos.js, calculate):
# effective latency = rtt + 2 * jitter + 10; R = R0 - latency / 40 under 160 ms, else
# R0 - (latency - 120) / 10, and 0 from 1000 ms; then R - 2.5 * loss (floored at 6.52, where MOS
# is 1), or 0 when the loss exceeds R / 2.5; MOS = 1 + 0.035 R + 7e-6 R (R - 60) (100 - R).
# Their R0 is 94.768 (G.107's basic signal-to-noise ratio), not 93.2 (G.107's default R, which
# already subtracts the simultaneous impairment). The voice SDK passes the loss in percent
# (packetsLostFraction; its own warning thresholds on it are 1 and 3).
MOS_R0 = 94.768
MOS_R_FLOOR = 6.52
MOS_MIN = 1.0
MOS_MAX = 4.5


class Verdict(enum.StrEnum):
    READY = "ready"
    READY_WITH_WARNINGS = "ready-with-warnings"
    NOT_READY = "not-ready"


class Mode(enum.StrEnum):
    VIDEO = "video"  # the video interview works (at the tier ``video`` says)
    AUDIO = "audio"  # sound only: the camera or the link cannot carry video, sound will work
    NONE = "none"  # not online from there: a phone call (the blocking findings say why)


class Video(enum.StrEnum):
    HD = "720p"
    SD = "480p"
    LOW = "240p"
    AUDIO_ONLY = "audio-only"
    NONE = "none"  # the camera is unusable, or no media got through (or none was measured)


# -- validation --------------------------------------------------------------------------------------
def _sections(measurements: Any) -> dict[str, dict[str, Any]]:
    """The known sections present, each checked against the schema (``protocol.measurements``);
    raises ValueError naming the first wrong field."""
    cleaned = clean_measurements(measurements)
    return {name: section for name, section in cleaned.items() if isinstance(section, dict)}


# -- findings ----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True)
class DeviceCodes:
    denied: FindingCode
    missing: FindingCode
    busy: FindingCode
    failed: FindingCode


CAMERA_CODES = DeviceCodes(FindingCode.CAMERA_DENIED, FindingCode.CAMERA_MISSING, FindingCode.CAMERA_BUSY,
                           FindingCode.CAMERA_FAILED)
MICROPHONE_CODES = DeviceCodes(FindingCode.MICROPHONE_DENIED, FindingCode.MICROPHONE_MISSING,
                               FindingCode.MICROPHONE_BUSY, FindingCode.MICROPHONE_FAILED)
# getUserMedia's error names (with Chrome's and Firefox's older and looser ones): refused by the
# person or the system; no such device; the device could not be opened, in practice because
# another application holds it (Windows and most webcams allow a single user).
DENIED_ERRORS = frozenset({"NotAllowedError", "SecurityError", "PermissionDeniedError"})
MISSING_ERRORS = frozenset({"NotFoundError", "DevicesNotFoundError"})
BUSY_ERRORS = frozenset({"NotReadableError", "TrackStartError", "AbortError"})

Finding = dict[str, Any]


def _device_problem(section: dict[str, Any], codes: DeviceCodes) -> FindingCode | None:
    """Which of the device's problems the section shows, or None when it works (or says nothing)."""
    error, permission = section.get("error"), section.get("permission")
    if error is None and permission in (None, "granted"):
        return None
    if error in DENIED_ERRORS or permission == "denied":
        return codes.denied
    if error in MISSING_ERRORS or (error is None and section.get("devices") == 0):
        return codes.missing
    if error in BUSY_ERRORS:
        return codes.busy
    return codes.failed


def _at_or_over(value: float, warning: float, blocking: float | None = None) -> Severity | None:
    if blocking is not None and value >= blocking:
        return Severity.BLOCKING
    return Severity.WARNING if value >= warning else None


def _at_or_under(value: float, warning: float, blocking: float) -> Severity | None:
    if value <= blocking:
        return Severity.BLOCKING
    return Severity.WARNING if value <= warning else None


def _camera_quality(camera: dict[str, Any]) -> Iterator[Finding]:
    sides = [camera[side] for side in ("width", "height") if camera.get(side) is not None]
    if sides:
        rows = min(sides)
        if rows < CAMERA_LOW_RESOLUTION_WARNING_ROWS:
            yield finding(FindingCode.CAMERA_LOW_RESOLUTION, Severity.WARNING, rows)
        elif rows < CAMERA_LOW_RESOLUTION_INFO_ROWS:
            yield finding(FindingCode.CAMERA_LOW_RESOLUTION, Severity.INFO, rows)
    fps = camera.get("fps")
    if fps is not None:
        if fps < CAMERA_LOW_FRAMERATE_WARNING_FPS:
            yield finding(FindingCode.CAMERA_LOW_FRAMERATE, Severity.WARNING, fps)
        elif fps < CAMERA_LOW_FRAMERATE_INFO_FPS:
            yield finding(FindingCode.CAMERA_LOW_FRAMERATE, Severity.INFO, fps)


def _devices(sections: dict[str, dict[str, Any]]) -> Iterator[Finding]:
    browser = sections.get("browser")
    if browser is not None and False in (browser.get("webrtc"), browser.get("get_user_media")):
        # A browser keeps getUserMedia from a page that is not a secure context (HTTPS or localhost):
        # the page's address is the cause, not the browser.
        insecure = browser.get("secure_context") is False and browser.get("webrtc") is not False
        yield finding(FindingCode.INSECURE_PAGE if insecure else FindingCode.BROWSER_UNSUPPORTED, Severity.BLOCKING)
    if (camera := sections.get("camera")) is not None:
        if problem := _device_problem(camera, CAMERA_CODES):
            yield finding(problem, Severity.BLOCKING)
        else:
            yield from _camera_quality(camera)
    if (microphone := sections.get("microphone")) is not None:
        if problem := _device_problem(microphone, MICROPHONE_CODES):
            yield finding(problem, Severity.BLOCKING)
        elif microphone.get("silent") is True:
            yield finding(FindingCode.MICROPHONE_SILENT, Severity.WARNING, microphone.get("level"))


def _connectivity(network: dict[str, Any] | None, transports: dict[str, Any] | None) -> Iterator[Finding]:
    tried = [transports.get(name) for name in TRANSPORTS if transports.get(name) is not None] if transports else []
    worked = True in tried
    if network is not None and not network["connected"]:
        # Nothing got through. When the transports were probed and none worked, the network is to
        # blame; when one worked (or none was probed), the loopback failed for another reason.
        code = FindingCode.NETWORK_BLOCKED if transports is not None and not worked else FindingCode.MEDIA_FAILED
        yield finding(code, Severity.BLOCKING)
    elif network is None and tried and not worked:
        yield finding(FindingCode.NETWORK_BLOCKED, Severity.BLOCKING)
    elif _relayed(network, transports, worked):
        yield finding(FindingCode.RELAY_USED, Severity.INFO)


def _relayed(network: dict[str, Any] | None, transports: dict[str, Any] | None, worked: bool) -> bool:
    transport: str | None = network.get("transport") if network is not None else None
    if transport is not None:
        return transport != "udp"
    return transports is not None and transports.get("udp") is False and worked


def capacity_kbps(network: dict[str, Any]) -> float:
    """What the link carries, kbit/s: the narrower of the directions the probe measured; a check
    from before the probe (or whose probe did not finish): the bitrate it sent."""
    measured: list[float] = [network[k] for k in ("capacity_up_kbps", "capacity_down_kbps")
                             if network.get(k) is not None]
    if measured:
        return min(measured)
    sent: float = network["send_kbps"]
    return sent


def _network_quality(network: dict[str, Any]) -> Iterator[Finding]:
    graded: list[tuple[FindingCode, Any, Callable[[float], Severity | None]]] = [
        (FindingCode.HIGH_LATENCY, network.get("rtt_ms"),
         lambda v: _at_or_over(v, HIGH_LATENCY_WARNING_RTT_MS, HIGH_LATENCY_BLOCKING_RTT_MS)),
        (FindingCode.HIGH_JITTER, network.get("jitter_ms"), lambda v: _at_or_over(v, HIGH_JITTER_WARNING_MS)),
        (FindingCode.PACKET_LOSS, network["loss_pct"],
         lambda v: _at_or_over(v, PACKET_LOSS_WARNING_PCT, PACKET_LOSS_BLOCKING_PCT)),
        (FindingCode.LOW_BANDWIDTH, capacity_kbps(network),
         lambda v: _at_or_under(v, LOW_BANDWIDTH_WARNING_KBPS, LOW_BANDWIDTH_BLOCKING_KBPS)),
    ]
    for code, value, grade in graded:
        if value is not None and (severity := grade(value)) is not None:
            yield finding(code, severity, value)


# -- figures -----------------------------------------------------------------------------------------
def estimate_mos(rtt_ms: float, jitter_ms: float, loss_pct: float) -> float:
    """Twilio's E-model estimate (see MOS_R0), from 1 to 4.5, to two decimals."""
    latency = rtt_ms + 2 * jitter_ms + 10
    if latency < 160:
        r = MOS_R0 - latency / 40
    elif latency < 1000:
        r = MOS_R0 - (latency - 120) / 10
    else:
        r = 0.0
    r = max(r - 2.5 * loss_pct, MOS_R_FLOOR) if loss_pct <= r / 2.5 else 0.0
    mos = 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r)
    return round(min(max(mos, MOS_MIN), MOS_MAX), 2)


def supported_video(kbps: float, loss_pct: float) -> Video:
    """The best video a link of ``kbps`` losing ``loss_pct`` carries (VIDEO_TIERS), else audio only."""
    for min_kbps, max_loss_pct, video in VIDEO_TIERS:
        if kbps >= min_kbps and loss_pct <= max_loss_pct:
            return Video(video)
    return Video.AUDIO_ONLY


def _verdict(findings: list[Finding]) -> Verdict:
    severities = {f["severity"] for f in findings}
    if Severity.BLOCKING in severities:
        return Verdict.NOT_READY
    return Verdict.READY_WITH_WARNINGS if Severity.WARNING in severities else Verdict.READY


# The findings that leave no way online (sound included): the page, the browser, the microphone,
# a network that let nothing through. Network figures are judged by _link_mode.
_NO_CALL = frozenset({FindingCode.INSECURE_PAGE, FindingCode.BROWSER_UNSUPPORTED, FindingCode.MICROPHONE_DENIED,
                      FindingCode.MICROPHONE_MISSING, FindingCode.MICROPHONE_BUSY, FindingCode.MICROPHONE_FAILED,
                      FindingCode.NETWORK_BLOCKED, FindingCode.MEDIA_FAILED})


def _link_mode(network: dict[str, Any]) -> Mode:
    """What a connected loopback's figures allow."""
    rtt, loss, kbps = network.get("rtt_ms"), network["loss_pct"], capacity_kbps(network)
    if (rtt is not None and rtt >= AUDIO_MAX_RTT_MS) or loss >= AUDIO_LOSS_MAX_PCT or kbps < AUDIO_MIN_KBPS:
        return Mode.NONE
    if ((rtt is not None and rtt >= HIGH_LATENCY_BLOCKING_RTT_MS) or loss >= PACKET_LOSS_BLOCKING_PCT
            or kbps <= LOW_BANDWIDTH_BLOCKING_KBPS):
        return Mode.AUDIO
    return Mode.VIDEO


def _mode(findings: list[Finding], network: dict[str, Any] | None, camera: dict[str, Any] | None) -> Mode:
    if any(f["code"] in _NO_CALL and f["severity"] == Severity.BLOCKING for f in findings):
        return Mode.NONE
    mode = _link_mode(network) if network is not None and network["connected"] else Mode.VIDEO
    if mode is Mode.VIDEO and camera is not None and _device_problem(camera, CAMERA_CODES) is not None:
        return Mode.AUDIO
    return mode


def result_mode(result: dict[str, Any]) -> str:
    """A stored result's mode: its own, or, for one stored before modes, what its verdict and video
    meant then (the page offered sound only or a call to every ``not-ready``)."""
    mode = result.get("mode")
    if mode in Mode.__members__.values():
        return str(mode)
    video = result.get("video")
    if video in (None, Video.NONE):
        return Mode.NONE.value
    if video == Video.AUDIO_ONLY or result.get("verdict") == Verdict.NOT_READY:
        return Mode.AUDIO.value
    return Mode.VIDEO.value


def evaluate(measurements: dict[str, Any]) -> dict[str, Any]:
    """The result of a check (without ``ts``): verdict, mode, supported video, the mode's advice,
    MOS (None without a connected loopback that measured RTT and jitter, or without a working
    microphone), findings, and the
    measurements as given."""
    sections = _sections(measurements)
    network, transports, camera = sections.get("network"), sections.get("transports"), sections.get("camera")
    findings = [*_devices(sections), *_connectivity(network, transports)]
    mos: float | None = None
    connected = network is not None and network["connected"]
    # A voice quality needs a voice: with the microphone refused, missing or failing, the loopback
    # still measures the network, but a MOS of 4.4 beside "no sound possible" read as a promise.
    microphone = sections.get("microphone")
    voice = microphone is None or _device_problem(microphone, MICROPHONE_CODES) is None
    if connected:
        assert network is not None
        findings += _network_quality(network)
        if voice and network.get("rtt_ms") is not None and network.get("jitter_ms") is not None:
            mos = estimate_mos(network["rtt_ms"], network["jitter_ms"], network["loss_pct"])
    mode = _mode(findings, network, camera)
    video = Video.NONE if mode is Mode.NONE else Video.AUDIO_ONLY
    if mode is Mode.VIDEO and connected:
        assert network is not None
        # Vonage's tiers promise no video past 3 % loss; under the blocking 10 %, retransmissions
        # still carry the smallest picture, degraded (the packet_loss warning says so).
        video = supported_video(capacity_kbps(network), network["loss_pct"])
        if video is Video.AUDIO_ONLY:
            video = Video.LOW
    elif mode is Mode.VIDEO:
        video = Video.NONE  # nothing measured the link: no tier to promise
    return {"verdict": _verdict(findings).value, "mode": mode.value, "video": video.value,
            "advice": mode_advice(mode.value), "mos": mos, "findings": findings, "measurements": measurements}
