"""The contract between the composition root (``rtserver/compose.py``) and each feature.

A feature (media, workflow, pre-call check, interview outcomes, demo) is built from the few
collaborators and the configuration section it uses, and answers with one ``Feature``: the
WebSocket request types and HTTP routes it owns, the hooks it adds to the chat and to the end of a
session, and its ``start``/``close``. The composition root merges them in one declared order:
two features owning one request type or one HTTP route is a ``ValueError`` at start-up, never a
silent override (Starlette's ``routes=[...]``, declared once, nothing patched afterwards).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .services.hooks import AfterSend, BeforeSend, ChatHooks, MemberRemoved

if TYPE_CHECKING:
    from .delivery.connection import Connection

__all__ = ["AfterSend", "BeforeSend", "ChatHooks", "Feature", "Handler", "MemberRemoved", "chat_hooks",
           "merge_requests", "merge_routes"]

Handler = Callable[["Connection", Any], Awaitable[dict[str, Any] | None]]
"""A WebSocket request handler: the connection and the parsed request in, the reply (or None) out."""


async def _nothing() -> None:
    return None


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Feature:
    """What one feature owns. ``start`` runs after the features declared before it started;
    ``close`` runs in the reverse order, before theirs."""

    name: str
    requests: Mapping[type, Handler] = dataclasses.field(default_factory=dict)
    routes: Sequence[web.RouteDef] = ()
    before_send: Sequence[BeforeSend] = ()
    after_send: Sequence[AfterSend] = ()
    member_removed: Sequence[MemberRemoved] = ()
    connection_closed: Sequence[Callable[[Connection], None]] = ()
    start: Callable[[], Awaitable[None]] = _nothing
    close: Callable[[], Awaitable[None]] = _nothing


def chat_hooks(features: Sequence[Feature]) -> ChatHooks:
    """Every feature's chat hooks, in the features' order."""
    return ChatHooks(tuple(h for f in features for h in f.before_send),
                     tuple(h for f in features for h in f.after_send),
                     tuple(h for f in features for h in f.member_removed))


def merge_requests(features: Sequence[Feature]) -> dict[type, Handler]:
    """Every feature's request handlers in one table; ValueError when two claim one type."""
    table: dict[type, Handler] = {}
    owner: dict[type, str] = {}
    for feature in features:
        for kind, handler in feature.requests.items():
            if kind in owner:
                raise ValueError(f"request type {kind.__name__} is claimed by both {owner[kind]} and {feature.name}")
            owner[kind] = feature.name
            table[kind] = handler
    return table


def merge_routes(features: Sequence[Feature]) -> list[web.RouteDef]:
    """Every feature's HTTP routes; ValueError when two declare one method and path."""
    owner: dict[tuple[str, str], str] = {}
    routes: list[web.RouteDef] = []
    for feature in features:
        for route in feature.routes:
            key = (route.method, route.path)
            if key in owner:
                raise ValueError(f"HTTP route {route.method} {route.path} is declared by both {owner[key]} "
                                 f"and {feature.name}")
            owner[key] = feature.name
            routes.append(route)
    return routes
