"""What is due and how a pass is bounded: the retention's pure core and its sweep loop over a
store kept in a list (no store, no socket)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from rtserver.config import Settings
from rtserver.errors import Unavailable
from rtserver.retention import LocalClaim, PassBudget, RetentionConfig, RetentionSweeper, Rule
from rtserver.retention.policy import Anchor, Kind, cutoff_ms, due_prefix, is_due, overdue_s

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, database=None)
DAY_MS = 86_400_000


def test_zero_keeps_forever_and_a_negative_retention_is_refused():
    forever = Rule(Kind.MESSAGES, 0, Anchor.CREATED)
    assert cutoff_ms(forever, 10**13) is None and not is_due(forever, 0, 10**13)
    with pytest.raises(ValueError, match="messages"):
        Rule(Kind.MESSAGES, -1, Anchor.CREATED)


def test_an_item_is_due_strictly_after_its_retention():
    rule = Rule(Kind.CALLBACKS, 10, Anchor.CREATED)
    assert not is_due(rule, 1_000, 11_000) and is_due(rule, 999, 11_000)


@PROPERTY
@given(st.lists(st.integers(0, 100)), st.integers(0, 100))
def test_the_due_prefix_is_the_longest_run_of_due_anchors_from_the_oldest(anchors, cutoff):
    n = due_prefix(anchors, cutoff)
    assert all(a < cutoff for a in anchors[:n])
    assert n == len(anchors) or anchors[n] >= cutoff
    if anchors == sorted(anchors):  # a clock that never goes back: the prefix is every due one
        assert n == sum(a < cutoff for a in anchors)


def test_overdue_is_how_long_the_oldest_item_held_has_been_due():
    assert overdue_s(None, 5_000) == 0 and overdue_s(1_000, None) == 0 and overdue_s(6_000, 5_000) == 0
    assert overdue_s(2_000, 5_000) == 3.0


def test_the_settings_give_one_rule_per_kind_in_days_and_refuse_an_empty_budget():
    config = RetentionConfig.from_settings(Settings(retention_messages_days=2, retention_callbacks_days=0))
    assert config.rules[Kind.MESSAGES].keep_s == 2 * 86_400 and config.rules[Kind.CALLBACKS].forever
    assert config.rules[Kind.APPOINTMENTS].anchor is Anchor.SCHEDULED
    assert config.rules[Kind.IDEMPOTENCY_KEYS].keep_s == Settings().redis_idempotency_ttl_s
    for bad in ({"retention_batch": 0}, {"retention_max_batches": 0}, {"retention_batch_pause_s": -1.0}):
        with pytest.raises(ValueError, match="retention_"):
            RetentionConfig.from_settings(Settings(**bad))
    with pytest.raises(ValueError, match="retention_sweep_s"):
        RetentionConfig.from_settings(Settings(retention_sweep_s=0))


class ListReaper:
    """A store of anchors in a list, walked ``step`` items per call from a cursor, as a store's
    reaper walks its rooms or keys."""

    def __init__(self, anchors: list[int], step: int = 3):
        self.items = list(anchors)
        self.step = step
        self.calls: list[int] = []

    async def delete_due(self, cutoff: int, limit: int, cursor: str) -> tuple[int, str | None]:
        self.calls.append(limit)
        start = int(cursor or 0)
        window = self.items[start:start + self.step]
        due = [a for a in window if a < cutoff][:limit]
        for a in due:
            self.items.remove(a)
        stop = start + len(window) - len(due)
        if len(due) == limit:
            return len(due), str(start)
        return len(due), None if stop >= len(self.items) else str(stop)

    async def oldest_ms(self) -> int | None:
        return min(self.items, default=None)


class Refuse:
    async def claim(self, kind: str, lease_ms: int) -> bool:
        return False


def _sweeper(reaper: ListReaper, *, batch: int, max_batches: int, claim=None, keep_s: float = 1.0):
    rules = {Kind.MESSAGES: Rule(Kind.MESSAGES, keep_s, Anchor.CREATED)}
    return RetentionSweeper(rules, {Kind.MESSAGES: reaper}, budget=PassBudget(batch, max_batches, 0.0),
                            sweep_s=60, claim=claim or LocalClaim(), registry=CollectorRegistry())


@PROPERTY
@given(st.lists(st.integers(0, 20_000)), st.integers(1, 5), st.integers(1, 4), st.integers(0, 20_000))
async def test_passes_delete_every_due_item_and_nothing_else_within_their_budget(anchors, batch, max_batches, now):
    reaper = ListReaper(anchors)
    sweeper = _sweeper(reaper, batch=batch, max_batches=max_batches)
    due = sorted(a for a in anchors if a < now - 1000)
    deleted = 0
    for _ in range(len(anchors) + 2):  # a pass is bounded: the rest goes in later ones
        reaper.calls.clear()
        n = (await sweeper.sweep(now_ms=now)).get(Kind.MESSAGES, 0)
        assert len(reaper.calls) <= max_batches and all(limit == batch for limit in reaper.calls)
        assert n <= batch * max_batches
        deleted += n
    assert deleted == len(due)
    assert sorted(reaper.items) == sorted(a for a in anchors if a >= now - 1000)
    assert sweeper.deleted.labels(kind="messages")._value.get() == len(due)
    assert sweeper.overdue.labels(kind="messages")._value.get() == 0


async def test_a_kind_kept_forever_or_claimed_by_another_node_is_not_swept():
    reaper = ListReaper([1, 2, 3])
    assert await _sweeper(reaper, batch=5, max_batches=5, keep_s=0).sweep(now_ms=10**9) == {}
    assert await _sweeper(reaper, batch=5, max_batches=5, claim=Refuse()).sweep(now_ms=10**9) == {}
    assert reaper.items == [1, 2, 3]


async def test_what_a_pass_leaves_shows_as_overdue():
    reaper = ListReaper([0] * 10, step=10)
    sweeper = _sweeper(reaper, batch=2, max_batches=2)
    assert await sweeper.sweep(now_ms=5_000) == {Kind.MESSAGES: 4}
    assert sweeper.overdue.labels(kind="messages")._value.get() == 4.0  # cutoff 4 000 ms, oldest 0


class Broken:
    def __init__(self, error: Exception):
        self.error = error

    async def delete_due(self, cutoff: int, limit: int, cursor: str) -> tuple[int, str | None]:
        raise self.error

    async def oldest_ms(self) -> int | None:
        return None


@pytest.mark.parametrize("error", [Unavailable("store down", retry_after_ms=500), KeyError("a bug")])
async def test_a_kind_that_fails_is_counted_and_the_others_are_swept(error):
    reaper = ListReaper([1, 2, 3])
    rules = {k: Rule(k, 1.0, Anchor.CREATED) for k in (Kind.CALLBACKS, Kind.MESSAGES)}
    sweeper = RetentionSweeper(rules, {Kind.CALLBACKS: Broken(error), Kind.MESSAGES: reaper},
                               budget=PassBudget(5, 5, 0.0), sweep_s=60, claim=LocalClaim(),
                               registry=CollectorRegistry())
    assert await sweeper.sweep(now_ms=10**9) == {Kind.MESSAGES: 3}
    assert sweeper.failures.labels(kind="callbacks")._value.get() == 1
