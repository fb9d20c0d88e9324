"""Task granularity: how a plan's flows are grouped, and a group run as one task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataflows_factory import load_factory
from dataflows_factory.adapters.group_run import GroupError, run_group
from dataflows_factory.adapters.groups import group_plan
from dataflows_factory.adapters.plan import Plan, StepPlan
from dataflows_factory.errors import FactoryDefinitionError
from dataflows_factory.runner import run
from tests.conformance.datasets import published


def _plan(*steps: StepPlan) -> Plan:
    return Plan(factory="f", store="/s", steps=steps)


# a -> c <- b ; c -> d ; e alone
PLAN = _plan(StepPlan("a", tags=("src",)), StepPlan("b", tags=("src", "x")), StepPlan("c", inputs=("a", "b")),
             StepPlan("d", after=("c",), tags=("out",)), StepPlan("e"))


def test_by_flow_is_one_group_per_flow_with_the_plans_edges():
    groups = group_plan(PLAN)
    assert [(g.name, g.flows, g.deps) for g in groups] == [
        ("a", ("a",), ()), ("b", ("b",), ()), ("c", ("c",), ("a", "b")), ("d", ("d",), ("c",)),
        ("e", ("e",), ())]
    assert all(g.single for g in groups)


def test_by_tag_groups_by_first_tag_and_keeps_untagged_flows_alone():
    groups = {g.name: g for g in group_plan(PLAN, "tag")}
    assert groups["src"].flows == ("a", "b") and not groups["src"].single
    assert groups["c"].deps == ("src",) and groups["out"].deps == ("c",)
    assert list(groups) == ["src", "c", "out", "e"]


def test_by_factory_is_one_group_and_a_function_names_groups():
    assert [(g.name, g.flows) for g in group_plan(PLAN, "factory")] == [("f", ("a", "b", "c", "d", "e"))]
    groups = group_plan(PLAN, lambda step: "late" if step.name in ("c", "d") else None)
    assert [(g.name, g.flows, g.deps) for g in groups] == [
        ("a", ("a",), ()), ("b", ("b",), ()), ("late", ("c", "d"), ("a", "b")), ("e", ("e",), ())]


def test_groups_that_wait_for_each_other_are_refused_naming_the_flows():
    with pytest.raises(FactoryDefinitionError) as caught:
        group_plan(PLAN, lambda step: "ad" if step.name in ("a", "d") else None)
    text = str(caught.value)
    assert "'d' (group 'ad') waits for 'c'" in text and "'c' (group 'c') waits for 'a'" in text


@pytest.mark.parametrize("by, message", [
    ("tags", r"group_by='tags': choose one of 'flow', 'tag', 'factory'"),
    (lambda step: "", r"gave flow 'a' the group ''"),
    (lambda step: 3, r"gave flow 'a' the group 3"),
])
def test_bad_groupings_say_what_to_give(by, message):
    with pytest.raises(FactoryDefinitionError, match=message):
        group_plan(PLAN, by)


def test_a_group_named_after_a_flow_that_is_alone_takes_that_flow_in():
    assert [g.flows for g in group_plan(PLAN, lambda step: "e" if step.name == "a" else None)
            if g.name == "e"] == [("a", "e")]


def test_a_group_name_that_is_another_groups_flow_is_refused():
    clash = r"group 'e' has the name of flow 'e', which is in group 'z'"
    with pytest.raises(FactoryDefinitionError, match=clash):
        group_plan(PLAN, lambda step: {"a": "e", "e": "z"}.get(step.name))


def test_a_group_runs_its_flows_like_the_local_runner(world_file: Path, tmp_path: Path):
    """Same datasets as dff run; skip-unchanged on a second run; the manifest named per group."""
    factory = load_factory(str(world_file))
    store = tmp_path / "grouped"
    first = run_group(factory, ["countries", "cities"], group="source", store=store,
                      run_id="manual__2026-11-30T06:00:00+00:00")
    assert first.ok and {r.status for r in first.results.values()} == {"succeeded"}
    assert first.manifest.endswith("manual__2026-11-30T06_00_00_00_00.source.json")
    assert json.loads(Path(first.manifest).read_text())["plan"] == ["countries", "cities"]
    rest = run_group(factory, ["key_metrics", "publish"], group="metrics", store=store)
    assert rest.ok and rest.results["key_metrics"].rows == {"key_metrics": 15}
    again = run_group(factory, ["countries", "cities"], group="source", store=store)
    assert {r.status for r in again.results.values()} == {"skipped"}
    run(factory, store=tmp_path / "local", show_progress=False)
    assert published(store, "world") == published(tmp_path / "local", "world")


def test_a_failed_flow_in_a_group_is_named_and_the_others_still_run(tmp_path: Path):
    (tmp_path / "factory.py").write_text(
        "from dataflows import Flow\nfrom dataflows_factory import Factory\n"
        "factory = Factory('g')\n"
        "def explode(row):\n    raise ValueError('boom ' + str(row['x']))\n"
        "@factory.flow()\ndef good():\n    return Flow([{'x': 1}])\n"
        "@factory.flow()\ndef bad():\n    return Flow([{'x': 2}], explode)\n"
        "@factory.flow()\ndef below(bad):\n    return Flow(bad)\n")
    report = run_group(str(tmp_path / "factory.py"), ["good", "bad", "below"], group="all",
                       store=tmp_path / "store")
    assert not report.ok
    assert {u: r.status for u, r in report.results.items()} == {
        "good": "succeeded", "bad": "failed", "below": "upstream_failed"}
    error = GroupError("all", report)
    text = str(error)
    assert text.startswith("group 'all': flow 'bad', processor 'explode'") and "boom 2" in text
    assert "below (upstream_failed)" in text and "\n" not in text


def test_flows_kept_alone_are_tasks_of_their_own_whatever_the_grouping():
    groups = group_plan(PLAN, "factory", alone=lambda step: step.name == "e")
    assert [(g.name, g.flows) for g in groups] == [("f", ("a", "b", "c", "d")), ("e", ("e",))]
    # A flow kept alone between two flows of one group would make them wait for each other.
    with pytest.raises(FactoryDefinitionError, match=r"groups f -> c -> f wait for each other"):
        group_plan(PLAN, "factory", alone=lambda step: step.name == "c")


def test_groups_run_from_task_threads_share_one_warm_pool(world_file: Path, tmp_path: Path):
    """A caller with threads (an orchestrator's task) borrows the process's shared pool: the
    second group runs in the workers the first one started, and the pool stays open."""
    import threading

    from dataflows_factory.adapters import pool as pools

    factory = load_factory(str(world_file))
    reports = []

    def task(flows: list[str], group: str) -> None:
        reports.append(run_group(factory, flows, group=group, store=tmp_path / "store"))

    for flows, group in ((["countries", "cities"], "source"), (["key_metrics", "publish"], "metrics")):
        thread = threading.Thread(target=task, args=(flows, group))
        thread.start()
        thread.join(timeout=120)
        if group == "source":
            shared = pools.shared_pool()
            first = {worker.pid for worker in shared._workers}
    assert [r.ok for r in reports] == [True, True]
    assert reports[1].results["key_metrics"].rows == {"key_metrics": 15}
    assert pools.shared_pool() is shared and first
    assert first & {worker.pid for worker in shared._workers}  # the same workers, warm
