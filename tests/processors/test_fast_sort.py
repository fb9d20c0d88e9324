"""The in-memory/external sort returns exactly dataflows' sort_rows order."""

from __future__ import annotations

import datetime
from decimal import Decimal

from dataflows import Flow
from dataflows import sort_rows as plain_sort_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflows_factory.processors.sort import sort_rows

numbers = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-(10**6), max_value=10**6),
)
rows = st.lists(st.fixed_dictionaries({"n": numbers, "s": st.text(max_size=4)}), max_size=60)
KEYS = ["{n}", "{s}{n}", "{n:>20}", ["s", "n"], "{s}"]


def _results(step: object, data: list[dict[str, object]]) -> list[dict[str, object]]:
    return list(Flow([dict(r) for r in data], step).results()[0][0])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows, st.sampled_from(range(len(KEYS))), st.booleans(), st.sampled_from([1, 300, 1 << 30]))
def test_same_order_as_dataflows(data: list[dict[str, object]], key_index: int, reverse: bool,
                                 budget: int) -> None:
    """Any table, key template, direction and memory budget (spilling or not): same rows, same order."""
    key = KEYS[key_index]
    expected = _results(plain_sort_rows(key, reverse=reverse), data)
    assert _results(sort_rows(key, reverse=reverse, memory_budget=budget), data) == expected


def test_dataflows_sort_rows_case() -> None:
    """dataflows' test_sort_rows: '{b}{a}' on small integers."""
    data = [{"a": 1, "b": 3}, {"a": 2, "b": 3}, {"a": 3, "b": 1}, {"a": 4, "b": 1}]
    assert _results(sort_rows(key="{b}{a}"), data) == [
        {"a": 3, "b": 1}, {"a": 4, "b": 1}, {"a": 1, "b": 3}, {"a": 2, "b": 3}]


def test_dataflows_sort_reverse_many_rows_case() -> None:
    """dataflows' test_sort_reverse_many_rows, here with a budget that forces spilled runs."""
    data = [{"a": i, "b": i % 5} for i in range(1000)]
    result = _results(sort_rows(key="{b}{a}", reverse=True, batch_size=0, memory_budget=20_000), data)
    assert result[0:2] == [{"a": 999, "b": 4}, {"a": 994, "b": 4}]
    assert result[998:1000] == [{"a": 5, "b": 0}, {"a": 0, "b": 0}]


def test_dataflows_sort_rows_number_case() -> None:
    """dataflows' test_sort_rows_number: negative, fractional and large numbers in numeric order."""
    values = [0.1, -3, -4, 10, 8, 0, -1000000, 1000000, -0.1, -0.2, 0.2, -1000001, 1000001, 6, -10,
              -0.001, 0.001, 1, -1]
    result = [r["a"] for r in _results(sort_rows(key="{a}"), [{"a": v} for v in values])]
    assert result == sorted(values)


def test_dataflows_sort_rows_decimal_and_date_cases() -> None:
    """dataflows' test_sort_rows_decimal and test_sort_rows_datetime."""
    decimals = [Decimal(v) for v in ("1.1", "-0.5", "1000", "0", "-1000", "2", "-0.4", "10")]
    assert [r["a"] for r in _results(sort_rows("{a}"), [{"a": d} for d in decimals])] == sorted(decimals)
    dates = [datetime.date(2010, 1, 2), datetime.date(2000, 1, 3), datetime.date(2020, 1, 1)]
    assert [r["a"] for r in _results(sort_rows("{a}"), [{"a": d} for d in dates])] == sorted(dates)


def test_spilled_runs_keep_values_and_types() -> None:
    """Spilled columns (Decimals and dates encoded, None kept) and irregular rows come back equal."""
    decimals = [Decimal("2.50"), Decimal("-0"), Decimal("1E+20"), Decimal("NaN"), None]
    data: list[dict[str, object]] = [
        {"k": (i * 37) % 101, "d": decimals[i % 5], "day": None if i % 7 == 0 else
         datetime.date(2000 + i % 30, 1 + i % 12, 1 + i % 28), "s": f"r{i}", "f": i / 3}
        for i in range(3000)]
    data[5] = {"s": "keys in another order", "k": 5, "d": None, "day": None, "f": 0.0}
    data[9] = {"k": 9, "stamp": datetime.datetime(2020, 1, 1, 12, 30)}  # other fields, another type
    expected = _results(plain_sort_rows("{k}"), data)
    result = _results(sort_rows("{k}", memory_budget=10_000), data)
    # repr: Decimal("NaN") equals nothing, and repr shows key order and every type too.
    assert [repr(r) for r in result] == [repr(r) for r in expected]


def test_budget_below_data_size_spills_and_keeps_order() -> None:
    """A 64 kB budget on ~20k rows: several runs on disk, merged into the exact dataflows order."""
    data = [{"k": (i * 7919) % 1000, "v": f"row{i}"} for i in range(20_000)]
    assert _results(sort_rows("{k}", memory_budget=64_000), data) == \
        _results(plain_sort_rows("{k}"), data)
