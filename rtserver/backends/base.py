"""The seams between chat logic and storage: ``Store``, ``Broker``, ``PresenceBackend``.

Every implementation (SQLite + in-process, Redis) passes the same contract tests
(tests/integration/backends/test_store_contract.py). Services receive these in their constructors and never know
which family they talk to; ``rtserver/stores.py`` is the one place that chooses.
"""

from __future__ import annotations

import builtins
import dataclasses
import enum
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ..protocol import events
from ..protocol.requests import Availability, PresenceStatus

if TYPE_CHECKING:
    from ..reaping import Kind, Reaper

__all__ = [
    "AppendResult", "Backends", "Broker", "BrokerHandler", "MediaDirectory", "MemberRole", "NodeMessageHandler",
    "PresenceBackend", "PresenceInfo", "Room", "RoomKind", "RoomSummary", "Store", "StoredMessage",
]


class RoomKind(enum.StrEnum):
    CONVERSATION = "conversation"  # one advisor and one jobseeker
    GROUP = "group"  # a few people, everyone posts
    BROADCAST = "broadcast"  # information session: many members, only hosts post


class MemberRole(enum.StrEnum):
    MEMBER = "member"
    HOST = "host"


@dataclasses.dataclass(frozen=True, slots=True)
class Room:
    id: str
    kind: RoomKind
    epoch: str  # changes when the room's history is lost or recreated: clients cannot resume across it
    title: str
    created_ms: int


@dataclasses.dataclass(frozen=True, slots=True)
class StoredMessage:
    room: str
    offset: int
    ts_ms: int
    sender: str
    name: str
    text: str
    key: str | None
    # What a workflow notice is about, for pages to render it in their reader's language and time
    # zone (an appointment's start as an instant: docs/workflow.md#notices). None for messages of
    # people, which carry nothing but their text.
    data: dict[str, Any] | None = None

    def to_event(self) -> dict[str, Any]:
        return events.message(self.room, self.offset, self.ts_ms, self.sender, self.name, self.text, self.key,
                              self.data)


@dataclasses.dataclass(frozen=True, slots=True)
class AppendResult:
    message: StoredMessage
    duplicate: bool  # True: the idempotency key was seen before; message is the original


@dataclasses.dataclass(frozen=True, slots=True)
class RoomSummary:
    room: str
    kind: RoomKind
    title: str
    epoch: str
    head: int
    read: int
    last_ts: int | None = None  # when the latest message was stored (ms); None: no message (or not known)

    @property
    def unread(self) -> int:
        return max(0, self.head - self.read)


class Store(Protocol):
    """Durable state. Every write returns only once it is durable."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...

    async def create_room(self, room_id: str, kind: RoomKind, title: str, members: Mapping[str, MemberRole],
                          *, max_members: int) -> Room: ...
    async def get_room(self, room_id: str) -> Room | None: ...
    async def add_members(self, room_id: str, members: Mapping[str, MemberRole], *, max_members: int) -> None: ...
    async def remove_member(self, room_id: str, user_id: str) -> bool: ...
    async def member_role(self, room_id: str, user_id: str) -> MemberRole | None: ...
    async def members(self, room_id: str) -> dict[str, MemberRole]: ...
    async def rooms_of(self, user_id: str, *, limit: int) -> list[RoomSummary]: ...

    async def append(self, room_id: str, *, sender: str, name: str, text: str, key: str | None,
                     ts_ms: int, data: dict[str, Any] | None = None) -> AppendResult: ...
    async def read_after(self, room_id: str, offset: int, limit: int) -> list[StoredMessage]: ...
    async def read_before(self, room_id: str, offset: int | None, limit: int) -> list[StoredMessage]: ...
    async def head(self, room_id: str) -> int: ...
    async def first_offset(self, room_id: str) -> int | None:
        """The oldest offset still kept (retention deletes a room's oldest messages); None: none kept."""

    def reapers(self) -> dict[Kind, Reaper]:
        """The kinds of data this store deletes for the retention sweep (``rtserver/retention``)."""

    async def erase_sender(self, room_id: str, user_id: str, *, scrub: Sequence[str] = ()) -> int:
        """A person's erasure (``backends/erasure.py``): the user's messages in the room become
        tombstones, notices quoting ``scrub`` are scrubbed, offsets unchanged; how many changed."""


    async def set_read(self, room_id: str, user_id: str, offset: int) -> int: ...
    async def read_offsets(self, room_id: str) -> dict[str, int]: ...


class BrokerHandler(Protocol):
    """What a broker calls back on the node; brokers never see client connections."""

    def on_room_event(self, room_id: str, event: dict[str, Any]) -> None: ...

    def on_room_reset(self, room_id: str) -> None:
        """The room's history was lost or replaced (new epoch): its members here must rejoin."""


class Broker(Protocol):
    """Fan-out between nodes. Best effort: offsets plus resume repair anything it drops."""

    async def start(self, handler: BrokerHandler) -> None: ...
    async def close(self) -> None: ...
    async def subscribe(self, room_id: str) -> None: ...
    async def unsubscribe(self, room_id: str) -> None: ...
    async def publish(self, room_id: str, event: dict[str, Any]) -> None: ...

    async def listen_node(self, node_id: str, handler: NodeMessageHandler) -> None:
        """Receive the messages other nodes send to ``node_id`` (returns once subscribed)."""

    async def send_to_node(self, node_id: str, message: dict[str, Any]) -> None:
        """Best effort, in order per sender; raises ``Unavailable`` when it cannot be sent."""


NodeMessageHandler = Callable[[dict[str, Any]], None]


class MediaDirectory(Protocol):
    """Which node holds each media room: an interview's peer connections live in one process.

    A holder keeps its rooms by renewing their leases; the rooms of a node that stops renewing
    (it died) become free when their lease runs out.
    """

    async def claim(self, room_id: str, node_id: str) -> str:
        """Take the room if it is free (or renew it if it is ours); returns the node holding it."""

    async def owner(self, room_id: str) -> str | None: ...

    async def renew(self, node_id: str, room_ids: list[str]) -> list[str]:
        """Extend the leases of this node's rooms; returns those it no longer holds."""

    async def release(self, node_id: str, room_ids: list[str]) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class PresenceInfo:
    status: PresenceStatus
    availability: Availability | None = None

    def to_dict(self) -> dict[str, str]:
        out = {"status": str(self.status)}
        if self.availability is not None:
            out["availability"] = str(self.availability)
        return out


class PresenceBackend(Protocol):
    """Per-connection presence entries; a user's presence aggregates all their connections."""

    async def set(self, user_id: str, conn_id: str, status: PresenceStatus) -> None: ...
    async def remove(self, user_id: str, conn_id: str) -> None: ...
    async def set_availability(self, user_id: str, availability: Availability | None) -> None: ...
    async def get(self, user_ids: list[str]) -> dict[str, PresenceInfo]: ...

    async def nodes_of(self, user_id: str) -> builtins.set[str]:  # (the class has a method named set)
        """The nodes holding connections of the user (by the ``NODE`` of their ``NODE:N`` ids; none
        on a single node), and the user's availability forgotten: a person's erasure closes them."""

    async def close(self) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Backends:
    store: Store
    broker: Broker
    presence: PresenceBackend
    directory: MediaDirectory
