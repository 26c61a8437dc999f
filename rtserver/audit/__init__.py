"""The access journal: who read whose personal data, when, from which node (docs/audit.md).

Modules, each with one job:

- ``chain``: the pure core. What an entry holds, its canonical encoding, the hash chaining it to
  the previous entry of its subject's stream, verification of a stream, what a sweep keeps.
- ``stores``: the entries on SQLite (the embedded default) and on Redis (several nodes), one module each.
- ``journal``: the node's recorder that the access points call, and the retention sweep.
- ``api``: ``GET /api/audit`` for portals.
- ``verify``: ``rtserver audit verify``.
- ``install``: ``install_audit``, what ``build_app`` calls.

This module imports nothing: the services import ``chain`` and ``journal`` without pulling in
the node (``install`` does).
"""
