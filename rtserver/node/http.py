"""HTTP routes: health, metrics, and the server-to-server API for portals (``X-Api-Key``)."""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..audit.chain import AccessKind
from ..audit.journal import record_room_http
from ..backends import MemberRole, RoomKind
from ..errors import BadRequest, ErrorCode, RtError
from . import httpkit
from .httpkit import require_api_key
from .origins import listed_origins
from .params import int_query, json_object
from .ws import NODE_KEY

__all__ = ["node_routes"]

MAX_MEMBERS_PER_CALL = 10_000
EXPORT_PAGE_MAX = 1000


def _members(raw: Any) -> dict[str, MemberRole]:
    if not isinstance(raw, list) or len(raw) > MAX_MEMBERS_PER_CALL:
        raise BadRequest(f"'members' must be a list of at most {MAX_MEMBERS_PER_CALL} {{user, role}} objects")
    members: dict[str, MemberRole] = {}
    for item in raw:
        user = httpkit.user_id(item.get("user") if isinstance(item, dict) else None, "each member needs a 'user' id")
        try:
            members[user] = MemberRole(item.get("role", "member"))
        except ValueError:
            raise BadRequest("member 'role' must be member or host") from None
    return members


async def create_room(request: web.Request) -> web.Response:
    require_api_key(request)
    node = request.app[NODE_KEY]
    body = await json_object(request)
    room_id = httpkit.room_id(body.get("id"))
    try:
        kind = RoomKind(body.get("kind", "group"))
    except ValueError:
        raise BadRequest("'kind' must be conversation, group or broadcast") from None
    members = _members(body.get("members", []))
    if kind is RoomKind.CONVERSATION and len(members) > 2:
        raise BadRequest("a conversation has two members: one advisor and one jobseeker")
    title = body.get("title", "")
    if not isinstance(title, str) or len(title) > 200:
        raise BadRequest("'title' must be a string of at most 200 characters")
    room = await node.backends.store.create_room(room_id, kind, title, members,
                                                 max_members=node.settings.max_room_members)
    return web.json_response({"id": room.id, "kind": str(room.kind), "title": room.title, "epoch": room.epoch},
                             status=201)


async def get_room(request: web.Request) -> web.Response:
    require_api_key(request)
    store = request.app[NODE_KEY].backends.store
    room_id = httpkit.room_id(request.match_info["room"])
    room = await store.get_room(room_id)
    if room is None:
        raise RtError(f"no room {room_id!r}", code=ErrorCode.ROOM_NOT_FOUND)
    members = await store.members(room_id)
    return web.json_response({
        "id": room.id, "kind": str(room.kind), "title": room.title, "epoch": room.epoch,
        "head": await store.head(room_id), "members": [{"user": u, "role": str(r)} for u, r in members.items()]})


async def add_members(request: web.Request) -> web.Response:
    require_api_key(request)
    node = request.app[NODE_KEY]
    room_id = httpkit.room_id(request.match_info["room"])
    members = _members((await json_object(request)).get("members"))
    await node.backends.store.add_members(room_id, members, max_members=node.settings.max_room_members)
    return web.json_response({"added": len(members)})


async def remove_member(request: web.Request) -> web.Response:
    require_api_key(request)
    node = request.app[NODE_KEY]
    room_id = httpkit.room_id(request.match_info["room"])
    user = request.match_info["user"]
    removed = await node.chat.remove_member(room_id, user)
    return web.json_response({"removed": removed})


async def export_messages(request: web.Request) -> web.Response:
    require_api_key(request)
    store = request.app[NODE_KEY].backends.store
    room_id = httpkit.room_id(request.match_info["room"])
    after = int_query(request.query, "after", 0)
    limit = int_query(request.query, "limit", EXPORT_PAGE_MAX, 1, EXPORT_PAGE_MAX, clamp=True)
    await record_room_http(request, AccessKind.CONVERSATION_EXPORT, room_id)
    messages = await store.read_after(room_id, after, limit)
    return web.json_response({"room": room_id, "messages": [m.to_event() for m in messages],
                              "more": len(messages) == limit})


async def client_config(request: web.Request) -> web.Response:
    """What the pages may trust besides their own origin: a token endpoint (``?token_endpoint=``)
    or a widget host (``?host=``) on another origin must be listed here (docs/web-client.md)."""
    allowed = request.app[NODE_KEY].settings.origins()
    return web.json_response({"allowed_origins": list(listed_origins(allowed)), "any_origin": "*" in allowed})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    if not node.accepting:
        return web.json_response({"status": "shutting down"}, status=503)
    try:
        await node.backends.store.ping()
    except RtError as exc:
        return web.json_response({"status": "store unavailable", "detail": exc.message}, status=503)
    return web.json_response({"status": "ready", "node": node.id})


async def metrics(request: web.Request) -> web.Response:
    expected = request.app[NODE_KEY].settings.metrics_token
    if expected:  # a scraper's Bearer token; without one set, /metrics stays open (aggregates only by default)
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
            raise web.HTTPUnauthorized(text="/metrics needs Authorization: Bearer <metrics token>",
                                       headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    body = generate_latest(request.app[NODE_KEY].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def node_routes() -> list[web.RouteDef]:
    return [
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
        web.get("/metrics", metrics),
        web.get("/client-config", client_config),  # public, like /healthz: outside the keyed /api
        web.post("/api/rooms", create_room),
        web.get("/api/rooms/{room}", get_room),
        web.post("/api/rooms/{room}/members", add_members),
        web.delete("/api/rooms/{room}/members/{user}", remove_member),
        web.get("/api/rooms/{room}/messages", export_messages),
    ]
