"""Time-weighted arithmetic over the registry's ledgers (availability: online/offline; quality: ok/faulty) for
全时可用: each camera's ledger as a step function of time, and the seconds during which step functions are all true.

Owns pure functions of times and booleans only; must not touch the registry, SQL, Redis or files (the rows come
from ``audit/sources.py``). A camera's value at time t is its last record at or before t; before its first record
(or with none) it is the ledger's ``initial`` value: offline for availability, ok for quality.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise

__all__ = ["Ledger", "LedgerRow", "Step", "time_true"]

log = logging.getLogger(__name__)

LedgerRow = tuple[str, datetime, bool]
"""(camera id, at (aware UTC), value): one ledger record, the value being online? or quality ok?"""


@dataclass(frozen=True)
class Step:
    """A piecewise-constant function of time from one camera's ledger: ``initial`` before the first change."""

    times: list[datetime]
    values: list[bool]
    initial: bool

    def at(self, t: datetime) -> bool:
        """The value at ``t``: that of the last record at or before ``t``, else ``initial``."""
        i = bisect_right(self.times, t)
        return self.values[i - 1] if i else self.initial

    def changes_in(self, start: datetime, end: datetime) -> list[datetime]:
        """Times of the records strictly inside (``start``, ``end``)."""
        return [t for t in self.times if start < t < end]


@dataclass(frozen=True)
class Ledger:
    """The step functions of every camera of one ledger; a camera without a record is ``initial`` throughout."""

    initial: bool
    steps: dict[str, Step] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, rows: Iterable[LedgerRow], initial: bool) -> Ledger:
        """The ledger of ``rows``, which must be in time order per camera."""
        times: dict[str, list[datetime]] = {}
        values: dict[str, list[bool]] = {}
        for cid, at, value in rows:
            times.setdefault(cid, []).append(at)
            values.setdefault(cid, []).append(value)
        return cls(initial, {cid: Step(times[cid], values[cid], initial) for cid in times})

    def of(self, camera_id: str) -> Step:
        """The camera's step function (constant ``initial`` when it has no record)."""
        step = self.steps.get(camera_id)
        return step if step is not None else Step([], [], self.initial)

    def at(self, camera_id: str, t: datetime) -> bool:
        """The camera's value at ``t``."""
        return self.of(camera_id).at(t)


def time_true(steps: Sequence[Step], start: datetime, end: datetime) -> float:
    """Seconds in [``start``, ``end``) during which every step function is true."""
    cuts = sorted({start, end, *(t for s in steps for t in s.changes_in(start, end))})
    total = 0.0
    for a, b in pairwise(cuts):
        if all(s.at(a) for s in steps):
            total += (b - a).total_seconds()
    return total
