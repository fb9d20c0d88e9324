"""Compiled casting (load) and the fast dumper write byte-identical datasets to dataflows'."""

from __future__ import annotations

import csv
import filecmp
import json
import os
from typing import Any

import pytest
from dataflows import Flow, add_computed_field, dump_to_path, filter_rows, load
from dataflows.base.exceptions import ProcessorError
from dataflows.base.schema_validator import ValidationError, schema_validator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflows_factory._dataflows import stream
from dataflows_factory.processors._casting import fast_schema_validator
from dataflows_factory.processors.csv_reader import install
from dataflows_factory.processors.dump import dump_to_path as fast_dump_to_path

# Cells as they appear in real CSVs: clean values, padded ones, empties and near-misses
# ("1.", "2020-13-01", " 7") that must take tableschema's own path.
cells = st.one_of(
    st.integers(-(10**15), 10**15).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-(10**6), max_value=10**6)
    .map(str),
    st.dates().map(lambda d: d.isoformat()),
    st.sampled_from(["", " ", " 7", "1.", "-0", "007", "1e3", "2020-13-01", "true", "False", "x y"]),
    st.text(alphabet="abc ,\"\n\té", max_size=6),
)
columns = st.sampled_from(["int", "num", "date", "mixed"])


def _column(kind: str) -> Any:
    # Each typed column also draws strings that int()/Decimal()/fromisoformat() read
    # differently from tableschema (or not at all): the compiled CSV path must hand them on.
    return {
        "int": st.integers(-(10**6), 10**6).map(str)
        | st.sampled_from(["", "12", " 7", "+5", "1_000", "\u0663", "1 000", "1.0", "x"]),
        "num": st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-999,
                           max_value=999).map(str)
        | st.sampled_from(["", "1 000.5", "NaN", "-Infinity", "1E+3", " 2.5", "-0", "1_0.5", "\u0663.5"]),
        "date": st.dates().map(lambda d: d.isoformat())
        | st.sampled_from(["", "\uff12\uff10\uff12\uff10-01-01", "2020-1-05", " 2020-01-01", "0999-01-01",
                           "2020-02-30", "2020-W01-1", "20200105"]),
        "mixed": cells,
    }[kind]


@st.composite
def tables(draw: Any) -> list[list[str]]:
    kinds = draw(st.lists(columns, min_size=1, max_size=5))
    rows = draw(st.lists(st.tuples(*[_column(k) for k in kinds]), min_size=1, max_size=40))
    header = [f"{k}_{i}" for i, k in enumerate(kinds)]
    return [header, *[list(r) for r in rows]]


def _dump(tmp: str, name: str, table: list[list[str]], fast: bool,
          reader: bool = False) -> tuple[str, Exception | None]:
    src = os.path.join(tmp, "in.csv")
    with open(src, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(table)
    out = os.path.join(tmp, name)
    step = load(src, name="t")
    if fast:  # what factories do: cast and strip in one compiled pass
        step.strip = False
        step.caster = lambda res, it: fast_schema_validator(res, it, strip=True)
        if reader:  # and build typed rows straight from the csv records
            install(step)
    else:
        step.caster = lambda res, it: schema_validator(res, it)
    dumper = fast_dump_to_path(out) if fast else dump_to_path(out)
    try:
        Flow(step, add_computed_field(target={"name": "c", "type": "string"},
                                      operation=lambda row: f"{len(row)}"), dumper).process()
    except ProcessorError as error:
        return out, error.cause
    return out, None


def _same_dataset(left: str, right: str) -> None:
    descriptors = []
    for folder in (left, right):
        with open(os.path.join(folder, "datapackage.json")) as handle:
            descriptors.append(json.load(handle))
    assert descriptors[0] == descriptors[1]
    assert filecmp.cmp(os.path.join(left, "t.csv"), os.path.join(right, "t.csv"), shallow=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(table=tables())
def test_same_dataset_or_same_error(tmp_path_factory: pytest.TempPathFactory, table: list[list[str]]) -> None:
    """Any table: the same descriptor and CSV bytes, or the same error at the same row."""
    tmp = str(tmp_path_factory.mktemp("eq"))
    plain, plain_error = _dump(tmp, "plain", table, fast=False)
    for name, reader in (("fast", False), ("fast_csv", True)):
        fast, fast_error = _dump(tmp, name, table, fast=True, reader=reader)
        assert type(fast_error) is type(plain_error)
        if plain_error is None:
            _same_dataset(plain, fast)
        elif isinstance(plain_error, ValidationError):
            assert isinstance(fast_error, ValidationError)
            assert (fast_error.index, str(fast_error.cast_error)) == \
                (plain_error.index, str(plain_error.cast_error))


def test_typed_values_round_trip(tmp_path: Any) -> None:
    """Python-typed rows (ints, floats, Decimals, dates, bools, None, lists) dump identically."""
    import datetime
    from decimal import Decimal

    rows = [{"i": 1, "f": 1e20, "d": Decimal("2.50"), "day": datetime.date(2020, 2, 29), "b": True,
             "n": None, "a": [1, "x"], "s": "  padded "},
            {"i": -3, "f": 0.1, "d": Decimal("-0"), "day": None, "b": False, "n": None, "a": [], "s": ""}]
    for impl, name in ((dump_to_path, "plain"), (fast_dump_to_path, "fast")):
        Flow([dict(r) for r in rows], impl(str(tmp_path / name))).process()
    assert filecmp.cmp(tmp_path / "plain" / "res_1.csv", tmp_path / "fast" / "res_1.csv", shallow=False)


def test_bad_value_raises_like_dataflows(tmp_path: Any) -> None:
    """A value that fails the schema only in the dumper raises ValidationError at the same row."""

    def retype(package: Any) -> Any:
        # Declare x an integer without casting it, so only the dumper's validation sees "nope".
        package.pkg.descriptor["resources"][0]["schema"]["fields"][0]["type"] = "integer"
        yield package.pkg
        yield from package

    errors = []
    for impl, name in ((dump_to_path, "plain"), (fast_dump_to_path, "fast")):
        with pytest.raises(ProcessorError) as caught:
            Flow([{"x": "1"}, {"x": "nope"}], retype, impl(str(tmp_path / name))).process()
        errors.append(caught.value.cause)
    assert all(isinstance(e, ValidationError) for e in errors)
    assert [(e.index, e.row) for e in errors] == [(1, {"x": "nope"})] * 2


def _rows(count: int) -> list[dict[str, Any]]:
    import datetime
    from decimal import Decimal

    rows: list[dict[str, Any]] = [
        {"i": n, "s": f"r{n}" + " x" * (n % 7), "d": Decimal(n) / 8,
         "day": datetime.date(2000, 1, 1 + n % 28)} for n in range(count)]
    return rows


def _spoil(row: dict[str, Any], odd_at: int | None, bad_at: int | None) -> None:
    # After the source cast: what reaches the dumper uncast (the dumper validates it).
    if row["i"] == odd_at:
        row["i"] = str(row["i"])  # cast by the dumper, then written
    elif row["i"] == bad_at:
        row["i"] = "nope"  # fails the dumper's validation


def _flow_dump(rows: list[dict[str, Any]], dumper: Any, keep: int | None = None,
               odd_at: int | None = None, bad_at: int | None = None) -> Exception | None:
    def retype(package: Any) -> Any:
        # Declare the types without casting, so the dumper validates what reaches it.
        fields = package.pkg.descriptor["resources"][0]["schema"]["fields"]
        for field, kind in zip(fields, ("integer", "string", "number", "date"), strict=True):
            field["type"] = kind
        yield package.pkg
        yield from package

    try:  # not Flow.process(), which logs a CastError and returns
        stream(Flow([dict(r) for r in rows], filter_rows(lambda row: keep is None or row["i"] < keep),
                    retype, lambda row: _spoil(row, odd_at, bad_at), dumper))
    except ProcessorError as error:
        return error.cause
    except Exception as error:  # the test compares what each dumper raises
        return error
    return None


@pytest.mark.parametrize(("count", "odd_at", "keep"),
                         [(5000, None, None), (5000, 3000, None), (1024, 1023, None), (1, None, None),
                          (3, None, 0)])
def test_many_blocks_byte_identical(tmp_path: Any, count: int, odd_at: int | None, keep: int | None) -> None:
    """Rows written a block at a time (a block with a row to cast goes row by row) make the
    same file, descriptor and hash as dataflows' row-by-row writer; no rows, a header alone."""
    rows = _rows(count)
    for impl, name in ((dump_to_path, "plain"), (fast_dump_to_path, "fast")):
        assert _flow_dump(rows, impl(str(tmp_path / name)), keep, odd_at) is None
    _same_dataset_named(str(tmp_path / "plain"), str(tmp_path / "fast"), "res_1.csv")
    assert [p.name for p in (tmp_path / "fast").iterdir()] == [p.name for p in (tmp_path / "plain").iterdir()]


def _same_dataset_named(left: str, right: str, name: str) -> None:
    descriptors = []
    for folder in (left, right):
        with open(os.path.join(folder, "datapackage.json")) as handle:
            descriptors.append(json.load(handle))
    assert descriptors[0] == descriptors[1]
    assert filecmp.cmp(os.path.join(left, name), os.path.join(right, name), shallow=False)


def test_error_in_a_later_block_names_its_row_and_leaves_no_file(tmp_path: Any) -> None:
    """A bad value at row 3000 raises at index 3000 as dataflows does, and the output folder
    keeps no partial or temporary file."""
    errors = []
    for impl, name in ((dump_to_path, "plain"), (fast_dump_to_path, "fast")):
        error = _flow_dump(_rows(5000), impl(str(tmp_path / name)), bad_at=3000)
        assert isinstance(error, ValidationError)
        errors.append((error.index, str(error.cast_error)))
    assert errors[0] == errors[1] and errors[0][0] == 3000
    assert list((tmp_path / "fast").iterdir()) == []


def test_large_rows_are_written_in_small_blocks(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows of 300 KB each: a block holds a few of them, not a thousand."""
    from dataflows_factory.processors import dump

    sizes: list[int] = []
    original = dump._CSVWriter.__init__

    def spy(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        block = self.write_block
        self.write_block = lambda rows, start: (sizes.append(len(rows)), block(rows, start))[1]

    monkeypatch.setattr(dump._CSVWriter, "__init__", spy)
    rows = [{"i": n, "s": "x" * 300_000, "d": None, "day": None} for n in range(40)]
    assert _flow_dump(rows, fast_dump_to_path(str(tmp_path / "fast"))) is None
    assert _flow_dump(rows, dump_to_path(str(tmp_path / "plain"))) is None
    _same_dataset_named(str(tmp_path / "plain"), str(tmp_path / "fast"), "res_1.csv")
    assert sum(sizes) == 40 and max(sizes) <= 4


def test_subclass_with_its_own_output_gets_dataflows_ending(tmp_path: Any) -> None:
    """A dumper subclass that places files itself (write_file_to_output) is still called with
    a finished file, hashed and sized as dataflows does."""
    from dataflows_factory.processors.dump import FastPathDumper

    placed: list[tuple[str, bytes]] = []

    class Elsewhere(FastPathDumper):  # type: ignore[misc]
        def write_file_to_output(self, filename: str, path: str) -> None:
            with open(filename, "rb") as handle:
                placed.append((path, handle.read()))
            super().write_file_to_output(filename, path)

    rows = _rows(3000)
    assert _flow_dump(rows, Elsewhere(str(tmp_path / "fast"))) is None
    assert _flow_dump(rows, dump_to_path(str(tmp_path / "plain"))) is None
    _same_dataset_named(str(tmp_path / "plain"), str(tmp_path / "fast"), "res_1.csv")
    csv_files = [(os.path.normpath(path), data) for path, data in placed if path.endswith(".csv")]
    assert csv_files == [("res_1.csv", (tmp_path / "plain" / "res_1.csv").read_bytes())]
