"""Reading an upstream dataset (DatasetStep) gives datapackage/tableschema's rows, or its error."""

from __future__ import annotations

import csv
import os
from decimal import Decimal
from typing import Any

import pytest
from dataflows import Flow, dump_to_path, load, set_primary_key
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflows_factory.flow import DatasetStep

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

KINDS = {
    "integer": st.integers(-(10**12), 10**12),
    "number": st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-999, max_value=999),
    "date": st.dates(),
    "boolean": st.booleans(),
    "string": st.text(alphabet="ab ,\"\n\t\r-é", max_size=6),
}


@st.composite
def tables(draw: Any) -> list[dict[str, Any]]:
    """Rows of 1-4 typed columns (one kind per column, None anywhere)."""
    kinds = draw(st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=4))
    cells = st.tuples(*[KINDS[k] | st.none() for k in kinds])
    return [{f"{k}_{i}": v for i, (k, v) in enumerate(zip(kinds, row, strict=True))}
            for row in draw(st.lists(cells, min_size=1, max_size=30))]


def _read(path: str, fast: bool, monkeypatch: pytest.MonkeyPatch, **options: Any) -> tuple[Any, str]:
    """(every row with its types, or the error) and the class of the first resource's iterator."""
    monkeypatch.setenv("DFF_FAST_PATHS", "1" if fast else "0")
    step = DatasetStep("up", path, **options)
    try:
        stream = Flow(step)._chain()._process()
        result: Any = [[repr(row) for row in resource] for resource in stream.res_iter]
    except Exception as error:
        cause = getattr(error, "cause", error)
        result = (type(cause).__name__, str(cause))
    first = step.iterators[0] if step.iterators else None
    return result, getattr(first, "__name__", type(first).__name__)


def _dataset(tmp: str, rows: list[dict[str, Any]], *steps: Any) -> str:
    out = os.path.join(tmp, "up")
    Flow(rows, *steps, dump_to_path(out)).process()
    return os.path.join(out, "datapackage.json")


@SETTINGS
@given(rows=tables())
def test_any_dataset_same_rows(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
                               rows: list[dict[str, Any]]) -> None:
    """Typed columns (schema inferred by dataflows from the Python values), stripping included."""
    tmp = str(tmp_path_factory.mktemp("ds"))
    path = _dataset(tmp, rows)
    plain, _ = _read(path, False, monkeypatch)
    fast, used = _read(path, True, monkeypatch)
    assert fast == plain
    if not isinstance(plain, tuple):
        assert used == "typed_rows"  # ours, not datapackage's iterator, did the reading


def test_typical_dataset_uses_the_reader(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"id": i, "name": f" n{i} " if i % 3 else None, "v": Decimal(i) / 4,
             "day": None} for i in range(500)]
    path = _dataset(str(tmp_path), rows)
    plain, _ = _read(path, False, monkeypatch)
    fast, used = _read(path, True, monkeypatch)
    assert fast == plain and len(fast[0]) == 500
    assert "'name': 'n1'" in fast[0][1]  # stripped, as load strips
    assert used == "typed_rows"


def _edit(csv_path: str, row: int, column: int, value: str) -> None:
    with open(csv_path, newline="", encoding="utf-8") as handle:
        records = list(csv.reader(handle))
    records[row][column] = value
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(records)


@pytest.mark.parametrize("edit", [
    (300, 0, "nope"),       # a value tableschema rejects: its own error
    (300, 2, "1 000.5"),    # a value only tableschema reads (inner space): its value
    (300, 0, "+7"),         # int() and tableschema agree
])
def test_odd_values_get_tableschema_result(tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                           edit: tuple[int, int, str]) -> None:
    rows = [{"id": i, "name": f"n{i}", "v": Decimal(i) / 4} for i in range(500)]
    path = _dataset(str(tmp_path), rows)
    _edit(os.path.join(str(tmp_path), "up", "res_1.csv"), *edit)
    plain, _ = _read(path, False, monkeypatch)
    fast, _ = _read(path, True, monkeypatch)
    assert fast == plain


def test_ragged_and_renamed_files_fall_back(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"id": i, "name": f"n{i}"} for i in range(50)]
    path = _dataset(str(tmp_path), rows)
    target = os.path.join(str(tmp_path), "up", "res_1.csv")
    with open(target, "a", encoding="utf-8", newline="") as handle:
        handle.write("51,n51,extra\r\n\r\n52,n52\r\n")
    assert _read(path, True, monkeypatch)[0] == _read(path, False, monkeypatch)[0]
    _edit(target, 0, 1, "title")  # header no longer the schema's field names
    assert _read(path, True, monkeypatch)[0] == _read(path, False, monkeypatch)[0]


def test_primary_key_stays_with_tableschema(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """tableschema checks key uniqueness while reading: such resources keep its iterator."""
    rows = [{"id": i % 10, "name": f"n{i}"} for i in range(30)]
    path = _dataset(str(tmp_path), rows, set_primary_key(["id"]))
    plain, _ = _read(path, False, monkeypatch)
    fast, used = _read(path, True, monkeypatch)
    assert fast == plain and isinstance(plain, tuple) and "duplicates" in plain[1]
    assert used == "stripper"  # datapackage's rows, stripped as load strips them


def test_only_selected_resources(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    src = str(tmp_path / "in.csv")
    with open(src, "w", encoding="utf-8") as handle:
        handle.write("a,b\n1,x\n2,y\n")
    out = str(tmp_path / "up")
    Flow(load(src, name="one"), load(src, name="two"), dump_to_path(out)).process()
    path = os.path.join(out, "datapackage.json")
    plain, _ = _read(path, False, monkeypatch, resources=["two"])
    fast, _ = _read(path, True, monkeypatch, resources=["two"])
    assert fast == plain and len(fast) == 1
