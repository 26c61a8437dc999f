"""The pre-call check: verdict, echo endpoint, stored results (docs/precall.md).

The echo endpoint is a media room (``precall:<user id>``, see ``rtserver.media.signalling``);
``install.precall_feature`` declares the ``precall_*`` WebSocket requests and the results store's
lifecycle to the composition root, which hands the same store to the workflow (its portfolio
rows carry each jobseeker's latest check). This package's ``__init__`` imports nothing, so the
workflow can import ``results.CheckResults`` without a circular import.
"""
