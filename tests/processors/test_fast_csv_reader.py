"""The csv-module reader yields tabulator's rows, or hands over to tabulator, for any CSV file."""

from __future__ import annotations

import csv
import filecmp
import json
import os
from typing import Any

import pytest
from dataflows import Flow, dump_to_path, load
from dataflows.base.exceptions import ProcessorError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflows_factory.flow import normalize_steps
from dataflows_factory.processors.csv_reader import install
from dataflows_factory.processors.dump import dump_to_path as fast_dump_to_path

SETTINGS = settings(max_examples=50, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# Cells with the characters that make CSV irregular: separators, quotes, both newlines.
cell = st.text(alphabet='ab1 ,;"\n\r\té-', max_size=5) | st.integers(-999, 999).map(str)


def _read(path: str, fast: bool, **options: Any) -> tuple[Any, str]:
    """(rows and descriptor, or the error) of ``load(path)``, and which reader produced them."""
    step = load(path, name="t", **options)
    if fast:
        install(step)
    try:
        data, package, _ = Flow(step).results()
        result: Any = (data, package.descriptor)
    except ProcessorError as error:
        result = (type(error.cause), str(error.cause))
    iterators = getattr(step, "iterators", None) or [None]
    return result, type(iterators[0]).__name__


def _write(path: str, rows: list[list[str]], terminator: str = "\r\n", prefix: bytes = b"") -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator=terminator).writerows(rows)
    if prefix:
        with open(path, "rb") as handle:
            body = handle.read()
        with open(path, "wb") as handle:
            handle.write(prefix + body)


@SETTINGS
@given(header=st.lists(st.text(alphabet="abc ", min_size=1, max_size=3), min_size=1, max_size=4,
                       unique=True),
       body=st.lists(st.lists(cell, max_size=5), max_size=30),
       terminator=st.sampled_from(["\r\n", "\n", "\r"]))
def test_any_file_same_rows_or_same_error(tmp_path_factory: pytest.TempPathFactory, header: list[str],
                                          body: list[list[str]], terminator: str) -> None:
    """Ragged, blank, multi-line and quoted rows: the same rows and descriptor, or the same error."""
    path = os.path.join(str(tmp_path_factory.mktemp("any")), "in.csv")
    _write(path, [header, *body], terminator)
    assert _read(path, fast=True)[0] == _read(path, fast=False)[0]


@SETTINGS
@given(rows=st.lists(st.tuples(st.integers(-10**6, 10**6).map(str), cell, st.dates().map(str)),
                     min_size=1, max_size=40))
def test_regular_file_same_dataset_through_factory_path(tmp_path_factory: pytest.TempPathFactory,
                                                        rows: list[tuple[str, str, str]]) -> None:
    """A regular file dumps byte-identically: factory fast paths vs plain dataflows with a schema cast."""
    tmp = str(tmp_path_factory.mktemp("regular"))
    path = os.path.join(tmp, "in.csv")
    _write(path, [["id", "text", "day"], *[list(r) for r in rows]])
    plain = load(path, name="t", cast_strategy=load.CAST_WITH_SCHEMA)
    fast = normalize_steps("t", [load(path, name="t")])
    errors = []
    for steps, dumper in (([plain], dump_to_path(os.path.join(tmp, "plain"))),
                          (fast, fast_dump_to_path(os.path.join(tmp, "fast")))):
        try:
            Flow(*steps, dumper).process()
            errors.append("")
        except ProcessorError as error:
            errors.append(f"{type(error.cause).__name__}: {error.cause}")
    assert errors[0] == errors[1]
    if not errors[0]:
        descriptors = []
        for folder in ("plain", "fast"):
            with open(os.path.join(tmp, folder, "datapackage.json")) as handle:
                descriptors.append(json.load(handle))
        assert descriptors[0] == descriptors[1]
        assert filecmp.cmp(os.path.join(tmp, "plain", "t.csv"), os.path.join(tmp, "fast", "t.csv"),
                           shallow=False)


def test_plain_file_uses_the_reader(tmp_path: Any) -> None:
    """A plain utf-8 comma file is read by the csv reader, with rows equal to tabulator's."""
    path = str(tmp_path / "in.csv")
    _write(path, [["id", " name "], *[[str(i), f"n,{i}\né"] for i in range(2500)]])
    fast, used = _read(path, fast=True)
    assert used == "PlainCSVRows"
    assert fast == _read(path, fast=False)[0]
    assert fast[0][0][0]["name"] == "n,0\né"


@pytest.mark.parametrize("extra", [b"1,2,3\r\n", b"1\r\n", b"\r\n", b"\r\n\r\n7,8\r\n", b"9,\r\n"])
def test_irregular_rows_hand_over_mid_stream(tmp_path: Any, extra: bytes) -> None:
    """Past the sample, ragged and blank rows go to tabulator: same rows or same error."""
    path = str(tmp_path / "in.csv")
    _write(path, [["a", "b"], *[[str(i), "x"] for i in range(1500)]])
    with open(path, "ab") as handle:
        handle.write(extra + b"5,y\r\n")
    fast, used = _read(path, fast=True)
    assert used == "PlainCSVRows"
    assert fast == _read(path, fast=False)[0]


def test_bad_utf8_past_the_sample_raises_tabulators_error(tmp_path: Any) -> None:
    """Bytes that are not utf-8 far into the file raise tabulator's EncodingError message."""
    path = str(tmp_path / "in.csv")
    _write(path, [["a", "b"], *[[str(i), "x"] for i in range(3000)]])
    with open(path, "ab") as handle:
        handle.write(b"1,\xff\xfe\r\n")
    fast, used = _read(path, fast=True)
    assert used == "PlainCSVRows"
    assert fast == _read(path, fast=False)[0]
    assert "Cannot parse the source" in fast[1]


@pytest.mark.parametrize(("case", "options"), [
    ("bom", {}), ("latin1", {}), ("semicolon", {}), ("blank_header", {}), ("short_first_row", {}),
    ("plain", {"skip_rows": [1]}), ("plain", {"headers": 1}), ("plain", {"encoding": "utf-8"}),
    ("plain", {"delimiter": ","}), ("gzip", {}),
])
def test_irregular_files_and_options_stay_with_tabulator(tmp_path: Any, case: str,
                                                         options: dict[str, Any]) -> None:
    """BOM, other encodings and dialects, header oddities and any stream option: tabulator reads."""
    path = str(tmp_path / "in.csv")
    rows = [["a", "b", "c"], *[[str(i), "é", "z"] for i in range(50)]]
    if case == "bom":
        _write(path, rows, prefix=b"\xef\xbb\xbf")
    elif case == "latin1":
        with open(path, "w", newline="", encoding="latin-1") as handle:
            csv.writer(handle).writerows(rows * 30)
    elif case == "semicolon":
        with open(path, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle, delimiter=";").writerows(rows)
    elif case == "blank_header":
        _write(path, [["a", "", "c"], *rows[1:]])
    elif case == "short_first_row":
        _write(path, [["title"], *rows])
    elif case == "gzip":
        import gzip

        path += ".gz"
        with gzip.open(path, "wt", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(rows)
    else:
        _write(path, rows)
    fast, used = _read(path, fast=True, **options)
    assert used != "PlainCSVRows"
    assert fast == _read(path, fast=False, **options)[0]


def test_renamed_duplicate_headers_key_the_rows(tmp_path: Any) -> None:
    """With ``deduplicate_headers`` the reader keys rows by load's renamed headers, as tabulator does."""
    path = str(tmp_path / "in.csv")
    _write(path, [["a", "a", "b"], *[[str(i), "x", "y"] for i in range(20)]])
    fast, used = _read(path, fast=True, deduplicate_headers=True)
    assert used == "PlainCSVRows"
    assert fast == _read(path, fast=False, deduplicate_headers=True)[0]
    assert list(fast[0][0][0]) == ["a (1)", "a (2)", "b"]
