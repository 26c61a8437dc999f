"""The interview outcome fold (rtserver/media/outcome.py), without sockets: scripted event sequences
as a media room sends them, and properties over random ones."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rtserver.media.outcome import OUTCOMES, InterviewOutcome, Thresholds, problem_share


class Script:
    """Events as MediaRoom sends them, at scripted times."""

    def __init__(self) -> None:
        self.t = 100.0
        self.outcome = InterviewOutcome("iv", now=self.t)

    def at(self, t: float) -> Script:
        self.t = 100.0 + t
        return self

    def send(self, event: dict[str, Any], to: str | None = None) -> Script:
        self.outcome.observe(event, self.t, to=to)
        return self

    def participant(self, user: str, what: str, role: str = "jobseeker", **extra: Any) -> Script:
        return self.send({"type": "media_participant", "room": "iv", "user": user, "name": "Some Name",
                          "role": role, "event": what, **extra})

    def pc(self, user: str, pc: str, state: str) -> Script:
        return self.send({"type": "media_connection", "room": "iv", "pc": pc, "state": state}, to=user)

    def connected(self, *users: str) -> Script:
        for user in users:
            self.pc(user, "publish", "connected").pc(user, "subscribe", "connected")
        return self

    def fallback(self, user: str, direction: str, video: bool, reason: str = "low_framerate") -> Script:
        return self.send({"type": "media_fallback", "room": "iv", "user": user, "direction": direction,
                          "video": video, "reason": reason})

    def link(self, user: str, receive: dict[str, Any] | None = None, send: dict[str, Any] | None = None) -> Script:
        good = {"level": "good", "video": True, "reason": None, "fps": 24.0, "loss": 0.0}
        return self.send({"type": "media_link", "room": "iv", "links": [
            {"user": user, "receive": receive or good, "send": send or good}]})

    def summary(self, t: float | None = None) -> dict[str, Any]:
        return self.outcome.summary(self.t if t is None else 100.0 + t)


def call(connect_at: float = 2.0) -> Script:
    """The advisor joins at 0, the jobseeker at 1; both connected at ``connect_at``."""
    return (Script().participant("adv", "joined", "advisor").at(1).participant("js", "joined")
            .at(connect_at).connected("adv", "js"))


def test_a_call_ended_by_media_leave_is_clean() -> None:
    s = call().at(62).participant("adv", "left", "advisor", reason="left").participant("js", "left", reason="left")
    summary = s.summary()
    assert summary["outcome"] == "clean" and summary["problems"] == []
    assert summary["ended_by"] == "normal"
    assert summary["connect_s"] == 1.0  # from the second join to both connected
    assert summary["video_s"] == 60.0 and summary["audio_s"] == summary["frozen_s"] == 0.0
    assert summary["duration_s"] == 62.0 and summary["participants"] == 2
    assert s.outcome.advisor == "adv"
    assert "Some Name" not in repr(summary)  # no names in what is stored


def test_one_participant_only_is_unattended() -> None:
    s = Script().participant("adv", "joined", "advisor").connected("adv").at(300)
    s.participant("adv", "left", "advisor", reason="left")
    assert s.summary()["outcome"] == "unattended"
    assert s.summary()["connect_s"] is None


def test_media_that_never_connects_is_failed() -> None:
    s = Script().participant("adv", "joined", "advisor").participant("js", "joined").pc("js", "publish", "connecting")
    s.at(30).pc("js", "publish", "failed").participant("adv", "left", "advisor", reason="left")
    s.participant("js", "left", reason="left")
    summary = s.summary()
    assert summary["outcome"] == "failed" and "never_connected" in summary["problems"]
    assert summary["video_s"] == 0.0


def test_the_departure_that_ends_the_call_decides_how_it_ended() -> None:
    # The jobseeker's WebSocket drops and never returns: removed with "timeout", the call is over.
    s = call().at(40).participant("js", "dropped", drop_timeout_ms=15000)
    s.at(55).participant("js", "left", reason="timeout").at(70).participant("adv", "left", "advisor", reason="left")
    summary = s.summary()
    assert summary["ended_by"] == "timeout" and summary["outcome"] == "failed"
    assert summary["drops"] == 1 and summary["lost"] == 1
    assert summary["video_s"] == 53.0  # until the jobseeker was removed; not the advisor waiting alone
    # A guest leaving while two remain does not end it; the advisor ending it does.
    s = call().participant("interp", "joined", "guest").connected("interp")
    s.at(10).participant("interp", "left", "guest", reason="timeout").at(20)
    s.participant("adv", "left", "advisor", reason="left").participant("js", "left", reason="timeout")
    assert s.summary()["ended_by"] == "normal" and s.summary()["outcome"] == "clean"


def test_shutdown_and_removal() -> None:
    s = call().at(20).send({"type": "media_closed", "room": "iv", "reason": "shutdown"}, to="adv")
    s.participant("adv", "left", "advisor", reason="shutdown").participant("js", "left", reason="shutdown")
    assert s.summary()["ended_by"] == "shutdown" and s.summary()["outcome"] == "failed"
    s = call().at(20).participant("js", "left", reason="removed").participant("adv", "left", "advisor",
                                                                                reason="left")
    assert s.summary()["ended_by"] == "removed" and s.summary()["outcome"] == "clean"  # not a technical end


def test_an_open_room_reads_as_its_checkpoint_reason() -> None:
    s = call().at(30)
    assert s.summary()["ended_by"] == "open"
    assert s.outcome.summary(s.t, open_as="host_lost")["outcome"] == "failed"
    assert s.summary()["video_s"] == 28.0


def test_fallback_and_recovery_count_and_time() -> None:
    s = call().at(12).fallback("js", "receive", False).at(22).fallback("js", "receive", True, "recovered")
    s.at(32).participant("adv", "left", "advisor", reason="left").participant("js", "left", reason="left")
    summary = s.summary()
    assert (summary["fallbacks"], summary["recoveries"]) == (1, 1)
    assert (summary["video_s"], summary["audio_s"]) == (20.0, 10.0)
    assert summary["outcome"] == "degraded" and summary["problems"] == ["audio_fallback"]


def test_a_broadcast_seen_again_from_each_post_counts_once() -> None:
    s = call()
    event = {"type": "media_fallback", "room": "iv", "user": "js", "direction": "send", "video": False,
             "reason": "low_bandwidth"}
    s.send(event).send(event, to="adv").send(event, to="js")  # broadcast, then the posts of the same dict
    s.send(dict(event), to="adv")  # a copy posted on its own: the state did not change
    assert s.summary()["fallbacks"] == 1
    joined = {"type": "media_participant", "room": "iv", "user": "g", "name": "G", "role": "guest",
              "event": "resumed"}
    s.send(joined).send(joined, to="adv")
    assert s.summary()["resumes"] == 0  # an unknown user: ignored


def test_media_link_decides_frozen_and_audio_time() -> None:
    s = call().at(10).link("js", receive={"level": "poor", "video": True, "reason": "low_framerate", "fps": 0.5})
    s.at(20).link("js", receive={"level": "poor", "video": False, "reason": "low_bandwidth", "fps": None})
    s.at(30).link("js", receive={"level": "good", "video": False, "reason": "by_choice"})
    s.at(40).link("js")
    summary = s.summary(50)
    assert (summary["video_s"], summary["frozen_s"], summary["audio_s"], summary["chosen_audio_s"]) == \
        (18.0, 10.0, 10.0, 10.0)
    assert summary["outcome"] == "degraded" and set(summary["problems"]) == {"frozen", "audio_fallback"}


def test_short_freezes_stay_clean_and_the_threshold_is_configurable() -> None:
    s = call().at(10).pc("js", "subscribe", "disconnected").at(13).pc("js", "subscribe", "connected").at(60)
    summary = s.summary()
    assert summary["frozen_s"] == 3.0 and summary["media_reconnections"] == 1
    assert summary["outcome"] == "degraded" and summary["problems"] == ["reconnections"]
    strict = Script()
    strict.outcome = InterviewOutcome("iv", now=strict.t, thresholds=Thresholds(degraded_frozen_s=2.0))
    strict.participant("adv", "joined", "advisor").participant("js", "joined").connected("adv", "js")
    strict.link("js", receive={"video": True, "fps": 0.0}).at(3).link("js")
    assert strict.summary()["problems"] == ["frozen"]
    relaxed = call().link("js", receive={"video": True, "fps": 0.0}).at(6).link("js")
    assert relaxed.summary()["frozen_s"] == 4.0 and relaxed.summary()["problems"] == []


def test_ice_restart_resume_and_rejoin_are_reconnections() -> None:
    s = call().at(5).pc("adv", "publish", "connecting").at(6).pc("adv", "publish", "connected")
    s.participant("js", "dropped").participant("js", "resumed")
    s.participant("js", "left", reason="left").participant("js", "joined").connected("js")
    summary = s.summary()
    assert (summary["media_reconnections"], summary["resumes"], summary["rejoins"]) == (1, 1, 1)
    assert summary["reconnections"] == 3 and summary["participants"] == 2


def test_camera_off_is_a_choice() -> None:
    s = call().send({"type": "media_tracks", "room": "iv", "user": "js", "tracks": [{"kind": "audio"}]})
    s.at(12).send({"type": "media_tracks", "room": "iv", "user": "js", "tracks": [{"kind": "audio"},
                                                                                  {"kind": "video"}]})
    summary = s.summary(22)
    assert (summary["chosen_audio_s"], summary["video_s"]) == (10.0, 10.0) and summary["outcome"] == "clean"


def test_problem_share() -> None:
    assert problem_share({"clean": 4, "degraded": 1, "failed": 0, "unattended": 7}) == 0.2
    assert problem_share({"unattended": 3}) is None


def test_malformed_events_are_ignored() -> None:
    s = call()
    for event in ({"type": "media_link", "links": "x"}, {"type": "media_link", "links": [1, {"user": 3}]},
                  {"type": "media_fallback", "user": "js", "direction": "up", "video": False},
                  {"type": "media_connection", "pc": "publish", "state": "failed"},  # no recipient
                  {"type": "media_participant"}, {"type": "whatever"}, {}):
        s.send(event)
    assert s.summary(10)["video_s"] == 8.0


EVENT = st.one_of(
    st.builds(lambda u, w, r: ("participant", u, w, r), st.sampled_from("abc"),
              st.sampled_from(["joined", "left", "dropped", "resumed"]),
              st.sampled_from(["left", "timeout", "removed", "shutdown"])),
    st.builds(lambda u, pc, state: ("pc", u, pc, state), st.sampled_from("abc"),
              st.sampled_from(["publish", "subscribe"]),
              st.sampled_from(["connecting", "connected", "disconnected", "failed"])),
    st.builds(lambda u, d, v: ("fallback", u, d, v), st.sampled_from("abc"), st.sampled_from(["send", "receive"]),
              st.booleans()),
    st.builds(lambda u, v, fps, r: ("link", u, v, fps, r), st.sampled_from("abc"), st.booleans(),
              st.one_of(st.none(), st.floats(0, 60)), st.sampled_from([None, "low_framerate", "by_choice"])),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 30), EVENT), max_size=40))
def test_any_sequence_gives_a_consistent_summary(steps: list[tuple[float, tuple[Any, ...]]]) -> None:
    s = Script()
    t = 0.0
    for dt, step in steps:
        t += dt
        s.at(t)
        if step[0] == "participant":
            s.participant(step[1], step[2], "advisor" if step[1] == "a" else "jobseeker", reason=step[3])
        elif step[0] == "pc":
            s.pc(step[1], step[2], step[3])
        elif step[0] == "fallback":
            s.fallback(step[1], step[2], step[3])
        else:
            s.link(step[1], receive={"video": step[2], "fps": step[3], "reason": step[4]})
    end = t + 5
    summary = s.summary(end)
    assert summary["outcome"] in OUTCOMES
    in_call = summary["video_s"] + summary["audio_s"] + summary["chosen_audio_s"] + summary["frozen_s"]
    assert 0 <= in_call <= summary["duration_s"] + 0.2  # a partition of the time in the call (rounded)
    # Rounded to 0.1 s from times offset by 100 s: 108.05 - 100 is 8.0499..., so 8.0, not round(8.05, 1).
    assert abs(summary["duration_s"] - end) <= 0.05 + 1e-9
    assert summary["recoveries"] <= summary["fallbacks"]
    assert summary["reconnections"] == summary["media_reconnections"] + summary["resumes"] + summary["rejoins"]
    if summary["outcome"] == "clean":
        assert summary["problems"] == [] and summary["audio_s"] == 0 and summary["reconnections"] == 0
    # Folding is deterministic and summary() does not change the state.
    assert s.summary(end) == summary


def test_only_interviews_have_an_outcome() -> None:
    from rtserver.media.participant import MediaConfig
    from rtserver.media.room import MediaRoom
    from rtserver.media.track import ForwardingTotals

    def room(room_id: str, echo: bool) -> MediaRoom:
        return MediaRoom(room_id, config=MediaConfig(), totals=ForwardingTotals(), on_empty=lambda r: None, echo=echo)

    assert room("precall:js", True).outcome is None
    interview = room("iv", False)
    assert interview.outcome is not None and interview.outcome.room == "iv"
    interview.broadcast({"type": "media_participant", "user": "adv", "role": "advisor", "event": "joined"})
    assert interview.outcome.advisor == "adv"  # broadcast to nobody, folded all the same
