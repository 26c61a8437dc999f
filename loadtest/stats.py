"""Latency histograms (log buckets, ~1 % resolution) and /proc readings of a process.

Workers record latencies in microseconds into a fixed list of counts; histograms travel to the
coordinator as sparse ``{bucket: count}`` dicts and are merged by adding counts.
"""

from __future__ import annotations

import math
import os
from typing import Any

__all__ = [
    "BUCKETS", "SCALE", "bucket_of", "cpu_seconds", "memory", "merge", "percentiles", "sparse", "system_cpu",
]

SCALE = 100  # buckets per factor e: bucket width ~1 %
BUCKETS = 2000  # up to e**20 us (about 8 minutes); larger values land in the last bucket
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def bucket_of(us: float) -> int:
    if us <= 1:
        return 0
    i = int(math.log(us) * SCALE)
    return i if i < BUCKETS else BUCKETS - 1


def sparse(counts: list[int]) -> dict[int, int]:
    return {i: c for i, c in enumerate(counts) if c}


def merge(*hists: dict[int, int]) -> dict[int, int]:
    total: dict[int, int] = {}
    for hist in hists:
        for i, c in hist.items():
            total[i] = total.get(i, 0) + c
    return total


def _value_ms(bucket: int) -> float:
    return math.exp((bucket + 0.5) / SCALE) / 1000 if bucket else 0.001


def percentiles(hist: dict[int, int], points: tuple[float, ...] = (50, 90, 99, 99.9)) -> dict[str, Any]:
    """``{count, p50, p90, p99, p99.9, max}`` in milliseconds (None when empty)."""
    count = sum(hist.values())
    result: dict[str, Any] = {"count": count}
    if not count:
        result.update({f"p{p:g}": None for p in points}, max=None)
        return result
    ordered = sorted(hist.items())
    for point in points:
        rank = max(1, math.ceil(count * point / 100))
        seen = 0
        for bucket, c in ordered:
            seen += c
            if seen >= rank:
                result[f"p{point:g}"] = round(_value_ms(bucket), 3)
                break
    result["max"] = round(_value_ms(ordered[-1][0]), 3)
    return result


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process and all its threads, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def system_cpu() -> tuple[float, float] | None:
    """(busy, total) jiffies of the whole machine, to report how loaded it was."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return float(total - idle), float(total)


def memory(pid: int) -> dict[str, int] | None:
    """Resident memory in KiB: rss (VmRSS), pss and uss (private pages) from smaps_rollup."""
    result: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    result["rss_kib"] = int(line.split()[1])
    except OSError:
        return None
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            rollup = {}
            for line in f:
                name, _, rest = line.partition(":")
                parts = rest.split()
                if len(parts) == 2 and parts[1] == "kB":
                    rollup[name] = int(parts[0])
        result["pss_kib"] = rollup.get("Pss", 0)
        result["uss_kib"] = rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0)
    except OSError:
        pass
    return result
