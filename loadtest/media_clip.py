"""Media encoded once, before a run: a loop of VP8 video and Opus audio packets, and the tracks
that play it back without encoding anything.

The load side must not spend its CPU on encoding (it shares the machine with the server), so a
few seconds of 640x480 VP8 (about 500 kbit/s, 30 fps) and Opus are encoded up front and each
publisher loops over the packets. aiortc's ``RTCRtpSender`` accepts ``av.Packet`` from a track and
only packetizes it, as ``MediaPlayer(decode=False)`` does.

The video is scrolling noise over half of a still picture (every frame costs bits, as a
camera image does); the audio is quiet noise, so that no two Opus packets of the loop are the same (the
latency probe recognises packets by their payload, see ``media_probe``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import fractions
import os
import time

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

__all__ = ["AUDIO_CLOCK", "AUDIO_PACKET_S", "VIDEO_CLOCK", "Clip", "LoopedTrack", "encode_clip"]

VIDEO_CLOCK = 90_000
AUDIO_CLOCK = 48_000
AUDIO_PACKET_S = 0.02  # Opus frames of 20 ms: 50 packets/s


@dataclasses.dataclass(frozen=True)
class Clip:
    """Encoded packets to loop: ``video[0]`` is a keyframe (the loop restarts on one)."""

    width: int
    height: int
    fps: int
    video: list[bytes]
    audio: list[bytes]
    encode_s: float

    @property
    def video_kbps(self) -> float:
        return sum(map(len, self.video)) * 8 * self.fps / len(self.video) / 1000

    @property
    def audio_kbps(self) -> float:
        return sum(map(len, self.audio)) * 8 / (len(self.audio) * AUDIO_PACKET_S) / 1000

    def describe(self) -> dict[str, object]:
        return {"width": self.width, "height": self.height, "fps": self.fps, "video_frames": len(self.video),
                "video_kbps": round(self.video_kbps), "audio_packets": len(self.audio),
                "audio_kbps": round(self.audio_kbps), "loop_s": round(len(self.video) / self.fps, 2),
                "encode_s": round(self.encode_s, 2),
                "distinct_audio_payloads": len(set(self.audio)) == len(self.audio)}


def _video(width: int, height: int, fps: int, frames: int, bitrate: int) -> list[bytes]:
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.bit_rate = bitrate
    codec.framerate = fractions.Fraction(fps, 1)
    codec.time_base = fractions.Fraction(1, fps)
    codec.gop_size = frames  # one keyframe, at the start of the loop
    codec.options = {"deadline": "realtime", "cpu-used": "-6", "lag-in-frames": "0", "minrate": str(bitrate),
                     "maxrate": str(bitrate), "bufsize": str(bitrate)}
    # The top half is scrolling noise (every frame costs bits, as a camera image does), the rest a
    # still gradient: a keyframe of about 20 KB and inter frames of about 2 KB at 500 kbit/s.
    noise = bytes((b & 0x3F) + 100 for b in os.urandom(width * height))
    band = width * height // 2
    gradient = bytes((x // 3 + 40) & 0xFF for _ in range(height) for x in range(width))
    out: list[bytes] = []
    for i in range(frames + 8):
        frame = av.VideoFrame(width=width, height=height, format="yuv420p")
        y, u, v = frame.planes
        shift = (i * 4 * width) % len(noise)
        y.update(((noise[shift:] + noise[:shift])[:band] + gradient[band:])[:y.buffer_size])
        u.update(bytes([90]) * u.buffer_size)
        v.update(bytes([240]) * v.buffer_size)
        frame.pts = i
        frame.time_base = fractions.Fraction(1, fps)
        if i == 0:
            frame.pict_type = av.video.frame.PictureType.I
        out += [bytes(p) for p in codec.encode(frame)]
    return out[:frames]


def _audio(packets: int, bitrate: int) -> list[bytes]:
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format, codec.bit_rate = AUDIO_CLOCK, "stereo", "s16", bitrate
    samples = int(AUDIO_CLOCK * AUDIO_PACKET_S)
    out: list[bytes] = []
    for i in range(packets + 8):
        frame = av.AudioFrame(format="s16", layout="stereo", samples=samples)
        # Quiet noise (about -40 dBFS): every packet differs, which a tone would not guarantee.
        noise = bytes(b & 0x3F if k % 2 == 0 else 0 for k, b in enumerate(os.urandom(samples * 4)))
        frame.planes[0].update(noise)
        frame.sample_rate = AUDIO_CLOCK
        frame.pts = i * samples
        frame.time_base = fractions.Fraction(1, AUDIO_CLOCK)
        out += [bytes(p) for p in codec.encode(frame)]
    return out[:packets]


def encode_clip(*, width: int = 640, height: int = 480, fps: int = 30, seconds: float = 4.0,
                video_bps: int = 500_000, audio_bps: int = 32_000) -> Clip:
    """Encode ``seconds`` of video and audio (about 1-2 s of CPU for the default 4 s)."""
    started = time.process_time()
    video = _video(width, height, fps, round(seconds * fps), video_bps)
    audio = _audio(round(seconds / AUDIO_PACKET_S), audio_bps)
    return Clip(width, height, fps, video, audio, time.process_time() - started)


class LoopedTrack(MediaStreamTrack):
    """Plays a list of encoded packets in a loop at its real pace, as ``av.Packet`` (nothing is encoded).

    ``request_keyframe()`` (a PLI from the server) restarts video at the loop's keyframe, as an
    encoder would send a keyframe, at most every ``KEYFRAME_GAP_S``.
    """

    KEYFRAME_GAP_S = 0.5

    def __init__(self, kind: str, packets: list[bytes], *, fps: int = 30):
        super().__init__()
        self.kind = kind
        self._packets = packets
        self._clock = VIDEO_CLOCK if kind == "video" else AUDIO_CLOCK
        self._step = VIDEO_CLOCK // fps if kind == "video" else int(AUDIO_CLOCK * AUDIO_PACKET_S)
        self._period_s = self._step / self._clock
        self._time_base = fractions.Fraction(1, self._clock)
        self._sent = 0  # packets played: their pts grows without a jump when the loop restarts
        self._index = 0  # position in the loop
        self._start: float | None = None
        self._keyframe_wanted = False
        self._last_keyframe = 0.0

    def request_keyframe(self) -> None:
        if self.kind == "video":
            self._keyframe_wanted = True

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._sent * self._period_s
        if due > now:
            await asyncio.sleep(due - now)
        if self._keyframe_wanted and time.monotonic() - self._last_keyframe >= self.KEYFRAME_GAP_S:
            self._index = 0
        self._keyframe_wanted = False
        if self._index == 0:
            self._last_keyframe = time.monotonic()
        packet = av.Packet(self._packets[self._index])
        packet.pts = self._sent * self._step
        packet.time_base = self._time_base
        self._sent += 1
        self._index = (self._index + 1) % len(self._packets)
        return packet
