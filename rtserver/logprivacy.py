"""Personal data in a node's log: identifiers as pseudonyms, addresses and people's words never.

What each log level holds is listed in docs/privacy.md. The rules behind it:

- rtserver's own log lines never carry what people write or give (names, e-mail addresses,
  message text, callback reasons and notes, pre-call measurements) nor a client's address.
- They do carry identifiers when an operator needs them to follow a problem (which interview,
  which user's timer): user ids and room ids (``followup-<jobseeker>``, ``precall:<user>``
  contain a user id) are wrapped in ``personal()`` and written as a pseudonym, ``~`` and 12 hex
  characters of HMAC-SHA256 under a key derived from the node's token secret. Every node sharing
  the secret writes the same pseudonym for the same id, across restarts, so one person's trouble
  can be followed across lines and nodes; ``rtserver pseudonym ID`` (it needs the secret) tells a
  data-protection officer which pseudonym an id has. Without the secret a pseudonym cannot be
  turned back into an id: user ids are short and guessable, so an unkeyed hash would be reversed
  by hashing every candidate id. Rotating the secret changes every pseudonym.
- Libraries: aioice logs every candidate pair (the client's addresses) at INFO, so its logger is
  held at WARNING unless the node logs at DEBUG; aiohttp names the client's address at WARNING and
  ERROR ("Error handling request from 203.0.113.7", a WebSocket with unknown subprotocols), and
  aiortc's and asyncio's reprs can hold addresses too: ``LogPrivacy`` replaces every IP address in
  their records (message and traceback) with ``<address>``.
- At DEBUG the node does log candidate addresses (``media/forwarder.py``) and libraries log
  freely: DEBUG is for a short diagnosis, and docs/privacy.md says so.

``LogPrivacy`` is a ``logging.Filter`` installed on the node's handlers by ``configure()``. A
``personal()`` value that reaches a handler without it (a test's capture, an embedding
application's handler) still never shows the id: it renders under a key drawn at random when
this module is imported, consistent within the process only.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
from collections.abc import Mapping

__all__ = ["ADDRESS_MASK", "SCRUBBED_LOGGERS", "LogPrivacy", "Personal", "configure", "log_key", "personal",
           "pseudonym", "scrub_addresses"]

ADDRESS_MASK = "<address>"
# Loggers of libraries whose records may hold a client's address.
SCRUBBED_LOGGERS = ("aiohttp", "aioice", "aiortc", "asyncio")
# 12 hex characters (48 bits): no collision to expect below millions of ids, short enough to read.
PSEUDONYM_HEX = 12
_KEY_LABEL = b"rtserver log pseudonyms v1"
_PROCESS_KEY = secrets.token_bytes(32)  # drawn once at import; never changes afterwards
# Runs of hex digits, dots and colons that may be an IP address (with an IPv6 zone), each checked
# by ipaddress below, so that a time (12:30:45) or a version (3.11.7) stays.
_CANDIDATE = re.compile(r"(?<![\w.:])[0-9A-Fa-f.:]*[.:][0-9A-Fa-f.:]*(?:%[\w.-]+)?(?!\w)")


def log_key(secret: str) -> bytes:
    """The pseudonym key of a deployment: derived from its token secret, so every node agrees."""
    return hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


def pseudonym(key: bytes, value: str) -> str:
    return "~" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]


class Personal:
    """An identifier to log as a pseudonym (``log.info("... %s", personal(user_id))``)."""

    __slots__ = ("value",)

    def __init__(self, value: object):
        self.value = str(value)

    def __str__(self) -> str:  # only without LogPrivacy on the handler
        return pseudonym(_PROCESS_KEY, self.value)

    __repr__ = __str__


def personal(value: object) -> Personal:
    return Personal(value)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _mask(match: re.Match[str]) -> str:
    word = match.group(0)
    core = word.partition("%")[0]
    if _is_address(core):
        return ADDRESS_MASK
    bare = core.rstrip(".:")  # "127.0.0.2: ..." at the end of a clause
    if bare != core and _is_address(bare):
        return ADDRESS_MASK + core[len(bare):]
    host, colon, port = bare.rpartition(":")  # IPv4 with its port
    if colon and port.isdigit() and "." in host and _is_address(host):
        return ADDRESS_MASK + core[len(host):]
    return word


def scrub_addresses(text: str) -> str:
    """``text`` with every IPv4 and IPv6 address replaced by ``<address>``."""
    return _CANDIDATE.sub(_mask, text)


class LogPrivacy(logging.Filter):
    """Renders ``personal()`` arguments as keyed pseudonyms, and masks IP addresses in the records
    of ``SCRUBBED_LOGGERS``. Never drops a record."""

    def __init__(self, key: bytes):
        super().__init__()
        self._key = key

    def _arg(self, value: object) -> object:
        return pseudonym(self._key, value.value) if isinstance(value, Personal) else value

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(isinstance(a, Personal) for a in args):
            record.args = tuple(self._arg(a) for a in args)
        elif isinstance(args, Mapping) and any(isinstance(a, Personal) for a in args.values()):
            record.args = {k: self._arg(v) for k, v in args.items()}
        if record.name.partition(".")[0] in SCRUBBED_LOGGERS:
            record.msg, record.args = scrub_addresses(record.getMessage()), None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = scrub_addresses(record.exc_text)
        return True


def configure(level: str, secret: str) -> None:
    """The node's logging: one stderr handler at ``level`` with ``LogPrivacy``; aioice quiet but at DEBUG."""
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    privacy = LogPrivacy(log_key(secret))
    for handler in logging.getLogger().handlers:
        handler.addFilter(privacy)
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("aioice").setLevel(logging.WARNING)
