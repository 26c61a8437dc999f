"""Demo mode: seeded users, the token endpoint, and the refusal with a production secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import Harness, make_settings

from rtserver.app import build_app
from rtserver.client import Client
from rtserver.config import Settings
from rtserver.demo import DEMO_USERS, conversation_id


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    # The development secret file, as a newcomer has it: demo mode refuses an explicit secret.
    return {"demo": True, "secret": "", "secret_file": str(tmp_path / "dev.secret")}


async def demo_token(harness: Harness, user: str) -> dict[str, Any]:
    async with harness.session.post(harness.url("/api/demo/token"), json={"user": user}) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_a_visitor_signs_in_as_a_demo_jobseeker_and_finds_the_advisors_welcome(harness: Harness) -> None:
    async with harness.session.get(harness.url("/api/demo/users")) as resp:
        users = (await resp.json())["users"]
    assert [u["id"] for u in users] == [u.id for u in DEMO_USERS]
    assert sum(u["role"] == "advisor" for u in users) == 1
    issued = await demo_token(harness, "demo-karim")
    assert issued["role"] == "jobseeker" and issued["name"] == "Karim Benali"
    async with Client(harness.ws_url, token=issued["token"]) as client:
        assert client.hello["user"] == "demo-karim"
        rooms = await client.request("rooms")
        [room] = rooms["rooms"]
        assert room["room"] == conversation_id("demo-karim") and room["unread"] == 2
        await client.join(room["room"])
        history = (await client.history(room["room"]))["messages"]
        assert [m["from"] for m in history] == ["system", "demo-advisor"]  # the follow-up's notice, the welcome
        assert history[1]["text"].startswith("Bonjour Karim")


async def test_the_advisor_follows_every_demo_jobseeker(harness: Harness) -> None:
    issued = await demo_token(harness, "demo-advisor")
    async with Client(harness.ws_url, token=issued["token"]) as client:
        rooms = {r["room"] for r in (await client.request("rooms"))["rooms"]}
    assert rooms == {conversation_id(u.id) for u in DEMO_USERS if u.role == "jobseeker"}


async def test_unknown_demo_user_is_a_clear_error(harness: Harness) -> None:
    async with harness.session.post(harness.url("/api/demo/token"), json={"user": "mallory"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "invalid_message"
    async with harness.session.post(harness.url("/api/demo/token"), data="nope") as resp:
        assert resp.status == 400


def test_demo_mode_is_refused_with_a_production_secret(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="production secret"):
        build_app(make_settings(tmp_path, demo=True))  # make_settings sets an explicit secret


def test_demo_flag_from_the_environment() -> None:
    assert Settings.from_env({"RTSERVER_DEMO": "yes"}).demo is True
    assert Settings.from_env({"RTSERVER_DEMO": "off"}).demo is False
    with pytest.raises(SystemExit, match="RTSERVER_DEMO: expected true or false"):
        Settings.from_env({"RTSERVER_DEMO": "maybe"})
