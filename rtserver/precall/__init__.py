"""The pre-call check: verdict, echo endpoint, stored results."""
