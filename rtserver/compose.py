"""The composition root: the node's core, then each feature, each declared once, in one order.

The settings become one frozen section per feature first (``rtserver/sections.py``), all validated
before anything is built; each service and feature receives its section, never ``Settings``.
The core is what every feature may use: the store family (``stores.py``: the chat's
backends and each feature's store, of one family chosen from the URL), the metrics, the
token verifier, the hub, presence and chat. Each feature is then built from the collaborators and
the configuration it uses (nothing receives the ``Node``) and answers with a ``Feature``
(``rtserver/feature.py``): its request types, HTTP routes, chat hooks, ``start`` and ``close``.

Order, declared once in ``compose``: core, workflow, pre-call, outcomes, audit, privacy (a person's
export and erasure), retention (the sweep), demo, media. ``build_app`` starts them in that order
and closes them in reverse (one ``cleanup_ctx`` each, so a start-up that fails halfway closes
what had started): the media closes first (every peer connection, then the interviews are let
go for other nodes), then the outcomes recorder (the rooms' final records), and the core last
(it flushes the store). Two features claiming one
request type or one HTTP route fail here, at start-up.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid

from aiohttp import web

from .audit.install import audit_feature, build_journal
from .audit.journal import AccessJournal
from .auth import TokenVerifier
from .config import Settings
from .delivery.hub import Hub
from .demo import demo_feature
from .feature import Feature, chat_hooks, merge_routes
from .media import MediaService
from .media.routing import MediaRouting
from .metrics import Metrics
from .node import Node
from .node.http import node_routes
from .node.ws import websocket_handler
from .outcomes import OutcomeRecorder, outcomes_feature
from .precall.install import precall_feature
from .precall.service import PrecallService
from .privacy.install import person_data, privacy_feature
from .privacy.person import CLOSE_OP, PersonData
from .retention import retention_feature, sweeper_for
from .sections import Sections
from .services import ChatService, PresenceService
from .stores import create_store_family
from .workflow import Workflow, workflow_feature

__all__ = ["COMPOSITION_KEY", "Composition", "compose"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Composition:
    node: Node
    features: tuple[Feature, ...]  # in start order, the core first
    routes: tuple[web.RouteDef, ...]  # every feature's, checked for duplicates
    workflow: Workflow
    media: MediaService
    media_routing: MediaRouting
    outcomes: OutcomeRecorder
    journal: AccessJournal
    person: PersonData


def compose(settings: Settings) -> Composition:
    """Raises ValueError for settings that cannot work together, or two owners of one request or route."""
    metrics = Metrics()
    registry = metrics.registry
    config = Sections.from_settings(settings, on_refused_candidate=metrics.refused_candidate)  # all validated first
    stores = create_store_family(config.store, metrics=metrics)
    backends = stores.backends
    node_id = uuid.uuid4().hex[:8]
    hub = Hub(store=backends.store, broker=backends.broker, metrics=metrics)
    presence = PresenceService(store=backends.store, broker=backends.broker, presence=backends.presence)
    chat = ChatService(store=backends.store, broker=backends.broker, hub=hub, presence=presence, config=config.chat,
                       metrics=metrics)

    media = MediaService(store=backends.store, config=config.media, precall_max_s=config.precall.max_s,
                         metrics=metrics)
    r = config.media_routing
    routing = MediaRouting(node_id=node_id, media=media, broker=backends.broker, directory=backends.directory,
                           timeout_s=r.forward_timeout_s, heartbeat_s=r.heartbeat_s, lease_s=r.lease_s,
                           registry=registry)
    checks = stores.checks
    workflow = Workflow(config.workflow, stores.workflow,
                        backends=backends, hub=hub, remove_member=chat.remove_member, registry=registry,
                        max_room_members=config.max_room_members,
                        advisor_labels=config.metrics_advisor_labels, checks=checks)
    precall = PrecallService(checks, workflow=workflow, registry=registry)
    recorder = OutcomeRecorder(stores.outcomes, media=media, registry=registry,
                               retention_days=config.outcomes.retention_days,
                               checkpoint_s=config.outcomes.checkpoint_s)

    retention = sweeper_for(config.retention, stores.reapers(), stores.retention_claim(node_id), registry=registry)
    journal = build_journal(settings, stores.redis_link(), node_id=node_id, metrics=metrics)
    chat.journal = journal  # conversation join and history
    media.journal = journal  # interview join, on the node hosting the interview
    workflow.journal = journal  # portfolio over the WebSocket
    person = person_data(stores.backends, stores.workflow, stores.checks, journal=journal, hub=hub, node_id=node_id,
                         page_max=settings.person_export_page_max)
    routing.node_ops[CLOSE_OP] = person.on_node_message  # an erasure on another node closes connections here

    features = [workflow_feature(workflow), precall_feature(precall), outcomes_feature(recorder),
                audit_feature(journal), privacy_feature(person),
                retention_feature(retention)]
    if settings.demo:
        features.append(demo_feature(backends.store, workflow.portfolios))
    features.append(routing.feature())
    chat.use_hooks(chat_hooks(features))
    node = Node(settings, node_id=node_id, backends=backends, metrics=metrics,
                verifier=TokenVerifier.from_settings(settings), hub=hub, presence=presence, chat=chat,
                features=features)

    async def start_core() -> None:
        await node.start()
        log.info("node %s ready on %s:%s (store %s)", node.id, settings.host, settings.port, settings.store_for_logs())

    core = Feature(name="core", routes=[web.get("/ws", websocket_handler), *node_routes()], start=start_core,
                   close=node.stop)  # stopped after on_shutdown closed the connections: flushes the store
    ordered = (core, *features)
    return Composition(node=node, features=ordered, routes=tuple(merge_routes(ordered)), workflow=workflow,
                       media=media, media_routing=routing, outcomes=recorder, journal=journal, person=person)


COMPOSITION_KEY: web.AppKey[Composition] = web.AppKey("rtserver_composition", Composition)
