"""The media benchmark's figures: one step's streams summed up, the pass rule, the printed summary."""

from __future__ import annotations

import statistics
from typing import Any

from .media_clip import AUDIO_PACKET_S
from .stats import merge, percentiles

__all__ = ["STREAMS_PER_INTERVIEW", "judge", "step_figures", "summary"]

STREAMS_PER_INTERVIEW = 4  # two participants, each forwarding audio and video to the other


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 5) if whole else None


def step_figures(streams: list[dict[str, Any]], *, fps: int) -> dict[str, Any]:
    """Loss, frame rates and latency over every stream of one step (both paths)."""
    present = [s for s in streams if not s.get("missing")]
    video = [s for s in present if s["kind"] == "video"]
    audio = [s for s in present if s["kind"] == "audio"]
    out: dict[str, Any] = {"streams": len(streams), "missing_streams": len(streams) - len(present)}
    for name, group, nominal in (("video", video, fps), ("audio", audio, 1 / AUDIO_PACKET_S)):
        rates = sorted(s["rate"] for s in group if s.get("rate") is not None)
        out[f"{name}_rate"] = {"nominal": nominal, "min": rates[0] if rates else None,
                               "median": statistics.median(rates) if rates else None,
                               "max": rates[-1] if rates else None,
                               "max_gap_ms": max((s["max_gap_ms"] for s in group), default=None)}
        sent_rates = [s["sent_rate"] for s in group if s.get("sent_rate") is not None]
        if sent_rates:
            out[f"{name}_rate"]["sent_min"] = min(sent_rates)
    matched = [s for s in present if "sent" in s]
    if matched:  # payloads comparable: end-to-end loss and latency
        sent = sum(s["sent"] for s in matched)
        received = sum(s["received"] for s in matched)
        out["packets_sent"] = sent
        out["packets_received"] = received
        out["loss"] = _ratio(max(0, sent - received), sent)
        out["worst_stream_loss"] = max((_ratio(max(0, s["sent"] - s["received"]), s["sent"]) or 0.0
                                        for s in matched), default=None)
        out["latency_ms"] = percentiles(merge(*(s["latency"] for s in matched)), (50, 90, 99, 99.9))
    expected = sum(s.get("seq_expected", 0) for s in present)
    out["seq_loss"] = _ratio(sum(s.get("seq_lost", 0) for s in present), expected)  # before retransmission
    out["packets_arrived"] = sum(s.get("seq_expected", 0) - s.get("seq_lost", 0) for s in present)
    out["nacks_sent"] = sum(s.get("nacks_sent", 0) for s in present)
    return out


def judge(step: dict[str, Any], *, max_loss: float, rate_tolerance: float) -> None:
    """Set ``step["pass"]`` and ``fail_reasons``: every stream there, loss and frame rates in bounds."""
    reasons = []
    if step.get("not_ready"):
        reasons.append(f"{step['not_ready']} participants never received media")
    if step["missing_streams"]:
        reasons.append(f"{step['missing_streams']} streams missing")
    loss = step["loss"] if step.get("loss") is not None else step.get("seq_loss")
    if loss is None or loss >= max_loss:
        reasons.append(f"loss {loss} >= {max_loss}")
    for kind in ("video", "audio"):
        rate = step[f"{kind}_rate"]
        floor = rate["nominal"] * (1 - rate_tolerance)
        if rate["min"] is None or rate["min"] < floor:
            reasons.append(f"a {kind} stream at {rate['min']}/s (< {floor:g}/s)")
    step["pass"] = not reasons
    step["fail_reasons"] = reasons


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f} %"


def _line(step: dict[str, Any]) -> str:
    if "video_rate" not in step:  # the step never ran (the server did not start, set-up failed)
        return f"  {step.get('path', '?'):<5} {step.get('interviews', '?'):>3} interviews  FAIL  {step.get('error')}"
    lat = step.get("latency_ms") or {}
    latency = (f"latency p50 {lat['p50']:.2f} ms p99 {lat['p99']:.2f} ms" if lat.get("p50") is not None
               else "latency -")
    video, audio = step["video_rate"], step["audio_rate"]
    lag = step.get("server_loop_lag_ms") or {}
    if lag.get("p50_le") is not None:
        latency += f" (server loop lag p50 <= {lag['p50_le']} ms, p99 <= {lag['p99_le']} ms)"
    return (f"  {step['path']:<5} {step['interviews']:>3} interviews  {'PASS' if step['pass'] else 'FAIL'}  "
            f"server {step['server_core']:.3f} core = {step['cpu_per_interview_pct']:.2f} %/interview, "
            f"{step['cpu_per_stream_pct']:.2f} %/stream  "
            f"loss {_pct(step.get('loss', step.get('seq_loss')))}  {latency}  "
            f"video fps min {video['min']} (sent {video.get('sent_min', '-')}), max gap {video['max_gap_ms']} ms  "
            f"audio pkt/s min {audio['min']}  load {step.get('loadgen_core')} core, "
            f"machine {step.get('machine_busy_pct')} %"
            + (f"\n        why: {'; '.join(step['fail_reasons'])}" if not step["pass"] else ""))


def summary(report: dict[str, Any]) -> str:
    lines = [f"== loadtest media ({report.get('duration_s', 0):.0f} s) =="]
    if report.get("error"):
        lines.append(f"ERROR: {report['error']}")
    clip = report.get("clip")
    if clip:
        lines.append(f"clip: {clip['width']}x{clip['height']} VP8 {clip['video_kbps']} kbit/s at {clip['fps']} fps, "
                     f"Opus {clip['audio_kbps']} kbit/s, {clip['loop_s']} s loop")
    steps = report.get("steps", [])
    for step in steps:
        lines.append(_line(step))
    result = report.get("result")
    if result is not None:
        if result.get("max_interviews"):
            lines.append(f"largest passing: {result['max_interviews']} interviews on one server process "
                         f"(one core), {result['cpu_per_stream_pct']:.2f} % of a core per forwarded stream")
        else:
            lines.append("no step passed")
    compare = report.get("comparison")
    if compare:
        lines.append(f"side by side, {compare['interviews']} interviews: server CPU per forwarded stream "
                     f"SFU {compare['sfu_cpu_per_stream_pct']} % vs decode/re-encode relay "
                     f"{compare['relay_cpu_per_stream_pct']} % ({compare['ratio']}x)")
    leak = report.get("leak")
    if leak:
        b, a = leak["before"], leak["after"]
        lines.append(f"leak check, {leak['cycles']} join/leave cycles in {leak['seconds']} s: "
                     f"RSS {b['rss_kib']} -> {a['rss_kib']} KiB ({a['rss_kib'] - b['rss_kib']:+d}), "
                     f"threads {b['threads']} -> {a['threads']}, tasks {b['tasks']} -> {a['tasks']}, "
                     f"fds {b['fds']} -> {a['fds']}, peer connections {b['peer_connections']} -> "
                     f"{a['peer_connections']}  {'PASS' if leak['pass'] else 'FAIL'}")
    lines.append(f"report: {report.get('report_path')}")
    return "\n".join(lines)
