"""Server events and replies: the registry of rtserver.protocol.events against its constructors,
against the documents' event and reply tables, and against the rest of the server (which builds
no frame of its own). Pure: no server, no sockets.

The documents' machine-readable shape (docs/protocol.md, "Replies"): a table whose header starts
``| event | fields |`` or ``| reply | fields |``, one type per row; the fields cell lists
```field``` or ```field?``` (optional: left out when it does not apply), separated by commas;
anything in parentheses, in backticks after the name or after a colon describes the field.
"""

from __future__ import annotations

import ast
import inspect
import re

import pytest
from repo_paths import REPO as ROOT

from rtserver.protocol import events

DOCS = ("protocol.md", "media.md", "workflow.md", "precall.md")
KINDS = {"event": events.EVENTS, "reply": events.REPLIES}
TYPES = sorted((kind, type_) for kind, registry in KINDS.items() for type_ in registry)

# Modules that may write a dict with a "type" key because it is not a frame the server sends.
NOT_SERVER_EVENTS = {
    ("rtserver/protocol/media.py", "media_frame"): "a client's media request, re-encoded to forward it to the node "
                                                   "hosting the interview, which parses it as the client's",
    ("rtserver/workflow/webhooks.py", "encode"): "a webhook delivery as kept in the store's outbox (HTTP, not /ws)",
    ("rtserver/workflow/webhooks.py", "emit"): "a webhook's HTTP body ({id, type, created, data}: docs/workflow.md)",
}
CLIENT_PACKAGE = "rtserver/client/"  # the Python SDK: it builds requests and its own notices, never server frames


# -- reading the documents -----------------------------------------------------------------------
def _split(text: str, sep: str) -> list[str]:
    """``text`` cut at ``sep`` outside backticks and brackets."""
    parts, depth, quoted, current = [], 0, False, []
    for ch in text:
        if ch == "`":
            quoted = not quoted
        elif not quoted and ch in "([{":
            depth += 1
        elif not quoted and ch in ")]}":
            depth -= 1
        if ch == sep and not quoted and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


FIELD = re.compile(r"`([a-z_]+)(\?)?")


def parse_fields(cell: str) -> tuple[set[str], set[str]]:
    """(required, optional) field names of a fields cell; an item that names no field is an error."""
    required, optional = set(), set()
    for item in _split(cell, ","):
        item = item.strip()
        found = FIELD.match(item)
        assert found, f"{item!r} does not start with a field name in backticks"
        (optional if found.group(2) else required).add(found.group(1))
    return required, optional


def documented() -> dict[tuple[str, str], tuple[set[str], set[str], str]]:
    """(kind, type) -> (required, optional, document) from every event and reply table."""
    out: dict[tuple[str, str], tuple[set[str], set[str], str]] = {}
    for name in DOCS:
        kind = None
        for line in (ROOT / "docs" / name).read_text().splitlines():
            line = line.strip()
            if not line.startswith("|"):
                kind = None
                continue
            cells = [c.strip() for c in _split(line.strip("|"), "|")]
            if kind is None:
                kind = cells[0] if cells[0] in KINDS and cells[1:2] == ["fields"] else ""
                continue
            if not kind or set(cells[0]) <= set("-: "):
                continue
            found = re.fullmatch(r"`([a-z_]+)`", cells[0])
            assert found, f"{name}: {cells[0]!r} is not one {kind} type in backticks"
            key = (kind, found.group(1))
            assert key not in out, f"{kind} {key[1]!r} documented in {out[key][2]} and in {name}"
            out[key] = (*parse_fields(cells[1]), name)
    return out


def test_the_documents_have_event_and_reply_tables():
    docs = documented()
    assert {doc for _, _, doc in docs.values()} == set(DOCS)
    assert {kind for kind, _ in docs} == set(KINDS)


def test_every_documented_type_is_built_and_every_built_type_documented():
    docs = set(documented())
    built = set(TYPES)
    assert sorted(docs - built) == [], "documented, but events.py has no constructor"
    assert sorted(built - docs) == [], "built by events.py, but in no document's event or reply table"


@pytest.mark.parametrize("key", TYPES, ids=[f"{kind}-{type_}" for kind, type_ in TYPES])
def test_documented_fields_are_the_built_ones(key):
    kind, type_ = key
    shape = KINDS[kind][type_]
    docs = documented()
    if key not in docs:
        pytest.fail(f"{kind} {type_!r} is not documented")
    required, optional, doc = docs[key]
    assert (required, optional) == (set(shape.required), set(shape.optional)), \
        f"docs/{doc}: {kind} {type_!r} (fields, then optional ones) against events.py"


# -- the constructors against the registry -------------------------------------------------------
def _call(shape: events.Shape, *, everything: bool) -> dict:
    """Build with a dummy value for every parameter (``everything``) or for the required ones only."""
    params = inspect.signature(shape.build).parameters.values()
    return shape.build(**{p.name: 1 for p in params if everything or p.default is inspect.Parameter.empty})


@pytest.mark.parametrize("key", TYPES, ids=[f"{kind}-{type_}" for kind, type_ in TYPES])
def test_each_constructor_builds_the_registered_fields(key):
    kind, type_ = key
    shape = KINDS[kind][type_]
    full, least = _call(shape, everything=True), _call(shape, everything=False)
    assert full["type"] == least["type"] == type_
    assert set(full) - {"type"} == set(shape.required) | set(shape.optional)
    assert set(least) - {"type"} == set(shape.required)
    if kind == "reply":
        assert "id" in shape.required


def test_registry_lists_each_field_once():
    for registry in KINDS.values():
        for shape in registry.values():
            fields = shape.required + shape.optional
            assert len(fields) == len(set(fields)), shape.type


def test_the_wire_order_is_the_one_clients_always_got():
    """Frames are compared as bytes by nobody, but a JSON client sees the order: keep it stable."""
    assert list(events.message("r", 3, 10, "u", "U", "hi", "k")) == [
        "type", "room", "offset", "ts", "from", "name", "text", "key"]
    assert list(events.error("forbidden", "no", 7, 100)) == ["type", "code", "message", "id", "retry_after_ms"]
    assert list(events.joined_reply(1, "r", "group", "T", "member", "e", 5, 2, 3, False, members=[],
                                    reset=True)) == [
        "type", "id", "room", "kind", "title", "role", "epoch", "head", "read", "unread", "members", "reset",
        "replay", "truncated"]
    assert list(events.followup("r", "transferred", {}, previous="a")) == ["type", "event", "from", "followup", "room"]
    assert list(events.member("r", "u", "joined", name="U")) == ["type", "room", "user", "name", "event"]
    assert list(events.media_participant("r", "u", "U", "guest", "left", reason="timeout")) == [
        "type", "room", "user", "name", "role", "event", "reason"]


def test_error_of_carries_the_error():
    from rtserver.errors import ErrorCode, LimitExceeded

    exc = LimitExceeded("slow down", code=ErrorCode.RATE_LIMITED, retry_after_ms=250)
    assert events.error_of(exc, "r1") == {"type": "error", "code": "rate_limited", "message": "slow down",
                                          "id": "r1", "retry_after_ms": 250}
    assert events.error_of(exc) == {"type": "error", "code": "rate_limited", "message": "slow down",
                                    "retry_after_ms": 250}


# -- nothing else builds a frame -----------------------------------------------------------------
def _type_dicts(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, enclosing function) of each dict literal or ``dict(...)`` call with a "type" key."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        if isinstance(node, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == "type" for k in node.keys):
            found.append((node.lineno, function))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict"
                and any(k.arg == "type" for k in node.keywords)):
            found.append((node.lineno, function))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, "")
    return found


def test_no_module_but_events_builds_a_server_frame():
    built_elsewhere, allowed_seen = [], set()
    for path in sorted((ROOT / "rtserver").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "rtserver/protocol/events.py" or rel.startswith(CLIENT_PACKAGE):
            continue
        for line, function in _type_dicts(ast.parse(path.read_text(), rel)):
            if (rel, function) in NOT_SERVER_EVENTS:
                allowed_seen.add((rel, function))
            else:
                built_elsewhere.append(f"{rel}:{line} ({function or 'module'})")
    assert built_elsewhere == [], "build these with rtserver.protocol.events"
    assert allowed_seen == set(NOT_SERVER_EVENTS), "an allow-list entry no longer applies: remove it"


def test_the_scan_finds_a_frame_built_by_hand():
    tree = ast.parse("def f(conn):\n    conn.send({'type': 'ok', 'id': 1})\n    return dict(type='x')\n")
    assert _type_dicts(tree) == [(2, "f"), (3, "f")]


def test_events_module_is_pure():
    tree = ast.parse((ROOT / "rtserver/protocol/events.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "." for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "dataclasses", "collections.abc", "typing"}, imported
