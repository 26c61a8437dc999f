"""Files holding secrets or personal data are private (0600), and existing ones others can read are reported."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
from conftest import make_settings

from rtserver.app import build_app
from rtserver.backends.sqlite_thread import SqliteThread
from rtserver.config import load_secret
from rtserver.precall.stores import SqliteCheckResults
from rtserver.workflow.sqlite_store import SqliteWorkflowStore


@pytest.fixture(autouse=True)
def usual_umask():
    """The common 022: files are created 0644 unless the code asks for less."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _db_files(db: Path) -> list[Path]:
    return [db, Path(f"{db}-wal"), Path(f"{db}-shm")]


async def test_the_chat_store_creates_its_database_wal_and_shm_private(harness, tmp_path):
    client = await harness.client("js")
    await harness.room("r1", {"js": "member"})
    await client.join("r1")
    await client.send("r1", "a message to be stored")
    files = _db_files(tmp_path / "rt.db")
    assert {f.name: oct(_mode(f)) for f in files} == {f.name: "0o600" for f in files}


@pytest.mark.parametrize("store", [
    lambda path: SqliteThread(path, schema="CREATE TABLE IF NOT EXISTS t (x);", name="test"),
    lambda path: SqliteWorkflowStore(path),
    lambda path: SqliteCheckResults(path, keep=2),
], ids=["thread", "workflow", "precall"])
async def test_the_stores_beside_it_create_the_file_private_when_they_open_it_first(tmp_path, store):
    db = tmp_path / "side.db"
    opened = store(str(db))
    await opened.open()
    try:
        assert [oct(_mode(f)) for f in _db_files(db)] == ["0o600"] * 3
    finally:
        await opened.close()


def test_the_development_secret_is_created_private(tmp_path):
    load_secret(str(tmp_path / "dev.secret"))
    assert _mode(tmp_path / "dev.secret") == 0o600


def _secret_settings(tmp_path: Path, mode: int):
    for name in ("dev.secret", "smtp.pw", "hook.secret", "rt.db"):
        (tmp_path / name).write_text("x" * 40 + "\n")
        (tmp_path / name).chmod(mode)
    return make_settings(tmp_path, secret="", secret_file=str(tmp_path / "dev.secret"),
                         smtp_password_file=str(tmp_path / "smtp.pw"),
                         webhook_secret_file=str(tmp_path / "hook.secret"))


def test_existing_files_others_can_read_are_warned_about_once_at_start_up(tmp_path, caplog):
    settings = _secret_settings(tmp_path, 0o644)
    with caplog.at_level(logging.WARNING):
        build_app(settings)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for name in ("dev.secret", "smtp.pw", "hook.secret", "rt.db"):
        assert sum(str(tmp_path / name) + " " in w for w in warnings) == 1, (name, warnings)
    assert all("0644" in w and "chmod 600" in w for w in warnings)


def test_private_files_and_unused_ones_are_not_warned_about(tmp_path, caplog):
    from rtserver.config import exposed_files

    settings = _secret_settings(tmp_path, 0o600)
    with caplog.at_level(logging.WARNING):
        build_app(settings)
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == []
    # With the secret given, the secret file is not read: its mode does not matter.
    (tmp_path / "dev.secret").chmod(0o644)
    assert exposed_files(make_settings(tmp_path, secret_file=str(tmp_path / "dev.secret"))) == []
    (tmp_path / "rt.db").chmod(0o640)  # group-readable is exposed too
    assert [path for path, _ in exposed_files(make_settings(tmp_path))] == [str(tmp_path / "rt.db")]
