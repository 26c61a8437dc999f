"""What an interview was like, folded from the events its room sends: the outcome summary.

Pure: no clock, no socket. ``MediaRoom`` feeds it every event it broadcasts or posts to one
participant (``observe(event, now, to=user)``, ``now`` in monotonic seconds) and reads
``summary(now)`` when the room closes (and, while it runs, for checkpoints). The events folded:

- ``media_participant`` ``joined`` / ``left`` (with its reason) / ``dropped`` / ``resumed``;
- ``media_connection`` (``pc``: publish or subscribe, ``state``): posted to the participant
  whose connection it is, so the fold takes the user from ``to``;
- ``media_tracks``: whether a participant publishes video at all (camera off is a choice);
- ``media_fallback`` (a direction of one participant switched to audio, or back to video) and
  ``media_link`` (each participant's per-direction state: video or not, why, received fps);
- ``media_closed`` (the room closed a participant's session: shutdown, moved...).

A broadcast reaches the fold once from ``MediaRoom.broadcast`` and again from each
``Participant.post``: the same dict object, observed back to back, is folded once. Beyond that,
every count is a *transition* of a state (present or not, in fallback or not, a connection up or
not), so an event delivered twice in other ways (a ``media_fallback`` posted to each person as
its own dict) changes nothing the second time.

Time in the call (from the first moment two participants' media were connected, while at
least two are in the room) is split, at every instant, into exactly one of:

- ``frozen``: someone receives nothing usable: a connection of theirs that had been connected
  is not (ICE disconnected or failed, a restart under way), or their latest ``media_link``
  says they receive video at under ``frozen_fps`` frames per second;
- ``audio``: not frozen, but some direction carries no video for a technical reason (a
  ``media_fallback`` still in force, or ``media_link`` video off for low frame rate, low
  bandwidth or loss);
- ``chosen_audio``: not the above, but someone chose audio only (``media_link`` reason
  ``by_choice``, or publishing a microphone without a camera);
- ``video``: everyone present receives everyone's video.

The outcome, in this order:

- ``unattended``: never two participants at once (a no-show; the node cannot tell why, so it
  is counted apart, neither a success nor a technical problem);
- ``failed``: two were together but their media never connected, or the call ended for a
  technical reason (anything but ``left`` by ``media_leave`` or an administrative removal);
- ``degraded``: any fallback to audio or technical audio-only second, ``frozen`` for at least
  ``degraded_frozen_s``, or any reconnection (media connection back after an interruption,
  WebSocket resumed, participant who left and joined again);
- ``clean``: none of the above.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from typing import Any, TypeGuard

__all__ = ["ADMINISTRATIVE_ENDS", "OUTCOMES", "TECHNICAL_REASONS", "InterviewOutcome", "Thresholds",
           "problem_share"]

OUTCOMES = ("clean", "degraded", "failed", "unattended")
# media_link / media_fallback reasons that mean the network could not carry video.
TECHNICAL_REASONS = frozenset({"low_framerate", "low_bandwidth", "loss"})
# A session ended by the service, not by the network: a member removed (transfer, opt-out).
ADMINISTRATIVE_ENDS = frozenset({"removed", "inviter_removed"})
NORMAL_END = "left"  # media_leave: someone ended the call


@dataclasses.dataclass(frozen=True, slots=True)
class Thresholds:
    # Under one decoded frame a second the picture is a still image: people say "it froze".
    # (Chromium counts a freeze from 3 frame durations without a frame, i.e. under ~10 fps at
    # 30 fps; 1 fps keeps a merely low frame rate, which is still moving, out of "frozen".)
    frozen_fps: float = 1.0
    # Frozen this long in total makes the interview degraded: about what people notice and
    # mention; a shorter total is the first report window and a restart's second or two.
    degraded_frozen_s: float = 5.0


def problem_share(counts: dict[str, int]) -> float | None:
    """The operator's figure: (degraded + failed) / (clean + degraded + failed); None with no call.
    Unattended rooms (nobody to talk to) are in neither side."""
    problems = counts.get("degraded", 0) + counts.get("failed", 0)
    calls = problems + counts.get("clean", 0)
    return None if calls == 0 else round(problems / calls, 4)


@dataclasses.dataclass(slots=True)
class _Person:
    role: str
    present: bool = True
    pcs: dict[str, str] = dataclasses.field(default_factory=dict)  # publish/subscribe -> connection state
    was_up: set[str] = dataclasses.field(default_factory=set)  # pcs that have been connected
    fallback: set[str] = dataclasses.field(default_factory=set)  # directions without video (media_fallback)
    link: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # direction -> media_link state
    publishes_video: bool | None = None  # from media_tracks; None: not known yet

    def forget_media(self) -> None:
        self.pcs.clear()
        self.was_up.clear()
        self.fallback.clear()
        self.link.clear()
        self.publishes_video = None

    def media_up(self) -> bool:
        return bool(self.pcs) and all(state == "connected" for state in self.pcs.values())

    def interrupted(self) -> bool:
        return any(self.pcs.get(pc) != "connected" for pc in self.was_up)

    def frozen(self, thresholds: Thresholds) -> bool:
        if self.interrupted():
            return True
        receive = self.link.get("receive", {})
        fps = receive.get("fps")
        return (receive.get("video") is True and _number(fps) and fps < thresholds.frozen_fps)

    def technical_audio(self) -> bool:
        return bool(self.fallback) or any(
            state.get("video") is False and state.get("reason") in TECHNICAL_REASONS for state in self.link.values())

    def chosen_audio(self) -> bool:
        return self.publishes_video is False or any(
            state.get("video") is False and state.get("reason") == "by_choice" for state in self.link.values())


def _number(value: Any) -> TypeGuard[float]:  # int or float, finite, not a bool
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class InterviewOutcome:
    """The running fold of one interview room. ``now`` is monotonic seconds, never decreasing."""

    def __init__(self, room: str, *, now: float, thresholds: Thresholds | None = None):
        self.id = uuid.uuid4().hex  # the stored record's: a room id is reused by every interview of a follow-up
        self.room = room
        self.thresholds = thresholds or Thresholds()
        self.advisor: str | None = None  # the first advisor to join: for per-advisor figures
        self._created = now
        self._last = now  # time accounted up to
        self._last_event: dict[str, Any] | None = None
        self._people: dict[str, _Person] = {}
        self._seconds = dict.fromkeys(("video", "audio", "chosen_audio", "frozen"), 0.0)
        self._together_at: float | None = None  # first time two were in the room
        self._connected_at: float | None = None  # first time two had their media connected
        self._ended_by: str | None = None  # reason of the departure that left fewer than two
        self._last_reason: str | None = None  # reason of the latest departure
        self._closed_reason: str | None = None
        self.fallbacks = 0
        self.recoveries = 0
        self.media_reconnections = 0  # a connection up again after an interruption (ICE, restart)
        self.resumes = 0  # a participant's WebSocket resumed within the drop timeout
        self.rejoins = 0  # a participant who had left joined again
        self.drops = 0  # WebSockets dropped
        self.lost = 0  # participants removed because their WebSocket did not come back

    # -- folding ----------------------------------------------------------------------------------
    def observe(self, event: dict[str, Any], now: float, *, to: str | None = None) -> None:
        """Fold one event; ``to``: the participant it was posted to (None: a broadcast)."""
        if event is self._last_event:
            return  # the same broadcast, as posted to each participant
        self._last_event = event
        self._advance(now)
        kind = event.get("type")
        if kind == "media_participant":
            self._participant(event, now)
        elif kind == "media_connection" and to is not None:
            self._connection(to, str(event.get("pc")), str(event.get("state")))
        elif kind == "media_tracks":
            person = self._people.get(str(event.get("user")))
            tracks = event.get("tracks")
            if person is not None and isinstance(tracks, list) and tracks:
                person.publishes_video = any(isinstance(t, dict) and t.get("kind") == "video" for t in tracks)
        elif kind == "media_fallback":
            self._fallback(event)
        elif kind == "media_link":
            self._link(event)
        elif kind == "media_closed" and event.get("reason") != "taken_over":
            self._closed_reason = str(event.get("reason"))
        self._check_connected(now)

    def _participant(self, event: dict[str, Any], now: float) -> None:
        user, what = str(event.get("user")), event.get("event")
        person = self._people.get(user)
        if what == "joined":
            if person is None:
                person = self._people[user] = _Person(role=str(event.get("role")))
                if person.role == "advisor" and self.advisor is None:
                    self.advisor = user
            elif not person.present:
                person.present = True
                self.rejoins += 1
            if self._together_at is None and self._present() >= 2:
                self._together_at = now
        elif person is None or not person.present:
            return
        elif what == "dropped":
            self.drops += 1
        elif what == "resumed":
            self.resumes += 1
        elif what == "left":
            before = self._present()
            person.present = False
            person.forget_media()
            reason = str(event.get("reason", NORMAL_END))
            self._last_reason = reason
            if reason == "timeout":
                self.lost += 1
            if before >= 2 > self._present():
                self._ended_by = reason

    def _connection(self, user: str, pc: str, state: str) -> None:
        person = self._people.get(user)
        if person is None or not person.present or pc not in ("publish", "subscribe"):
            return
        previous = person.pcs.get(pc)
        person.pcs[pc] = state
        if state == "connected":
            if pc in person.was_up and previous is not None and previous != "connected":
                self.media_reconnections += 1
            person.was_up.add(pc)

    def _fallback(self, event: dict[str, Any]) -> None:
        person = self._people.get(str(event.get("user")))
        direction = event.get("direction")
        if person is None or direction not in ("send", "receive"):
            return
        if event.get("video") is False and direction not in person.fallback:
            person.fallback.add(direction)
            self.fallbacks += 1
        elif event.get("video") is True and direction in person.fallback:
            person.fallback.discard(direction)
            self.recoveries += 1

    def _link(self, event: dict[str, Any]) -> None:
        links = event.get("links")
        if not isinstance(links, list):
            return
        for entry in links[:64]:  # one per participant (at most media_max_participants): a bound anyway
            if not isinstance(entry, dict):
                continue
            person = self._people.get(str(entry.get("user")))
            if person is None:
                continue
            for direction in ("receive", "send"):
                state = entry.get(direction)
                if isinstance(state, dict):
                    person.link[direction] = {k: state.get(k) for k in ("video", "reason", "fps")}

    def _present(self) -> int:
        return sum(p.present for p in self._people.values())

    def _check_connected(self, now: float) -> None:
        if self._connected_at is None and sum(p.present and p.media_up() for p in self._people.values()) >= 2:
            self._connected_at = now

    # -- time ---------------------------------------------------------------------------------------
    def _state(self) -> str | None:
        """What the call is like right now (see the module's docstring); None when not in a call."""
        present = [p for p in self._people.values() if p.present]
        if self._connected_at is None or len(present) < 2:
            return None
        if any(p.frozen(self.thresholds) for p in present):
            return "frozen"
        if any(p.technical_audio() for p in present):
            return "audio"
        if any(p.chosen_audio() for p in present):
            return "chosen_audio"
        return "video"

    def _advance(self, now: float) -> None:
        now = max(now, self._last)
        state = self._state()
        if state is not None:
            self._seconds[state] += now - self._last
        self._last = now

    # -- the summary ----------------------------------------------------------------------------------
    def ended(self) -> bool:
        """Everyone who came has gone."""
        return bool(self._people) and self._present() == 0

    def summary(self, now: float, *, open_as: str = "open") -> dict[str, Any]:
        """The summary up to ``now``. While the room is still open, ``ended_by`` is ``open_as`` (a
        checkpoint stores ``host_lost``: what stays if this node dies before the room closes)."""
        seconds = dict(self._seconds)
        state = self._state()
        if state is not None and now > self._last:
            seconds[state] += now - self._last
        if self.ended():
            ended_by = self._ended_by or self._last_reason or self._closed_reason or NORMAL_END
        else:
            ended_by = open_as
        ended_by = "normal" if ended_by == NORMAL_END else ended_by
        connect_s = None if self._connected_at is None or self._together_at is None else \
            max(0.0, self._connected_at - self._together_at)
        reconnections = self.media_reconnections + self.resumes + self.rejoins
        problems: list[str] = []
        if self._together_at is None:
            outcome = "unattended"
        else:
            if connect_s is None:
                problems.append("never_connected")
            if ended_by not in ("normal", "open", *ADMINISTRATIVE_ENDS):  # open: not ended yet
                problems.append("ended_abnormally")
            if self.fallbacks or seconds["audio"] > 0:
                problems.append("audio_fallback")
            if seconds["frozen"] >= self.thresholds.degraded_frozen_s:
                problems.append("frozen")
            if reconnections:
                problems.append("reconnections")
            if "never_connected" in problems or "ended_abnormally" in problems:
                outcome = "failed"
            elif problems:
                outcome = "degraded"
            else:
                outcome = "clean"
        return {
            "outcome": outcome, "problems": problems, "ended_by": ended_by,
            "participants": len(self._people),
            "duration_s": _s(max(0.0, now - self._created)),
            "connect_s": None if connect_s is None else round(connect_s, 2),
            "video_s": _s(seconds["video"]), "audio_s": _s(seconds["audio"]),
            "chosen_audio_s": _s(seconds["chosen_audio"]), "frozen_s": _s(seconds["frozen"]),
            "fallbacks": self.fallbacks, "recoveries": self.recoveries,
            "reconnections": reconnections, "media_reconnections": self.media_reconnections,
            "resumes": self.resumes, "rejoins": self.rejoins, "drops": self.drops, "lost": self.lost,
        }


def _s(seconds: float) -> float:
    return round(seconds, 1)
