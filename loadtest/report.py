"""The JSON report and the summary printed at the end of a run."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import platform
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["default_path", "failure_recorded", "summary", "write"]

REPORTS_DIR = Path(__file__).resolve().parent / "reports"


@contextlib.contextmanager
def failure_recorded(report: dict[str, Any]) -> Iterator[None]:
    """A run that fails or is interrupted still writes its report: the reason goes in ``error``
    (and the traceback on stderr) instead of escaping."""
    try:
        yield
    except asyncio.CancelledError:
        report["error"] = "interrupted"
    except Exception as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()


def default_path(scenario: str, started: datetime.datetime) -> Path:
    return REPORTS_DIR / f"{scenario}-{started.strftime('%Y%m%d-%H%M%S')}.json"


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "argv": sys.argv, "code": code_version()}


def code_version() -> dict[str, Any]:
    """The commit the server code comes from, and its files changed since (the numbers depend on both)."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "HEAD").strip() or None,
            "rtserver_changes": [line[3:] for line in git("status", "--porcelain", "rtserver").splitlines()]}


def write(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


def _lat(lat: dict[str, Any] | None) -> str:
    if not lat or lat.get("p50") is None:
        return "-"
    return f"p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms (n={lat['count']})"


def summary(report: dict[str, Any]) -> str:
    scenario = report["scenario"]
    lines = [f"== loadtest chat {scenario} ({report['duration_s']:.0f} s) =="]
    if report.get("error"):
        lines.append(f"ERROR: {report['error']}")
    data = report.get("scenario_result") or {}
    for step in data.get("steps", []):
        lines.append(
            f"  rate {step['rate']:>8g}/s  {'PASS' if step['pass'] else 'FAIL'}  "
            f"acked {step['acked_per_s']:>9,.0f}/s  delivered {step['delivered_per_s']:>10,.0f}/s  "
            f"lost {step['lost']}  delivery {_lat(step['latency_ms'])}  ack {_lat(step['ack_latency_ms'])}  "
            f"server cpu {step.get('server_cpu_pct')}% = {step['server_us_per_delivery']} us/delivery, "
            f"{step['server_us_per_message']} us/message"
            + (f" (nodes {step['node_cpu_pct']} %, {step['node_us_per_delivery']} us/delivery)"
               if step.get("node_cpu_pct") else "")
            + (f"  redis cpu {step['redis_cpu_pct']}% = {step.get('redis_us_per_message')} us/message"
               if step.get("redis_cpu_pct") is not None else "")
            + f"  machine {step.get('machine_busy_pct')}%")
    result = data.get("result")
    nodes = data.get("params", {}).get("nodes", 1)
    if nodes > 1 and data.get("connections"):
        lines.append(f"  {nodes} nodes: connections {data['connections'].get('per_node')} "
                     f"(nodes count {data['connections'].get('per_node_server')}), "
                     f"senders {data['connections'].get('senders_per_node')}")
    if scenario == "room":
        if result:
            lines.append(f"max rate with zero loss and p99 <= {data['params']['p99_limit_ms']:g} ms: "
                         f"{result['max_rate']:g} msgs/s into {data['params']['members']} members"
                         + (f" on {nodes} nodes" if nodes > 1 else "") + " = "
                         f"{result['delivered_per_s']:,.0f} deliveries/s, {_lat(result['latency_ms'])}, "
                         f"{result['server_us_per_delivery']} us server CPU per delivery (all nodes)"
                         + (f", redis cpu {result['redis_cpu_pct']}%" if result.get("redis_cpu_pct") is not None
                            else ""))
        else:
            lines.append("no rate passed (zero loss and p99 limit)")
    elif scenario == "one2one":
        if result:
            lines.append(f"max rate passing: {result['max_rate']:g} msgs/s over {data['params']['conversations']} "
                         f"conversations = {result['acked_per_s']:,.0f} acked/s, ack {_lat(result['ack_latency_ms'])}, "
                         f"{result['server_us_per_message']} us server CPU per message")
        else:
            lines.append("no rate passed (zero loss and ack p99 limit)")
    elif scenario == "idle" and result:
        per = result.get("per_connection") or {}
        lines.append(f"{result['connected']} idle connections ({result['still_open']} still open): "
                     + ", ".join(f"{k.split('_')[0].upper()} {v:.2f} KiB" for k, v in per.items())
                     + " per connection")
    lines.append(f"report: {report['report_path']}")
    return "\n".join(lines)
