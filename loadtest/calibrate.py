"""``python -m loadtest calibrate``: the pre-call check against real interviews over impaired networks.

For each condition of the matrix (``CONDITIONS``; ``--conditions`` picks some by name or glob), on
a fresh network namespace joined to the root namespace by a veth (tests/netns.py: iptables loss
each way, tbf caps each way, the ``udp_delay`` relay for delay and jitter, UDP blocked, coturn):

1. a fresh node (``rtserver serve``) on the server side of the veth, offering TURN when the
   condition has it;
2. the pre-call check (``python -m rtserver.client.precall``) inside the namespace: its predicted
   mode (``calibrate_outcome.predicted_mode``), verdict, tier, findings and duration;
3. an interview through the node: the jobseeker inside the namespace (an aiortc peer,
   ``calibrate_peer``, or Chromium on /static/interview.html for ``browser`` conditions), the
   advisor in the root namespace (an aiortc peer bound to the server address: unimpaired, and not
   delayed by the relay), both sending camera-like video and audio; what each receives over the
   window after the warm-up is classified (``calibrate_outcome.classify``). The aiortc peers are
   clients of the node as the pages are: they send ``media_report`` and stop their camera on
   ``media_fallback`` ``send``, and their video rate follows Chromium's loss-based congestion
   control under the node's REMB (``browser_sender``, ``send_rate``); the fallbacks announced
   during the call are recorded (``calibrate_outcome.fallback_summary``).

``--skip-check`` runs the interviews only (such records stay out of the confusion matrix);
``--node-source DIR`` runs the node from another checkout (an older commit's worktree), the check
and the peers keeping this one's code, so an interview is measured before and after a change of
the node with the same clients: ``--merge AFTER.json --before BEFORE.json`` prints them side by side.

Every step has a hard timeout, and the namespace, node, relay and TURN server are torn down
whatever happens. The report (``--report``, default ``loadtest/reports/calibrate-TIME.json``) has
one record per condition; the summary printed at the end is the confusion matrix (predicted mode x
outcome) and the false-alarm / missed-failure rates. ``--merge A.json B.json ...`` prints the
summary of several reports (a matrix run in chunks) as Markdown.

Needs root (network namespaces), iproute2 and iptables; ``turnserver`` (coturn) for the TURN
conditions, Chromium at /usr/bin/chromium for the browser ones. The namespace, node and TURN
helpers are the tests' own (tests/netns.py, tests/precall_netns_support.py, tests/turn_server.py,
tests/browser_netns.py): ``tests/`` is put on the import path for them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import fnmatch
import itertools
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp

from .calibrate_outcome import (
    MODES,
    OUTCOMES,
    classify,
    confusion,
    direction_holds,
    fallback_summary,
    predicted_mode,
    rates,
)
from .report import machine

__all__ = ["API_KEY", "CONDITIONS", "ROOM", "Condition", "add_parser", "check", "create_room", "run", "run_condition",
           "select"]

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
CHECK_TIMEOUT_S = 45.0  # the check promises 15 s; a check still running after this counts as no result
PEER_SLACK_S = 25.0  # beyond warm-up + window: connecting, TURN probes, closing
ROOM = "calibration"
API_KEY = secrets.token_urlsafe(16)


@dataclass(frozen=True)
class Condition:
    name: str
    label: str
    loss_down: float = 0.0
    loss_up: float = 0.0
    cap_down: int | None = None  # kbit/s
    cap_up: int | None = None
    delay_ms: float = 0.0  # added round trip
    jitter_ms: float = 0.0  # each way, ±
    block_udp: bool = False
    turn: bool = False
    browser: bool = False  # the jobseeker in Chromium instead of aiortc


def _matrix() -> list[Condition]:
    c = Condition
    out = [c("clean", "clean link")]
    out += [c(f"loss{p}", f"{p} % random loss each way", loss_down=p / 100, loss_up=p / 100) for p in (2, 5, 10, 20)]
    out += [c(f"loss{p}-down", f"{p} % random loss on the downlink only", loss_down=p / 100) for p in (5, 20)]
    out += [c(f"loss{p}-up", f"{p} % random loss on the uplink only", loss_up=p / 100) for p in (5, 20)]
    out += [c(f"rtt{d}", f"{d} ms round trip added, ±{j} ms jitter each way", delay_ms=d, jitter_ms=j)
            for d, j in ((100, 10), (300, 30), (600, 50))]
    out += [c("cap2000", "2000 kbit/s each way", cap_down=2000, cap_up=2000)]
    out += [c(f"cap{k}-down", f"downlink capped at {k} kbit/s", cap_down=k) for k in (1000, 600, 300, 150, 80)]
    out += [c(f"cap{k}-up", f"uplink capped at {k} kbit/s", cap_up=k) for k in (1000, 600, 300, 150, 80)]
    out += [c("mobile-3g", "3G: 400 kbit/s down, 150 up, 150 ms, 2 % loss each way", cap_down=400, cap_up=150,
              delay_ms=150, jitter_ms=20, loss_down=0.02, loss_up=0.02),
            c("mobile-edge", "EDGE-like: 200 kbit/s down, 80 up, 300 ms, 3 % loss each way", cap_down=200,
              cap_up=80, delay_ms=300, jitter_ms=40, loss_down=0.03, loss_up=0.03),
            c("mobile-4g-poor", "weak 4G: 1500 kbit/s down, 500 up, 80 ms, 1 % loss each way", cap_down=1500,
              cap_up=500, delay_ms=80, jitter_ms=15, loss_down=0.01, loss_up=0.01)]
    out += [c("udp-blocked-turn", "UDP blocked, TURN over TCP offered", block_udp=True, turn=True),
            c("udp-blocked", "UDP blocked, no TURN", block_udp=True)]
    # Chromium on the impaired side: the browser's own congestion control and encoder.
    out += [c("chromium-clean", "Chromium, clean link", browser=True),
            c("chromium-cap300-down", "Chromium, downlink capped at 300 kbit/s", cap_down=300, browser=True),
            c("chromium-cap150-up", "Chromium, uplink capped at 150 kbit/s", cap_up=150, browser=True),
            c("chromium-cap600-up", "Chromium, uplink capped at 600 kbit/s", cap_up=600, browser=True),
            c("chromium-loss10", "Chromium, 10 % random loss each way", loss_down=0.1, loss_up=0.1, browser=True),
            c("chromium-mobile-3g", "Chromium, 3G (400/150 kbit/s, 150 ms, 2 % loss)", cap_down=400, cap_up=150,
              delay_ms=150, jitter_ms=20, loss_down=0.02, loss_up=0.02, browser=True),
            c("chromium-mobile-4g-poor", "Chromium, weak 4G (1500/500 kbit/s, 80 ms, 1 % loss)", cap_down=1500,
              cap_up=500, delay_ms=80, jitter_ms=15, loss_down=0.01, loss_up=0.01, browser=True)]
    return out


CONDITIONS = _matrix()


def select(patterns: str) -> list[Condition]:
    """Conditions whose name matches one of the comma-separated names or globs (all for '' or 'all')."""
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    if not wanted or wanted == ["all"]:
        return list(CONDITIONS)
    chosen = [c for c in CONDITIONS if any(fnmatch.fnmatchcase(c.name, p) for p in wanted)]
    unknown = [p for p in wanted if not any(fnmatch.fnmatchcase(c.name, p) for c in CONDITIONS)]
    if unknown:
        raise ValueError(f"no condition matches {', '.join(unknown)} (see --list)")
    return chosen


def _test_helpers() -> Any:
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    import netns
    import precall_netns_support
    import turn_server

    return netns, precall_netns_support, turn_server


@contextlib.contextmanager
def _node_source(source: Path) -> Iterator[None]:
    """The node started within runs the code of ``source`` (a checkout of the repository: its
    directory on PYTHONPATH; the node's working directory is its data directory, so nothing else
    shadows it, not even an installed rtserver); the check and the peers keep this checkout's code
    (they run from REPO, which ``python -m`` puts first on their path)."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(source.resolve())
    try:
        yield  # the node is a subprocess started (Popen) inside, with no await: no other start sees it
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before


def impair(net: Any, condition: Condition) -> None:
    if condition.loss_down or condition.loss_up:
        net.loss(down=condition.loss_down or None, up=condition.loss_up or None)
    if condition.cap_down or condition.cap_up:
        net.cap(down_kbit=condition.cap_down, up_kbit=condition.cap_up)
    if condition.block_udp:
        net.block_udp()


async def create_room(node: Any) -> None:
    """The interview room (advisor "adv", jobseeker "js") on a node started with ``--api-key=API_KEY``."""
    body = {"id": ROOM, "kind": "conversation",
            "members": [{"user": "adv", "role": "member"}, {"user": "js", "role": "member"}]}
    async with aiohttp.ClientSession() as session, session.post(
            f"{node.http_url}/api/rooms", json=body, headers={"X-Api-Key": API_KEY},
            timeout=aiohttp.ClientTimeout(total=10)) as resp:
        if resp.status != 201:
            raise RuntimeError(f"creating the room: HTTP {resp.status} {await resp.text()}")


def _peer_args(node: Any, user: str, role: str, start_at: float, args: argparse.Namespace,
               listen: str = "") -> list[str]:
    out = ["-m", "loadtest.calibrate_peer", node.ws_url, "--token", node.token(user, role), "--room", ROOM,
           "--start-at", f"{start_at:.3f}", "--warmup-s", str(args.warmup_s), "--window-s", str(args.window_s)]
    return [*out, "--listen", listen] if listen else out


async def _collect(proc: asyncio.subprocess.Process, timeout_s: float, who: str) -> dict[str, Any]:
    """The peer's JSON line; on a timeout or a crash, a result saying so (nothing was received)."""
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.communicate()
        return {"receive": {}, "errors": [f"{who}: still running after {timeout_s:.0f} s"]}
    lines = [line for line in out.decode(errors="replace").splitlines() if line.startswith("{")]
    if not lines:
        return {"receive": {}, "errors": [f"{who}: exited {proc.returncode}: {err.decode(errors='replace')[-800:]}"]}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


async def _aiortc_jobseeker(net: Any, node: Any, start_at: float, args: argparse.Namespace) -> dict[str, Any]:
    proc = await net.start(*_peer_args(node, "js", "jobseeker", start_at, args))
    return await _collect(proc, args.warmup_s + args.window_s + PEER_SLACK_S, "jobseeker")


# What the jobseeker's page receives, read from its subscribe connection's statistics (one remote
# participant, so each kind has one inbound stream).
PAGE_STATS = """async () => {
  const iv = window.interviewPage && window.interviewPage.interview;
  const out = {t: Date.now() / 1000};
  if (!iv || !iv.subscribePc) return out;
  (await iv.subscribePc.getStats()).forEach((s) => {
    if (s.type !== "inbound-rtp") return;
    out[s.kind] = {frames: s.framesDecoded || 0, received: s.packetsReceived || 0, lost: s.packetsLost || 0};
  });
  return out;
}"""
PAGE_SAMPLE_S = 0.2


def summarise_page(samples: list[dict[str, Any]], start: float, end: float) -> dict[str, Any]:
    """Chromium's counters sampled every ``PAGE_SAMPLE_S`` -> the same figures as an aiortc peer's:
    each sample's new frames are spread over the interval before it (so gaps are known to 0.2 s)."""
    from .calibrate_peer import audio_loss, summarise_video

    times: list[float] = []
    for before, after in itertools.pairwise(samples):
        new = after.get("video", {}).get("frames", 0) - before.get("video", {}).get("frames", 0)
        times += [before["t"] + (after["t"] - before["t"]) * (i + 1) / new for i in range(max(0, new))]
    inside = [s for s in samples if start <= s["t"] <= end and "audio" in s]
    out: dict[str, Any] = {"video": summarise_video(times, start, end)}
    if len(inside) >= 2:
        first, last = inside[0]["audio"], inside[-1]["audio"]
        out["audio"] = audio_loss(last["received"] - first["received"], max(0, last["lost"] - first["lost"]),
                                  inside[-1]["t"] - inside[0]["t"])
    return out


async def _chromium_jobseeker(net: Any, node: Any, start_at: float, args: argparse.Namespace,
                              workdir: Path) -> dict[str, Any]:
    from browser_netns import launch_chromium
    from playwright.async_api import async_playwright

    start, end = start_at + args.warmup_s, start_at + args.warmup_s + args.window_s
    result: dict[str, Any] = {"user": "js", "receive": {}, "errors": [], "client": "chromium"}
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright, net=net, secure_origins=[node.http_url], workdir=workdir)
        try:
            context = await browser.new_context(permissions=["camera", "microphone"])
            page = await context.new_page()
            await asyncio.sleep(max(0.0, start_at - time.time()))
            await page.goto(f"{node.http_url}/static/interview.html?room={ROOM}&lang=en"
                            f"#token={node.token('js', 'jobseeker')}", timeout=15_000)
            samples: list[dict[str, Any]] = []
            while time.time() < end + PAGE_SAMPLE_S:
                samples.append(await asyncio.wait_for(page.evaluate(PAGE_STATS), 5))
                await asyncio.sleep(PAGE_SAMPLE_S)
            result["receive"]["adv"] = summarise_page(samples, start, end)
        except Exception as exc:  # the figures so far are the outcome; the error says why they stop
            result["errors"].append(f"chromium: {type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(browser.close(), 10)
    return result


async def run_condition(condition: Condition, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One condition end to end: its record (see the module's doc)."""
    netns, support, turn_server = _test_helpers()
    started = time.monotonic()
    record: dict[str, Any] = {"name": condition.name, "condition": asdict(condition), "errors": []}
    net = netns.create_two_hosts()
    turn = relay = node = None
    try:
        node_options: dict[str, Any] = {}
        if condition.turn:
            turn = turn_server.TurnServer(net.server_ip, workdir / "turn")
            turn.start()
            node_options.update(ice_servers=turn.urls, turn_secret=turn.secret)
        if condition.delay_ms:
            media = support.delayed_media(net, delay_ms=condition.delay_ms, jitter_ms=condition.jitter_ms,
                                          undelayed_hosts=frozenset({net.server_ip}))
            relay = media.relay
            await relay.start()
            node_options.update(media.node_options)
        with _node_source(getattr(args, "node_source", None) or REPO):
            node = support.start_node(workdir / "node", host=net.server_ip, extra_args=[f"--api-key={API_KEY}"],
                                      **node_options)
        impair(net, condition)
        record["network"] = net.describe()

        t0 = time.monotonic()
        result: dict[str, Any] | None = None
        if getattr(args, "skip_check", False):  # run_condition's callers may give only the timings
            record["check_skipped"] = True
        else:
            try:
                result = await asyncio.wait_for(support.run_precall_check(net, node, "js-check",
                                                                          timeout_s=CHECK_TIMEOUT_S),
                                                CHECK_TIMEOUT_S + 5)
            except (AssertionError, TimeoutError) as exc:
                # The end of the message holds the traceback's cause; the token (argv) is masked.
                record["errors"].append("check: " + re.sub(r"eyJ[\w.-]+", "TOKEN", str(exc))[-1500:])
            record["check_wall_s"] = round(time.monotonic() - t0, 1)
        record["predicted"] = predicted_mode(result)
        if result is not None:
            network = result.get("measurements", {}).get("network", {})
            record["check"] = {"verdict": result.get("verdict"), "mode": result.get("mode"),
                               "video": result.get("video"),
                               "findings": [f"{f['severity']}:{f['code']}" for f in result.get("findings", [])],
                               "duration_ms": result.get("measurements", {}).get("duration_ms"),
                               "network": network}

        await create_room(node)
        t0 = time.monotonic()
        start_at = time.time() + 1.0
        advisor = await asyncio.create_subprocess_exec(
            sys.executable, *_peer_args(node, "adv", "advisor", start_at, args, listen=net.server_ip),
            cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        jobseeker = (_chromium_jobseeker(net, node, start_at, args, workdir) if condition.browser
                     else _aiortc_jobseeker(net, node, start_at, args))
        js, adv = await asyncio.gather(
            jobseeker, _collect(advisor, args.warmup_s + args.window_s + PEER_SLACK_S, "advisor"))
        record["interview_wall_s"] = round(time.monotonic() - t0, 1)
        to_js, to_adv = js.get("receive", {}).get("adv"), adv.get("receive", {}).get("js")
        record["received"] = {"by_jobseeker": to_js, "by_advisor": to_adv}
        record["held"] = {"by_jobseeker": direction_holds(to_js), "by_advisor": direction_holds(to_adv)}
        record["sent_kbps"] = {"jobseeker": js.get("send_kbps"), "advisor": adv.get("send_kbps")}
        # Each aiortc peer's video rate control once a second: [s, target kbit/s, loss %, REMB kbit/s].
        record["send_rate"] = {"jobseeker": js.get("send_rate"), "advisor": adv.get("send_rate")}
        record["jobseeker_path"] = {"candidate": js.get("candidate"), "turn": js.get("turn")}
        record["outcome"] = classify([to_js, to_adv])
        # The node announces each fallback to both; the advisor's WebSocket is unimpaired (and a
        # Chromium jobseeker's events are not read), so his list is the one kept when he has one.
        seen = adv.get("fallbacks") if adv.get("fallbacks") is not None else js.get("fallbacks", [])
        record["fallbacks"] = fallback_summary(seen)
        record["fallbacks_seen"] = {"jobseeker": None if js.get("fallbacks") is None else len(js["fallbacks"]),
                                    "advisor": None if adv.get("fallbacks") is None else len(adv["fallbacks"])}
        record["reports"] = {"jobseeker": js.get("reports"), "advisor": adv.get("reports")}
        # [t, received, lost] each second of each side's audio: loss before, during and after a fallback.
        record["audio_timeline"] = {"by_jobseeker": js.get("audio_timeline", {}).get("adv"),
                                    "by_advisor": adv.get("audio_timeline", {}).get("js")}
        record["errors"] += js.get("errors", []) + adv.get("errors", [])
    except Exception as exc:  # a broken run is recorded, not hidden: the outcome is then unknown
        record["errors"].append(f"run: {type(exc).__name__}: {exc}")
        record.setdefault("predicted", "none")
        record.setdefault("outcome", "failed")
        record["broken"] = True
    finally:
        if node is not None:
            record["node_log_tail"] = node.log_tail()[-1500:] if record.get("broken") else None
            node.stop()
        if relay is not None:
            await relay.close()
        if turn is not None:
            turn.stop()
        net.destroy()
        record["wall_s"] = round(time.monotonic() - started, 1)
    return record


# -- summary ---------------------------------------------------------------------------------------
def _fps(received: dict[str, Any] | None) -> str:
    video = (received or {}).get("video")
    return "-" if not video else f"{video['median_fps']:g} fps, gap {video['max_gap_ms'] / 1000:.1f} s"


def _audio(received: dict[str, Any] | None) -> str:
    audio = (received or {}).get("audio")
    return "-" if not audio else f"{audio['loss']:.0%}"


def markdown(records: list[dict[str, Any]]) -> str:
    """The confusion matrix, the rates and the per-condition table, as Markdown (conditions run
    with ``--skip-check`` predict nothing: they are left out of the matrix and the rates)."""
    table = confusion(r for r in records if not r.get("check_skipped"))
    r = rates(r for r in records if not r.get("check_skipped"))
    lines = ["| predicted \\ outcome | " + " | ".join(OUTCOMES) + " |", "|---|" + "---|" * len(OUTCOMES)]
    lines += [f"| {mode} | " + " | ".join(str(table[mode][o]) for o in OUTCOMES) + " |" for mode in MODES]
    n = r["conditions"]
    lines += ["", f"- false alarms (the check predicts worse than the call achieved): {len(r['false_alarms'])} of {n}"
              + (f" ({', '.join(r['false_alarms'])})" if r["false_alarms"] else ""),
              f"- missed failures (predicts video, the call could not hold audio): {len(r['missed_failures'])} of {n}"
              + (f" ({', '.join(r['missed_failures'])})" if r["missed_failures"] else ""),
              f"- optimistic (predicts better than the call achieved): {len(r['optimistic'])} of {n}"
              + (f" ({', '.join(r['optimistic'])})" if r["optimistic"] else ""), "",
              "| condition | check: verdict, tier (mode) | check s | loss up/down %, rtt ms, send kbps "
              "| outcome | jobseeker receives | advisor receives | audio loss js/adv | wall s |",
              "|---|---|---|---|---|---|---|---|---|"]
    for rec in records:
        check = rec.get("check") or {}
        net = check.get("network") or {}
        figures = (f"{net.get('loss_up_pct', '-')}/{net.get('loss_down_pct', '-')}, {net.get('rtt_ms', '-')}, "
                   f"{net.get('send_kbps', '-')}" if net.get("connected") else net.get("transport") or "-")
        got = rec.get("received") or {}
        outcome = rec["outcome"] + (" (broken run)" if rec.get("broken") else "")
        lines.append(
            f"| {rec['name']} | {check.get('verdict', 'no result')}, {check.get('video', '-')} ({rec['predicted']}) "
            f"| {rec.get('check_wall_s', '-')} | {figures} | {outcome} "
            f"| {_fps(got.get('by_jobseeker'))} | {_fps(got.get('by_advisor'))} "
            f"| {_audio(got.get('by_jobseeker'))}/{_audio(got.get('by_advisor'))} | {rec.get('wall_s', '-')} |")
    return "\n".join(lines)


def _fallbacks(record: dict[str, Any] | None) -> str:
    """The fallbacks of an interview, e.g. ``js receive off 7.1 s (low_framerate), back 17.2 s``."""
    events = ((record or {}).get("fallbacks") or {}).get("events") or []
    if not events:
        return "none" if record and "fallbacks" in record else "-"
    user_names = {"js": "jobseeker", "adv": "advisor"}
    parts = []
    for e in events:
        who = f"{user_names.get(e['user'], e['user'])} {e['direction']}"
        parts.append(f"{who} {'back' if e['video'] else 'off'} {e['t']:.0f} s"
                     + ("" if e["video"] else f" ({e['reason']})"))
    return "; ".join(parts)


def _interview(record: dict[str, Any] | None) -> list[str]:
    """Outcome, what each side received (median fps, longest freeze) and audio loss each way."""
    if record is None:
        return ["-"] * 4
    got = record.get("received") or {}
    return [record["outcome"] + (" (broken run)" if record.get("broken") else ""),
            _fps(got.get("by_jobseeker")), _fps(got.get("by_advisor")),
            f"{_audio(got.get('by_jobseeker'))}/{_audio(got.get('by_advisor'))}"]


def compare_markdown(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> str:
    """The interviews of the same conditions before and after, one row each, as Markdown."""
    old = {r["name"]: r for r in before}
    lines = ["| condition | | outcome | jobseeker receives | advisor receives | audio loss js/adv | fallbacks |",
             "|---|---|---|---|---|---|---|"]
    for rec in after:
        prior = old.get(rec["name"])
        lines.append(f"| {rec['name']} | before | " + " | ".join(_interview(prior)) + f" | {_fallbacks(prior)} |")
        lines.append("| | after | " + " | ".join(_interview(rec)) + f" | {_fallbacks(rec)} |")
    return "\n".join(lines)


def add_parser(commands: Any) -> None:
    p = commands.add_parser("calibrate", help="the pre-call check against real interviews over impaired networks",
                            description=__doc__.splitlines()[0])
    p.add_argument("--conditions", default="all",
                   help="comma-separated condition names or globs, e.g. 'clean,cap*-down' (default all)")
    p.add_argument("--list", action="store_true", help="list the conditions and exit")
    p.add_argument("--warmup-s", type=float, default=6.0, help="seconds of the interview not measured (default 6)")
    p.add_argument("--window-s", type=float, default=14.0, help="seconds of the interview measured (default 14)")
    p.add_argument("--report", type=Path, help="JSON report path (default loadtest/reports/calibrate-TIME.json)")
    p.add_argument("--merge", type=Path, nargs="+", metavar="REPORT",
                   help="print the summary of these reports as Markdown instead of running")
    p.add_argument("--data-dir", type=Path, help="where nodes and TURN servers keep their files (default: temporary)")
    p.add_argument("--skip-check", action="store_true",
                   help="run the interviews only (no pre-call check; such conditions are left out of the matrix)")
    p.add_argument("--node-source", type=Path, metavar="DIR",
                   help="run the node from this checkout of the repository (e.g. an older commit's worktree) "
                        "instead of this one; the check and the peers keep this one")
    p.add_argument("--before", type=Path, nargs="+", metavar="REPORT",
                   help="with --merge: print the interviews of these reports against the merged ones (before/after)")


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    try:
        args.selected = select(args.conditions)
    except ValueError as exc:
        parser.error(str(exc))
    if not 2 <= args.warmup_s <= 30 or not 5 <= args.window_s <= 60:
        parser.error("--warmup-s must be 2..30 and --window-s 5..60")
    if args.node_source is not None and not (args.node_source / "rtserver" / "__main__.py").is_file():
        parser.error(f"--node-source {args.node_source}: no rtserver/__main__.py there")
    if args.before and not args.merge:
        parser.error("--before goes with --merge")
    if not (args.list or args.merge) and os.geteuid() != 0:
        parser.error("calibrate needs root: it makes network namespaces (ip netns add)")


async def run(args: argparse.Namespace) -> int:
    if args.list:
        for c in args.selected:
            print(f"{c.name:24} {c.label}")
        return 0
    if args.merge:
        records = [rec for path in args.merge for rec in json.loads(path.read_text())["records"]]
        if args.before:
            print(compare_markdown([rec for path in args.before for rec in json.loads(path.read_text())["records"]],
                                   records))
        else:
            print(markdown(records))
        return 0
    import tempfile

    started = datetime.datetime.now()
    path = args.report or REPO / "loadtest" / "reports" / f"calibrate-{started:%Y%m%d-%H%M%S}.json"
    report: dict[str, Any] = {"scenario": "calibrate", "started": started.isoformat(timespec="seconds"),
                              "machine": machine(), "options": {"conditions": args.conditions,
                                                                "warmup_s": args.warmup_s, "window_s": args.window_s,
                                                                "skip_check": args.skip_check,
                                                                "node_source": str(args.node_source or REPO)},
                              "records": []}
    base = args.data_dir or Path(tempfile.mkdtemp(prefix="rtserver-calibrate-"))
    for condition in args.selected:
        print(f"calibrate: {condition.name} ({condition.label}) ...", file=sys.stderr, flush=True)
        record = await run_condition(condition, base / condition.name, args)
        report["records"].append(record)
        print(f"calibrate: {condition.name}: predicted {record['predicted']}, outcome {record['outcome']}, "
              f"fallbacks: {_fallbacks(record)}, "
              f"{record['wall_s']} s{'; errors: ' + '; '.join(record['errors'])[:300] if record['errors'] else ''}",
              file=sys.stderr, flush=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=1) + "\n")  # after each condition: a cut-short run keeps its part
    judged = [r for r in report["records"] if not r.get("check_skipped")]
    report["summary"] = {"confusion": confusion(judged), **rates(judged)}
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(markdown(report["records"]))
    print(f"report: {path}", file=sys.stderr)
    return 0
