"""The pre-call verdict as a pure function: the contract's scenarios, every finding, each threshold's
boundaries, validation, and the MOS and verdict getting no better as the network gets worse."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtserver.precall import verdict as v
from rtserver.precall.findings import TEXTS, FindingCode, Severity, finding, mode_advice
from rtserver.precall.verdict import estimate_mos, evaluate, supported_video

GOOD_NETWORK = {"connected": True, "transport": "udp", "rtt_ms": 1.0, "jitter_ms": 1.0, "loss_pct": 0.0,
                "send_kbps": 1500, "recv_kbps": 1400, "duration_ms": 5000}
GOOD_DEVICE = {"permission": "granted", "devices": 1, "error": None}
BROWSER = {"client": {"kind": "browser", "user_agent": "test"},
           "browser": {"webrtc": True, "get_user_media": True},
           "camera": {**GOOD_DEVICE, "width": 640, "height": 480, "fps": 30},
           "microphone": {**GOOD_DEVICE, "level": 0.12, "silent": False},
           "network": GOOD_NETWORK,
           "transports": {"udp": True, "turn-udp": None, "turn-tcp": None, "turn-tls": None,
                          "turn_configured": False},
           "duration_ms": 12000}
PYTHON = {"client": {"kind": "python"}, "network": GOOD_NETWORK, "transports": BROWSER["transports"]}

VERDICT_RANK = {"ready": 0, "ready-with-warnings": 1, "not-ready": 2}


def with_(base: dict[str, Any], **sections: dict[str, Any]) -> dict[str, Any]:
    """``base`` with some sections' fields replaced."""
    changed = copy.deepcopy(base)
    for name, fields in sections.items():
        changed[name] = {**changed.get(name, {}), **fields}
    return changed


def network(**fields: Any) -> dict[str, Any]:
    return with_(PYTHON, network=fields)


def codes(result: dict[str, Any], *severities: str) -> set[str]:
    return {f["code"] for f in result["findings"] if not severities or f["severity"] in severities}


def severity_of(result: dict[str, Any], code: str) -> str | None:
    return next((f["severity"] for f in result["findings"] if f["code"] == code), None)


# -- the contract's scenarios ------------------------------------------------------------------------
@pytest.mark.parametrize("base", [PYTHON, BROWSER], ids=["python", "browser"])
@pytest.mark.parametrize("send_kbps", [500, 900, 2000])  # was 300: calibrated, 300 kbit/s no longer carries video
def test_clean_network_is_ready(base: dict[str, Any], send_kbps: int):
    result = evaluate(with_(base, network={"send_kbps": send_kbps}))
    assert result["verdict"] == "ready", result["findings"]
    assert codes(result, "warning", "blocking") == set()


@pytest.mark.parametrize("loss", [3.5, 5.0, 6.5])  # 5 % as a few seconds of packets measure it
def test_five_percent_loss_warns_about_loss(loss: float):
    result = evaluate(network(loss_pct=loss, send_kbps=700))
    assert result["verdict"] == "ready-with-warnings"
    assert severity_of(result, "packet_loss") == "warning"


@pytest.mark.parametrize("rtt", [200.0, 230.0, 260.0])
def test_two_hundred_ms_added_delay_warns_about_latency(rtt: float):
    result = evaluate(network(rtt_ms=rtt))
    assert result["verdict"] == "ready-with-warnings"
    assert severity_of(result, "high_latency") == "warning"


def test_thirty_percent_loss_is_not_ready():
    result = evaluate(network(loss_pct=30.0))
    assert result["verdict"] == "not-ready"
    assert severity_of(result, "packet_loss") == "blocking"


@pytest.mark.parametrize(("send", "loss"), [(150, 12.0), (140, 40.0), (90, 3.0), (150, 0.0)])
def test_a_150_kbps_cap_is_not_ready(send: int, loss: float):
    result = evaluate(network(send_kbps=send, loss_pct=loss))
    assert result["verdict"] == "not-ready"
    assert codes(result, "blocking") & {"low_bandwidth", "packet_loss"}


@pytest.mark.parametrize("relay", ["turn-udp", "turn-tcp", "turn-tls"])
def test_udp_blocked_with_turn_uses_the_relay(relay: str):
    measured = with_(PYTHON, network={"transport": relay},
                     transports={"udp": False, relay: True, "turn_configured": True})
    result = evaluate(measured)
    assert result["verdict"] in {"ready", "ready-with-warnings"}
    assert "relay_used" in codes(result)
    assert codes(result, "blocking") == set()


def test_udp_blocked_without_turn_is_not_ready_network_blocked():
    measured = with_(PYTHON, network={"connected": False, "transport": None},
                     transports={"udp": False, "turn_configured": False})
    result = evaluate(measured)
    assert result["verdict"] == "not-ready"
    assert "network_blocked" in codes(result, "blocking")
    assert result["mos"] is None and result["video"] == "none"


def test_camera_refused_is_not_ready_camera_denied():
    result = evaluate(with_(BROWSER, camera={"permission": "denied", "error": "NotAllowedError",
                                             "width": None, "height": None, "fps": None}))
    assert result["verdict"] == "not-ready"
    assert "camera_denied" in codes(result, "blocking")
    # The network carries video, but there is no camera to send: the interview works with sound.
    assert result["mode"] == "audio" and result["video"] == "audio-only"


# -- every finding reachable ---------------------------------------------------------------------------
REACHING: dict[FindingCode, dict[str, Any]] = {
    FindingCode.BROWSER_UNSUPPORTED: {"browser": {"webrtc": False, "get_user_media": True}},
    FindingCode.INSECURE_PAGE: {"browser": {"webrtc": True, "get_user_media": False, "secure_context": False}},
    FindingCode.CAMERA_DENIED: with_(BROWSER, camera={"permission": "denied", "error": "NotAllowedError"}),
    FindingCode.CAMERA_MISSING: with_(BROWSER, camera={"permission": "prompt", "devices": 0, "error": "NotFoundError"}),
    FindingCode.CAMERA_BUSY: with_(BROWSER, camera={"permission": "granted", "error": "NotReadableError"}),
    FindingCode.CAMERA_FAILED: with_(BROWSER, camera={"permission": "granted", "error": "OverconstrainedError"}),
    FindingCode.CAMERA_LOW_RESOLUTION: with_(BROWSER, camera={"width": 176, "height": 144}),
    FindingCode.CAMERA_LOW_FRAMERATE: with_(BROWSER, camera={"fps": 5}),
    FindingCode.MICROPHONE_DENIED: with_(BROWSER, microphone={"permission": "denied", "error": "NotAllowedError"}),
    FindingCode.MICROPHONE_MISSING: with_(BROWSER, microphone={"permission": "granted", "devices": 0,
                                                               "error": "NotFoundError"}),
    FindingCode.MICROPHONE_BUSY: with_(BROWSER, microphone={"error": "NotReadableError"}),
    FindingCode.MICROPHONE_FAILED: with_(BROWSER, microphone={"error": "TypeError"}),
    FindingCode.MICROPHONE_SILENT: with_(BROWSER, microphone={"level": 0.001, "silent": True}),
    FindingCode.MEDIA_FAILED: with_(PYTHON, network={"connected": False}, transports={"udp": True}),
    FindingCode.NETWORK_BLOCKED: with_(PYTHON, network={"connected": False},
                                       transports={"udp": False, "turn-udp": False, "turn-tcp": False,
                                                   "turn-tls": False, "turn_configured": True}),
    FindingCode.RELAY_USED: with_(PYTHON, network={"transport": "turn-tcp"}),
    FindingCode.HIGH_LATENCY: network(rtt_ms=800.0),
    FindingCode.HIGH_JITTER: network(jitter_ms=45.0),
    FindingCode.PACKET_LOSS: network(loss_pct=12.0),
    FindingCode.LOW_BANDWIDTH: network(send_kbps=100),
}


def test_every_finding_code_has_a_way_to_reach_it():
    assert set(REACHING) == set(FindingCode) == set(TEXTS)


@pytest.mark.parametrize("code", list(FindingCode), ids=str)
def test_each_finding_is_reached(code: FindingCode):
    result = evaluate(REACHING[code])
    assert code.value in codes(result), result["findings"]
    expected = "not-ready" if "blocking" in {f["severity"] for f in result["findings"]} else None
    assert expected is None or result["verdict"] == expected


@pytest.mark.parametrize("code", list(FindingCode), ids=str)
@pytest.mark.parametrize("severity", list(Severity), ids=str)
def test_every_finding_speaks_both_languages(code: FindingCode, severity: Severity):
    built = finding(code, severity, 12.5)
    assert built["code"] == code.value and built["severity"] == severity.value and built["value"] == 12.5
    for part in ("message", "remedy"):
        assert set(built[part]) == {"fr", "en"}
        assert all(text.strip() and "{" not in text for text in built[part].values()), built[part]
    assert built["message"]["fr"] != built["message"]["en"]


def test_measured_values_are_written_the_way_each_language_writes_numbers():
    built = evaluate(network(loss_pct=5.25))["findings"][0]
    assert "5,2" in built["message"]["fr"] and "5.2" in built["message"]["en"]  # one decimal
    assert built["value"] == 5.25  # the figure itself is not rounded


def test_blocking_network_findings_offer_the_phone_call():
    for measured, code in ((network(loss_pct=30.0), "packet_loss"), (network(rtt_ms=900.0), "high_latency")):
        found = next(f for f in evaluate(measured)["findings"] if f["code"] == code)
        assert "phone call" in found["remedy"]["en"] and "téléphone" in found["remedy"]["fr"]
    warned = next(f for f in evaluate(network(loss_pct=4.0))["findings"] if f["code"] == "packet_loss")
    assert "phone call" not in warned["remedy"]["en"]


def test_the_remedies_say_what_the_issue_asks():
    remedy = {code: finding(code, Severity.WARNING)["remedy"]["en"].lower() for code in FindingCode}
    assert "close other applications using the camera" in remedy[FindingCode.CAMERA_BUSY]
    assert "cable" in remedy[FindingCode.PACKET_LOSS] and "wi-fi box" in remedy[FindingCode.PACKET_LOSS]
    assert "relay" in finding(FindingCode.RELAY_USED, Severity.INFO)["message"]["en"]
    assert "lock" in remedy[FindingCode.CAMERA_DENIED] and "address" in remedy[FindingCode.CAMERA_DENIED]
    assert "blocks video calls" in finding(FindingCode.NETWORK_BLOCKED, Severity.BLOCKING)["message"]["en"]


# -- threshold boundaries ------------------------------------------------------------------------------
HIGHER_IS_WORSE = [
    ("rtt_ms", "high_latency", v.HIGH_LATENCY_WARNING_RTT_MS, v.HIGH_LATENCY_BLOCKING_RTT_MS),
    ("loss_pct", "packet_loss", v.PACKET_LOSS_WARNING_PCT, v.PACKET_LOSS_BLOCKING_PCT),
    ("jitter_ms", "high_jitter", v.HIGH_JITTER_WARNING_MS, None),
]


@pytest.mark.parametrize(("field", "code", "warning", "blocking"), HIGHER_IS_WORSE, ids=lambda x: str(x))
def test_higher_is_worse_boundaries(field: str, code: str, warning: float, blocking: float | None):
    just = 0.01
    assert severity_of(evaluate(network(**{field: warning - just})), code) is None
    assert severity_of(evaluate(network(**{field: warning})), code) == "warning"
    assert severity_of(evaluate(network(**{field: warning + just})), code) == "warning"
    if blocking is None:
        assert severity_of(evaluate(network(**{field: 100 * warning})), code) == "warning"  # never blocks
    else:
        assert severity_of(evaluate(network(**{field: blocking - just})), code) == "warning"
        assert severity_of(evaluate(network(**{field: blocking})), code) == "blocking"
        assert severity_of(evaluate(network(**{field: blocking + just})), code) == "blocking"


def test_bandwidth_boundaries():
    warning, blocking = v.LOW_BANDWIDTH_WARNING_KBPS, v.LOW_BANDWIDTH_BLOCKING_KBPS
    grade = {kbps: severity_of(evaluate(network(send_kbps=kbps)), "low_bandwidth")
             for kbps in (warning + 1, warning, warning - 1, blocking + 1, blocking, blocking - 1)}
    assert grade == {warning + 1: None, warning: "warning", warning - 1: "warning",
                     blocking + 1: "warning", blocking: "blocking", blocking - 1: "blocking"}


def test_thresholds_fit_the_contract():
    # What the end-to-end scenarios need, whatever values the constants are later tuned to.
    assert v.HIGH_LATENCY_WARNING_RTT_MS <= 200 < 260 < v.HIGH_LATENCY_BLOCKING_RTT_MS
    assert v.PACKET_LOSS_WARNING_PCT <= 5 < v.PACKET_LOSS_BLOCKING_PCT <= 30
    # (The bandwidth's were 200 and 250 before the calibration: 300 kbit/s links never held video.)
    # A 500 kbit/s cap, read as about 470 by the probe, is a clean video link (test_precall_network.py).
    assert v.LOW_BANDWIDTH_BLOCKING_KBPS >= 150 and v.LOW_BANDWIDTH_WARNING_KBPS < 450


@pytest.mark.parametrize(("side", "warning", "info"), [
    ("height", v.CAMERA_LOW_RESOLUTION_WARNING_ROWS, v.CAMERA_LOW_RESOLUTION_INFO_ROWS),
])
def test_camera_resolution_boundaries(side: str, warning: int, info: int):
    def graded(rows: int) -> str | None:
        return severity_of(evaluate(with_(BROWSER, camera={"width": 2000, side: rows})), "camera_low_resolution")
    assert (graded(warning - 1), graded(warning), graded(info - 1), graded(info)) == ("warning", "info", "info", None)
    upright = evaluate(with_(BROWSER, camera={"width": warning - 1, "height": 2000}))  # a phone held upright
    assert severity_of(upright, "camera_low_resolution") == "warning"


def test_camera_framerate_boundaries():
    def graded(fps: float) -> str | None:
        return severity_of(evaluate(with_(BROWSER, camera={"fps": fps})), "camera_low_framerate")
    warning, info = v.CAMERA_LOW_FRAMERATE_WARNING_FPS, v.CAMERA_LOW_FRAMERATE_INFO_FPS
    assert (graded(warning - 0.5), graded(warning), graded(info - 0.5), graded(info)) == (
        "warning", "info", "info", None)
    assert evaluate(with_(BROWSER, camera={"fps": info - 1}))["verdict"] == "ready"  # info does not count


# -- video ---------------------------------------------------------------------------------------------
def test_video_follows_vonage_tiers():
    assert supported_video(1000, 0.5) == "720p"
    assert supported_video(999, 0.0) == "480p"
    assert supported_video(1000, 0.6) == "240p"  # over 0.5 % loss only the lossy 240p row applies
    assert supported_video(600, 0.0) == "480p" and supported_video(599, 0.0) == "240p"
    assert supported_video(300, 0.0) == "240p" and supported_video(150, 3.0) == "240p"
    assert supported_video(149, 0.0) == "audio-only" and supported_video(5000, 3.1) == "audio-only"


@given(st.floats(0, 5000), st.floats(0, 100), st.floats(0, 500), st.floats(0, 10))
def test_video_never_improves_as_the_link_worsens(kbps: float, loss: float, less_kbps: float, more_loss: float):
    order = ["audio-only", "240p", "480p", "720p"]
    worse = supported_video(max(0.0, kbps - less_kbps), min(100.0, loss + more_loss))
    assert order.index(worse) <= order.index(supported_video(kbps, loss))


def test_video_is_none_without_media_or_camera():
    assert evaluate({})["video"] == "none"
    assert evaluate(network(connected=False))["video"] == "none"
    busy_microphone = evaluate(with_(BROWSER, microphone={"permission": "granted", "error": "NotReadableError"}))
    assert busy_microphone["video"] == "none"
    busy_camera = evaluate(with_(BROWSER, camera={"permission": "granted", "error": "NotReadableError"}))
    assert (busy_camera["mode"], busy_camera["video"]) == ("audio", "audio-only")
    assert evaluate(PYTHON)["video"] == "720p"  # no camera section: not tested, the network decides


# -- absent and unknown sections -----------------------------------------------------------------------
def test_nothing_measured_finds_nothing():
    # Nothing said the interview cannot have video, nor measured a link to promise a tier.
    assert evaluate({}) == {"verdict": "ready", "mode": "video", "video": "none", "advice": mode_advice("video"),
                            "mos": None, "findings": [], "measurements": {}}


@pytest.mark.parametrize("name", ["browser", "camera", "microphone", "network"])
def test_an_absent_section_produces_no_finding(name: str):
    # A measurement where every section finds something wrong, one section left out.
    everything_wrong = {"browser": {"webrtc": False, "get_user_media": False},
                        "camera": {"permission": "denied", "error": "NotAllowedError"},
                        "microphone": {"permission": "granted", "error": None, "silent": True},
                        "network": {"connected": True, "transport": "turn-tcp", "rtt_ms": 900, "jitter_ms": 90,
                                    "loss_pct": 40, "send_kbps": 50},
                        "transports": {"udp": False, "turn-tcp": True}}
    without = {k: s for k, s in everything_wrong.items() if k != name}
    prefix = {"browser": "browser_", "camera": "camera_", "microphone": "microphone_"}.get(name)
    found = codes(evaluate(without))
    if prefix:
        assert not any(code.startswith(prefix) for code in found), found
    if name == "network":
        assert not found & {"high_latency", "high_jitter", "packet_loss", "low_bandwidth"}
        assert "relay_used" in found  # the transports alone tell it
    assert codes(evaluate(everything_wrong)) > found  # the section, present, did find something


def test_a_python_check_has_no_device_findings():
    result = evaluate(PYTHON)
    assert result["findings"] == [] and result["verdict"] == "ready"


def test_unknown_sections_and_fields_are_ignored_and_kept():
    measured = with_(PYTHON, network={"codec": "VP8"}, gpu={"name": "whatever", "loss_pct": -5})
    result = evaluate(measured)
    assert result["verdict"] == "ready" and result["measurements"] == measured


def test_null_fields_mean_not_measured():
    result = evaluate(network(rtt_ms=None, jitter_ms=None))
    assert result["mos"] is None and result["verdict"] == "ready"
    assert evaluate(with_(BROWSER, camera={"width": None, "height": None, "fps": None}))["verdict"] == "ready"


def test_a_connected_loopback_that_measured_no_rtt_still_judges_loss():
    assert severity_of(evaluate(network(rtt_ms=None, loss_pct=30.0)), "packet_loss") == "blocking"


# -- validation ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("measured", "names"), [
    ("fine", "measurements"),
    ([], "measurements"),
    ({"network": "fast"}, "network"),
    ({"network": {"connected": True, "loss_pct": -3, "send_kbps": 500}}, "network.loss_pct"),
    ({"network": {"connected": True, "loss_pct": 100.5, "send_kbps": 500}}, "network.loss_pct"),
    ({"network": {"connected": True, "loss_pct": math.nan, "send_kbps": 500}}, "network.loss_pct"),
    ({"network": {"connected": True, "loss_pct": 1, "send_kbps": math.inf}}, "network.send_kbps"),
    ({"network": {"connected": True, "loss_pct": 1, "send_kbps": 500, "rtt_ms": "x"}}, "network.rtt_ms"),
    ({"network": {"connected": True, "loss_pct": True, "send_kbps": 500}}, "network.loss_pct"),
    ({"network": {"connected": True, "loss_pct": 1, "send_kbps": 500, "jitter_ms": -1}}, "network.jitter_ms"),
    ({"network": {"connected": "yes", "loss_pct": 1, "send_kbps": 500}}, "network.connected"),
    ({"network": {"loss_pct": 1, "send_kbps": 500}}, "network.connected"),
    ({"network": {"connected": True, "send_kbps": 500}}, "network.loss_pct"),
    ({"network": {"connected": True, "loss_pct": 1}}, "network.send_kbps"),
    ({"network": {"connected": True, "loss_pct": 1, "send_kbps": 500, "transport": "carrier-pigeon"}},
     "network.transport"),
    ({"camera": {"permission": "maybe"}}, "camera.permission"),
    ({"camera": {"devices": 1.5}}, "camera.devices"),
    ({"camera": {"devices": -1}}, "camera.devices"),
    ({"camera": {"error": 42}}, "camera.error"),
    ({"camera": {"fps": -30}}, "camera.fps"),
    ({"microphone": {"level": 1.5}}, "microphone.level"),
    ({"microphone": {"silent": "no"}}, "microphone.silent"),
    ({"browser": {"webrtc": 1}}, "browser.webrtc"),
    ({"transports": {"udp": "ok"}}, "transports.udp"),
    ({"duration_ms": -1}, "duration_ms"),
])
def test_malformed_measurements_raise_a_clear_value_error(measured: Any, names: str):
    with pytest.raises(ValueError, match=names.replace(".", r"\.")):
        evaluate(measured)


def test_a_disconnected_loopback_needs_no_figures():
    assert evaluate({"network": {"connected": False}})["verdict"] == "not-ready"


# -- MOS -----------------------------------------------------------------------------------------------
rtts, jitters, losses = st.floats(0, 3000), st.floats(0, 500), st.floats(0, 100)


@given(rtts, jitters, losses)
def test_mos_stays_within_its_scale(rtt: float, jitter: float, loss: float):
    assert 1.0 <= estimate_mos(rtt, jitter, loss) <= 4.5


@given(rtts, jitters, losses, st.floats(0, 1000), st.sampled_from(["rtt", "jitter", "loss"]))
def test_mos_never_rises_as_a_measure_worsens(rtt: float, jitter: float, loss: float, more: float, which: str):
    worse = {"rtt": rtt, "jitter": jitter, "loss": loss}
    worse[which] = min(100.0, loss + more) if which == "loss" else worse[which] + more
    assert estimate_mos(worse["rtt"], worse["jitter"], worse["loss"]) <= estimate_mos(rtt, jitter, loss)


def test_mos_grades_as_twilio_documents_its_bands():
    # Twilio's call-quality bands: over 4.2 excellent, 3.0 or below degraded.
    assert estimate_mos(20, 2, 0) > 4.2
    assert estimate_mos(600, 50, 10) <= 3.0
    assert estimate_mos(20, 2, 50) == 1.0  # more loss than R / 2.5: R is 0
    assert estimate_mos(1200, 0, 0) == 1.0  # an effective latency of a second or more
    assert estimate_mos(200, 0, 0) < estimate_mos(100, 0, 0) < estimate_mos(0, 0, 0)


def test_mos_comes_from_the_loopback():
    assert evaluate(PYTHON)["mos"] == estimate_mos(GOOD_NETWORK["rtt_ms"], GOOD_NETWORK["jitter_ms"], 0.0)
    assert evaluate(network(connected=False))["mos"] is None


# -- the verdict as a whole ----------------------------------------------------------------------------
@given(rtt=rtts, jitter=jitters, loss=losses, kbps=st.floats(0, 3000),
       worse_rtt=st.floats(0, 500), worse_jitter=st.floats(0, 100), worse_loss=st.floats(0, 30),
       less_kbps=st.floats(0, 1000))
def test_the_verdict_never_improves_as_the_network_worsens(rtt: float, jitter: float, loss: float, kbps: float,
                                                             worse_rtt: float, worse_jitter: float,
                                                             worse_loss: float, less_kbps: float):
    before = evaluate(network(rtt_ms=rtt, jitter_ms=jitter, loss_pct=loss, send_kbps=kbps))
    after = evaluate(network(rtt_ms=rtt + worse_rtt, jitter_ms=jitter + worse_jitter,
                             loss_pct=min(100.0, loss + worse_loss), send_kbps=max(0.0, kbps - less_kbps)))
    assert VERDICT_RANK[after["verdict"]] >= VERDICT_RANK[before["verdict"]]


@pytest.mark.parametrize(("severities", "expected"), [
    ((), "ready"), (("info",), "ready"), (("info", "warning"), "ready-with-warnings"),
    (("warning", "blocking", "info"), "not-ready"),
])
def test_the_worst_finding_decides(severities: tuple[str, ...], expected: str):
    makers = {"info": {"network": {"transport": "turn-udp"}},
              "warning": {"network": {"jitter_ms": 45.0}},
              "blocking": {"network": {"loss_pct": 50.0}}}
    measured = copy.deepcopy(PYTHON)
    for severity in severities:
        measured = with_(measured, **makers[severity])
    result = evaluate(measured)
    assert sorted({f["severity"] for f in result["findings"]}) == sorted(set(severities))
    assert result["verdict"] == expected


def test_evaluate_does_not_change_what_it_is_given():
    measured = copy.deepcopy(BROWSER)
    evaluate(measured)
    assert measured == BROWSER


def test_without_transports_a_failed_loopback_is_not_blamed_on_the_network():
    failed = {"network": {"connected": False}}
    assert codes(evaluate(failed)) == {"media_failed"}
    assert codes(evaluate({**failed, "transports": {"udp": False}})) == {"network_blocked"}
    assert codes(evaluate({"transports": {"udp": False, "turn-udp": False}})) == {"network_blocked"}
    assert codes(evaluate({"transports": {"udp": None, "turn_configured": False}})) == set()  # nothing tried


# -- the mode: what the interview can be from there ------------------------------------------------------
MODE_RANK = {"video": 0, "audio": 1, "none": 2}


def probed(up: float, down: float, **fields: Any) -> dict[str, Any]:
    """A check whose capacity probe found ``up`` and ``down`` kbit/s, sent at a safe rate below."""
    return network(capacity_up_kbps=up, capacity_down_kbps=down, send_kbps=min(up, down) * 0.6, **fields)


@pytest.mark.parametrize(("up", "down", "video"), [(1600, 1500, "720p"), (1600, 700, "480p"), (310, 1500, "240p"),
                                                  (320, 320, "240p")])  # was 210: calibrated
def test_the_narrower_direction_the_probe_found_sets_the_tier(up: float, down: float, video: str):
    result = evaluate(probed(up, down, loss_pct=0.2))
    assert (result["mode"], result["video"]) == ("video", video), result["findings"]
    assert not codes(result, "blocking")


def test_a_link_held_below_its_capacity_is_judged_on_the_capacity_not_the_rate_sent():
    # A 500 kbit/s link measured at the hold (300 kbit/s sent, no loss): video, not "low bandwidth"
    # (300 kbit/s before the calibration, which puts video above 300).
    result = evaluate(probed(500, 500, loss_pct=0.0))
    assert result["verdict"] == "ready" and result["mode"] == "video" and result["video"] == "240p"


def test_a_check_from_before_the_probe_is_judged_on_what_it_sent():
    assert evaluate(network(send_kbps=700, loss_pct=0.0))["video"] == "480p"
    assert severity_of(evaluate(network(send_kbps=120)), "low_bandwidth") == "blocking"


@pytest.mark.parametrize(("fields", "mode", "blocking"), [
    ({"capacity_up_kbps": 120, "capacity_down_kbps": 900}, "audio", "low_bandwidth"),
    ({"capacity_up_kbps": 40, "capacity_down_kbps": 900}, "none", "low_bandwidth"),
    ({"loss_pct": 12.0}, "audio", "packet_loss"),
    ({"loss_pct": 25.0}, "none", "packet_loss"),
    ({"rtt_ms": 700.0}, "audio", "high_latency"),  # was none: the matrix's 650 ms link carried sound whole
    ({"rtt_ms": 1000.0}, "none", "high_latency"),
])
def test_a_link_too_poor_for_video_offers_sound_only_or_nothing(fields: dict[str, Any], mode: str, blocking: str):
    result = evaluate(network(**fields))
    assert result["verdict"] == "not-ready" and result["mode"] == mode, result["findings"]
    assert blocking in codes(result, "blocking")
    assert result["video"] == ("audio-only" if mode == "audio" else "none")


def test_between_the_warning_and_the_blocking_loss_video_stays_at_the_smallest_picture():
    # The blocking loss was 10 %; calibrated to 9 % (a 10 % link reads 9.8-10.1 % in its worse
    # direction, and its sound fails).
    for loss in (5.0, 8.9):
        result = evaluate(network(loss_pct=loss))
        assert (result["verdict"], result["mode"], result["video"]) == ("ready-with-warnings", "video", "240p")
    assert evaluate(network(loss_pct=9.6))["mode"] == "audio"


def test_camera_and_microphone_refused_leave_no_mode_and_no_voice_quality():
    refused = {"permission": "denied", "error": "NotAllowedError"}
    result = evaluate(with_(PYTHON, camera=refused, microphone=refused))
    assert (result["verdict"], result["mode"], result["video"]) == ("not-ready", "none", "none")
    # The loopback measured a good network, but there is no voice to grade.
    assert result["mos"] is None
    assert codes(result, "blocking") >= {"camera_denied", "microphone_denied"}


@pytest.mark.parametrize(("section", "fields", "mode"), [
    ("camera", {"permission": "denied", "error": "NotAllowedError"}, "audio"),
    ("camera", {"error": "NotFoundError", "devices": 0}, "audio"),
    ("microphone", {"permission": "denied", "error": "NotAllowedError"}, "none"),
    ("microphone", {"error": "NotReadableError"}, "none"),
    ("browser", {"webrtc": False}, "none"),
])
def test_devices_bound_the_mode(section: str, fields: dict[str, Any], mode: str):
    assert evaluate(with_(BROWSER, **{section: fields}))["mode"] == mode


def test_an_insecure_page_is_told_to_use_https_not_to_change_browser():
    result = evaluate({"browser": {"webrtc": True, "get_user_media": False, "secure_context": False}})
    assert codes(result, "blocking") == {"insecure_page"} and result["mode"] == "none"
    assert "HTTPS" in result["findings"][0]["message"]["fr"] and "HTTPS" in result["findings"][0]["message"]["en"]
    # A secure page without getUserMedia is an old or locked-down browser.
    assert codes(evaluate({"browser": {"webrtc": True, "get_user_media": False, "secure_context": True}})) == {
        "browser_unsupported"}


@pytest.mark.parametrize("mode", ["video", "audio", "none"])
def test_each_mode_is_told_in_both_languages(mode: str):
    advice = mode_advice(mode)
    assert set(advice) == {"message", "remedy"}
    for text in advice.values():
        assert set(text) == {"fr", "en"} and all(len(words) > 20 for words in text.values())


@pytest.mark.parametrize(("stored", "mode"), [
    ({"verdict": "ready", "video": "720p"}, "video"),
    ({"verdict": "ready-with-warnings", "video": "240p"}, "video"),
    ({"verdict": "not-ready", "video": "240p"}, "audio"),  # the page offered sound only or a call
    ({"verdict": "ready-with-warnings", "video": "audio-only"}, "audio"),
    ({"verdict": "not-ready", "video": "none"}, "none"),
    ({"verdict": "ready"}, "none"),
    ({"verdict": "ready", "video": "480p", "mode": "audio"}, "audio"),  # its own, when it has one
    ({"verdict": "ready", "video": "480p", "mode": "bogus"}, "video"),
])
def test_results_stored_before_modes_get_one_from_their_verdict(stored: dict[str, Any], mode: str):
    assert v.result_mode(stored) == mode


@given(st.floats(0, 1000), st.floats(0, 100), st.floats(0, 3000), st.floats(0, 400), st.floats(0, 30),
       st.floats(0, 1000))
def test_the_mode_never_improves_as_the_link_worsens(rtt: float, loss: float, kbps: float, more_rtt: float,
                                                     more_loss: float, less_kbps: float):
    def mode(r: float, lo: float, k: float) -> int:
        return MODE_RANK[evaluate(network(rtt_ms=r, loss_pct=lo, capacity_up_kbps=k, capacity_down_kbps=k))["mode"]]
    assert mode(rtt + more_rtt, min(100.0, loss + more_loss), max(0.0, kbps - less_kbps)) >= mode(rtt, loss, kbps)
