"""The store family: every store of the node chosen together from the URL, Lua scripts as package data."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path
from typing import Any

import pytest
from repo_paths import REPO as ROOT

from rtserver.backends import RedisStore, SqliteStore
from rtserver.backends.redis_link import SCRIPTS as CHAT_SCRIPTS
from rtserver.config import Settings
from rtserver.metrics import Metrics
from rtserver.outcomes.stores import RedisOutcomes, SqliteOutcomes
from rtserver.precall.stores import RedisCheckResults, SqliteCheckResults
from rtserver.sections import StoreConfig
from rtserver.stores import StoreFamily, create_store_family
from rtserver.workflow.redis_store import SCRIPTS as WORKFLOW_SCRIPTS
from rtserver.workflow.redis_store import RedisWorkflowStore
from rtserver.workflow.sqlite_store import SqliteWorkflowStore

LUA = ROOT / "rtserver" / "backends" / "lua"
# Every script a Redis store registers (``RedisLink.register_lua``), by name.
ALL_SCRIPTS = (*CHAT_SCRIPTS, *WORKFLOW_SCRIPTS, "precall_save", "outcomes_count", "retention_stream", "retention_list",
               "retention_wf_callbacks", "retention_wf_appointments", "erase_stream")


def _family(settings: Settings, **kw: Any) -> StoreFamily:
    return create_store_family(StoreConfig.from_settings(settings), **kw)


def test_a_sqlite_url_gives_every_store_of_the_sqlite_family(tmp_path: Path):
    family = _family(Settings(store=f"sqlite:{tmp_path / 'rt.db'}"))
    assert family.kind == "sqlite"
    assert isinstance(family.backends.store, SqliteStore)
    assert isinstance(family.workflow, SqliteWorkflowStore) and isinstance(family.checks, SqliteCheckResults)
    assert isinstance(family.outcomes, SqliteOutcomes)


async def test_a_redis_url_gives_every_store_of_the_redis_family_on_one_client():
    family = _family(Settings(store="redis://127.0.0.1:6379/0"), metrics=Metrics())
    assert family.kind == "redis"
    assert isinstance(family.backends.store, RedisStore)
    assert isinstance(family.workflow, RedisWorkflowStore) and isinstance(family.checks, RedisCheckResults)
    assert isinstance(family.outcomes, RedisOutcomes)
    link = family.backends.store.link
    assert family.workflow._link is link and family.checks._link is link and family.outcomes._link is link
    await family.backends.store.close()


def test_settings_that_cannot_work_are_refused_before_any_store_is_built(tmp_path: Path):
    with pytest.raises(ValueError, match="precall_history"):
        _family(Settings(store=f"sqlite:{tmp_path / 'rt.db'}", precall_history=0))
    with pytest.raises(SystemExit, match="unknown store"):
        _family(Settings(store="postgres://db"))


def test_every_lua_script_is_a_file_the_package_data_ships():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = patterns["rtserver.backends"]
    for name in ALL_SCRIPTS:
        path = LUA / f"{name}.lua"
        assert path.is_file(), f"{name}: no {path.relative_to(ROOT)}"
        relative = path.relative_to(ROOT / "rtserver" / "backends").as_posix()
        assert any(fnmatch.fnmatch(relative, p) for p in shipped), f"{relative} is not in the package data"
    assert {p.stem for p in LUA.glob("*.lua")} == set(ALL_SCRIPTS), "a script file that no store registers"
