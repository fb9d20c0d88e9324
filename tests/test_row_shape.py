"""Rows wider than the header fail naming file, line and values; short rows are padded and counted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from dataflows import Flow, load

from dataflows_factory import Factory, FlowExecutionError, run_step
from dataflows_factory.errors import InvalidStepError
from dataflows_factory.runner import run

FAST = pytest.mark.parametrize("fast", ["1", "0"], ids=["fast", "plain"])


def _factory(tmp_path: Path, text: str, name: str = "in.csv", **options: Any) -> Factory:
    (tmp_path / name).write_text(text)
    factory = Factory("shapes", root=tmp_path, store=str(tmp_path / "data"))

    @factory.flow()
    def data():
        return Flow(load(name, name="in", **options))

    return factory


@FAST
def test_a_row_with_extra_cells_fails_naming_the_file_line_and_values(
        tmp_path: Path, fast: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`a,b,c` then `6,7,8,9`: the flow fails at load, naming in.csv, line 3, the value '9'."""
    monkeypatch.setenv("DFF_FAST_PATHS", fast)
    factory = _factory(tmp_path, "a,b,c\n1,2,3\n6,7,8,9\n4,5,6\n")
    with pytest.raises(FlowExecutionError) as caught:
        run_step(factory, "data")
    error = caught.value
    assert (error.processor, error.resource, error.row) == ("load", "in", 2)
    assert error.cause_type == "MalformedRowError"
    assert "in.csv, line 3 has 4 cells for 3 columns (a, b, c)" in str(error)
    assert "'9'" in str(error) and 'extra_cells="drop"' in str(error)
    assert not (tmp_path / "data" / "shapes" / "data").exists()  # nothing published


@FAST
def test_extra_cells_deep_in_a_big_file_fail_after_the_sample(
        tmp_path: Path, fast: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Row 5,000 (past tabulator's 1,000-row sample) with two extra cells fails the same way."""
    monkeypatch.setenv("DFF_FAST_PATHS", fast)
    lines = ["id,name"] + [f"{n},n{n}" for n in range(1, 6000)]
    lines[5000] = "5000,n5000,x,\"y, z\""
    factory = _factory(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(FlowExecutionError) as caught:
        run_step(factory, "data")
    assert caught.value.row == 5000
    assert "line 5001 has 4 cells for 2 columns" in str(caught.value)
    assert "'x', 'y, z'" in str(caught.value)


@FAST
def test_short_rows_are_padded_and_counted_everywhere(
        tmp_path: Path, fast: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two short rows: stored with nulls, counted in StepResult, descriptor and manifest."""
    monkeypatch.setenv("DFF_FAST_PATHS", fast)
    factory = _factory(tmp_path, "a,b,c\n1,2,3\n4,5\n7\n")
    report = run(factory, show_progress=False, jobs=1)
    result = report.results["data"]
    assert result.status == "succeeded" and result.rows == {"in": 3}
    assert result.padded_rows == {"in": 2} and result.truncated_rows == {}
    dataset = tmp_path / "data" / "shapes" / "data"
    assert (dataset / "in.csv").read_text().splitlines() == ["a,b,c", "1,2,3", "4,5,", "7,,"]
    assert json.loads((dataset / "datapackage.json").read_text())["dff"]["padded_rows"] == {"in": 2}
    manifest = json.loads(Path(report.manifest).read_text())
    assert manifest["steps"]["data"]["padded_rows"] == {"in": 2}
    skipped = run_step(factory, "data")  # a skipped flow still reports what its dataset holds
    assert (skipped.status, skipped.padded_rows) == ("skipped", {"in": 2})


@FAST
def test_extra_cells_drop_is_explicit_per_load_and_still_counted(
        tmp_path: Path, fast: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """load(..., extra_cells="drop") keeps the old behaviour for that load, and counts the cut rows."""
    monkeypatch.setenv("DFF_FAST_PATHS", fast)
    factory = _factory(tmp_path, "a,b,c\n1,2,3\n6,7,8,9\n4,5,6,7,8\n", extra_cells="drop")
    result = run_step(factory, "data")
    assert result.truncated_rows == {"in": 2} and result.padded_rows == {}
    stored = (tmp_path / "data" / "shapes" / "data" / "in.csv").read_text().splitlines()
    assert stored == ["a,b,c", "1,2,3", "6,7,8", "4,5,6"]


def test_trailing_empty_cells_lose_nothing_and_pass(tmp_path: Path) -> None:
    """`1,2,3,` (an empty cell past the header, as spreadsheets export) is not data loss."""
    factory = _factory(tmp_path, "a,b,c\n1,2,3,\n4,5,6,,\n")
    result = run_step(factory, "data")
    assert result.rows == {"in": 2} and result.truncated_rows == {} and result.padded_rows == {}


def test_a_tsv_gets_the_same_check_and_padding(tmp_path: Path) -> None:
    """TSV rows of another width reach the same check: wide ones fail naming line and values,
    short ones are padded and counted (tabulator's own TSV parser rejected both, unnamed)."""
    wide = _factory(tmp_path, "a\tb\n1\t2\n3\t4\t5\n", name="in.tsv")
    with pytest.raises(FlowExecutionError, match=r"in\.tsv, line 3 has 3 cells for 2 columns .*'5'"):
        run_step(wide, "data")
    (tmp_path / "short").mkdir()
    short = _factory(tmp_path / "short", "a\tb\n1\t2\n3\n4\t\\N\n", name="in.tsv")
    result = run_step(short, "data")
    assert result.padded_rows == {"in": 1} and result.rows == {"in": 3}
    stored = (tmp_path / "short" / "data" / "shapes" / "data" / "in.csv").read_text().splitlines()
    assert stored == ["a,b", "1,2", "3,", "4,"]


def test_an_unknown_extra_cells_choice_names_the_flow_and_step(tmp_path: Path) -> None:
    """extra_cells="keep" is not a choice: a definition error naming flow, step and choices."""
    factory = _factory(tmp_path, "a\n1\n", extra_cells="keep")
    with pytest.raises(InvalidStepError, match=r"flow 'data', step #1: load\(extra_cells='keep'\)"):
        run_step(factory, "data")


def test_partition_counts_add_up_in_the_merge(tmp_path: Path) -> None:
    """Each part counts its padded rows; the merged dataset reports their sum."""
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.csv").write_text("x,y\n1\n2,3\n")
    (tmp_path / "raw" / "b.csv").write_text("x,y\n4\n5\n")
    from dataflows_factory.partitions import files

    factory = Factory("parts", root=tmp_path, store=str(tmp_path / "data"))

    @factory.flow(partitions=files("raw/*.csv"))
    def sales(partition):
        return Flow(load(partition, name="sales"))

    report = run(factory, show_progress=False, jobs=1)
    assert report.ok, report.to_dict()
    assert report.results["sales"].padded_rows == {"sales": 3}


def test_the_fast_csv_reader_still_reads_a_checked_load(tmp_path: Path) -> None:
    """The row check rides along as a pass-through: plain files keep the fast csv reader."""
    from dataflows_factory.flow import normalize_steps

    (tmp_path / "in.csv").write_text("a,b\n" + "".join(f"{n},x\n" for n in range(3000)))
    step = load(str(tmp_path / "in.csv"), name="t")
    data, _package, _stats = Flow(*normalize_steps("t", [step])).results()
    assert type(step.iterators[0]).__name__ == "PlainCSVRows"
    assert len(data[0]) == 3000


@FAST
def test_a_json_object_with_a_key_the_first_lacks_fails_naming_key_and_value(
        tmp_path: Path, fast: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """tabulator keys JSON objects by the first object's keys: a later key would vanish, so
    it fails naming the object, the key and its value; extra_cells="drop" drops it, counted."""
    monkeypatch.setenv("DFF_FAST_PATHS", fast)
    text = '[{"a": 1, "b": 2}, {"a": 3}, {"b": 5, "a": 4, "c": "kept?"}, {"a": 6, "b": 7}]'
    factory = _factory(tmp_path, text, name="in.json")
    with pytest.raises(FlowExecutionError) as caught:
        run_step(factory, "data")
    assert (caught.value.processor, caught.value.resource, caught.value.row) == ("load", "in", 3)
    assert "in.json, object 3 has key(s) ['c'] that the first object does not have" in str(caught.value)
    assert "'kept?'" in str(caught.value)
    (tmp_path / "drop").mkdir()
    dropped = _factory(tmp_path / "drop", text, name="in.json", extra_cells="drop")
    result = run_step(dropped, "data")
    assert result.truncated_rows == {"in": 1} and result.rows == {"in": 4}
    stored = (tmp_path / "drop" / "data" / "shapes" / "data" / "in.csv").read_text().splitlines()
    assert stored == ["a,b", "1,2", "3,", "4,5", "6,7"]  # a missing key is a null, as before


def test_json_arrays_and_consistent_objects_pass_unchanged(tmp_path: Path) -> None:
    """Objects with the first object's keys in any order, and arrays of arrays, load as before."""
    factory = _factory(tmp_path, '[{"a": 1, "b": 2}, {"b": 4, "a": 3}]', name="in.json")
    assert run_step(factory, "data").rows == {"in": 2}
    (tmp_path / "arrays").mkdir()
    arrays = _factory(tmp_path / "arrays", '[["a", "b"], [1, 2], [3]]', name="in.json")
    assert run_step(arrays, "data").padded_rows == {"in": 1}


@FAST
def test_a_value_under_a_blank_header_cell_is_an_extra_cell(
        tmp_path: Path, fast: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`a,b,c,` then `1,2,3,4`: dataflows' ignore_blank_headers would drop the 4 silently; it
    is an extra value now, while `1,2,3,` under the same header loses nothing and passes."""
    monkeypatch.setenv("DFF_FAST_PATHS", fast)
    factory = _factory(tmp_path, "a,b,c,\n1,2,3,\n4,5,6,7\n")
    with pytest.raises(FlowExecutionError, match=r"line 3 has 4 cells for 3 columns \(a, b, c\); "
                                                 r"the extra value\(s\) '7'"):
        run_step(factory, "data")
    (tmp_path / "ok").mkdir()
    fine = _factory(tmp_path / "ok", "a,b,c,\n1,2,3,\n4,5,6,\n")
    result = run_step(fine, "data")
    assert result.rows == {"in": 2} and result.schema["in"]["fields"][-1]["name"] == "c"


def test_an_excel_value_right_of_the_header_fails(tmp_path: Path) -> None:
    """A sheet whose header fills A:C and a row with a value in D fails naming the value."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for row in (["a", "b", "c"], [1, 2, 3], [4, 5, 6, "note"]):
        sheet.append(row)
    book.save(tmp_path / "in.xlsx")
    factory = Factory("shapes", root=tmp_path, store=str(tmp_path / "data"))

    @factory.flow()
    def data():
        return Flow(load("in.xlsx", name="in"))

    with pytest.raises(FlowExecutionError, match=r"in\.xlsx, row 3 has 4 cells for 3 columns .*'note'"):
        run_step(factory, "data")
