"""The layer graph of docs/architecture.md, checked on the imports themselves.

Each package (or top-level module) of ``rtserver`` has a layer; a module may import from its own
layer and the ones below, never above. The imports that still go up are listed in ``DEBTS`` with
what removing them takes: the test fails on any new one, and on a listed one that no longer exists
(so the list only shrinks). The Python SDK (``rtserver.client``) has a rule of its own: it may use
only the pure modules a client shares with the server, so that it needs none of the server's
dependencies (Redis, the store) to run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from repo_paths import REPO

PACKAGE = REPO / "rtserver"

# Bottom to top. Features are peers of one another (each reaches the others only through the
# collaborators the composition root hands it, apart from the debts below).
LAYERS: list[set[str]] = [
    {"errors", "ids", "text", "tasks", "logprivacy", "logthrottle", "gcpolicy", "metrics", "config", "auth",
     "reaping", "journaling"},
    {"protocol"},
    {"backends"},
    {"delivery"},
    {"services"},
    {"node", "feature"},
    {"media", "workflow", "precall", "outcomes", "audit", "retention", "privacy", "demo", "home"},
    {"compose", "sections", "stores", "app", "cli", "__main__", "rtserver"},
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}

# What the SDK may import from the server's packages: the errors and protocol (both pure, shared
# with the server on purpose) and the pre-call check's pure figures and verdict.
CLIENT_MAY_IMPORT = {"rtserver.errors", "rtserver.protocol", "rtserver.precall.probe", "rtserver.precall.verdict"}

# Imports that still go up, by (importing module, imported module), with what removes them.
DEBTS: dict[tuple[str, str], str] = {
    ("rtserver.node.http", "rtserver.audit.chain"): "the room API records through the app's journal: "
                                                    "given to the route by the composition instead",
    ("rtserver.node.http", "rtserver.audit.journal"): "same",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[str]:
    """The rtserver modules ``path`` imports (``from . import x`` counts as the package)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith("rtserver"):
                yield name
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("rtserver"))


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def edges() -> set[tuple[str, str]]:
    return {(_module_name(path), imported) for path in PACKAGE.rglob("*.py") for imported in _imports(path)}


def test_every_package_has_a_layer():
    units = {_unit(_module_name(path)) for path in PACKAGE.rglob("*.py")} - {"client"}
    assert units <= set(RANK), f"give these a layer in LAYERS (and docs/architecture.md): {units - set(RANK)}"


def test_no_module_imports_a_layer_above_its_own_but_the_listed_debts():
    upward = {(a, b) for a, b in edges() if _unit(a) != "client" and _unit(a) != _unit(b)
              and RANK[_unit(b)] > RANK[_unit(a)]}
    new = upward - set(DEBTS)
    assert not new, "imports that go up a layer (docs/architecture.md, Layers):\n" + "\n".join(
        f"  {a} -> {b}" for a, b in sorted(new))
    paid = set(DEBTS) - upward
    assert not paid, f"no longer imported: remove from DEBTS: {sorted(paid)}"


def test_the_sdk_imports_no_server_code_but_the_shared_pure_modules():
    found = {(a, b) for a, b in edges() if _unit(a) == "client" and _unit(b) != "client"
             and not any(b == m or b.startswith(m + ".") for m in CLIENT_MAY_IMPORT)}
    debts = {("rtserver.client.precall", "rtserver.media.forwarder")}  # pin_host_addresses, nominated_candidate_type
    assert found == debts, sorted(found)


def test_the_packages_import_bottom_up_in_a_fresh_interpreter():
    # A cycle through a package's __init__ (services -> node -> services, when Connection and Hub
    # lived in node/) shows only when the lower package is imported first: one interpreter imports
    # every package from the bottom layer up, each first imported on its own.
    import subprocess
    import sys

    units = sorted({_unit(_module_name(p)) for p in PACKAGE.rglob("*.py")} - {"__main__", "rtserver"},
                   key=lambda u: (RANK.get(u, len(LAYERS)), u))
    script = "".join(f"import rtserver.{unit}\n" for unit in units)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-3:]
