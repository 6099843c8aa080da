"""Shared test support: test doubles, builders and helpers that tests (and bench/) import, never product code.

See ``tests/support/README.md`` for what each module offers.
"""
