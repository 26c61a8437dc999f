"""Who may act on a jobseeker's callback requests and appointments.

Their **current** advisor, read from the stored follow-up on every request (so a transfer made
through any node holds at once on every node: the advisor transferred away is refused even on a
connection, or with a claim, that predates it), or a colleague under a **cover**: the portal
grants advisor B the right to act on advisor A's portfolio until a given time
(``POST /api/advisors/A/cover``), lists (``GET .../covers``) and revokes it (``DELETE
.../cover/B``). A cover lasts at most ``cover_max_days``. Each action taken under a cover is
recorded in the request or appointment (``covered``: who acted, for whom, under which cover)
and sent as a ``cover.used`` webhook; grants and revocations as ``cover.granted`` and
``cover.revoked``. Anyone else gets ``forbidden``.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from ..auth import Role
from ..errors import BadRequest, Forbidden
from .notify import now_ms
from .service import PortfolioService, not_found
from .settings import WorkflowConfig
from .store import Cover, WorkflowStore
from .webhooks import WebhookDispatcher

__all__ = ["Acting", "CoverService"]


@dataclasses.dataclass(frozen=True, slots=True)
class Acting:
    """An allowed action: by ``actor`` on the portfolio of ``advisor``, under ``cover`` if not his own."""

    actor: str
    advisor: str
    cover: Cover | None

    def audit(self, action: str, at_ms: int) -> tuple[dict[str, Any], ...]:
        """The ``covered`` entry to add for ``action``, or nothing when the actor is the advisor."""
        if self.cover is None:
            return ()
        return ({"action": action, "acted_by": self.actor, "advisor": self.advisor, "cover": self.cover.id,
                 "at": at_ms},)


class CoverService:
    def __init__(self, *, store: WorkflowStore, portfolios: PortfolioService, webhooks: WebhookDispatcher,
                 config: WorkflowConfig):
        self._store = store
        self._portfolios = portfolios
        self._webhooks = webhooks
        self._config = config

    # -- the check ---------------------------------------------------------------------------------
    async def authorize(self, actor: str, jobseeker: str) -> Acting:
        """Raises ``forbidden`` unless ``actor`` is the jobseeker's current advisor or covers him."""
        acting = await self._acting_for(actor, jobseeker)
        if acting is None:
            raise Forbidden(f"{jobseeker!r} is not in your portfolio nor in one you cover")
        return acting

    async def _acting_for(self, actor: str, jobseeker: str) -> Acting | None:
        followup = await self._store.get_followup(jobseeker)
        return None if followup is None else await self.on_portfolio(actor, followup.advisor)

    async def on_portfolio(self, actor: str, advisor: str) -> Acting | None:
        if actor == advisor:
            return Acting(actor, advisor, None)
        cover = await self._store.get_cover(advisor, actor)
        if cover is not None and cover.active(now_ms()):
            return Acting(actor, advisor, cover)
        return None

    async def may_act(self, actor: str, jobseeker: str) -> bool:
        return await self._acting_for(actor, jobseeker) is not None

    def used(self, acting: Acting, action: str, **refs: Any) -> None:
        """The webhook of an action taken under a cover (nothing for the advisor's own)."""
        if acting.cover is not None:
            self._webhooks.emit("cover.used", {"cover": acting.cover.id, "advisor": acting.advisor,
                                               "acted_by": acting.actor, "action": action, **refs})

    # -- grants ------------------------------------------------------------------------------------
    async def grant(self, advisor: str, colleague: str, until_ms: int) -> Cover:
        now = now_ms()
        if colleague == advisor:
            raise BadRequest("an advisor does not cover himself")
        if not now < until_ms <= now + self._config.cover_max_ms:
            raise BadRequest(f"'until' must be in the future, at most {self._config.cover_max_ms // 86_400_000} "
                             "days ahead (cover_max_days)")
        for user_id in (advisor, colleague):
            if (await self._portfolios.user(user_id)).role != Role.ADVISOR:
                raise Forbidden(f"{user_id!r} is not an advisor")
        cover = Cover(secrets.token_hex(8), advisor, colleague, until_ms, now)
        await self._store.put_cover(cover)
        self._webhooks.emit("cover.granted", cover.to_dict(now))
        return cover

    async def revoke(self, advisor: str, colleague: str) -> Cover:
        cover = await self._store.get_cover(advisor, colleague)
        if cover is None:
            raise not_found(f"{colleague!r} has no cover of {advisor!r}'s portfolio")
        now = now_ms()
        if cover.revoked_ms is None:
            cover = dataclasses.replace(cover, revoked_ms=now)
            await self._store.put_cover(cover)
            self._webhooks.emit("cover.revoked", cover.to_dict(now))
        return cover

    async def of(self, advisor: str) -> list[dict[str, Any]]:
        now = now_ms()
        return [c.to_dict(now) for c in await self._store.covers_of(advisor)]
