"""Every Redis key and channel name the Redis backend uses, in one place.

Layout (``{...}`` is the Redis Cluster hash tag: everything of one room, one user or one node
hashes to one slot, so the Lua scripts that touch several of a room's keys run on Redis Cluster)::

    rt:{room:ID}:meta                 hash    kind, title, epoch, created_ms, head (last offset)
    rt:{room:ID}:log                  stream  one entry per message, entry id OFFSET-0, field e = event (msgpack)
    rt:{room:ID}:members              hash    user -> role
    rt:{room:ID}:reads                hash    user -> read offset
    rt:{room:ID}:idem:N:SENDER:KEY    string  "OFFSET EPOCH" of the message stored under an idempotency key (TTL)
    rt:{room:ID}:erase:N:USER         stream  a copy of the log being rewritten by USER's erasure (backends/erasure.py)
    rt:{room:ID}:events               sharded pub/sub channel of the room (SPUBLISH / SSUBSCRIBE)
    rt:{user:ID}:rooms                set     rooms the user was added to (an index; members hash is the truth)
    rt:{user:ID}:conns                hash    connection id -> "STATUS NODE" (presence entries)
    rt:{user:ID}:availability         string  an advisor's availability
    rt:{node:ID}:conns                hash    connection id -> user (what a node holds, to sweep it when it dies)
    rt:{node:ID}:inbox                sharded pub/sub channel of messages to one node (media signalling)
    rt:{media:ID}:owner               string  the node holding the media room (interview) ID, with a lease
    rt:nodes                          zset    node id -> last heartbeat (Redis server time, ms)
    rt:sweep:ID                       string  lock held by the live node sweeping a dead node's entries

Identifiers are escaped so that they never contain ``{`` or ``}``: the hash tag is then exactly the
identifier, and no two (identifier, suffix) pairs can spell the same key.
"""

from __future__ import annotations

__all__ = [
    "NODES",
    "availability",
    "idempotency",
    "media_owner",
    "node_conns",
    "node_inbox",
    "room_channel",
    "room_erasing",
    "room_log",
    "room_members",
    "room_meta",
    "room_reads",
    "sweep_lock",
    "user_conns",
    "user_rooms",
]

PREFIX = "rt"
NODES = f"{PREFIX}:nodes"


def _escape(identifier: str) -> str:
    return identifier.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


def _room(room_id: str) -> str:
    return f"{PREFIX}:{{room:{_escape(room_id)}}}"


def room_meta(room_id: str) -> str:
    return f"{_room(room_id)}:meta"


def room_log(room_id: str) -> str:
    return f"{_room(room_id)}:log"


def room_members(room_id: str) -> str:
    return f"{_room(room_id)}:members"


def room_reads(room_id: str) -> str:
    return f"{_room(room_id)}:reads"


def room_channel(room_id: str) -> str:
    return f"{_room(room_id)}:events"


def idempotency(room_id: str, sender: str, key: str) -> str:
    # The sender's length makes "a:b" + "c" and "a" + "b:c" different keys.
    return f"{_room(room_id)}:idem:{len(sender)}:{sender}:{key}"


def room_erasing(room_id: str, user_id: str) -> str:
    return f"{_room(room_id)}:erase:{len(user_id)}:{_escape(user_id)}"


def user_rooms(user_id: str) -> str:
    return f"{PREFIX}:{{user:{_escape(user_id)}}}:rooms"


def user_conns(user_id: str) -> str:
    return f"{PREFIX}:{{user:{_escape(user_id)}}}:conns"


def availability(user_id: str) -> str:
    return f"{PREFIX}:{{user:{_escape(user_id)}}}:availability"


def node_conns(node_id: str) -> str:
    return f"{PREFIX}:{{node:{_escape(node_id)}}}:conns"


def sweep_lock(node_id: str) -> str:
    return f"{PREFIX}:sweep:{_escape(node_id)}"



def node_inbox(node_id: str) -> str:
    return f"{PREFIX}:{{node:{_escape(node_id)}}}:inbox"


def media_owner(room_id: str) -> str:
    return f"{PREFIX}:{{media:{_escape(room_id)}}}:owner"
