"""The benchmark command: a tiny run of each scenario, plus its frame parser and statistics.

The real benchmarks are run by hand (loadtest/README.md); these runs only prove that the command
starts a server, drives it, checks delivery and writes a sane report.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from repo_paths import REPO as ROOT

if str(ROOT) not in sys.path:  # loadtest/ is a top-level package of the repository, not an installed one
    sys.path.insert(0, str(ROOT))


from loadtest.scenarios import parse_rates
from loadtest.stats import bucket_of, merge, percentiles
from loadtest.wsproto import OP_CLOSE, OP_PING, OP_PONG, WsProtocol, build_client_frame


def run_loadtest(tmp_path: Path, *args: str) -> dict[str, Any]:
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "loadtest", "chat", *args, "--quiet", "--report", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(report.read_text())
    assert "error" not in data, data["error"]
    assert data["server"]["local"] and data["server"]["exit_code"] == 0
    assert "RTSERVER_SECRET" not in data["server"]["settings"]
    return data


def check_step(step: dict[str, Any], *, rate: float, duration: float, copies: int) -> None:
    """Sent about rate x duration, every one acknowledged and delivered ``copies`` times, nothing lost."""
    assert rate * duration * 0.9 <= step["sent"] <= rate * duration
    assert step["acked"] == step["sent"] and step["unacked"] == 0 and step["errors"] == {}
    assert step["delivered"] == step["expected"] == step["acked"] * copies
    assert step["lost"] == 0 and step["duplicates"] == 0 and step["closed"] == 0
    for key in ("latency_ms", "ack_latency_ms"):
        lat = step[key]
        assert 0 < lat["p50"] <= lat["p99"] <= lat["max"] < 5000
    assert lat["count"] == step["acked"]
    assert step["latency_ms"]["count"] == step["delivered"]
    assert step["server_cpu_s"] is not None and step["server_cpu_s"] >= 0
    assert step["loadgen_cpu_s"] > 0
    assert step["pass"], step["fail_reasons"]


def test_room_smoke(tmp_path: Path) -> None:
    data = run_loadtest(tmp_path, "room", "--members", "20", "--senders", "4", "--rate", "20", "--duration", "2")
    result = data["scenario_result"]
    assert result["connections"]["connected"] == 20 and result["connections"]["failed"] == 0
    [step] = result["steps"]
    check_step(step, rate=20, duration=2, copies=20)
    assert result["result"]["max_rate"] == 20
    assert result["result"]["delivered_per_s"] > 0
    assert step["server_us_per_delivery"] is not None


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_room_two_nodes_smoke(tmp_path: Path) -> None:
    """Two nodes sharing a redis-server the benchmark starts: every member gets every message."""
    data = run_loadtest(tmp_path, "room", "--nodes", "2", "--members", "20", "--senders", "4", "--rate", "20",
                        "--duration", "2")
    assert data["redis"]["local"] and data["redis"]["exit_code"] == 0 and data["redis"]["appendonly"] == "no"
    assert len(data["server"]["nodes"]) == 2 and data["server"]["exit_codes"] == [0, 0]
    assert data["server"]["settings"]["RTSERVER_STORE"] == data["redis"]["url"]
    result = data["scenario_result"]
    connections = result["connections"]
    assert connections["connected"] == 20 and connections["failed"] == 0
    assert connections["per_node"] == [10, 10] and connections["per_node_server"] == [10, 10]
    assert connections["senders_per_node"] == [2, 2]
    [step] = result["steps"]
    check_step(step, rate=20, duration=2, copies=20)
    assert step["node_deliveries"] == [step["delivered"] // 2] * 2  # each node writes to its own 10 members
    assert all(x is not None and x >= 0 for x in step["node_cpu_s"])
    assert step["redis_cpu_s"] is not None and step["redis_cpu_s"] >= 0
    assert result["result"]["max_rate"] == 20


def test_one2one_smoke(tmp_path: Path) -> None:
    data = run_loadtest(tmp_path, "one2one", "--conversations", "20", "--rate", "100", "--duration", "2",
                        "--codec", "msgpack", "--use-key")
    result = data["scenario_result"]
    assert result["connections"]["connected"] == 40
    [step] = result["steps"]
    check_step(step, rate=100, duration=2, copies=2)  # the sender's own connection gets it too
    assert result["result"]["acked_per_s"] > 0


def test_idle_smoke(tmp_path: Path) -> None:
    data = run_loadtest(tmp_path, "idle", "--connections", "50", "--settle", "0.5", "--hold", "0.5")
    result = data["scenario_result"]["result"]
    assert result["connected"] == 50 and result["still_open"] == 50
    per = result["per_connection"]
    assert set(per) == {"rss_kib_per_connection", "pss_kib_per_connection", "uss_kib_per_connection"}
    assert all(isinstance(v, float) for v in per.values())
    assert data["scenario_result"]["memory_after"]["rss_kib"] > 0


# -- pieces ---------------------------------------------------------------------------------
class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0


class Collector(WsProtocol):
    def __init__(self) -> None:
        super().__init__("h:1", "/ws", {"Authorization": "Bearer t"}, "rtserver.v1.json")
        self.messages: list[bytes] = []

    def on_message(self, payload: bytes, now_us: int) -> None:
        self.messages.append(payload)


def server_frame(payload: bytes, opcode: int = 0x1, fin: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", first, 126, n) + payload
    return struct.pack("!BBQ", first, 127, n) + payload


def unmask(frame: bytes) -> tuple[int, bytes]:
    assert frame[1] & 0x80, "client frames must be masked"
    n, pos = frame[1] & 0x7F, 2
    if n == 126:
        n, pos = struct.unpack("!H", frame[2:4])[0], 4
    key = frame[pos:pos + 4]
    body = frame[pos + 4:pos + 4 + n]
    return frame[0] & 0x0F, bytes(b ^ key[i % 4] for i, b in enumerate(body))


@pytest.mark.parametrize("chunk", [1, 7, 100_000])
async def test_frames_parsed_across_any_split(chunk: int) -> None:
    client = Collector()
    transport = FakeTransport()
    client.connection_made(transport)  # type: ignore[arg-type]
    request = transport.written[0].decode()
    assert request.startswith("GET /ws HTTP/1.1\r\n") and "Authorization: Bearer t" in request
    key = request.split("Sec-WebSocket-Key: ")[1].split("\r\n")[0].encode()
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()).decode()
    big, huge = b"x" * 300, b"y" * 70_000
    stream = (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {accept}\r\n"
              "Sec-WebSocket-Protocol: rtserver.v1.json\r\n\r\n").encode()
    stream += server_frame(b'{"a":1}') + server_frame(big) + server_frame(b"ping!", OP_PING) + server_frame(huge)
    stream += server_frame(b"fr", fin=False) + server_frame(b"ag", 0x0)
    stream += server_frame(struct.pack("!H", 4000) + b"bye", OP_CLOSE)
    for i in range(0, len(stream), chunk):
        client.data_received(stream[i:i + chunk])
    assert client.opened.result() == "rtserver.v1.json"
    assert client.messages == [b'{"a":1}', big, huge, b"frag"]
    assert client.closed and client.close_code == 4000 and transport.closed
    assert unmask(transport.written[1]) == (OP_PONG, b"ping!")
    assert unmask(transport.written[2]) == (OP_CLOSE, struct.pack("!H", 4000))


async def test_refused_handshake_reports_status() -> None:
    client = Collector()
    client.connection_made(FakeTransport())  # type: ignore[arg-type]
    client.data_received(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 13\r\n\r\ninvalid token")
    with pytest.raises(Exception, match="HTTP 401: invalid token"):
        client.opened.result()


def test_workflow_smoke(tmp_path: Path) -> None:
    report = tmp_path / "workflow.json"
    proc = subprocess.run(
        [sys.executable, "-m", "loadtest", "workflow", "--advisors", "2", "--portfolio", "12", "--online", "3",
         "--rounds", "4", "--report", str(report)], cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(report.read_text())
    assert "error" not in data and data["server"]["exit_code"] == 0
    assert data["rows_per_portfolio"] == 12 and data["unread_rows"] >= 3  # the online jobseekers wrote
    assert data["assign_ms"]["count"] == 2 * 12
    for key in ("portfolio_http_ms", "portfolio_ws_ms", "callback_queue_ms", "callback_request_ms",
                "callback_claim_ms"):
        assert data[key]["count"] == 2 * 4 and 0 < data[key]["p50"] <= data[key]["max"] < 5000, key
    assert "portfolio (WebSocket)" in proc.stdout


def test_retention_smoke(tmp_path: Path) -> None:
    report = tmp_path / "retention.json"
    proc = subprocess.run(
        [sys.executable, "-m", "loadtest", "retention", "--messages", "4000", "--rooms", "40", "--pairs", "2",
         "--rate", "40", "--baseline", "2", "--report", str(report)], cwd=ROOT, capture_output=True, text=True,
        timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(report.read_text())
    assert "error" not in data and data["server"]["exit_code"] == 0
    assert data["deleted"] == data["due"] == 2000 and data["sweep_wall_s"] is not None
    assert data["send_ms_before"]["count"] > 0
    assert "sweep: 2000 deleted" in proc.stdout


def test_erasure_smoke(tmp_path: Path) -> None:
    report = tmp_path / "erasure.json"
    proc = subprocess.run(
        [sys.executable, "-m", "loadtest", "erasure", "--messages", "3000", "--other-rooms", "2", "--rate", "50",
         "--baseline", "1", "--report", str(report)], cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(report.read_text())
    assert "error" not in data and data["erased"] == 1500 and data["erase_s"] is not None
    assert data["sends"]["before"]["n"] > 0
    assert "1500 of 3000 messages made tombstones" in proc.stdout


def test_client_frames_are_masked() -> None:
    for payload in (b"", b"hi", b"z" * 200, b"w" * 70_000):
        frame = build_client_frame(payload)
        if len(payload) < 65536:
            assert unmask(frame)[1] == payload
        else:
            assert frame[1] == 0x80 | 127 and len(frame) == 14 + len(payload)


def test_percentiles_and_rates() -> None:
    hist = merge({bucket_of(1000): 98}, {bucket_of(100_000): 2})  # 98 at 1 ms, 2 at 100 ms
    p = percentiles(hist)
    assert p["count"] == 100
    assert p["p50"] == pytest.approx(1.0, rel=0.02) and p["p99"] == pytest.approx(100.0, rel=0.02)
    assert percentiles({})["p99"] is None
    assert parse_rates("60") == [60.0]
    assert parse_rates("20,40") == [20.0, 40.0]
    assert parse_rates("20:60:20") == [20.0, 40.0, 60.0]
    with pytest.raises(ValueError):
        parse_rates("0")
