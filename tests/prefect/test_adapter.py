"""Building flows: pure ids, no data read at build time, the extra check, the example file."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from prefect import Flow
from prefect.flows import load_flow_from_entrypoint

from dataflows_factory import Factory, UnknownUpstreamError
from dataflows_factory.prefect_blocks import PrefectTranslator, artifact_key, build_flow, cache_key

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "prefect" / "world_flow.py"


def test_ids_are_deterministic_and_sanitized() -> None:
    """Artifact and cache keys use only what Prefect accepts and never collide across stores."""
    assert artifact_key("world", "key_metrics") == "dff-world-key-metrics"
    long = artifact_key("world", "x" * 100)
    assert len(long) <= 60 and long == artifact_key("world", "x" * 100)
    assert artifact_key("w", "a_b") != artifact_key("w", "a.b")
    for key in (long, artifact_key("W", "a.b"), cache_key("/data", "world", "cities", "f" * 64)):
        assert set(key) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
    assert cache_key("/a", "world", "cities", "f") != cache_key("/b", "world", "cities", "f")
    assert cache_key("/a", "world", "cities", "f") == cache_key("/a", "world", "cities", "f")


def test_build_flow_reads_no_data_but_validates_the_factory(tmp_path: Path) -> None:
    """Inputs need not exist to build the flow; an unknown upstream fails at build time."""
    from dataflows import Flow as DataFlow
    from dataflows import load

    factory = Factory("lazy", store=str(tmp_path / "store"), root=tmp_path)
    factory.flow(name="source")(lambda: DataFlow(load("missing.csv")))
    built = build_flow(factory, name="lazy-flow", retries=1)
    assert isinstance(built, Flow)
    assert (built.name, built.retries, built.fn.__name__) == ("lazy-flow", 1, "lazy_flow")
    assert not (tmp_path / "store").exists()

    broken = Factory("broken", root=tmp_path)

    @broken.flow()
    def report(nowhere):  # type: ignore[no-untyped-def]
        return DataFlow(nowhere)

    with pytest.raises(UnknownUpstreamError, match="report"):
        build_flow(broken)


def test_translator_maps_retries_and_tags(world_file: Path) -> None:
    """The cities flow's retries=2 becomes task retries; tags and names follow the flow."""
    from dataflows_factory import load_factory

    plan = load_factory(str(world_file)).plan()
    task = PrefectTranslator().make_task(plan.step("cities"))
    assert (task.name, task.retries, task.task_run_name) == ("cities", 2, "cities")
    assert set(task.tags) == {"dataflows-factory", "source"}


def test_importing_without_prefect_names_the_extra() -> None:
    """Without Prefect, the import fails with the pip line of the extra."""
    code = ("import sys; sys.modules['prefect'] = None\n"
            "try:\n    import dataflows_factory.prefect_blocks\n"
            "except ImportError as error:\n    print(type(error).__name__, error)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "MissingExtraError" in done.stdout
    assert 'pip install "dataflows-factory[prefect]"' in done.stdout


def test_example_loads_and_deploys_by_entrypoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example's flow is found by entrypoint, as serve() and deployments load it."""
    spec = importlib.util.spec_from_file_location("world_flow_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "world_flow_example", module)
    spec.loader.exec_module(module)
    assert module.world_flow.name == "world"
    assert module.key_metrics_report.name == "key-metrics-report"

    monkeypatch.chdir(ROOT)
    deployment = module.world_flow.to_deployment(name="world-nightly", cron="0 3 * * *")
    assert deployment.entrypoint == "examples/prefect/world_flow.py:world_flow"
    loaded = load_flow_from_entrypoint(deployment.entrypoint)
    assert isinstance(loaded, Flow) and loaded.name == "world"
