"""README's Python SDK example runs as pasted: saved as a file and run with the project's Python
next to a node started as README says (the development secret file in the working directory,
the room created with the API key), only the node's port changed from 8080 to a free one."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from repo_paths import README, REPO

pytestmark = pytest.mark.timeout(60)

API_KEY = "dev-key"


def readme_python() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert len(blocks) == 1, "README should hold one Python example"
    return blocks[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.get(url + "/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("the node did not start")


async def test_the_readme_python_example_runs_against_a_node(tmp_path: Path) -> None:
    port = free_port()
    # No RTSERVER_* from the environment: the node and the example share tmp_path/rtserver.secret,
    # as they share the repository's when run from it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTSERVER_")}
    env["PYTHONPATH"] = str(REPO)
    node = subprocess.Popen([sys.executable, "-m", "rtserver", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--api-key", API_KEY, "--log-level", "warning"], cwd=tmp_path, env=env)
    example = None
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_ready(url)
        async with aiohttp.ClientSession() as session:  # README's curl line
            async with session.post(url + "/api/rooms", headers={"X-Api-Key": API_KEY}, json={
                    "id": "conv-js-1", "kind": "conversation",
                    "members": [{"user": "adv-1"}, {"user": "js-1"}]}) as resp:
                assert resp.status == 201, await resp.text()
        code = readme_python()
        assert "127.0.0.1:8080" in code
        (tmp_path / "hello.py").write_text(code.replace("127.0.0.1:8080", f"127.0.0.1:{port}"))
        example = await asyncio.create_subprocess_exec(sys.executable, "hello.py", cwd=tmp_path, env=env,
                                                       stdout=asyncio.subprocess.PIPE,
                                                       stderr=asyncio.subprocess.PIPE)
        assert example.stdout is not None
        lines: list[str] = []
        async with asyncio.timeout(30):
            while not any("'type': 'message'" in line and "Bonjour !" in line for line in lines):
                line = (await example.stdout.readline()).decode()
                if not line:
                    stderr = await example.stderr.read() if example.stderr else b""
                    raise AssertionError(f"the example stopped: {lines} {stderr.decode()}")
                lines.append(line)
        assert "'offset': 1" in lines[0], lines  # the ack, printed first
    finally:
        if example is not None and example.returncode is None:
            example.kill()
            await example.wait()
        node.terminate()
        node.wait(timeout=10)
