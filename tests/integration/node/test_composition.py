"""The composition root: one owner per request type and HTTP route, hooks declared once, one order."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from conftest import make_settings

from rtserver.compose import compose
from rtserver.feature import ChatHooks, Feature, merge_requests, merge_routes
from rtserver.protocol import Ping, Send
from rtserver.protocol.workflow import CallbackRequest


async def _handler(conn, req):
    return None


async def _page(request: web.Request) -> web.Response:
    return web.Response()


def test_two_features_claiming_one_request_type_is_an_error_naming_both():
    with pytest.raises(ValueError, match="Send is claimed by both chat and followups"):
        merge_requests([Feature(name="chat", requests={Send: _handler, Ping: _handler}),
                        Feature(name="followups", requests={Send: _handler})])


def test_two_features_declaring_one_http_route_is_an_error_naming_both():
    with pytest.raises(ValueError, match="GET /api/x is declared by both a and b"):
        merge_routes([Feature(name="a", routes=[web.get("/api/x", _page)]),
                      Feature(name="b", routes=[web.post("/api/x", _page), web.get("/api/x", _page)])])


def test_one_path_with_two_methods_from_two_features_is_allowed():
    routes = merge_routes([Feature(name="a", routes=[web.get("/api/x", _page)]),
                           Feature(name="b", routes=[web.post("/api/x", _page)])])
    assert [(r.method, r.path) for r in routes] == [("GET", "/api/x"), ("POST", "/api/x")]


def test_the_node_refuses_a_feature_that_claims_a_chat_request(tmp_path: Path, monkeypatch):
    """The workflow once replaced chat's ``send`` silently; a feature claiming it now fails at start-up."""
    import rtserver.compose as composition

    real = composition.workflow_feature

    def greedy(workflow):
        feature = real(workflow)
        return Feature(name=feature.name, requests={**feature.requests, Send: _handler}, routes=feature.routes,
                       start=feature.start, close=feature.close)

    monkeypatch.setattr(composition, "workflow_feature", greedy)
    with pytest.raises(ValueError, match="Send is claimed by both chat and workflow"):
        compose(make_settings(tmp_path))


def test_the_composition_declares_every_feature_once_in_its_order(tmp_path: Path):
    composition = compose(make_settings(tmp_path, demo=False))
    assert [f.name for f in composition.features] == ["core", "workflow", "precall", "outcomes", "audit", "privacy",
                                                      "retention", "media"]
    with_demo = compose(make_settings(tmp_path, demo=True, secret=""))
    assert [f.name for f in with_demo.features] == ["core", "workflow", "precall", "outcomes", "audit", "privacy",
                                                    "retention", "demo", "media"]
    node = composition.node
    assert node._routes[Send] == node.chat.send, "send is the chat's, whatever the features"
    assert node._routes[CallbackRequest].__self__ is composition.workflow.live


def test_the_chat_hooks_are_declared_once(tmp_path: Path):
    composition = compose(make_settings(tmp_path))
    live = composition.workflow.live
    hooks = composition.node.chat._hooks
    assert hooks.before_send == (live.before_send,) and hooks.after_send == (live.after_send,)
    assert hooks.member_removed == (composition.media_routing.member_removed,)
    with pytest.raises(RuntimeError, match="once"):
        composition.node.chat.use_hooks(ChatHooks())


async def test_features_start_in_order_and_close_in_reverse(tmp_path: Path, aiohttp_server):
    """aiohttp runs the features' lifecycles in the declared order and tears them down in reverse,
    after a start-up that failed halfway too."""
    from rtserver.app import _lifecycle

    events: list[str] = []

    def feature(name: str, fail: bool = False) -> Feature:
        async def start() -> None:
            events.append(f"start {name}")
            if fail:
                raise RuntimeError(f"{name} cannot start")

        async def close() -> None:
            events.append(f"close {name}")

        return Feature(name=name, start=start, close=close)

    app = web.Application()
    for f in (feature("core"), feature("workflow"), feature("media")):
        app.cleanup_ctx.append(_lifecycle(f))
    server = await aiohttp_server(app, host="127.0.0.1")
    await server.close()
    assert events == ["start core", "start workflow", "start media", "close media", "close workflow", "close core"]

    events.clear()
    app = web.Application()
    for f in (feature("core"), feature("workflow", fail=True), feature("media")):
        app.cleanup_ctx.append(_lifecycle(f))
    runner = web.AppRunner(app)
    with pytest.raises(RuntimeError, match="workflow cannot start"):
        await runner.setup()
    await runner.cleanup()  # as web.run_app does after a failed start-up
    assert events == ["start core", "start workflow", "close core"]
