"""The call view's pure helpers under Node (static/app/call-signals.js): initials for a camera that
is off, the call's duration, the call kept for a reload and its one-minute window; and every text
the call view, the ringing and the device explanations use exists in French and English."""

from __future__ import annotations

import re

from js_support import STATIC, run_js

CALL = {"call": "app/call-signals.js"}
VIEWS = ("app/interview-view.js", "app/ringer.js")
# Keys built from a value: `devicesTitle_${devices}`, `devicesWhy_${reason}`, `devicesRefusedBy_${devices}`.
BUILT = [f"devicesTitle_{d}" for d in ("camera", "microphone", "both")] + \
    [f"devicesRefusedBy_{d}" for d in ("camera", "microphone", "both")] + \
    [f"devicesWhy_{r}" for r in ("denied", "missing", "busy", "failed")]


def test_initials_of_a_name() -> None:
    got = run_js(CALL, "result = ['Karim Benali', 'claire', 'Jean-Pierre Le Gall', '  ', 'js-1', 'Élodie Œuvray']"
                       ".map(call.initials);")
    assert got == ["KB", "C", "JG", "?", "J1", "ÉŒ"]


def test_duration_of_a_call() -> None:
    got = run_js(CALL, "result = [0, 999, 65_000, 600_000, 3_725_000, -5].map(call.formatDuration);")
    assert got == ["0:00", "0:00", "1:05", "10:00", "1:02:05", "0:00"]


def test_a_kept_call_is_rejoined_within_a_minute_only() -> None:
    got = run_js(CALL, """
      let now = 1_000_000;
      Date.now = () => now;
      call.keepCall({ room: 'followup-js-1', video: false });
      const out = [call.keptCall(), call.keptCall('followup-js-1'), call.keptCall('other')];
      now += call.REJOIN_WITHIN_MS;
      out.push(call.keptCall());
      call.touchKeptCall();  // the page went away now: the minute starts again
      now += call.REJOIN_WITHIN_MS - 1;
      out.push(call.keptCall());
      now += 2;
      out.push(call.keptCall());
      call.keepCall({ room: 'r', video: true });
      call.forgetCall();
      out.push(call.keptCall());
      result = out;
    """)
    kept = {"room": "followup-js-1", "video": False}
    assert got == [kept, kept, None, kept, kept, None, None]


def test_every_call_text_exists_in_both_languages() -> None:
    used = set(BUILT)
    for path in VIEWS:
        used |= set(re.findall(r"\bt\(\"([A-Za-z_]+)\"", (STATIC / path).read_text()))
    keys = run_js({}, f"""
      globalThis.location = {{ search: "?lang=fr" }};
      const i18n = await import({(STATIC / "app/i18n.js").as_uri()!r});
      result = {{fr: Object.keys(i18n.STRINGS.fr), en: Object.keys(i18n.STRINGS.en)}};
    """)
    for lang in ("fr", "en"):
        missing = sorted(used - set(keys[lang]))
        assert not missing, f"{lang}: no text for {missing}"
