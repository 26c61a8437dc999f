"""A person's data: their export and their erasure, through the portal API (docs/privacy.md).

Modules, each with one job:

- ``person``: ``PersonData``, what is held about one person gathered in pages (export) and
  erased (tombstones in the conversations, the workflow's records, pre-call results, the
  connections closed on every node), with the legal hold that refuses an erasure;
- ``cursor``: the export's page cursor;
- ``api``: ``GET``/``DELETE /api/users/{id}/data`` and ``/api/followups/{id}/hold``;
- ``install``: ``privacy_feature``, what the composition root declares.

The stores' part is in their families: ``Store.erase_sender`` (``backends/erasure.py``),
``WorkflowStore.erase_person`` and the holds (``workflow/erasure.py``), ``CheckResults.erase``,
``PresenceBackend.nodes_of``.
"""
