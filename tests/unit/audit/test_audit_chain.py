"""The access journal's pure core (rtserver.audit.chain), without sockets: any single entry edited,
deleted or moved is found by ``verify_stream``, at that entry; a sweep's anchor keeps the rest
verifiable."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from rtserver.audit.chain import (
    GENESIS,
    Access,
    AccessKind,
    Anchor,
    Entry,
    anchor_after,
    canonical,
    expired_prefix,
    link,
    verify_stream,
)

SUBJECT = "js-1"
ids = st.text("abcdefghijklmnopqrstuvwxyz0123456789._:@-", min_size=1, max_size=12)
accesses = st.builds(Access, kind=st.sampled_from(list(AccessKind)), subject=st.just(SUBJECT), actor=ids,
                     node=st.text("0123456789abcdef", min_size=8, max_size=8), request=ids,
                     ts_ms=st.integers(0, 2**53), detail=st.dictionaries(st.sampled_from(["room", "to", "advisor"]),
                                                                         ids, max_size=2))


def make_stream(items: list[Access]) -> tuple[Anchor, list[Entry]]:
    entries: list[Entry] = []
    prev = GENESIS
    for seq, access in enumerate(items, 1):
        entries.append(link(access, seq=seq, prev=prev))
        prev = entries[-1].hash
    return Anchor(1, GENESIS, len(entries), prev), entries


@given(st.lists(accesses, min_size=0, max_size=12))
def test_a_stream_as_written_verifies(items: list[Access]) -> None:
    anchor, entries = make_stream(items)
    assert verify_stream(SUBJECT, anchor, entries) is None
    assert [Entry.load(canonical(e.to_dict())) for e in entries] == entries  # what the stores write reads back


# An edit: any field of one entry given another value of its type (the hash and prev included).
FIELDS = {"subject": ids, "seq": st.integers(0, 100), "ts_ms": st.integers(0, 2**53), "actor": ids,
          "kind": st.sampled_from([str(k) for k in AccessKind] + ["other"]), "node": ids, "request": ids,
          "detail": st.dictionaries(st.sampled_from(["room", "to"]), ids, max_size=2),
          "prev": st.text("0123456789abcdef", min_size=64, max_size=64),
          "hash": st.text("0123456789abcdef", min_size=64, max_size=64)}


@given(st.lists(accesses, min_size=1, max_size=10), st.data())
def test_any_single_edited_entry_is_named(items: list[Access], data: st.DataObject) -> None:
    anchor, entries = make_stream(items)
    i = data.draw(st.integers(0, len(entries) - 1))
    field = data.draw(st.sampled_from(sorted(FIELDS)))
    value = data.draw(FIELDS[field])
    assume(value != getattr(entries[i], field))
    entries[i] = dataclasses.replace(entries[i], **{field: value})
    problem = verify_stream(SUBJECT, anchor, entries)
    assert problem is not None
    # The edited one, or (a last entry's hash edited) the head record that no longer matches it.
    assert problem.seq == i + 1, problem


@given(st.lists(accesses, min_size=1, max_size=10), st.data())
def test_any_single_deleted_entry_is_named(items: list[Access], data: st.DataObject) -> None:
    anchor, entries = make_stream(items)
    i = data.draw(st.integers(0, len(entries) - 1))
    del entries[i]
    problem = verify_stream(SUBJECT, anchor, entries)
    assert problem is not None and problem.seq == i + 1, problem


@given(st.lists(accesses, min_size=2, max_size=10), st.data())
def test_any_reordering_is_named_at_the_first_moved_entry(items: list[Access], data: st.DataObject) -> None:
    anchor, entries = make_stream(items)
    i = data.draw(st.integers(0, len(entries) - 2))
    j = data.draw(st.integers(i + 1, len(entries) - 1))
    entries[i], entries[j] = entries[j], entries[i]
    problem = verify_stream(SUBJECT, anchor, entries)
    assert problem is not None and problem.seq == i + 1, problem


@given(st.lists(accesses, min_size=1, max_size=10), st.data())
def test_a_moved_entry_renumbered_and_rehashed_still_breaks_the_chain(items: list[Access],
                                                                      data: st.DataObject) -> None:
    """Deleting an entry and rewriting the next one's seq and hash to fit needs its prev too: then the
    one after it no longer follows (only the head of the stream can be rewritten unseen)."""
    assume(len(items) >= 3)
    anchor, entries = make_stream(items)
    i = data.draw(st.integers(0, len(entries) - 3))
    forged = link(dataclasses.replace(items[i + 1]), seq=i + 1, prev=entries[i - 1].hash if i else GENESIS)
    entries[i:i + 2] = [forged]
    problem = verify_stream(SUBJECT, anchor, entries)
    assert problem is not None and problem.seq == i + 2, problem


@given(st.lists(accesses, min_size=1, max_size=12), st.integers(0, 2**53))
def test_after_a_sweep_the_anchor_keeps_the_rest_verifiable(items: list[Access], cutoff: int) -> None:
    anchor, entries = make_stream(items)
    gone = expired_prefix(entries, cutoff)
    assert all(e.ts_ms < cutoff for e in entries[:gone])
    assert gone == len(entries) or entries[gone].ts_ms >= cutoff
    kept = anchor_after(anchor, entries[:gone])
    assert verify_stream(SUBJECT, kept, entries[gone:]) is None
    if gone < len(entries):  # deleting one more, by other means than the sweep, is seen
        assert verify_stream(SUBJECT, kept, entries[gone + 1:]) is not None


def test_missing_or_extra_entries_at_the_end_and_unreadable_ones() -> None:
    items = [Access(AccessKind.CONVERSATION_JOIN, SUBJECT, "adv", "node1", f"r{i}", 1000 + i) for i in range(3)]
    anchor, entries = make_stream(items)
    assert "head record says 3" in str(verify_stream(SUBJECT, anchor, entries[:2]))
    assert verify_stream(SUBJECT, dataclasses.replace(anchor, head=2, head_hash=entries[1].hash), entries).seq == 3
    problem = verify_stream(SUBJECT, anchor, [entries[0], ValueError("not JSON"), entries[2]])
    assert problem is not None and problem.seq == 2 and "unreadable" in problem.reason
    assert "belongs to" in str(verify_stream("js-2", anchor, entries))


def test_entries_refuse_malformed_input_and_too_much_detail() -> None:
    for bad in ("[]", '{"v": 2}', '{"v": 1, "subject": "x"}', "not json",
                '{"v":1,"subject":"s","seq":true,"ts":1,"actor":"a","kind":"k","node":"n","request":"r",'
                '"detail":{},"prev":"p","hash":"h"}'):
        with pytest.raises(ValueError):
            Entry.load(bad)
    with pytest.raises(ValueError):
        link(Access(AccessKind.TRANSFER, SUBJECT, "a", "n", "r", 0, {str(i): "x" for i in range(9)}), seq=1,
             prev=GENESIS)
