"""Demo mode (``rtserver serve --demo``): a newcomer tries every feature on the embedded default.

The node seeds a demo advisor with a small portfolio of jobseekers (their conversations, a
welcome message) and serves a sign-in page at ``/demo`` where a visitor picks who to be: the
page asks ``POST /api/demo/token`` for a token of that user. Anyone who can reach the node can
therefore act as any demo user, which is why demo mode is refused when a production secret is
configured (``RTSERVER_SECRET``): it runs only with the development secret file.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING

from aiohttp import web

from .auth import Role, mint_token
from .config import Settings
from .errors import BadRequest
from .feature import Feature
from .node.params import json_object
from .node.ws import NODE_KEY
from .workflow.service import PortfolioService
from .workflow.store import followup_room

if TYPE_CHECKING:
    from .backends import Store

__all__ = ["DEMO_USERS", "DemoUser", "check_demo_allowed", "conversation_id", "demo_feature", "demo_routes", "seed"]

log = logging.getLogger(__name__)

TOKEN_TTL_S = 8 * 3600.0  # a working day: the demo pages refresh nothing


@dataclasses.dataclass(frozen=True, slots=True)
class DemoUser:
    id: str
    name: str
    role: Role
    about: str  # what the sign-in page says about this person (French, the service's language)


ADVISOR = DemoUser("demo-advisor", "Claire Martin", Role.ADVISOR, "Conseillère, suit 3 demandeurs d'emploi")
DEMO_USERS: tuple[DemoUser, ...] = (
    ADVISOR,
    DemoUser("demo-karim", "Karim Benali", Role.JOBSEEKER, "Cherche un poste de technicien de maintenance"),
    DemoUser("demo-sophie", "Sophie Laurent", Role.JOBSEEKER, "En reconversion vers la comptabilité"),
    DemoUser("demo-lucas", "Lucas Moreau", Role.JOBSEEKER, "Premier emploi après un BTS commerce"),
)
WELCOME = ("Bonjour {first}, je suis Claire, votre conseillère. Écrivez-moi ici quand vous voulez ; "
           "nous pouvons aussi nous voir en visio.")


def conversation_id(jobseeker_id: str) -> str:
    return followup_room(jobseeker_id)


def check_demo_allowed(settings: Settings) -> None:
    """Raise ValueError when demo mode must not run (it hands out tokens to whoever asks)."""
    if settings.demo and settings.secret:
        raise ValueError("--demo is refused: a production secret is configured (RTSERVER_SECRET or --secret). "
                         "Demo mode gives a token to anyone who asks; run it only with the development secret file")


async def seed(store: Store, portfolios: PortfolioService) -> None:
    """Create the demo advisor's conversations (idempotent: a restarted demo keeps its history);
    through the workflow's portfolios, so the callback and appointment views work too."""
    for user in DEMO_USERS:
        await portfolios.put_user(user.id, name=user.name, role=user.role, email="", volunteer=True)
    for user in DEMO_USERS:
        if user.role is not Role.JOBSEEKER:
            continue
        room_id = (await portfolios.assign(user.id, ADVISOR.id)).room  # creates the conversation
        if await store.head(room_id) <= 1:  # only the assignment notice: a restarted demo keeps its history
            await store.append(room_id, sender=ADVISOR.id, name=ADVISOR.name,
                               text=WELCOME.format(first=user.name.split()[0]), key="demo-welcome",
                               ts_ms=int(time.time() * 1000))
    log.warning("demo mode: anyone reaching this node can sign in as a demo user at /demo")


def _user(user_id: str) -> DemoUser:
    for user in DEMO_USERS:
        if user.id == user_id:
            return user
    raise BadRequest(f"{user_id!r} is not a demo user")


async def list_users(request: web.Request) -> web.Response:
    return web.json_response({"users": [{"id": u.id, "name": u.name, "role": str(u.role), "about": u.about}
                                        for u in DEMO_USERS]})


async def issue_token(request: web.Request) -> web.Response:
    body = await json_object(request, '{"user": "demo-karim"}')
    if not isinstance(body.get("user"), str):
        raise BadRequest("body must be {\"user\": \"<demo user id>\"}")
    user = _user(body["user"])
    node = request.app[NODE_KEY]
    settings = node.settings
    token = mint_token(secret=settings.resolved_secret(), user_id=user.id, role=str(user.role), name=user.name,
                       ttl_s=TOKEN_TTL_S, algorithm=settings.jwt_algorithm, issuer=settings.jwt_issuer)
    return web.json_response({"token": token, "user": user.id, "name": user.name, "role": str(user.role),
                              "expires_in_s": TOKEN_TTL_S})


async def sign_in_page(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/static/demo.html")


def demo_routes() -> list[web.RouteDef]:
    return [
        web.get("/demo", sign_in_page),
        web.get("/api/demo/users", list_users),
        web.post("/api/demo/token", issue_token),
    ]


def demo_feature(store: Store, portfolios: PortfolioService) -> Feature:
    """Seeded at start, after the workflow started (its store is open)."""

    async def start() -> None:
        await seed(store, portfolios)

    return Feature(name="demo", routes=demo_routes(), start=start)
