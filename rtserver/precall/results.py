"""Where pre-call check results are kept, and the contract the rest of the server reads them by.

A result is the JSON object the check produced (verdict, findings, measurements) plus the time
the server stored it. Results belong to the user, not to an advisor: a transfer to another
advisor, an opt-out and an opt-in keep them. Implementations exist for both store families.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["CheckResults"]


class CheckResults(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def save(self, user_id: str, result: dict[str, Any], *, ts_ms: int) -> dict[str, Any]:
        """Store ``result`` as the user's latest check; returns it as stored (with ``ts``)."""

    async def latest(self, user_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The latest stored check of each user that has one."""

    async def history(self, user_id: str, *, limit: int) -> list[dict[str, Any]]:
        """The user's checks, newest first."""

