from __future__ import annotations

import dataclasses

import pytest
from repo_paths import README

from rtserver.config import Settings, load_secret


def test_environment_and_overrides():
    settings = Settings.from_env({"RTSERVER_PORT": "9000", "RTSERVER_MAX_MESSAGES_PER_S": "2.5",
                                  "RTSERVER_STORE": "sqlite:/tmp/x.db", "OTHER": "ignored"}, host="0.0.0.0")
    assert (settings.port, settings.max_messages_per_s, settings.store, settings.host) == \
        (9000, 2.5, "sqlite:/tmp/x.db", "0.0.0.0")


def test_bad_environment_value_names_the_variable():
    with pytest.raises(SystemExit) as err:
        Settings.from_env({"RTSERVER_PORT": "eighty"})
    assert "RTSERVER_PORT" in str(err.value)


def test_origins_are_normalised():
    assert Settings(allowed_origins="https://a.example/, https://b.example").origins() == \
        frozenset({"https://a.example", "https://b.example"})


def test_secret_file_is_created_once(tmp_path):
    path = tmp_path / "s.secret"
    first = load_secret(str(path))
    assert len(first) >= 32 and load_secret(str(path)) == first


@pytest.mark.parametrize("value", ["40000", "40000-", "a-b", "80-90", "40010-40000", "65000-70000"])
def test_a_bad_media_port_range_is_refused_with_the_expected_form(value):
    from rtserver.media.signalling import media_config
    with pytest.raises(ValueError, match="media_port_range"):
        media_config(Settings(media_port_range=value))


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_the_retransmit_share_must_be_a_fraction(share):
    from rtserver.media.signalling import media_config
    with pytest.raises(ValueError, match="media_retransmit_share"):
        media_config(Settings(media_retransmit_share=share))
    assert media_config(Settings(media_retransmit_share=0.5)).retransmit.share == 0.5


def test_a_media_port_range_is_inclusive():
    from rtserver.media.signalling import media_config
    assert media_config(Settings(media_port_range="40000-40999")).addresses.ports == range(40000, 41000)


def test_readme_lists_every_setting_as_rtserver_settings_prints_it():

    from rtserver.config import settings_table
    readme = README.read_text()
    assert settings_table() in readme, "README's configuration table is stale: paste `rtserver settings` into it"


def test_token_limits_are_settings_and_must_be_positive(tmp_path):
    from rtserver.auth import TokenVerifier

    settings = Settings.from_env({"RTSERVER_JWT_MAX_LIFETIME_S": "3600", "RTSERVER_MAX_NAME_CHARS": "50"},
                                 secret="s" * 32)
    assert (settings.jwt_max_lifetime_s, settings.max_name_chars) == (3600.0, 50)
    TokenVerifier.from_settings(settings)
    for bad in ({"jwt_max_lifetime_s": 0.0}, {"max_name_chars": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            TokenVerifier.from_settings(Settings(secret="s" * 32, **bad))


@pytest.mark.parametrize(("store", "path"), [
    ("sqlite:/var/lib/rt/rt.db", "/var/lib/rt/rt.db"), ("sqlite://rel.db", "rel.db"), ("sqlite:", "rtserver.db"),
    ("redis://127.0.0.1:6379/0", None),
])
def test_the_sqlite_path_of_a_store(store, path):
    assert Settings(store=store).sqlite_path() == path


def test_a_store_password_never_reaches_the_logs():
    for store, shown in (("redis://:s3cret@10.0.0.5:6379/0", "redis://:***@10.0.0.5:6379/0"),
                         ("redis://app:s3cret@h:6379/0", "redis://app:***@h:6379/0"),
                         ("redis+cluster://:p@a:1,b:2", "redis+cluster://:***@a:1,b:2"),
                         ("redis://h:6379/0", "redis://h:6379/0"), ("sqlite:rtserver.db", "sqlite:rtserver.db")):
        assert Settings(store=store).store_for_logs() == shown


def test_the_default_heartbeat_puts_a_dead_link_offline_within_15_s() -> None:
    """The node's half of finding dead links (tests/integration/node/test_heartbeat.py)."""
    # A ping every heartbeat_s, the pong awaited half of it: a silent peer is gone after 1.5 beats.
    default = next(f.default for f in dataclasses.fields(Settings) if f.name == "heartbeat_s")
    assert isinstance(default, float) and default * 1.5 <= 15
