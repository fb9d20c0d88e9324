"""Flow steps: what dataflows would silently drop is wrapped or rejected; loads are typed."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from dataflows import Flow, load

from dataflows_factory import Factory, FlowReturnError, InvalidStepError, run_step
from dataflows_factory.datasets import iter_rows


def _rows_of(factory: Factory, flow: str, resource: str) -> list[dict]:
    store = factory.store()
    return list(iter_rows(store.descriptor_url(factory.name, flow), resource))


class Doubler:
    """A callable object; dataflows.Flow would ignore it silently."""

    def __call__(self, row):
        row["x"] = row["x"] * 2


class Tripler:
    def triple(self, row):
        row["x"] = row["x"] * 3


def add(row, amount):
    row["x"] = row["x"] + amount


def test_callable_objects_bound_methods_and_partials_really_run(tmp_path: Path):
    """Each of the three kinds of callables dataflows drops is applied to every row."""
    factory = Factory("steps", store=tmp_path)

    @factory.flow()
    def numbers():
        return Flow([{"x": 1}, {"x": 2}], Doubler(), Tripler().triple,
                    functools.partial(add, amount=1))

    result = run_step(factory, "numbers")
    assert result.rows == {"res_1": 2}
    assert [row["x"] for row in _rows_of(factory, "numbers", "res_1")] == [7, 13]


def test_a_function_with_an_unknown_parameter_name_is_rejected(tmp_path: Path):
    """dataflows asserts on such steps; we name the flow and the step instead."""
    factory = Factory("steps", store=tmp_path)

    @factory.flow()
    def bad():
        return Flow([{"x": 1}], lambda record: record)

    with pytest.raises(InvalidStepError, match=r"flow 'bad', step #2.*takes \['record'\]"):
        run_step(factory, "bad")


def test_something_that_is_not_a_step_is_rejected(tmp_path: Path):
    """A stray value in a Flow is an error, not a silent no-op."""
    factory = Factory("steps", store=tmp_path)

    @factory.flow()
    def bad():
        return Flow([{"x": 1}], 42)

    with pytest.raises(InvalidStepError, match="step #2: 42"):
        run_step(factory, "bad")


def test_a_flow_function_must_return_a_flow(tmp_path: Path):
    """Returning anything but a Flow or a list of steps names the flow and the type."""
    factory = Factory("steps", store=tmp_path)

    @factory.flow()
    def bad():
        return "not a flow"

    with pytest.raises(FlowReturnError, match="flow 'bad' returned str"):
        run_step(factory, "bad")


def test_a_list_of_steps_is_a_flow(tmp_path: Path):
    """A flow function may return a plain list of steps."""
    factory = Factory("steps", store=tmp_path)
    factory.flow(name="listed")(lambda: [[{"x": 1}]])
    assert run_step(factory, "listed").rows == {"res_1": 1}


def test_csv_loads_are_typed_by_default(tmp_path: Path):
    """Numbers in a CSV arrive as numbers unless strings are asked for explicitly."""
    (tmp_path / "in.csv").write_text("name,n,share\na,1,0.5\nb,22,1.5\n")
    factory = Factory("typed", store=tmp_path / "data", root=tmp_path)
    seen: dict[str, list] = {"typed": [], "strings": []}

    @factory.flow()
    def typed():
        return Flow(load("in.csv", name="t"), lambda row: seen["typed"].append(row["n"]))

    @factory.flow()
    def strings():
        return Flow(load("in.csv", name="s", cast_strategy=load.CAST_TO_STRINGS),
                    lambda row: seen["strings"].append(row["n"]))

    run_step(factory, "typed")
    run_step(factory, "strings")
    assert seen == {"typed": [1, 22], "strings": ["1", "22"]}


def test_upstream_dataset_step_can_pick_one_resource(tmp_path: Path):
    """A flow parameter loads every resource of the upstream dataset, or just the ones named."""
    factory = Factory("pick", store=tmp_path)

    @factory.flow()
    def two():
        return Flow([{"a": 1}], [{"b": 2}, {"b": 3}])

    @factory.flow()
    def everything(two):
        return Flow(two)

    @factory.flow()
    def second(two):
        return Flow(two.resource("res_2"))

    run_step(factory, "two")
    assert run_step(factory, "everything").rows == {"res_1": 1, "res_2": 2}
    assert run_step(factory, "second").rows == {"res_2": 2}
    assert [r["b"] for r in _rows_of(factory, "second", "res_2")] == [2, 3]
