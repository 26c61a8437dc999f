"""Where the repository's parts are, for tests in any tier folder (a test file's own location
says nothing since the tests live at different depths)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
DOCS = REPO / "docs"
STATIC = REPO / "static"
ARTIFACTS = REPO / "test-artifacts"  # screenshots and logs of failed browser runs (git-ignored)
PYPROJECT = REPO / "pyproject.toml"
README = REPO / "README.md"
AXE = TESTS / "node_modules" / "axe-core" / "axe.min.js"
