"""Analytics: detector, tracker, rules and snapshots; turns frames into events.

Must not touch Redis, HTTP or the registry database; it emits events through a callable.
"""
