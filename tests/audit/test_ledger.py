"""The time-weighted ledger arithmetic of 全时可用 (audit/ledger.py), on hand-made step functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from audit.ledger import Ledger, Step, time_true

T0 = datetime(2025, 6, 1, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_step_value_is_the_last_record_at_or_before() -> None:
    step = Step([h(1), h(2)], [True, False], initial=False)
    assert [step.at(h(x)) for x in (0, 1, 1.5, 2, 3)] == [False, True, True, False, False]
    assert step.changes_in(h(1), h(3)) == [h(2)]  # strictly inside


def test_time_true_of_one_and_of_several_steps() -> None:
    online = Step([h(-1), h(3), h(4)], [True, False, True], initial=False)
    ok = Step([h(6), h(7)], [False, True], initial=True)
    assert time_true([online], h(0), h(10)) == 9 * 3600.0
    assert time_true([online, ok], h(0), h(10)) == 8 * 3600.0
    assert time_true([online], h(3.5), h(3.5)) == 0.0


def test_ledger_rows_and_cameras_without_records() -> None:
    ledger = Ledger.from_rows([("a", h(1), True), ("a", h(2), False), ("b", h(0), True)], initial=False)
    assert ledger.at("a", h(1.5)) and not ledger.at("a", h(2)) and ledger.at("b", h(5))
    assert not ledger.at("never", h(5)) and ledger.of("never").times == []
    assert Ledger.from_rows([], initial=True).at("any", h(0))
