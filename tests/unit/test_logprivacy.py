"""Pseudonyms and address masking in log records (rtserver/logprivacy.py): pure, no sockets.
The whole node's log over a real flow: tests/integration/node/test_log_privacy_node.py."""

from __future__ import annotations

import logging

import pytest

from rtserver.cli import main
from rtserver.logprivacy import LogPrivacy, configure, log_key, personal, pseudonym, scrub_addresses

SECRET = "a-deployment-secret-of-at-least-32-chars"


def _record(name: str, msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, args or None, exc_info)


def _rendered(record: logging.LogRecord, key: bytes) -> str:
    LogPrivacy(key).filter(record)
    return logging.Formatter("%(message)s").format(record)


def test_a_pseudonym_is_keyed_stable_and_short():
    key = log_key(SECRET)
    assert pseudonym(key, "js-4402") == pseudonym(log_key(SECRET), "js-4402")  # every node, every restart
    assert pseudonym(key, "js-4402") != pseudonym(key, "js-4403")
    assert pseudonym(key, "js-4402") != pseudonym(log_key(SECRET + "x"), "js-4402")  # another deployment
    assert len(pseudonym(key, "js-4402")) == 13 and pseudonym(key, "js-4402").startswith("~")


def test_personal_arguments_are_logged_as_pseudonyms():
    key = log_key(SECRET)
    text = _rendered(_record("rtserver.media.signalling", "interview %s: %s may no longer take part (%s)",
                             personal("followup-js-4402"), personal("adv-7731"), "removed"), key)
    assert text == (f"interview {pseudonym(key, 'followup-js-4402')}: {pseudonym(key, 'adv-7731')} "
                    "may no longer take part (removed)")
    as_mapping = _record("rtserver.x", "user %(user)s", {"user": personal("js-4402")})
    assert _rendered(as_mapping, key) == f"user {pseudonym(key, 'js-4402')}"


def test_without_the_filter_a_personal_value_still_never_shows():
    text = logging.Formatter("%(message)s").format(_record("rtserver.x", "user %s (%r)", personal("js-4402"),
                                                           personal("js-4402")))
    assert "js-4402" not in text and text.count("~") == 2


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.2: Client protocols", "<address>: Client protocols"),
    ("Error handling request from 203.0.113.7", "Error handling request from <address>"),
    ("CandidatePair(('10.0.0.1', 5000) -> ('192.168.1.20', 40001))",
     "CandidatePair(('<address>', 5000) -> ('<address>', 40001))"),
    ("Candidate(x 1 udp 1 2001:db8::1 40001 typ host)", "Candidate(x 1 udp 1 <address> 40001 typ host)"),
    ("peer fe80::1%eth0 and ::ffff:198.51.100.4, [2001:db8::7]:443 or 10.1.2.3:5000.",
     "peer <address> and <address>, [<address>]:443 or <address>:5000."),
    ("at 12:30:45, 1.2.3 and version 3.11.7, 400 of 999.1.1.1, id deadbeef:cafe",
     "at 12:30:45, 1.2.3 and version 3.11.7, 400 of 999.1.1.1, id deadbeef:cafe"),
])
def test_ip_addresses_are_masked_and_nothing_else(text, expected):
    assert scrub_addresses(text) == expected


def test_library_records_lose_client_addresses_in_message_and_traceback():
    key = log_key(SECRET)
    try:
        raise ValueError("bad request from 198.51.100.4")
    except ValueError as exc:
        record = _record("aiohttp.server", "Error handling request from %s", "198.51.100.4", exc=exc)
    LogPrivacy(key).filter(record)
    text = logging.Formatter("%(message)s").format(record)
    assert "198.51.100.4" not in text and "Error handling request from <address>" in text
    assert "ValueError: bad request from <address>" in text
    # rtserver's own records keep the node's addresses (the listen address, a Redis shard).
    own = _record("rtserver.app", "node %s ready on %s:%s", "ab12", "127.0.0.1", 8080)
    assert _rendered(own, key) == "node ab12 ready on 127.0.0.1:8080"


def test_configure_quiets_aioice_except_at_debug(monkeypatch):
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    aioice = logging.getLogger("aioice")
    monkeypatch.setattr(aioice, "level", logging.NOTSET)
    configure("info", SECRET)
    assert aioice.level == logging.WARNING
    assert any(isinstance(f, LogPrivacy) for f in root.handlers[0].filters)
    monkeypatch.setattr(root, "handlers", [])
    aioice.setLevel(logging.NOTSET)
    configure("debug", SECRET)
    assert aioice.level == logging.NOTSET  # a diagnosis at DEBUG sees ICE (docs/privacy.md says so)


def test_the_pseudonym_command_says_how_the_log_names_an_id(capsys):
    assert main(["pseudonym", "--secret", SECRET, "js-4402", "followup-js-4402"]) == 0
    key = log_key(SECRET)
    assert capsys.readouterr().out.splitlines() == [f"{pseudonym(key, 'js-4402')} js-4402",
                                                    f"{pseudonym(key, 'followup-js-4402')} followup-js-4402"]
