"""The dict-indexed join gives exactly dataflows' join output, descriptors included."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from dataflows import Flow, set_type
from dataflows import join as plain_join
from dataflows import join_with_self as plain_join_with_self
from dataflows import sort_rows as plain_sort_rows
from dataflows.base.exceptions import ProcessorError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflows_factory.processors.join import join, join_with_self

# 'set' is left out: its order follows string hashing, random per process in dataflows too.
AGGREGATES = ["sum", "avg", "median", "max", "min", "first", "last", "count", "any", "array", "counters"]
keys = st.sampled_from(["a", "b", "c", "d"])
sources = st.lists(st.fixed_dictionaries({"k": keys, "v": st.integers(-50, 50) | st.none(),
                                          "w": st.sampled_from(["x", "y", "z"])}), min_size=1, max_size=25)
targets = st.lists(st.fixed_dictionaries({"k": keys, "t": st.integers(0, 9)}), min_size=1, max_size=10)


def _run(steps: list[Any]) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]]]:
    results, package, _ = Flow(*steps).results()
    return results, package.descriptor["resources"]


def _outcome(steps: list[Any]) -> Any:
    # dataflows itself fails on some combinations (an avg of integers is not an integer):
    # then both must fail the same way, at the same row.
    try:
        return _run(steps)
    except ProcessorError as error:
        cause = error.cause
        return type(cause).__name__, getattr(cause, "row", None), getattr(cause, "index", None)


# Key specs: a field list, templates with literal text and a format spec, and ones the
# compiled key leaves to str.format (a conversion, an attribute).
KEY_SPECS = [["k"], "{k}", "{k}-{k}:", "{k:>3}", "{k!r}", "{k.upper}"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources, targets, st.sampled_from(["inner", "half-outer", "full-outer"]),
       st.lists(st.sampled_from(AGGREGATES), min_size=1, max_size=4), st.booleans(),
       st.sampled_from(KEY_SPECS))
def test_same_output_as_dataflows(source: list[dict[str, Any]], target: list[dict[str, Any]], mode: str,
                                  aggregates: list[str], source_delete: bool, key: Any) -> None:
    """Random tables, every mode, random aggregates and key specs: same rows and descriptors."""
    fields = {f"f{i}": {"name": "w" if agg == "counters" else "v", "aggregate": agg}
              for i, agg in enumerate(aggregates)}
    outputs = []
    for impl in (plain_join, join):
        steps = [copy.deepcopy(source), copy.deepcopy(target),
                 impl("res_1", key, "res_2", key, copy.deepcopy(fields), mode=mode,
                      source_delete=source_delete)]
        outputs.append(_outcome(steps))
    assert outputs[1] == outputs[0]


@settings(max_examples=40, deadline=None)
@given(sources, st.lists(st.sampled_from(AGGREGATES), min_size=1, max_size=3))
def test_join_with_self_same_as_dataflows(source: list[dict[str, Any]], aggregates: list[str]) -> None:
    """join_with_self (deduplication): same groups, in the same (sorted key) order."""
    fields = {f"f{i}": {"name": "w" if agg == "counters" else "v", "aggregate": agg}
              for i, agg in enumerate(aggregates)}
    outputs = [_outcome([copy.deepcopy(source), impl("res_1", "{k}", copy.deepcopy(fields))])
               for impl in (plain_join_with_self, join_with_self)]
    assert outputs[1] == outputs[0]


CHARACTERS = [
    {"first_name": "Jaime", "house": "Lannister", "last_name": "Lannister", "age": 34},
    {"first_name": "Tyrion", "house": "Lannister", "last_name": "Lannister", "age": 27},
    {"first_name": "Cersei", "house": "Lannister", "last_name": "Lannister", "age": 34},
    {"first_name": "Jon", "house": "Stark", "last_name": "Snow", "age": 17},
    {"first_name": "Sansa", "house": "Stark", "last_name": "Stark", "age": 14},
    {"first_name": "Rickon", "house": "Stark", "last_name": "Stark", "age": 5},
    {"first_name": "Arya", "house": "Stark", "last_name": "Stark", "age": 11},
    {"first_name": "Bran", "house": "Stark", "last_name": "Stark", "age": 10},
    {"first_name": "Daenerys", "house": "Targaryen", "last_name": "Targaryen", "age": 16},
]
HOUSES = [{"house": f"House of {h}"} for h in
          ("Lannister", "Greyjoy", "Stark", "Targaryen", "Martell", "Tyrell")]


def test_dataflows_join_case() -> None:
    """dataflows' test_join: key templates, full=False, max/avg/last/any/count/counters."""
    with pytest.warns(UserWarning):
        step = join("res_1", "House of {house}", "res_2", "{house}", {
            "max_age": {"name": "age", "aggregate": "max"},
            "avg_age": {"name": "age", "aggregate": "avg"},
            "representative": {"name": "first_name", "aggregate": "last"},
            "representative_age": {"name": "age"},
            "number_of_characters": {"aggregate": "count"},
            "last_names": {"name": "last_name", "aggregate": "counters"},
        }, full=False, source_delete=True)
    results, _ = _run([copy.deepcopy(CHARACTERS), set_type("age", type="number"), HOUSES, step])
    assert [r["house"] for r in results[0]] == ["House of Lannister", "House of Stark", "House of Targaryen"]
    lannister, stark = results[0][0], results[0][1]
    assert lannister["avg_age"] == Decimal("31.66666666666666666666666667")
    assert lannister["number_of_characters"] == 3 and lannister["representative"] == "Cersei"
    assert stark["last_names"] == [("Stark", 4), ("Snow", 1)] and stark["avg_age"] == Decimal("11.4")


def test_dataflows_join_with_self_case() -> None:
    """dataflows' test_join, second part: youngest of each house with '*' and 'first'."""
    results, _ = _run([
        copy.deepcopy(CHARACTERS), set_type("age", type="number"), plain_sort_rows("{age:02}"),
        join_with_self("res_1", "{house}", {"the_house": {"name": "house"}, "*": {"aggregate": "first"}}),
        plain_sort_rows("{the_house}")])
    assert results[0] == [
        {"the_house": "Lannister", "first_name": "Tyrion", "last_name": "Lannister", "age": Decimal("27")},
        {"the_house": "Stark", "first_name": "Rickon", "last_name": "Stark", "age": Decimal("5")},
        {"the_house": "Targaryen", "first_name": "Daenerys", "last_name": "Targaryen",
         "age": Decimal("16")},
    ]


def test_dataflows_join_full_outer_case() -> None:
    """dataflows' test_join_full_outer: unmatched source keys become rows with the key copied."""
    population = [{"id": 1, "population": 8}, {"id": 2, "population": 2}, {"id": 4, "population": 3}]
    cities = [{"id": 1, "city": "london"}, {"id": 2, "city": "paris"}, {"id": 3, "city": "rome"}]
    results, _ = _run([population, cities,
                       join("res_1", ["id"], "res_2", ["id"], {"population": {"name": "population"}},
                            mode="full-outer")])
    assert results[0] == [
        {"id": 1, "city": "london", "population": 8},
        {"id": 2, "city": "paris", "population": 2},
        {"id": 3, "city": "rome", "population": None},
        {"id": 4, "city": None, "population": 3},
    ]


def test_key_expression() -> None:
    """Plain-name templates compile to concatenations; anything else keeps str.format."""
    from dataflows_factory.processors.join import _key_expression

    assert _key_expression("{k}") == "(k0 if type(k0 := row['k']) is str else format(k0, ''))"
    assert _key_expression("{#}:{k:>3}") == \
        "(k0 if type(k0 := number) is str else format(k0, '')) + ':' + format(row['k'], '>3')"
    assert _key_expression("") == "''"
    for spec in ("{k!r}", "{k.upper}", "{k[0]}", "{}", "{0}", "{k:{w}}", "{"):
        assert _key_expression(spec) is None


def test_row_number_key() -> None:
    """The '{#}' key (row number) joins row by row, as in dataflows."""
    left = [{"x": i} for i in range(5)]
    right = [{"y": i * 10} for i in range(5)]
    outputs = [_run([copy.deepcopy(left), copy.deepcopy(right),
                     impl("res_1", "{#}", "res_2", "{#}", {"x": None})])
               for impl in (plain_join, join)]
    assert outputs[1] == outputs[0]
    assert [r["x"] for r in outputs[1][0][0]] == [0, 1, 2, 3, 4]
