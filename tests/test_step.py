"""The step executor: one flow streamed, published atomically, skipped when unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dataflows import Flow, load

from dataflows_factory import Factory, FlowExecutionError, StepResult, run_step, step_fingerprint


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_step_result_describes_the_dataset_and_survives_json(world: Factory):
    """A StepResult holds URI, rows, schema, bytes, hashes and timings, and round-trips JSON."""
    result = run_step(world, "countries")
    assert result.status == "succeeded"
    assert result.rows == {"countries": 15}
    fields = {f["name"]: f["type"] for f in result.schema["countries"]["fields"]}
    assert fields["population"] == "integer" and fields["code"] == "string"
    dataset = Path(result.dataset_uri)
    assert (dataset / "datapackage.json").is_file()
    assert result.bytes == (dataset / "countries.csv").stat().st_size
    assert len(result.content_hash) == 64 and len(result.fingerprint) == 64
    assert result.duration > 0
    again = StepResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result


def test_unchanged_flow_is_skipped_and_force_reruns(world: Factory):
    """Same code, params, inputs: skipped; --force runs it; the content stays identical."""
    first = run_step(world, "countries")
    second = run_step(world, "countries")
    forced = run_step(world, "countries", force=True)
    assert (second.status, forced.status) == ("skipped", "succeeded")
    assert first.content_hash == second.content_hash == forced.content_hash
    assert second.rows == first.rows


def test_fingerprint_follows_input_bytes_and_upstream_content(world: Factory, world_file: Path):
    """Editing a source CSV changes that flow's fingerprint and then its downstream's."""
    for flow in ("countries", "cities", "key_metrics"):
        run_step(world, flow)
    before = {f: step_fingerprint(world, f) for f in ("countries", "cities", "key_metrics")}
    csv = world_file.parent / "raw" / "cities.csv"
    csv.write_text(csv.read_text().replace("Lyon,FR,522250", "Lyon,FR,522251"))
    assert step_fingerprint(world, "countries") == before["countries"]
    assert step_fingerprint(world, "cities") != before["cities"]
    assert step_fingerprint(world, "key_metrics") == before["key_metrics"]  # cities not re-run yet
    assert run_step(world, "cities").status == "succeeded"
    assert step_fingerprint(world, "key_metrics") != before["key_metrics"]


def test_a_stored_dataset_missing_a_file_is_not_trusted(world: Factory):
    """A matching fingerprint with a damaged dataset re-runs the flow (never a stale record)."""
    result = run_step(world, "countries")
    (Path(result.dataset_uri) / "countries.csv").write_text("code\nXX\n")
    assert run_step(world, "countries").status == "succeeded"


def test_params_enter_the_fingerprint(tmp_path: Path):
    """Changing a flow parameter makes the flow run again."""
    def build(limit):
        factory = Factory("p", store=tmp_path)

        @factory.flow(params={"limit": limit})
        def numbers(limit=0):
            return Flow([{"n": i} for i in range(limit)])

        return factory

    assert run_step(build(3), "numbers").rows == {"res_1": 3}
    assert run_step(build(3), "numbers").status == "skipped"
    assert run_step(build(4), "numbers").rows == {"res_1": 4}


def test_a_failing_flow_leaves_the_previous_dataset_byte_identical(tmp_path: Path):
    """A processor raising mid-stream: error names flow and processor; old dataset intact."""
    source = tmp_path / "in.csv"
    source.write_text("id,value\n" + "".join(f"{i},{i * 10}\n" for i in range(1, 101)))
    factory = Factory("fail", store=tmp_path / "data", root=tmp_path)

    def check_value(row):
        if row["value"] < 0:
            raise ValueError(f"negative value {row['value']}")

    @factory.flow()
    def values():
        return Flow(load("in.csv", name="values"), check_value)

    good = run_step(factory, "values")
    dataset = Path(good.dataset_uri)
    before = _snapshot(dataset)
    source.write_text(source.read_text().replace("50,500", "50,-500"))
    with pytest.raises(FlowExecutionError) as caught:
        run_step(factory, "values")
    error = caught.value
    assert error.flow == "values" and error.processor == "check_value"
    assert "negative value -500" in str(error)
    assert _snapshot(dataset) == before
    assert not list((tmp_path / "data" / "fail" / ".staging").iterdir())


def test_a_value_violating_the_schema_names_resource_row_and_field(tmp_path: Path):
    """A cast error reports the resource, the row number and the field."""
    (tmp_path / "in.csv").write_text("id,n\n1,5\n2,6\n")
    factory = Factory("cast", store=tmp_path / "data", root=tmp_path)

    @factory.flow()
    def numbers():
        return Flow(
            load("in.csv", name="numbers"),
            lambda row: row.update(n="oops") if row["id"] == 2 else None,
        )

    with pytest.raises(FlowExecutionError) as caught:
        run_step(factory, "numbers")
    error = caught.value
    assert (error.flow, error.resource, error.row, error.field) == ("numbers", "numbers", 2, "n")
    assert error.processor == "dump_to_path"


def test_missing_upstream_dataset_is_named(world: Factory):
    """Running a flow before its upstream names the missing input."""
    with pytest.raises(FlowExecutionError, match="upstream flow 'countries' does not exist"):
        run_step(world, "key_metrics")


def test_step_progress_callback_sees_every_row(tmp_path: Path):
    """The progress callback gets the final row count of each resource."""
    factory = Factory("prog", store=tmp_path)
    factory.flow(name="big")(lambda: Flow([{"i": i} for i in range(5000)]))
    seen: dict[str, int] = {}
    run_step(factory, "big", progress=lambda flow, resource, rows: seen.__setitem__(resource, rows))
    assert seen == {"res_1": 5000}
