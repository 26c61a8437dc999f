"""Video interviews: an SFU on aiortc that forwards encoded media (no decoding, no re-encoding).

Modules, one concept each (LiveKit's split of room logic, forwarding and signalling):

- ``signalling``: ``MediaService``, the ``media_*`` WebSocket requests, authorization, lifecycle.
- ``room`` / ``participant``: who is in an interview, their publish and subscribe connections.
- ``track``: ``Publication`` (a published track) and ``DownTrack`` (a subscriber's copy of it).
- ``rewrite``: pure RTP arithmetic (renumbering, keyframe detection, request pacing).
- ``forwarder``: the one module that relies on aiortc internals.
- ``ice``: ICE servers for clients, TURN REST credentials. ``telemetry``: /metrics.
- ``outcome``: the interview's outcome summary, folded from the events its room sends (pure).
"""

from .forwarder import AiortcIncompatible, HostAddresses, check_aiortc
from .ice import IceServerConfig, turn_rest_credentials
from .signalling import MediaService, media_config

__all__ = [
    "AiortcIncompatible", "HostAddresses", "IceServerConfig", "MediaService", "check_aiortc", "media_config",
    "turn_rest_credentials",
]
