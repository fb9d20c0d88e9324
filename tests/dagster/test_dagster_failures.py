"""Failing flows under Dagster: the asset fails naming flow and processor, downstream waits,
the previous dataset stays byte-identical, and the RetryPolicy is honoured."""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterEventType, materialize
from dagster_helpers import files_of, materializations

from dataflows_factory import Factory
from dataflows_factory.dagster_assets import FactoryResource, build_assets, factory_assets


def _run(factory: Factory, instance, assets=None, **options):
    return materialize(assets or build_assets(factory), instance=instance, raise_on_error=False,
                       resources={"dff": FactoryResource()}, **options)


def _events(result, kind: DagsterEventType, step: str | None = None):
    return [event for event in result.all_events
            if event.event_type == kind and (step is None or event.step_key == step)]


def _store(factory: Factory) -> Path:
    return Path(factory.store().url)


def test_failing_flow_fails_its_asset_and_keeps_previous_dataset(fragile: Factory, instance) -> None:
    """Bad input fails 'numbers' naming the processor; 'doubled' is not run; old dataset intact."""
    assert _run(fragile, instance).success
    before = files_of(_store(fragile), "fragile", "numbers")
    downstream_before = files_of(_store(fragile), "fragile", "doubled")
    raw = fragile.root / "raw" / "numbers.csv"
    raw.write_text(raw.read_text() + "4,-40\n")

    result = _run(fragile, instance)
    assert not result.success
    (failure,) = _events(result, DagsterEventType.STEP_FAILURE)
    assert failure.step_key == "fragile__numbers"
    data = failure.step_failure_data
    assert "flow 'numbers'" in data.user_failure_data.description
    assert "processor 'check_positive'" in data.user_failure_data.description
    assert data.user_failure_data.metadata["processor"].value == "check_positive"
    assert data.user_failure_data.metadata["flow"].value == "numbers"
    assert "negative value -40" in data.user_failure_data.description
    assert {e.step_key for e in _events(result, DagsterEventType.STEP_START)} == {
        "fragile__numbers", "fragile__flaky"}
    assert set(materializations(result)) == {"fragile/flaky"}
    assert files_of(_store(fragile), "fragile", "numbers") == before
    assert files_of(_store(fragile), "fragile", "doubled") == downstream_before


def test_retry_policy_retries_until_success(fragile: Factory, instance) -> None:
    """'flaky' (retries=2) fails twice, is retried by Dagster twice, and succeeds on attempt 3."""
    (fragile.root / "fail_times.txt").write_text("2")
    result = _run(fragile, instance, selection=["fragile/flaky"])
    assert result.success
    assert len(_events(result, DagsterEventType.STEP_UP_FOR_RETRY, "fragile__flaky")) == 2
    assert (fragile.root / "attempts.txt").read_text() == "3"
    assert materializations(result)["fragile/flaky"].metadata["attempt"].value == 3


def test_retry_policy_gives_up_after_its_retries(fragile: Factory, instance) -> None:
    """With more failures than retries, 'flaky' fails after exactly 1 + retries attempts."""
    (fragile.root / "fail_times.txt").write_text("10")
    result = _run(fragile, instance, selection=["fragile/flaky"])
    assert not result.success
    assert len(_events(result, DagsterEventType.STEP_UP_FOR_RETRY, "fragile__flaky")) == 2
    assert (fragile.root / "attempts.txt").read_text() == "3"
    (failure,) = _events(result, DagsterEventType.STEP_FAILURE)
    assert "flaky failure on attempt 3" in failure.step_failure_data.user_failure_data.description


def test_one_op_keeps_independent_flows_and_holds_downstream(fragile: Factory, instance) -> None:
    """In one @factory_assets op, a failed flow holds back its downstream; independent flows still run,
    and on the op's retries (as many as its most-retried flow) they are skipped as unchanged."""

    @factory_assets(factory=fragile)
    def fragile_assets(context, dff: FactoryResource):
        yield from dff.run(context)

    raw = fragile.root / "raw" / "numbers.csv"
    raw.write_text(raw.read_text() + "4,-40\n")
    result = _run(fragile, instance, [fragile_assets])
    assert not result.success
    assert set(materializations(result)) == {"fragile/flaky"}
    assert len(_events(result, DagsterEventType.STEP_UP_FOR_RETRY)) == 2
    statuses = [event.event_specific_data.materialization.metadata["status"].value
                for event in _events(result, DagsterEventType.ASSET_MATERIALIZATION)]
    assert statuses == ["succeeded", "skipped", "skipped"]
    failures = _events(result, DagsterEventType.STEP_FAILURE)
    assert "processor 'check_positive'" in failures[-1].step_failure_data.user_failure_data.description
    assert not (_store(fragile) / "fragile" / "doubled").exists()
