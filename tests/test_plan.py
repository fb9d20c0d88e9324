"""Plans: frozen, JSON-serialisable, topologically ordered, selectable, built without data."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from dataflows import Flow, load

from dataflows_factory import Factory, Plan, SelectionError
from dataflows_factory.adapters.plan import Schedule


def test_world_plan_is_topological_with_outputs_and_retries(world: Factory):
    """Steps come upstream-first and carry dependencies, outputs and retries."""
    plan = world.plan()
    assert plan.names == ("countries", "cities", "key_metrics", "publish")
    assert plan.step("key_metrics").inputs == ("countries", "cities")
    assert plan.step("publish").after == ("key_metrics",)
    assert plan.step("cities").retries == 2
    assert plan.step("countries").output.endswith("/world/countries")
    assert sorted(plan.edges()) == [("cities", "key_metrics"), ("countries", "key_metrics"),
                                    ("key_metrics", "publish")]
    assert plan.factory_ref and plan.factory_ref.endswith("factory.py:factory")


def test_plan_round_trips_json_and_is_frozen(world: Factory):
    """A plan serialises to JSON and back unchanged, and cannot be mutated."""
    plan = world.plan()
    assert Plan.from_json(plan.to_json()) == plan
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.factory = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        ("key_metrics", ["key_metrics"]),
        ("+key_metrics", ["countries", "cities", "key_metrics"]),
        ("cities+", ["cities", "key_metrics", "publish"]),
        ("+key_metrics+", ["countries", "cities", "key_metrics", "publish"]),
        ("tag:source", ["countries", "cities"]),
        ("countries, publish", ["countries", "publish"]),
        (["countries", "tag:metrics"], ["countries", "key_metrics", "publish"]),
    ],
)
def test_selection(world: Factory, selection, expected):
    """Names, +upstream, downstream+, tags and unions select steps, kept in plan order."""
    assert list(world.plan(select=selection).names) == expected


def test_selection_of_an_unknown_flow_or_tag_fails(world: Factory):
    """A selection that matches nothing is an error naming what was asked."""
    with pytest.raises(SelectionError, match="no flow 'nope'"):
        world.plan(select="nope")
    with pytest.raises(SelectionError, match="tag 'nope'"):
        world.plan(select="tag:nope")


def test_planning_reads_no_data_and_calls_no_flow(tmp_path: Path):
    """Building a plan never calls flow functions nor touches their inputs."""
    calls: list[str] = []
    factory = Factory("lazy", store=tmp_path / "data", root=tmp_path)

    @factory.flow()
    def source():
        calls.append("source")
        return Flow(load("does-not-exist.csv"))

    plan = factory.plan()
    assert plan.names == ("source",) and calls == []
    assert not (tmp_path / "data").exists()


def test_plan_of_fifty_flows_is_fast_to_build(tmp_path: Path):
    """A 50-flow chain plans in one pass (correctness, not timing: order and edges)."""
    factory = Factory("chain", root=tmp_path)
    factory.flow(name="f0")(lambda: Flow([{"x": 1}]))
    for i in range(1, 50):
        exec(f"def f{i}(f{i - 1}):\n    return Flow(f{i - 1})", {"Flow": Flow}, namespace := {})
        factory.flow()(namespace[f"f{i}"])
    plan = factory.plan()
    assert plan.names == tuple(f"f{i}" for i in range(50))
    assert len(plan.edges()) == 49
    assert plan.downstream("f47") == ["f48", "f49"]


def test_units_are_flows_or_parts_then_their_merge(tmp_path: Path):
    """A partitioned flow is its parts, then a merge keeping the flow's id; deps follow."""
    factory = Factory("units", root=tmp_path)
    factory.flow(name="raw", partitions=["eu", "us"])(lambda partition: Flow([{"p": partition}]))
    factory.flow(name="total")(lambda raw: Flow(raw))
    units = factory.plan().units()
    assert [(u.id, u.partition, u.deps, u.is_merge) for u in units] == [
        ("raw[eu]", "eu", (), False), ("raw[us]", "us", (), False),
        ("raw", None, ("raw[eu]", "raw[us]"), True), ("total", None, ("raw",), False)]
    # Upstream flows outside a selection are read from the store: not deps.
    assert [(u.id, u.deps) for u in factory.plan(select="total").units()] == [("total", ())]


def test_schedule_readies_in_order_and_a_failure_blocks_only_what_is_below(world: Factory):
    """Ready units are those whose deps succeeded; a failure blocks its downstream, named by
    the failed unit, and independent units go on; a retry puts a unit back."""
    schedule = Schedule(world.plan().units())
    assert [u.id for u in schedule.ready()] == ["countries", "cities"]
    schedule.start("countries")
    schedule.start("cities")
    assert schedule.ready() == []
    schedule.retry("cities")
    assert [u.id for u in schedule.ready()] == ["cities"]
    schedule.start("cities")
    assert schedule.finish("cities", ok=False) == ["key_metrics", "publish"]
    assert schedule.blocked == {"key_metrics": "cities", "publish": "cities"}
    assert not schedule.done  # countries still runs
    assert schedule.finish("countries", ok=True) == []
    assert schedule.done and schedule.succeeded == {"countries"} and schedule.failed == {"cities"}


def test_schedule_cancel_drops_what_has_not_started(world: Factory):
    """An interrupted run drops every pending unit and keeps the running ones to record."""
    schedule = Schedule(world.plan().units())
    schedule.start("countries")
    assert schedule.cancel() == ["cities", "key_metrics", "publish"]
    assert schedule.ready() == [] and schedule.running == {"countries"}
