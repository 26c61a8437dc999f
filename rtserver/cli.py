"""``rtserver serve`` runs a node; ``rtserver token`` mints a development token; ``rtserver settings``
prints the configuration table; ``rtserver pseudonym`` says how the log names a user or a room;
``rtserver audit verify`` checks the access journal's hash chains."""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import resource
import socket
import sys

from aiohttp import web

from .auth import Role, mint_token
from .config import Settings, add_arguments, settings_from_args, settings_table
from .gcpolicy import NODE_GC_THRESHOLDS
from .logprivacy import configure as configure_logging
from .logprivacy import log_key, pseudonym

LISTEN_BACKLOG = 128  # aiohttp's default for the sites it binds itself

__all__ = ["main"]


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # uvloop is optional (not on every platform)
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _raise_file_limit() -> None:
    """Each connection is a file descriptor: allow as many as the system lets this process have."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _tune_gc() -> None:
    """Collect the young generation less often and leave start-up objects out of collections.

    A node holds many long-lived objects (connections, rooms); the default thresholds make
    full collections frequent enough to pause the event loop for hundreds of milliseconds under
    load (measured: a 480 ms worst-case acknowledgement at 5,000 messages/s, 59 ms with these).
    Full collections then almost never run by themselves: the media service asks for one after
    closing peer connections (rtserver/gcpolicy.py).
    """
    gc.set_threshold(*NODE_GC_THRESHOLDS)
    gc.freeze()


def _listen(host: str, port: int) -> list[socket.socket]:
    """The node's listening sockets, bound before anything starts.

    Bound first, the port taken by another process (a node already running) is said in one line
    and nothing else happens: no "listening" line then a traceback, and ``--demo`` does not seed
    the database of the node that holds the port. The sockets go to run_app as they are.
    """
    sockets: list[socket.socket] = []
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for family, kind, proto, _, address in dict.fromkeys(addresses):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp does: restarts do not wait
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(LISTEN_BACKLOG)
            sock.setblocking(False)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise SystemExit(f"rtserver: port {port} on {host} is already in use (another rtserver running?): "
                             "stop it, or choose another port with --port") from None
        raise SystemExit(f"rtserver: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sockets


def serve(settings: Settings) -> None:
    from .app import build_app

    # Pseudonyms keyed by the token secret, addresses masked, aioice quiet: rtserver/logprivacy.py.
    configure_logging(settings.log_level, settings.resolved_secret())
    _raise_file_limit()
    try:
        app = build_app(settings)
    except ValueError as exc:  # a setting that cannot work: say which, without a traceback
        raise SystemExit(f"rtserver: {exc}") from None
    sockets = _listen(settings.host, settings.port)
    _tune_gc()
    print(f"rtserver listening on http://{settings.host}:{settings.port} (store {settings.store_for_logs()})",
          flush=True)
    # run_app handles SIGINT/SIGTERM: stop accepting, on_shutdown tells clients to reconnect (1012),
    # then cleanup flushes the store.
    # keepalive_timeout also closes a connection that never completes its request's headers (aiohttp
    # arms it when the connection opens): 75 s by default, a cheap way to hold a node's sockets.
    web.run_app(app, sock=sockets, print=None, access_log=None,
                shutdown_timeout=settings.shutdown_timeout_s, keepalive_timeout=settings.http_idle_timeout_s,
                loop=_new_loop())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rtserver", description="real-time chat, presence and video server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run a node")
    add_arguments(serve_parser)
    token_parser = commands.add_parser("token", help="mint a development token signed with the configured secret")
    token_parser.add_argument("--user", required=True, help="user id (the token's 'sub')")
    token_parser.add_argument("--role", required=True, choices=[r.value for r in Role])
    token_parser.add_argument("--name", help="display name (defaults to the user id)")
    token_parser.add_argument("--ttl", type=float, default=3600.0, help="lifetime in seconds (default 3600)")
    add_arguments(token_parser, ("secret", "secret_file", "jwt_algorithm", "jwt_issuer", "jwt_max_lifetime_s"))
    commands.add_parser("settings", help="print every setting as a Markdown table (README's configuration)")
    pseudonym_parser = commands.add_parser(
        "pseudonym", help="print the pseudonym the log gives each user or room id (it needs the token secret)")
    pseudonym_parser.add_argument("ids", nargs="+", metavar="ID", help="a user id or a room id")
    add_arguments(pseudonym_parser, ("secret", "secret_file"))

    audit_parser = commands.add_parser("audit", help="the access journal (docs/audit.md)")
    audit_commands = audit_parser.add_subparsers(dest="audit_command", required=True)
    verify_parser = audit_commands.add_parser("verify", help="check every entry's hash chain; exit 1 naming the "
                                              "first bad entry, 2 if the store cannot be read")
    add_arguments(verify_parser, ("store", "redis_timeout_s", "audit_retention_days"))
    verify_parser.add_argument("--heads-out", metavar="FILE", help="after a check that passed, write each stream's "
                               "head here, to keep outside the store")
    verify_parser.add_argument("--heads-in", metavar="FILE", help="heads written earlier by --heads-out: each must "
                               "still be in the journal with its hash, unless past retention")
    args = parser.parse_args(argv)
    if args.command == "settings":
        print(settings_table())
        return 0
    if args.command == "pseudonym":
        key = log_key(settings_from_args(args).resolved_secret())
        for value in args.ids:
            print(pseudonym(key, value), value)
        return 0
    if args.command == "audit":
        from .audit.verify import verify_main

        return verify_main(settings_from_args(args), heads_in=args.heads_in, heads_out=args.heads_out)
    settings = settings_from_args(args)
    if args.command == "serve":
        serve(settings)
    else:
        print(_token(settings, args))
    return 0


def _token(settings: Settings, args: argparse.Namespace) -> str:
    """A token the server accepts, or exit saying which rule it would break."""
    if not 0 < args.ttl <= settings.jwt_max_lifetime_s:
        raise SystemExit(f"rtserver token: --ttl must be positive and at most jwt_max_lifetime_s "
                         f"({settings.jwt_max_lifetime_s:g} s)")
    try:
        return mint_token(secret=settings.resolved_secret(), user_id=args.user, role=args.role, name=args.name,
                          ttl_s=args.ttl, algorithm=settings.jwt_algorithm, issuer=settings.jwt_issuer)
    except ValueError as exc:
        raise SystemExit(f"rtserver token: {exc}") from None


if __name__ == "__main__":
    sys.exit(main())
