"""Nested configuration: one flat Settings surface, one frozen section per feature."""

from __future__ import annotations

import dataclasses

import pytest

from rtserver.config import Settings
from rtserver.sections import CORE_FIELDS, FIELDS, ChatConfig, Sections, StoreConfig, settings_view


def test_every_setting_is_read_by_the_core_or_declared_by_a_section():
    declared = set(CORE_FIELDS).union(*FIELDS.values())
    names = {f.name for f in dataclasses.fields(Settings)}
    assert names - declared == set(), "settings that no section declares"
    assert declared - names == set(), "sections declaring settings that do not exist"


def test_each_section_is_built_from_the_settings_it_declares_only():
    """``Sections.from_settings`` gives each builder a view of its own fields: a builder reading
    another one would raise here."""
    sections = Sections.from_settings(Settings(store="sqlite:x.db", precall_max_s=12.0), environ={})
    assert sections.chat == ChatConfig(max_rooms_per_connection=500, resume_max_messages=10_000, typing_ttl_s=6.0)
    assert sections.precall.max_s == 12.0 and sections.store.sqlite_path == "x.db"
    for section in ("store", "chat", "media", "media_routing", "precall", "outcomes", "workflow"):
        assert type(getattr(sections, section)).__dataclass_params__.frozen, f"{section} is not frozen"
    with pytest.raises(AttributeError):
        settings_view(Settings(), FIELDS["chat"]).api_key  # noqa: B018


def test_a_section_keeps_the_flat_settings_validation():
    with pytest.raises(ValueError, match="media_port_range"):
        Sections.from_settings(Settings(media_port_range="80-90"), environ={})
    with pytest.raises(ValueError, match="smtp_tls"):
        Sections.from_settings(Settings(smtp_tls="ssl"), environ={})


def test_the_store_section_names_the_family_file_or_the_redis_server():
    assert StoreConfig.from_settings(Settings(store="sqlite:///tmp/a.db")).sqlite_path == "/tmp/a.db"
    redis = StoreConfig.from_settings(Settings(store="redis://h:1/0", redis_timeout_s=0.5))
    assert redis.sqlite_path is None and (redis.redis.url, redis.redis.timeout_s) == ("redis://h:1/0", 0.5)
