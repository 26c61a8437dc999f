"""Retention: each kind of personal data is deleted once past its configured age, by a periodic
sweep on any node (docs/retention.md).

- ``policy``: what is due, as pure arithmetic (kinds, rules, cutoffs, the prefix of a room).
- ``config``: the retention section of the configuration.
- ``sweeper``: the sweep loop, its claim per kind across nodes, its metrics.
Each store deletes its own kinds (its ``reapers()``); ``retention_feature`` gathers them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..feature import Feature
from .config import RetentionConfig
from .policy import Anchor, Kind, PassBudget, Rule
from .sweeper import Claim, LocalClaim, Reaper, RetentionSweeper

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["Anchor", "Claim", "Kind", "LocalClaim", "PassBudget", "Reaper", "RetentionConfig", "RetentionSweeper",
           "Rule", "retention_feature", "sweeper_for"]


def sweeper_for(config: RetentionConfig, reapers: Mapping[Kind, Reaper], claim: Claim, *,
                registry: CollectorRegistry) -> RetentionSweeper:
    """The sweep over ``reapers`` (every store's: ``rtserver/stores.py`` ``StoreFamily.reapers``)."""
    return RetentionSweeper(config.rules, reapers, budget=config.budget, sweep_s=config.sweep_s, claim=claim,
                            registry=registry)


def retention_feature(sweeper: RetentionSweeper) -> Feature:
    return Feature(name="retention", start=sweeper.start, close=sweeper.close)
