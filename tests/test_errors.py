"""Errors blame the right place and say enough: the source, the step, the row, the field."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from dataflows import Flow, add_computed_field, add_field, filter_rows, load, set_type

from dataflows_factory import Factory, FlowExecutionError, SelectionError, run_step
from dataflows_factory.datasets import iter_rows
from dataflows_factory.errors import DataError
from dataflows_factory.graph import render
from dataflows_factory.partitions import files
from dataflows_factory.runner import run

ROWS = "a,b\n1,10\n2,20\n3,30\n4,40\n"


@pytest.fixture(params=["fast", "plain"])
def fast_paths(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs with the fast paths on and off (DFF_FAST_PATHS=0)."""
    monkeypatch.setenv("DFF_FAST_PATHS", "1" if request.param == "fast" else "0")
    return str(request.param)


def _factory(root: Path, **flows: Callable[..., Any]) -> Factory:
    (root / "rows.csv").write_text(ROWS)
    factory = Factory("errs", store=root / "data", root=root)
    for name, function in flows.items():
        function.__name__ = name
        factory.flow()(function)
    return factory


def _failure(factory: Factory, flow: str) -> FlowExecutionError:
    with pytest.raises(FlowExecutionError) as caught:
        run_step(factory, flow)
    return caught.value


# ---------------------------------------------------------------- 1. empty sources

def _empty_sheet(path: Path) -> None:
    openpyxl.Workbook().save(path)


EMPTY = "is empty: no header row"


@pytest.mark.parametrize(("name", "content", "options", "says"), [
    ("empty.csv", "", {}, EMPTY),
    ("spaces.csv", "   \n \t \n", {}, EMPTY),
    ("blank_lines.csv", "\n\n\n\n", {}, EMPTY),
    ("bom.csv", "\ufeff\n", {}, EMPTY),
    ("empty.tsv", "", {}, EMPTY),
    ("notes.txt", "", {"format": "csv"}, EMPTY),
    ("empty.xlsx", _empty_sheet, {},
     "has no rows to read as a table: no header row (format 'xlsx')"),
    ("object.json", '{"a": 1, "b": 2}', {},
     "has no rows to read as a table: no header row (format 'json')"),
])
def test_an_empty_source_is_named_by_load(tmp_path: Path, fast_paths: str, name: str,
                                          content: Any, options: dict[str, Any], says: str):
    """A source with no table in it (empty, blank, an empty sheet) fails in load, named."""
    path = tmp_path / "raw" / name
    path.parent.mkdir()
    if callable(content):
        content(path)
    else:
        path.write_text(content)
    factory = _factory(tmp_path, reads=lambda: Flow(load(f"raw/{name}", **options)))
    error = _failure(factory, "reads")
    assert (error.processor, error.position, error.cause_type) == ("load", 1, "SourceError")
    assert error.message == f"{str(path)!r} {says}"
    assert str(error) == (f"flow 'reads', processor 'load' (step #1) failed: SourceError: "
                          f"{str(path)!r} {says}")


def test_a_header_only_source_is_not_empty(tmp_path: Path, fast_paths: str):
    """A file with a header and no data rows is a table of 0 rows, not an error."""
    (tmp_path / "head.csv").write_text("a,b\n")
    factory = _factory(tmp_path, reads=lambda: Flow(load("head.csv")))
    assert run_step(factory, "reads").rows == {"head": 0}


def test_a_source_error_names_the_file_the_library_did_not(tmp_path: Path, fast_paths: str):
    """tabulator's own errors (an unknown format) get the source's name in front."""
    (tmp_path / "notes.txt").write_text("a,b\n1,2\n")
    factory = _factory(tmp_path, reads=lambda: Flow(load("notes.txt")))
    error = _failure(factory, "reads")
    assert error.cause_type == "FormatError"
    assert error.message == f"{str(tmp_path / 'notes.txt')!r}: Format \"txt\" is not supported"


# ---------------------------------------------------------------- 2. library steps' functions

def test_filter_rows_names_resource_row_and_missing_key(tmp_path: Path, fast_paths: str):
    """A filter_rows condition reading a missing key names the resource, the row and the key."""
    factory = _factory(tmp_path, flt=lambda: Flow(load("rows.csv"),
                                                  filter_rows(lambda r: r["zz"] > 1)))
    error = _failure(factory, "flt")
    assert str(error) == ("flow 'flt', processor 'filter_rows' (step #2), resource 'rows', "
                          "row 1, field 'zz' failed: KeyError: 'zz'")


def test_the_second_of_two_filter_rows_is_blamed_with_its_own_row(tmp_path: Path, fast_paths: str):
    """Of two filter_rows, the failing one is named, with the number of the row it was handed."""
    factory = _factory(tmp_path, flt=lambda: Flow(
        load("rows.csv"), filter_rows(lambda r: r["a"] > 1),
        filter_rows(lambda r: r["a"] < 3 or r["missing"])))
    error = _failure(factory, "flt")
    # rows 2, 3, 4 pass the first filter; the second fails on a=3, its 2nd row
    assert (error.processor, error.position, error.row, error.field) == \
        ("filter_rows", 3, 2, "missing")


@pytest.mark.parametrize(("step", "row", "field", "kind"), [
    (add_computed_field(target="ratio", operation=lambda r: r["a"] / (r["a"] - 3)),
     3, "ratio", "ZeroDivisionError"),
    (add_computed_field([{"target": "ok", "operation": lambda r: 1},
                         {"target": "bad", "operation": lambda r: r["nope"]}]),
     1, "bad", "KeyError"),
    (add_computed_field(target="msg", operation="format", with_="{nope}"), 1, "msg", "KeyError"),
    (add_field("x", "integer", default=lambda r: int("x" * r["a"])), 1, "x", "ValueError"),
])
def test_add_computed_field_names_the_field_it_was_computing(
        tmp_path: Path, fast_paths: str, step: Any, row: int, field: str, kind: str):
    """An add_computed_field/add_field operation that raises names its target, the row and resource."""
    factory = _factory(tmp_path, comp=lambda: Flow(load("rows.csv"), step))
    error = _failure(factory, "comp")
    assert (error.processor, error.position, error.resource, error.row, error.field,
            error.cause_type) == ("add_computed_field", 2, "rows", row, field, kind)


def test_set_type_transform_names_its_row_and_field(tmp_path: Path, fast_paths: str):
    """A set_type transform that raises names set_type, the resource, the row and the field."""
    factory = _factory(tmp_path, typed=lambda: Flow(
        load("rows.csv"), set_type("b", type="integer", transform=lambda v: 100 // (v - 30))))
    error = _failure(factory, "typed")
    assert (error.processor, error.position, error.resource, error.row, error.field,
            error.cause_type) == ("set_type", 2, "rows", 3, "b", "ZeroDivisionError")


# ---------------------------------------------------------------- 3. who set a wrong value

def _set_b(row: dict[str, Any]) -> None:
    if row["a"] == 3:
        row["b"] = "notanint"


def _touch(row: dict[str, Any]) -> None:
    row["a"] = row["a"]


def test_a_wrong_type_names_the_row_function_that_set_it(tmp_path: Path, fast_paths: str):
    """A value that fails the dumper's cast names the dumper and the step that set it."""
    factory = _factory(tmp_path, wrongtype=lambda: Flow(load("rows.csv"), _set_b))
    error = _failure(factory, "wrongtype")
    assert str(error) == (
        "flow 'wrongtype', processor 'dump_to_path' (step #3), resource 'rows', row 3, "
        "field 'b' failed: ValidationError: Field \"b\" can't cast value \"notanint\" for type "
        "\"integer\" with format \"default\"; the value was last set by step #2 '_set_b'")
    assert error.changed_by == [{"position": 2, "processor": "_set_b"}]
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error) and again.to_dict()["changed_by"] == error.changed_by


def test_several_row_functions_are_all_named(tmp_path: Path, fast_paths: str):
    """When two row functions could have set the value, both are named, in order."""
    factory = _factory(tmp_path, wrongtype=lambda: Flow(load("rows.csv"), _touch, _set_b))
    error = _failure(factory, "wrongtype")
    assert error.message.endswith("; the value was last set by one of step #2 '_touch', "
                                  "step #3 '_set_b'")


def test_a_computed_field_of_the_wrong_type_names_its_step(tmp_path: Path, fast_paths: str):
    """A computed field declared integer but computed as text names add_computed_field."""
    factory = _factory(tmp_path, comp=lambda: Flow(
        load("rows.csv"),
        add_computed_field(target={"name": "c", "type": "integer"}, operation=lambda r: "x")))
    error = _failure(factory, "comp")
    assert (error.processor, error.field, error.row) == ("dump_to_path", "c", 1)
    assert error.changed_by == [{"position": 2, "processor": "add_computed_field"}]


def test_a_later_cast_names_where_it_failed_and_who_set_the_value(tmp_path: Path, fast_paths: str):
    """A set_type after a row function fails in set_type and names the row function."""
    factory = _factory(tmp_path, typed=lambda: Flow(
        load("rows.csv"), _set_b, set_type("b", type="integer")))
    error = _failure(factory, "typed")
    assert (error.processor, error.position, error.row, error.field) == ("set_type", 3, 3, "b")
    assert error.changed_by == [{"position": 2, "processor": "_set_b"}]


# ---------------------------------------------------------------- 4. a hand-edited upstream

@pytest.mark.parametrize(("line", "text", "field", "detail"), [
    (2, "abc,20", "a", 'Field "a" can\'t cast value "abc" for type "integer"'),
    (4, "4,x40", "b", 'Field "b" can\'t cast value "x40" for type "integer"'),
    (3, "3", None, "Row length 1 doesn't match fields count 2"),
])
def test_a_hand_edited_upstream_dataset_names_dataset_file_and_data_row(
        tmp_path: Path, fast_paths: str, line: int, text: str, field: str | None, detail: str):
    """A bad value in an upstream dataset's file names the dataset, file, data row and message."""
    factory = _factory(tmp_path, parent=lambda: Flow(load("rows.csv")),
                       child=lambda parent: Flow(parent))
    run_step(factory, "parent")
    stored = tmp_path / "data" / "errs" / "parent" / "rows.csv"
    lines = stored.read_text().splitlines()
    lines[line] = text
    stored.write_text("\r\n".join(lines) + "\r\n")
    error = _failure(factory, "child")
    assert (error.processor, error.position, error.resource, error.row, error.field) == \
        ("input 'parent'", 1, "rows", line, field)
    assert error.cause_type == "CastError"
    assert error.message.startswith(f"dataset of flow 'parent', file {str(stored)!r}: {detail}")
    assert "exception.errors" not in error.message and "row \"" not in error.message


def test_reading_an_edited_dataset_outside_a_flow_says_the_same(tmp_path: Path):
    """iter_rows (dff inspect) raises a DataError naming the dataset, file, row and field."""
    factory = _factory(tmp_path, parent=lambda: Flow(load("rows.csv")))
    run_step(factory, "parent")
    stored = tmp_path / "data" / "errs" / "parent" / "rows.csv"
    stored.write_text(stored.read_text().replace("3,30", "3,x30"))
    with pytest.raises(DataError) as caught:
        list(iter_rows(str(stored.parent / "datapackage.json"), "rows"))
    assert (caught.value.kind, caught.value.row, caught.value.field) == ("CastError", 3, "b")
    assert str(caught.value) == (f"dataset 'parent', file {str(stored)!r}, row 3, field 'b': "
                                 "Field \"b\" can't cast value \"x30\" for type \"integer\" "
                                 "with format \"default\"")


# ---------------------------------------------------------------- 5. a pattern with no file

def _partitioned(root: Path) -> Factory:
    factory = _factory(root, other=lambda: Flow(load("rows.csv")))

    @factory.flow(partitions=files("raw/sales/*.csv"))
    def sales(partition):
        return Flow(load(partition))

    @factory.flow()
    def total(sales):
        return Flow(sales)

    return factory


def test_a_partition_pattern_without_files_fails_only_its_flow(tmp_path: Path):
    """Plan, graph and other flows work; the flow fails when it runs, naming its pattern."""
    factory = _partitioned(tmp_path)
    plan = factory.plan()
    assert plan.names == ("other", "sales", "total")
    assert "files('raw/sales/*.csv') matches no file" in plan.step("sales").partitions_error
    assert "sales  (no partitions: its files() pattern matches no file)" in render(plan)
    assert run(factory, select="other", show_progress=False).ok
    report = run(factory, show_progress=False)
    statuses = {name: result.status for name, result in report.results.items()}
    assert statuses == {"other": "skipped", "sales": "failed", "total": "upstream_failed"}
    error = report.results["sales"].error or {}
    assert (error["flow"], error["processor"], error["type"]) == \
        ("sales", "partitions", "NoPartitionsError")
    assert error["message"].startswith(
        f"files('raw/sales/*.csv') matches no file under {str(tmp_path)!r}")


def test_a_partition_pattern_with_files_again_runs(tmp_path: Path):
    """Once a file matches, the flow has that partition and runs."""
    factory = _partitioned(tmp_path)
    (tmp_path / "raw" / "sales").mkdir(parents=True)
    (tmp_path / "raw" / "sales" / "eu.csv").write_text(ROWS)
    assert factory.plan().step("sales").partitions == ("raw/sales/eu.csv",)
    assert run(factory, show_progress=False).ok


# ---------------------------------------------------------------- 6. an empty selection

@pytest.mark.parametrize("selection", ["", ",", " ", " , ", [""], [",", " "], []])
def test_an_empty_selection_is_an_error(tmp_path: Path, selection: Any):
    """A selection that is given but names nothing is a SelectionError, never every flow."""
    factory = _factory(tmp_path, one=lambda: Flow(load("rows.csv")))
    with pytest.raises(SelectionError, match="empty selection"):
        factory.plan(select=selection)
    with pytest.raises(SelectionError, match="empty selection"):
        run(factory, select=selection, show_progress=False)


def test_no_selection_selects_every_flow(tmp_path: Path):
    """None (no --select at all) still means every flow."""
    factory = _factory(tmp_path, one=lambda: Flow(load("rows.csv")),
                       two=lambda: Flow(load("rows.csv")))
    assert factory.plan(select=None).names == ("one", "two")
