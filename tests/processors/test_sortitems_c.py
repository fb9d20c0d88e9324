"""The C item codec builds exactly the generated Python code's items, and decodes them alike.

Every difference would change a sort's order or its rows, so items are compared byte for
byte, rows by type and repr (NaN is not equal to itself), and errors by type.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflows_factory.processors import _sortitems
from dataflows_factory.processors._sortitems import ItemCodec
from dataflows_factory.processors.sort import key_source, plain_key_fields

C = _sortitems._c


def test_module_is_built() -> None:
    assert C is not None, "the C module _sortitems_c is not built (see DFF_C_EXTENSION in the README)"


texts = st.text(st.characters(exclude_categories=()), max_size=6)  # NUL and lone surrogates too
plain = st.one_of(texts, st.integers(), st.floats(), st.booleans(), st.none(), st.binary(max_size=4))
decimals = st.one_of(st.none(), st.decimals(), st.decimals(places=2, min_value=-100, max_value=100),
                     st.sampled_from([Decimal("-1e-400"), Decimal("-0"), Decimal("1e999")]))
dates = st.one_of(st.none(), st.dates())
others = st.one_of(st.datetimes(), st.lists(st.integers(), max_size=2), decimals, dates, plain)
KINDS = {"plain": plain, "decimal": decimals, "date": dates, "other": others}


@st.composite
def tables(draw: Any) -> tuple[list[dict[str, Any]], object]:
    """Rows of one to three shapes (field order and value kinds), and a key over their fields."""
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=4, unique=True))
    shapes = []
    for _ in range(draw(st.integers(1, 3))):
        order = draw(st.permutations(names))
        shapes.append([(name, draw(st.sampled_from(sorted(KINDS)))) for name in order])
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        shape = draw(st.sampled_from(shapes))
        rows.append({name: draw(KINDS[kind]) for name, kind in shape})
    fields = draw(st.lists(st.sampled_from(names), min_size=0, max_size=3))
    key: object = draw(st.sampled_from(["".join(f"{{{n}}}" for n in fields), fields]))
    return rows, key


def _codec_result(rows: list[dict[str, Any]], key: Any, start: int, c: bool) -> Any:
    """Items and rows of ``rows`` encoded twice (the second block goes through the block
    encoders, the C one where it is on), or the error's type."""
    with mock.patch.object(_sortitems, "_c", _sortitems._c if c else None):
        codec = ItemCodec(key_source(key), plain_key_fields(key))
        try:
            codec.encode_block([dict(r) for r in rows], start)
            items = codec.encode_block([dict(r) for r in rows], start)
        except Exception as error:  # the same error either way
            return type(error)
        decoded = codec.decode_block(sorted(items))
        return items, [(type(r), repr(r), [type(v) for v in r.values()]) for r in decoded]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.sampled_from([0, 7, 2**32 - 3, 2**40]))
def test_c_items_and_rows_are_the_python_ones(table: tuple[list[dict[str, Any]], object], start: int) -> None:
    rows, key = table
    assert _codec_result(rows, key, start, c=True) == _codec_result(rows, key, start, c=False)


ROW = {"id": 1, "city": "Zürich\0x", "country": "CH", "population": 415_000,
       "date": datetime.date(2001, 2, 3), "value": Decimal("-0.50")}
NAMES, KIND_CODES = tuple(ROW), b"ppppt" b"d"


def test_c_encodes_the_common_shape_itself() -> None:
    """The benchmarks' shape (ints, text with NUL and non-ASCII, a date, a Decimal) is done
    in C, not handed back: the items are the generated code's."""
    items = C.encode_block([dict(ROW)], 5, NAMES, KIND_CODES, (2, 3, 1), 1)
    assert items is not None
    codec = ItemCodec(key_source("{country}{population}{city}"), ("country", "population", "city"))
    with mock.patch.object(_sortitems, "_c", None):
        codec.encode_block([dict(ROW)], 0)  # compiles shape 1
        assert items == codec.encode_block([dict(ROW)], 5)
    assert C.decode_block(items, [None, (NAMES, KIND_CODES)]) == [ROW]


@pytest.mark.parametrize("row", [
    {**ROW, "population": 10**400},          # float() overflows: Python raises
    {**ROW, "population": Decimal("NaN")},   # NaN < 0 raises
    {**ROW, "country": "\ud800"},            # a lone surrogate: Python's surrogatepass
    {**ROW, "population": None},             # key text 'None'
    {**ROW, "date": datetime.datetime(2001, 2, 3)},  # a date subclass: pickled
    {**ROW, "value": 1.5},                   # not a Decimal
    {"city": "x", **ROW},                    # other field order
    {**ROW, "extra": 1},                     # other fields
])
def test_c_hands_back_what_it_does_not_encode(row: dict[str, Any]) -> None:
    assert C.encode_block([dict(ROW), row], 0, NAMES, KIND_CODES, (2, 3), 1) is None


def test_c_hands_back_row_numbers_it_does_not_write() -> None:
    assert C.encode_block([dict(ROW)], -1, NAMES, KIND_CODES, (2,), 1) is None
    assert C.encode_block([dict(ROW)] * 2, 2**64 - 1, NAMES, KIND_CODES, (2,), 1) is None
    (item,) = C.encode_block([dict(ROW)], 2**40, NAMES, KIND_CODES, (2,), 1)
    assert item.startswith(b"CH%x\0\0" % 2**40)


def test_c_rejects_bad_arguments_and_bad_items() -> None:
    with pytest.raises(TypeError):
        C.encode_block((), 0, NAMES, KIND_CODES, (2,), 1)
    with pytest.raises(ValueError):
        C.encode_block([], 0, NAMES, b"p", (2,), 1)
    with pytest.raises(ValueError):
        C.encode_block([], 0, NAMES, KIND_CODES, (9,), 1)
    shapes = [None, (NAMES, KIND_CODES)]
    good = C.encode_block([dict(ROW)], 0, NAMES, KIND_CODES, (2,), 1)
    for bad in ([b"no separator"], [b"k\0\0not marshal"], ["text"], [good[0][:-3]],
                [good[0].replace(b"\0\0)", b"\0\0)", 1)[:12]]):
        assert C.decode_block(bad, shapes) is None
    assert C.decode_block(good, [None, None]) is None  # a shape Python decodes
    assert C.decode_block(good, [None]) is None        # an unknown shape number



def _wide_row() -> dict[str, Any]:
    """Values at each edge of marshal's codes: ints around 32 and 60 bits, ASCII text of 255
    and 256 characters, non-ASCII, bytes, floats, shared objects (marshal's references, more
    than the C reader keeps), and 120 fields."""
    shared = "shared text"
    values: list[Any] = [0, 1, -1, 2**31 - 1, -(2**31), 2**31, -(2**31) - 1, 2**45, -(2**59),
                         2**60 - 1, -(2**60) + 1, 2**60, 2**64, -(2**100), 0.0, -0.0, float("inf"),
                         float("nan"), 1e-300, "", "a" * 255, "b" * 256, "é" * 300, "\ud800x", "\0",
                         b"", b"\0\xff" * 200, True, False, None, shared, shared, shared, 7, 7]
    values += [f"v{i}" if i % 3 else i * 1_000_003 for i in range(120 - len(values))]
    return {f"f{i}": value for i, value in enumerate(values)}


def test_c_reads_every_marshal_code_it_meets_as_marshal_does() -> None:
    row = _wide_row()
    for key in (["f3"], ["f31", "f21"]):
        assert _codec_result([row, row], key, 0, c=True) == _codec_result([row, row], key, 0, c=False)
    # Whole (past the references the C reader keeps: marshal reads it), in rows of 6 (with
    # references), and one value a row (the C reader's, but for ints past 60 bits).
    fields = list(row.items())
    for part in [fields] + [fields[i:i + 6] for i in range(0, len(fields), 6)] + [[f] for f in fields]:
        names = tuple(name for name, _ in part)
        kinds = b"p" * len(names)
        items = C.encode_block([dict(part)], 0, names, kinds, (), 1)
        assert items is not None
        (decoded,) = C.decode_block(items, [None, (names, kinds)])
        assert repr(decoded) == repr(dict(part))
        assert [type(v) for v in decoded.values()] == [type(v) for _, v in part]


@pytest.mark.parametrize("width", [256, 257, 300])
def test_rows_wider_than_the_c_module_sort_in_python(width: int) -> None:
    """The C module keeps at most 256 fields a row (and key terms): wider rows are the
    Python code's, with the same items, and sort in dataflows' order."""
    from dataflows import Flow
    from dataflows import sort_rows as plain_sort_rows

    from dataflows_factory.processors.sort import sort_rows

    rows = [{f"f{i}": f"{(n * 7 + i) % 5}" if i % 2 else (n * 3 + i) % 4 for i in range(width)}
            for n in range(40)]
    key = [f"f{i}" for i in range(width)]
    items = C.encode_block([dict(r) for r in rows], 0, tuple(rows[0]), b"p" * width, tuple(range(width)), 1)
    assert (items is None) == (width > 256)
    assert _codec_result(rows, key, 0, c=True) == _codec_result(rows, key, 0, c=False)
    expected = list(Flow([dict(r) for r in rows], plain_sort_rows(key)).results()[0][0])
    assert list(Flow([dict(r) for r in rows], sort_rows(key)).results()[0][0]) == expected
