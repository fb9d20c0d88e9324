"""Partitioned flows: one part per partition, united into one dataset downstream flows read."""

from __future__ import annotations

from pathlib import Path

import pytest
from dataflows import Flow
from shop import sales_factory

from dataflows_factory import Factory, FlowExecutionError, InvalidStepError, Plan, run_step
from dataflows_factory.datasets import iter_rows
from dataflows_factory.partitions import dates, partition_key


def _sales(root: Path) -> Factory:
    return sales_factory(root)


def _rows(factory: Factory, flow: str, resource: str) -> list[dict]:
    return list(iter_rows(factory.store().descriptor_url(factory.name, flow), resource))


def test_partition_keys_are_safe_stable_and_distinct():
    """Keys keep safe values and hash the others, deterministically."""
    assert partition_key("2026-01-01") == "2026-01-01"
    assert partition_key("raw/eu.csv") == partition_key("raw/eu.csv") != partition_key("raw_eu.csv")
    assert "/" not in partition_key("../../etc/passwd")


def test_plan_lists_partitions_and_round_trips(tmp_path: Path):
    """A file glob becomes the plan's partition list, in sorted order."""
    plan = _sales(tmp_path).plan()
    assert plan.step("sales").partitions == ("raw/apac.csv", "raw/eu.csv", "raw/us.csv")
    assert Plan.from_json(plan.to_json()) == plan
    assert plan.step("total").partitions == ()


def test_parts_merge_into_one_dataset_in_partition_order(tmp_path: Path):
    """Each part is its own dataset; the merge unites them; downstream sees one dataset."""
    factory = _sales(tmp_path)
    parts = [run_step(factory, "sales", partition=p) for p in factory.plan().step("sales").partitions]
    assert [(r.partition, r.rows) for r in parts] == [
        ("raw/apac.csv", {"sales": 3}), ("raw/eu.csv", {"sales": 2}), ("raw/us.csv", {"sales": 1})]
    merged = run_step(factory, "sales")
    assert merged.rows == {"sales": 6}
    assert run_step(factory, "total").rows == {"sales": 6}
    assert [r["amount"] for r in _rows(factory, "total", "sales")] == [7, 8, 9, 10, 20, 5]
    assert run_step(factory, "sales").status == "skipped"


def test_only_a_changed_partition_runs_again(tmp_path: Path):
    """Editing one input file re-runs that partition only; the merge follows."""
    factory = _sales(tmp_path)
    values = factory.plan().step("sales").partitions
    for value in values:
        run_step(factory, "sales", partition=value)
    run_step(factory, "sales")
    (tmp_path / "raw" / "us.csv").write_text("region,amount\nus,5\nus,6\n")
    statuses = {v: run_step(factory, "sales", partition=v).status for v in values}
    assert statuses == {"raw/apac.csv": "skipped", "raw/eu.csv": "skipped", "raw/us.csv": "succeeded"}
    assert run_step(factory, "sales").rows == {"sales": 7}


def test_merge_needs_every_part_and_names_the_missing_one(tmp_path: Path):
    """Merging before a partition ran is an error naming that partition."""
    factory = _sales(tmp_path)
    run_step(factory, "sales", partition="raw/eu.csv")
    with pytest.raises(FlowExecutionError, match=r"partition 'raw/apac\.csv' has not been produced"):
        run_step(factory, "sales")


def test_partition_declaration_errors(tmp_path: Path):
    """A partitioned flow needs a `partition` parameter; unknown partitions are refused."""
    factory = Factory("bad", store=tmp_path)
    with pytest.raises(InvalidStepError, match="partition"):
        factory.flow(name="nopart", partitions=["a"])(lambda: Flow([{"x": 1}]))

    @factory.flow(partitions=dates("2026-01-01", "2026-01-02"))
    def daily(partition):
        return Flow([{"day": partition}])

    with pytest.raises(FlowExecutionError, match="unknown partition '2027-01-01'"):
        run_step(factory, "daily", partition="2027-01-01")


def test_local_runner_runs_partitions_in_parallel_and_merges(tmp_path: Path):
    """The runner runs every partition, then the merge, then downstream; reruns skip."""
    from dataflows_factory.runner import run

    factory = _sales(tmp_path)
    report = run(factory, jobs=2, show_progress=False)
    assert report.ok, report.failed
    assert list(report.results) == ["sales[raw/apac.csv]", "sales[raw/eu.csv]", "sales[raw/us.csv]",
                                    "sales", "total"]
    assert report.results["total"].rows == {"sales": 6}
    (tmp_path / "raw" / "eu.csv").write_text("region,amount\neu,1\n")
    again = run(factory, jobs=2, show_progress=False)
    assert {unit: r.status for unit, r in again.results.items()} == {
        "sales[raw/apac.csv]": "skipped", "sales[raw/eu.csv]": "succeeded",
        "sales[raw/us.csv]": "skipped", "sales": "succeeded", "total": "succeeded"}
    assert again.results["total"].rows == {"sales": 5}


def test_partitions_of_different_shapes_fail_the_merge(tmp_path: Path):
    """A partition whose schema differs is named by the merge; downstream does not run."""
    from dataflows_factory.runner import run

    factory = _sales(tmp_path)
    (tmp_path / "raw" / "us.csv").write_text("region,amount\nus,5\nus,oops\n")
    report = run(factory, jobs=2, show_progress=False)
    statuses = {unit: r.status for unit, r in report.results.items()}
    assert statuses["sales[raw/us.csv]"] == "succeeded"
    assert (statuses["sales"], statuses["total"]) == ("failed", "upstream_failed")
    error = report.results["sales"].error
    assert error is not None and "partition 'raw/us.csv' has other resources or schemas" in error["text"]


def test_a_failing_partition_stops_the_merge_and_downstream(tmp_path: Path):
    """One bad partition: its siblings finish, the merge and downstream do not run."""
    from dataflows_factory.runner import run

    factory = Factory("days", store=tmp_path / "data", root=tmp_path)

    def refuse_the_second(row):
        if row["day"] == "2026-01-02":
            raise ValueError("no data on the 2nd")

    @factory.flow(partitions=dates("2026-01-01", "2026-01-03"), retries=1)
    def daily(partition):
        return Flow([{"day": partition}], refuse_the_second)

    @factory.flow()
    def month(daily):
        return Flow(daily)

    report = run(factory, jobs=2, show_progress=False)
    statuses = {unit: r.status for unit, r in report.results.items()}
    assert statuses == {"daily[2026-01-01]": "succeeded", "daily[2026-01-02]": "failed",
                        "daily[2026-01-03]": "succeeded", "daily": "upstream_failed",
                        "month": "upstream_failed"}
    failed = report.results["daily[2026-01-02]"]
    assert failed.attempt == 2 and failed.partition == "2026-01-02"
    assert failed.error is not None and failed.error["processor"] == "refuse_the_second"
    assert failed.error["partition"] == "2026-01-02"
    assert "flow 'daily', processor 'refuse_the_second'" in failed.error["text"]
    assert "partition '2026-01-02'" in failed.error["text"]
