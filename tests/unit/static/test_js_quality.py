"""The interview's connection indicator (static/app/quality.js), run under Node: both directions.

What a person receives is judged from the page's own report (frame rate, freezes, audio loss),
how the other receives from the node's ``media_link``. The old indicator read one direction
only: an advisor whose jobseeker decoded 1-7 frames per second read "good", and so did a
jobseeker whose upload could not carry his video.
"""

from __future__ import annotations

import json
from typing import Any

from js_support import run_js

GOOD_LINK = {"receive": {"level": "good", "video": True}, "send": {"level": "good", "video": True}}


def quality(script: str) -> Any:
    return run_js({"q": "app/quality.js"}, script)


def link_quality(local: str, links: dict[str, Any]) -> Any:
    return quality(f"result = q.linkQuality({{me: 'adv', other: 'js', local: {json.dumps(local)},"
                   f" links: new Map(Object.entries({json.dumps(links)}))}});")


def test_received_video_frame_rate_and_freezes_are_judged() -> None:
    levels = quality("""
      const report = (fps, frozen, loss) => ({window_ms: 2000, receive: [
        {user: 'adv', kind: 'video', fps, frozen_ms: frozen, loss: 0.3, kbps: 300},
        {user: 'adv', kind: 'audio', loss, kbps: 30},
        {user: 'other', kind: 'video', fps: 1, frozen_ms: 2000}]});
      result = [
        q.fromReport(report(25, 0, 0), 'adv'),      // video loss alone is not judged
        q.fromReport(report(12, 0, 0), 'adv'),
        q.fromReport(report(4, 0, 0), 'adv'),       // 1-7 fps had read "good"
        q.fromReport(report(25, 300, 0), 'adv'),    // frozen 15 % of the window
        q.fromReport(report(25, 800, 0), 'adv'),    // 40 %
        q.fromReport(report(25, 0, 0.1), 'adv'),    // audio loss
        q.fromReport({window_ms: 2000, receive: [{user: 'adv', kind: 'audio', loss: 0}]}, 'adv'),  // camera off
        q.fromReport(null, 'adv'),
      ].map(r => r.level);
    """)
    assert levels == ["good", "fair", "poor", "fair", "poor", "poor", "good", "unknown"]


def test_the_advisor_sees_that_the_jobseeker_receives_her_video_badly() -> None:
    got = link_quality("good", {"adv": GOOD_LINK, "js": {**GOOD_LINK, "receive": {
        "level": "poor", "video": True, "reason": "low_framerate", "fps": 4}}})
    assert got["level"] == "poor"
    assert got["problem"] == "from_me_bad_their_link"
    assert got["toMe"] == {"level": "good", "paused": False, "cause": None}


def test_the_jobseeker_sees_that_his_upload_is_weak() -> None:
    got = quality("""result = q.linkQuality({me: 'js', other: 'adv', local: 'good', links: new Map([
      ['js', {receive: {level: 'good', video: true}, send: {level: 'poor', video: true, reason: 'low_bandwidth'}}],
      ['adv', {receive: {level: 'fair', video: true}, send: {level: 'good', video: true}}]])});""")
    assert (got["level"], got["problem"]) == ("poor", "from_me_bad_your_upload")


def test_what_this_page_receives_badly_and_whose_side_it_is() -> None:
    # Measured by the page alone (no media_link yet): its own link.
    assert link_quality("poor", {})["problem"] == "to_me_bad_your_link"
    # The other's upload is poor too: theirs.
    theirs = link_quality("poor", {"js": {"send": {"level": "poor", "video": True}}})
    assert theirs["problem"] == "to_me_bad_their_upload"


def test_paused_video_is_told_with_its_cause_and_a_choice_is_not_a_problem() -> None:
    paused_upload = link_quality("good", {"adv": GOOD_LINK, "js": {**GOOD_LINK, "send": {
        "level": "poor", "video": False, "reason": "low_bandwidth"}}})
    assert paused_upload["problem"] == "to_me_paused_their_upload"
    assert paused_upload["toMe"] == {"level": "poor", "paused": True, "cause": "their_upload"}
    paused_downlink = link_quality("good", {"adv": GOOD_LINK, "js": {**GOOD_LINK, "receive": {
        "level": "fair", "video": False, "reason": "low_framerate"}}})
    assert paused_downlink["problem"] == "from_me_paused_their_link"
    own = link_quality("good", {"adv": {**GOOD_LINK, "receive": {"level": "good", "video": False,
                                                                 "reason": "low_framerate"}}, "js": GOOD_LINK})
    assert (own["level"], own["problem"]) == ("fair", "to_me_paused_your_link")  # paused: at least fair
    chosen = link_quality("good", {"adv": GOOD_LINK, "js": {**GOOD_LINK, "receive": {
        "level": "good", "video": False, "reason": "by_choice"}}})
    assert (chosen["level"], chosen["problem"]) == ("good", None)


def test_worst_of_levels() -> None:
    assert quality("result = [q.worst(), q.worst('unknown', 'good'), q.worst('good', 'poor', 'fair'),"
                   " q.worst(null, undefined, 'fair')];") == ["unknown", "good", "poor", "fair"]
