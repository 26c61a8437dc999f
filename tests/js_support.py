"""Run the pages' pure ES modules under Node, without a browser.

Modules such as ``static/app/quality.js`` and the report builder of ``static/rtinterview.js``
touch no browser global when imported, so Node (``/usr/bin/node``, installed with npm for
``tests/package.json``) runs them directly: ``run_js`` imports the named modules and prints the
JSON of the script's ``result``. ``--experimental-default-type=module`` makes Node read the
``.js`` files as ES modules (the repository has no package.json saying so).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

__all__ = ["STATIC", "run_js"]

STATIC = Path(__file__).resolve().parent.parent / "static"
NODE_TIMEOUT_S = 30


def run_js(modules: dict[str, str], script: str) -> Any:
    """Import ``modules`` (name -> path under static/), run ``script`` (which sets ``result``), return it."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("these tests need Node.js (the nodejs package, also used by `npm ci` in tests/)", pytrace=False)
    imports = "\n".join(f"import * as {name} from {json.dumps((STATIC / path).as_uri())};"
                        for name, path in modules.items())
    source = f"{imports}\nlet result;\n{script}\nconsole.log(JSON.stringify(result));\n"
    done = subprocess.run([node, "--experimental-default-type=module", "--no-warnings", "--input-type=module",
                           "-e", source], capture_output=True, text=True, timeout=NODE_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
