"""Schema inference with the fast type guesser gives exactly tableschema's own schema."""

from __future__ import annotations

import _strptime  # type: ignore[import-not-found]
import datetime
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tableschema.schema
from dataflows import Flow, load
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tableschema import Schema

from benchmarks import generate as benchmark_data
from dataflows_factory._dataflows import FastTypeGuesser, PlainTypeGuesser, _infer, guess_types_faster
from dataflows_factory.flow import normalize_steps

INFER_FORMATS = list(tableschema.schema._INFER_DATE_FORMATS)
MISSING = [[""], ["", "NA"], ["-", "null"], [], ["", " "]]
PADS = ["", " ", "\t", "x"]  # around a value: whitespace some casts strip, a letter none does

# -- values biased to the shapes the casts disagree on ---------------------------------------

FIXED = [
    "", " ", "NA", "null", "-", "NaN", "nan", "-nan", "sNaN", "inf", "-inf", "+Infinity", "Infinity",
    "1e5", "1E-3", "-1.5e+10", "0x10", "1_000", "1__0", "_1", "1,000", "1,000.50", "1 000", "$12", "12%",
    "١٢٣", "٣.١٤", "²", "true", "True", "TRUE", "false", "False", "FALSE", "1", "0", " 1 ", "yes",
    "no", "t", "f", "{}", "[]", "{ }", " []", " {}", "\n{}", "\t[1]", '{"a": 1}', "[1, 2]", '"x"',
    "\ufeff{}",
    '{"type": "Point", "coordinates": [1, 2]}', '{"lon": 1, "lat": 2}', "1,2", " 10 , 20 ",
    "200,100", "1,2,3", ",", "1,", "P1D", "p1d", "-P1Y2M", "+PT1H", "PT1.5S", "P", "PT",
    "P0001-02-03T04:05:06", "P2W", "1P", "2021", "0000", "2021-01", "2021-13", "2021-02-30",
    "2021-02-28", "2020-02-29", "2021-02-29", "29/02/2020", "02/29/2021", "31/12/99", "1/2/3",
    " 1/02/2021", "20210101", "20211301", "2021/01/02", "01.02.2021", "01.02.21", "01-02-21",
    "2021-01-01T10:00:00Z", "2021-01-01t10:00:00z", "2021-01-01T10:00:00", "2021-01-01 10:00:00",
    "10:00:00", "24:00:00", "23:59:60", "9:5:3", "10:00", "tableschema.error", "a@b.co",
    "city-969031", "C05", "é", "日本", "\n", "1\n", "\t2\t",
]


def _padded(number: int, width: int, pad: bool) -> str:
    return f"{number:0{width}d}" if pad else str(number)


@st.composite
def _raw_dates(draw: st.DrawFn) -> str:
    """Date-shaped text in an infer format, valid or not (2021-02-30, month 13, no padding)."""
    year, month, day = draw(st.integers(0, 2100)), draw(st.integers(0, 13)), draw(st.integers(0, 32))
    pad = draw(st.booleans())
    parts = {"%Y": _padded(year, 4, pad), "%y": _padded(year % 100, 2, pad),
             "%m": _padded(month, 2, pad), "%d": _padded(day, 2, pad)}
    text = draw(st.sampled_from(INFER_FORMATS))
    for directive, part in parts.items():
        text = text.replace(directive, part)
    return text


@st.composite
def _raw_times(draw: st.DrawFn) -> str:
    """H:M:S text, in range or not, padded or not, sometimes a date and 'T' before it."""
    hour, minute, second = draw(st.integers(0, 25)), draw(st.integers(0, 61)), draw(st.integers(0, 61))
    pad = draw(st.booleans())
    text = ":".join(_padded(n, 2, pad) for n in (hour, minute, second))
    prefix = draw(st.sampled_from(["", "2021-01-01T", "2021-02-30T", "2021-01-01t"]))
    return prefix + text + draw(st.sampled_from(["", "Z", "z", " "]))


def _dates_in(formats: list[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda d, f: d.strftime(f), st.dates(min_value=datetime.date(1000, 1, 1)),
                     st.sampled_from(formats))


def _numbers() -> st.SearchStrategy[str]:
    plain = st.one_of(st.integers(-(10**12), 10**12).map(str),
                      st.floats(allow_nan=True, allow_infinity=True).map(repr),
                      st.decimals(allow_nan=True, allow_infinity=True).map(str),
                      st.integers(0, 10**9).map(lambda n: f"{n:,}"),
                      st.integers(0, 10**9).map(lambda n: f"{n:_}"))
    signs = st.sampled_from(["", "-", "+", " ", "$", "€ ", "(", "--"])
    ends = st.sampled_from(["", " ", "%", "€", ")", "e", "e3", ".", "\n"])
    return st.builds(lambda s, n, e: s + n + e, signs, plain, ends)


def _values() -> st.SearchStrategy[str]:
    shapes = st.one_of(
        st.sampled_from(FIXED), _numbers(), _raw_dates(), _raw_times(), _dates_in(INFER_FORMATS),
        st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")),
        st.times().map(lambda t: t.strftime("%H:%M:%S")),
        st.integers(0, 9999).map(str),
        st.builds("{}-{:02d}".format, st.integers(0, 9999), st.integers(0, 13)),
        st.builds("{},{}".format, st.integers(-200, 200), st.floats(-100, 100)),
        st.builds("P{}D".format, st.integers(0, 99)), st.text(max_size=6),
    )
    pads = st.sampled_from(PADS)
    return st.one_of(shapes, st.builds(lambda p, v, q: p + v + q, pads, shapes, pads))


VALUES = _values()


@st.composite
def _tables(draw: st.DrawFn) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows, some rows shorter or longer than the headers, columns of one shape."""
    width = draw(st.integers(1, 4))
    headers = draw(st.lists(st.sampled_from(["a", "b", "", "id", "a"]), min_size=width, max_size=width))
    columns = [draw(st.lists(VALUES, min_size=1, max_size=4)) for _ in range(width)]
    rows = []
    for _ in range(draw(st.integers(0, 25))):
        length = draw(st.sampled_from([width] * 4 + [0, width - 1, width + 1]))
        rows.append([draw(st.sampled_from(columns[i % width])) for i in range(length)])
    return headers, rows


# -- inference with the patch off and on ----------------------------------------------------

def _inferred(guesser: type, headers: list[str] | int, rows: list[list[Any]], missing: list[str],
              confidence: float) -> dict[str, Any]:
    """Schema.infer's descriptor with ``guesser`` as tableschema's ``_TypeGuesser``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tableschema.schema, "_TypeGuesser", guesser)
        descriptor: dict[str, Any] = Schema({"missingValues": missing}).infer(
            [list(row) for row in rows], headers=headers, confidence=confidence)
    return descriptor


def _both(headers: list[str] | int, rows: list[list[Any]], missing: list[str],
          confidence: float) -> tuple[str, str]:
    """repr() of the plain and the fast descriptor (repr: key order and field order count)."""
    plain = _inferred(PlainTypeGuesser, headers, rows, missing, confidence)
    fast = _inferred(FastTypeGuesser, headers, rows, missing, confidence)
    return repr(plain), repr(fast)


def test_every_listed_shape_gets_the_same_guesses_in_the_same_order() -> None:
    """Each listed tricky value, bare and padded, with each set of missing values: the same guesses."""
    for missing in MISSING:
        plain, fast = PlainTypeGuesser(missing), FastTypeGuesser(missing)
        for value in FIXED:
            for padded in {p + value + q for p in PADS for q in PADS}:
                assert list(fast.cast(padded)) == list(plain.cast(padded)), (padded, missing)


@settings(max_examples=1500, deadline=None)
@given(VALUES, st.sampled_from(MISSING))
def test_each_value_gets_the_same_guesses_in_the_same_order(value: str, missing: list[str]) -> None:
    """For any value and missing values, the fast guesser yields tableschema's guesses, in order."""
    expected = list(PlainTypeGuesser(missing).cast(value))
    guesser = FastTypeGuesser(missing)
    assert list(guesser.cast(value)) == expected
    assert list(guesser.cast(value)) == expected  # the remembered guesses too


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_tables(), st.sampled_from(MISSING), st.sampled_from([0.0, 0.5, 0.75, 0.9, 1.0]))
def test_random_tables_infer_the_same_descriptor(table: tuple[list[str], list[list[Any]]],
                                                 missing: list[str], confidence: float) -> None:
    """Random tables (short and long rows, repeated values, any confidence): the same descriptor."""
    headers, rows = table
    plain, fast = _both(headers, rows, missing, confidence)
    assert fast == plain


@settings(max_examples=100, deadline=None)
@given(_tables(), st.sampled_from(MISSING))
def test_headers_read_from_the_first_row_infer_the_same_descriptor(
        table: tuple[list[str], list[list[Any]]], missing: list[str]) -> None:
    """With headers=1 (the header row inside the rows): the same descriptor."""
    headers, rows = table
    plain, fast = _both(1, [headers, *rows], missing, 0.75)
    assert fast == plain


def test_values_that_are_not_str_take_tableschemas_own_path() -> None:
    """Ints, floats, bools, None, dates and a str subclass: the same guesses as tableschema."""
    class Text(str):
        pass

    values: list[Any] = [1, 1.0, True, False, 0, None, 2.5, float("nan"), datetime.date(2021, 1, 2),
                         datetime.datetime(2021, 1, 2), [1, 2], {"a": 1}, Text("2021-01-02"), b"1"]
    guesser = FastTypeGuesser([""])
    for value in values:
        assert list(guesser.cast(value)) == list(PlainTypeGuesser([""]).cast(value)), value
    rows = [[v, "1"] for v in values]
    assert _both(["x", "y"], rows, [""], 0.75)[1] == _both(["x", "y"], rows, [""], 0.75)[0]


@pytest.fixture
def strptime_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The texts datetime.strptime is called with, in order."""
    calls: list[str] = []
    original: Callable[..., Any] = _strptime._strptime_datetime

    def counting(cls: type, text: str, format: str = "%a %b %d %H:%M:%S %Y") -> Any:
        calls.append(text)
        return original(cls, text, format)

    monkeypatch.setattr(_strptime, "_strptime_datetime", counting)
    yield calls


def test_texts_no_format_can_match_skip_strptime(strptime_calls: list[str]) -> None:
    """A word, a number and a time call strptime only for formats whose regex they match."""
    guesser = FastTypeGuesser([""])
    for value in ("Berlin", "-746.580", "10:00:00", "2021-02-30", "2021-01-02"):
        list(guesser.cast(value))
    # 10:00:00 is only a time; 2021-02-30 matches %Y-%m-%d's regex (strptime then refuses it).
    assert strptime_calls == ["10:00:00", "2021-02-30", "2021-01-02"]
    list(PlainTypeGuesser([""]).cast("Berlin"))
    assert len(strptime_calls) == 3 + 12  # tableschema's own tries every format


def test_the_checks_rely_on_verified_versions() -> None:
    """The strptime and duration checks are on: this Python and isodate are the verified ones."""
    assert sys.version_info[:2] in _infer._STRPTIME_PYTHONS
    assert _infer._isodate_verified()
    names = [step[0] for step in _infer._steps() if step[4] is None]
    assert names == ["number", "boolean", "string", "any"]


# -- the benchmark's table, as load reads it -------------------------------------------------

BENCHMARK_SCHEMA = [("id", "integer", "default"), ("city", "string", "default"),
                    ("country", "string", "default"), ("population", "integer", "default"),
                    ("date", "date", "%Y-%m-%d"), ("value", "number", "default")]


def _loaded_fields(path: str) -> list[tuple[str, str, str]]:
    """(name, type, format) of each field a load of ``path`` infers."""
    datapackage = Flow(load(path)).results()[1]
    fields = datapackage.descriptor["resources"][0]["schema"]["fields"]
    return [(f["name"], f["type"], f["format"]) for f in fields]


def test_benchmark_file_schema_is_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmarks' 1,000-row cities file: the same schema as tableschema's guesser infers,
    once a factory's load has installed the fast guesser."""
    monkeypatch.setattr(benchmark_data, "DATA", str(tmp_path))
    path = benchmark_data.generate(1000)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tableschema.schema, "_TypeGuesser", PlainTypeGuesser)
        plain = _loaded_fields(path)

    monkeypatch.delenv("DFF_FAST_PATHS", raising=False)
    normalize_steps("cities", [load(path)])  # a factory's flow: the fast paths are installed
    guess_types_faster()  # idempotent: installed once whatever the number of calls
    assert tableschema.schema._TypeGuesser is FastTypeGuesser
    assert plain == BENCHMARK_SCHEMA
    assert _loaded_fields(path) == plain
