"""The in-memory/external sort returns exactly dataflows' sort_rows order."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from dataflows import Flow
from dataflows import sort_rows as plain_sort_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflows_factory.processors import _sortitems
from dataflows_factory.processors.sort import DEFAULT_MEMORY_BUDGET, sort_rows, sorter


@pytest.fixture(autouse=True, scope="module", params=["c", "python"])
def item_codec(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test here runs with the C item codec (the nox environments build it, and fail
    if they can't) and with the pure-Python one."""
    if request.param == "c":
        assert _sortitems._c is not None, "the C module _sortitems_c is not built (DFF_C_EXTENSION)"
        yield "c"
        return
    with mock.patch.object(_sortitems, "_c", None):
        yield "python"


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


# -- compact items: byte-identical output, bounded memory ------------------------------------

def _table(count: int) -> list[dict[str, object]]:
    """Rows like the benchmarks' (ints, strings, dates, Decimals), with ties, negatives, None."""
    rows: list[dict[str, object]] = []
    for i in range(count):
        rows.append({
            "id": i, "city": f"city-{(i * 7) % 97}", "country": f"C{(i * 13) % 5}",
            "population": (i * 7919) % 2003 - 1000,
            "date": None if i % 11 == 0 else datetime.date(2000, 1, 1 + i % 28) + datetime.timedelta(i % 900),
            "value": None if i % 13 == 0 else Decimal(f"{(i * 37) % 2001 - 1000}.{i % 1000:03d}"),
            "ratio": (i % 17) / 7 - 1.0,
        })
    return rows


SORT_KEYS: list[object] = ["{country}{population}", "{population}", "{value}", "{date}{id}", "{ratio}",
                           ["city", "value"], "{population:>12}", "{country}", lambda row: row["city"]]


@pytest.mark.parametrize("key", SORT_KEYS, ids=lambda key: "callable" if callable(key) else str(key))
def test_same_rows_as_dataflows_for_key_templates(key: object) -> None:
    """Each key template (numbers, dates, Decimals, None, ties, a field list, a format spec,
    a callable), both directions, in memory and with a 4 kB budget (several spilled runs):
    dataflows' rows, values and types (repr) in dataflows' order."""
    data = _table(250)
    loaded = Flow([dict(r) for r in data]).results()[0][0]  # as a flow's rows arrive (floats cast)
    for reverse in (False, True):
        expected = [repr(r) for r in _results(plain_sort_rows(key, reverse=reverse), data)]
        for budget in (DEFAULT_MEMORY_BUDGET, 4 << 10):
            # The sort itself (what sort_rows runs per resource): a Flow costs more than 250 rows.
            result = sorter([dict(r) for r in loaded], key, reverse, budget)  # type: ignore[arg-type]
            assert [repr(r) for r in result] == expected


def _dumped(tmp_path: Path, name: str, step: object, data: list[dict[str, object]]) -> bytes:
    from dataflows import dump_to_path

    Flow([dict(r) for r in data], step, dump_to_path(str(tmp_path / name))).process()
    return (tmp_path / name / "res_1.csv").read_bytes()


@pytest.mark.parametrize("reverse", [False, True])
def test_dumped_csv_byte_identical_to_dataflows(tmp_path: Path, reverse: bool) -> None:
    """The benchmarks' key, dumped: the CSV bytes equal plain dataflows' sort_rows, in memory
    and with a 16 kB budget (spilled runs, merged)."""
    data = _table(400)
    key = "{country}{population}"
    expected = _dumped(tmp_path, "plain", plain_sort_rows(key, reverse=reverse), data)
    assert _dumped(tmp_path, "fast", sort_rows(key, reverse=reverse), data) == expected
    assert _dumped(tmp_path, "spilled", sort_rows(key, reverse=reverse, memory_budget=16 << 10),
                   data) == expected


def test_small_budget_spills_many_runs_and_merges_in_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 16 kB budget spills dozens of runs, a 2 kB one more than one merge pass takes, and
    both give dataflows' rows, values and types (repr) in dataflows' order."""
    from dataflows_factory.processors import sort as sort_module

    spilled: list[int] = []
    real_add = sort_module._Runs.add

    def counting_add(runs: object, items: object) -> None:
        spilled.append(1)
        real_add(runs, items)  # type: ignore[arg-type]

    monkeypatch.setattr(sort_module._Runs, "add", counting_add)
    data = _table(3000)
    expected = [repr(r) for r in _results(plain_sort_rows("{date}{population}"), data)]
    for budget, least in ((16 << 10, 20), (2 << 10, sort_module._FAN_IN + 1)):
        spilled.clear()
        result = _results(sort_rows("{date}{population}", memory_budget=budget), data)
        assert [repr(r) for r in result] == expected
        assert len(spilled) >= least


keys_text = st.text(alphabet=st.sampled_from(["\0", "\1", "a", "b", "é", "\U0001f600", "\ud800", "0"]),
                    max_size=5)


@settings(max_examples=80, deadline=None)
@given(st.lists(keys_text, max_size=40), st.booleans(), st.sampled_from([1, 1 << 30]))
def test_items_compare_as_their_keys(texts: list[str], reverse: bool, budget: int) -> None:
    """Keys with NUL, control, non-ASCII and surrogate characters, some prefixes of others:
    rows come out in the string order of dataflows' keys (key + 8-hex-digit row number)."""
    data = [{"k": text, "i": i} for i, text in enumerate(texts)]
    expected = sorted(data, key=lambda r: f"{r['k']}{r['i']:08x}", reverse=reverse)
    assert list(sorter(data, "{k}", reverse, budget)) == expected


def test_rows_of_several_shapes_keep_keys_order_and_types() -> None:
    """Rows whose fields differ in order, number or type (and a non-dict mapping row) come
    back equal, with their own key order, in dataflows' order, in memory and spilled."""
    from collections import OrderedDict

    data: list[object] = []
    for i in range(300):
        shape = i % 4
        if shape == 0:
            data.append({"k": i % 7, "v": Decimal(i), "d": datetime.date(2020, 1, 1 + i % 28)})
        elif shape == 1:
            data.append({"v": f"s{i}", "k": i % 7})
        elif shape == 2:
            data.append({"k": i % 7, "v": datetime.datetime(2020, 1, 1, i % 24), "x": [i, {"n": i}]})
        else:
            data.append(OrderedDict([("k", i % 7), ("v", None)]))
    expected = [row for _, _, row in sorted((r["k"], i, r) for i, r in enumerate(data))]  # type: ignore[index]
    for budget in (1 << 30, 4 << 10):
        result = list(sorter(iter(data), "{k}", False, budget))
        assert [(type(r), repr(r)) for r in result] == [(type(r), repr(r)) for r in expected]
