"""Bounded hypothesis fuzzing of CSV loading and of the flow-definition API."""

from __future__ import annotations

import tempfile
from pathlib import Path

from dataflows import Flow, load
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflows_factory import Factory
from dataflows_factory.adapters.step import run_step
from dataflows_factory.errors import FactoryDefinitionError, FactoryError, FlowExecutionError

FUZZ = settings(max_examples=25, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

cells = st.text(alphabet=st.sampled_from([*list('ab1 ,"\n\r;\\é\t\x00'), "0", "-", "."]),
                max_size=6)
csv_text = st.lists(st.lists(cells, min_size=1, max_size=4), min_size=0, max_size=6).map(
    lambda rows: "\n".join(",".join(row) for row in rows))


@FUZZ
@given(body=st.one_of(csv_text, st.binary(max_size=60).map(lambda b: b.decode("latin-1"))))
def test_loading_any_csv_either_works_or_fails_clearly(body: str) -> None:
    """Whatever the bytes of a CSV, run_step publishes it or raises a FlowExecutionError."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "in.csv").write_text(body, encoding="utf-8", errors="surrogateescape")
        factory = Factory("fuzz", store=str(Path(folder, "data")), root=folder)

        @factory.flow()
        def data() -> Flow:
            return Flow(load("in.csv", name="in"))

        try:
            result = run_step(factory, "data")
        except FlowExecutionError as error:
            assert error.flow == "data"
            assert error.processor  # the failing step is always named
            assert "\n" not in str(error)
            return
        assert result.status == "succeeded"
        assert sum(result.rows.values()) >= 0
        assert Path(folder, "data", "fuzz", "data", "datapackage.json").is_file()


names = st.one_of(st.from_regex(r"[a-e]", fullmatch=True), st.text(max_size=8))


@FUZZ
@given(flows=st.lists(st.tuples(names, st.lists(names, max_size=3)), min_size=1, max_size=6))
def test_any_flow_graph_is_valid_or_rejected_clearly(flows: list[tuple[str, list[str]]]) -> None:
    """Any names and dependencies: a valid topological order, or a FactoryDefinitionError."""
    factory = Factory("fuzz")
    try:
        for name, after in flows:
            factory.flow(name=name, after=after)(lambda: Flow([{"x": 1}]))
        order = factory.validate()
    except FactoryDefinitionError as error:
        assert str(error)
        return
    except FactoryError as error:  # pragma: no cover - any other library error is a bug here
        raise AssertionError(f"unexpected {type(error).__name__}: {error}") from error
    position = {name: index for index, name in enumerate(order)}
    assert sorted(order) == sorted(factory.flows)
    for name, spec in factory.flows.items():
        assert all(position[up] < position[name] for up in spec.upstream)
    plan = factory.plan()
    assert plan.names == tuple(order)
