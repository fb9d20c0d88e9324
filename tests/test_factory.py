"""The model: flows register on a factory and bad definitions fail early, naming the flow."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from dataflows import Flow

from dataflows_factory import (
    DuplicateFlowError,
    Factory,
    FactoryCycleError,
    FactoryDefinitionError,
    FactoryRefError,
    InvalidFlowNameError,
    InvalidStepError,
    UnknownUpstreamError,
    load_factory,
)


def rows():
    return [{"x": 1}]


def test_parameters_without_default_are_upstream_flows_and_defaults_are_params():
    """A parameter without default names an upstream flow; one with a default is a param."""
    factory = Factory("f")

    @factory.flow()
    def a():
        return Flow(rows())

    @factory.flow(params={"limit": 5}, after=["a"], retries=3, tags=["t"])
    def b(a, limit=1):
        """Doc of b."""
        return Flow(a)

    spec = factory.flows["b"]
    assert spec.inputs == ("a",)
    assert spec.params == {"limit": 5}
    assert spec.retries == 3 and spec.tags == ("t",) and spec.description == "Doc of b."
    assert factory.validate() == ["a", "b"]


def test_unknown_upstream_names_the_flow_and_the_missing_name():
    """A parameter naming no flow is reported with the flow and the known flows."""
    factory = Factory("f")

    @factory.flow()
    def b(nope):
        return Flow(nope)

    with pytest.raises(UnknownUpstreamError, match=r"flow 'b' depends on 'nope'"):
        factory.validate()


def test_unknown_after_is_reported():
    """An order-only dependency on a missing flow is an error too."""
    factory = Factory("f")
    factory.flow(name="a", after=["ghost"])(rows)
    with pytest.raises(UnknownUpstreamError, match="ghost"):
        factory.plan()


def test_cycle_is_reported_with_its_path():
    """A cycle error prints the cycle, flow by flow."""
    factory = Factory("f")

    @factory.flow()
    def a(c):
        return Flow(c)

    @factory.flow()
    def b(a):
        return Flow(a)

    @factory.flow()
    def c(b):
        return Flow(b)

    with pytest.raises(FactoryCycleError) as caught:
        factory.validate()
    assert caught.value.cycle[0] == caught.value.cycle[-1]
    assert set(caught.value.cycle) == {"a", "b", "c"}
    assert " -> " in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_self_dependency_is_a_cycle():
    """A flow that waits for itself is rejected at registration."""
    factory = Factory("f")
    with pytest.raises(FactoryCycleError, match="a -> a"):
        factory.flow(name="a", after=["a"])(rows)


def test_duplicate_flow_name():
    """Two flows with one name: the second registration fails."""
    factory = Factory("f")
    factory.flow(name="a")(rows)
    with pytest.raises(DuplicateFlowError, match="'a'"):
        factory.flow(name="a")(rows)


@pytest.mark.parametrize("name", ["../etc", "a/b", "", "1abc", "_runs", "a b", "x" * 65, "a.b"])
def test_unsafe_names_are_rejected(name):
    """Names become folders, task ids and asset keys: only safe identifiers pass."""
    factory = Factory("f")
    with pytest.raises(InvalidFlowNameError):
        factory.flow(name=name)(rows)
    with pytest.raises(InvalidFlowNameError):
        Factory(name)


def test_unknown_params_and_varargs_are_rejected():
    """params= may only override parameters with defaults; *args cannot name flows."""
    factory = Factory("f")
    with pytest.raises(InvalidStepError, match="params"):
        factory.flow(params={"nope": 1})(rows)

    def star(*inputs):
        return Flow()

    with pytest.raises(InvalidStepError, match=r"\*args"):
        factory.flow()(star)


def test_definition_errors_share_one_root():
    """Every definition error is a FactoryDefinitionError and a ValueError."""
    for error in (UnknownUpstreamError, DuplicateFlowError, InvalidFlowNameError, FactoryCycleError):
        assert issubclass(error, FactoryDefinitionError)
        assert issubclass(error, ValueError)


def test_partial_as_flow_function_gets_a_name():
    """functools.partial flows need an explicit name (they have none of their own)."""
    factory = Factory("f")
    with pytest.raises(InvalidFlowNameError):
        factory.flow()(functools.partial(rows))
    factory.flow(name="p")(functools.partial(rows))
    assert factory.validate() == ["p"]


def test_load_factory_by_file_and_attr(world_file: Path):
    """Factories load from path.py, path.py:attr, and remember a reference to themselves."""
    by_file = load_factory(str(world_file))
    assert by_file.name == "world"
    assert load_factory(f"{world_file}:factory") is by_file
    assert by_file.get_ref() == f"{world_file}:factory"
    with pytest.raises(FactoryRefError, match="not a Factory"):
        load_factory(f"{world_file}:Flow")
    with pytest.raises(FactoryRefError, match="does not exist"):
        load_factory(str(world_file.parent / "missing.py"))


def test_store_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """--store beats $DFF_STORE beats Factory(store=) beats <root>/data."""
    factory = Factory("f", store="relative", root=tmp_path)
    monkeypatch.delenv("DFF_STORE", raising=False)
    assert factory.store().url == str(tmp_path / "relative")
    assert Factory("g", root=tmp_path).store().url == str(tmp_path / "data")
    monkeypatch.setenv("DFF_STORE", str(tmp_path / "env"))
    assert factory.store().url == str(tmp_path / "env")
    assert factory.store(tmp_path / "cli").url == str(tmp_path / "cli")
