"""Helpers shared by the tests (and, for the fake servers and the live server, by the
benchmarks under ``scripts/bench/``): fake model servers speaking the real protocols,
the test databases, the app under test, data builders and HTML checks.

Only these modules are imported from outside a test module; a test never imports another
test module or ``conftest.py``.
"""
