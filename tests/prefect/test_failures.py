"""A failing flow fails its task run, with retries, and stops only what depends on it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dataflows_factory import load_factory
from dataflows_factory.prefect_blocks import FactoryRunError, build_flow

ROOT = Path(__file__).resolve().parents[2]

FRAGILE = '''
from dataflows import Flow, load

from dataflows_factory import Factory

factory = Factory("fragile", store="data")


@factory.flow()
def countries():
    return Flow(load("raw/countries.csv", name="countries"))


def check_city(row):
    if row["name"] == "Eldorado":
        raise ValueError("Eldorado is not a real city")


@factory.flow(retries=2, retry_delay=0)
def cities():
    return Flow(load("raw/cities.csv", name="cities"), check_city)


@factory.flow()
def key_metrics(countries, cities):
    return Flow(countries, cities)


@factory.flow(after=["key_metrics"])
def publish():
    return Flow(load("raw/sources.csv", name="sources"))
'''


def _dataset_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def fragile_file(tmp_path: Path) -> Path:
    """The world inputs with a factory whose cities flow rejects one city."""
    shutil.copytree(ROOT / "examples" / "world" / "raw", tmp_path / "raw")
    path = tmp_path / "fragile.py"
    path.write_text(FRAGILE)
    return path


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_failing_flow_fails_its_task_after_retries_and_keeps_previous_dataset(fragile_file: Path,
                                                                               isolation: str,
                                                                               api) -> None:
    """cities fails 3 times (retries=2) naming flow and processor; downstream never runs.

    The same in a worker process as in the task's thread: the error comes back unchanged.
    """
    world_flow = build_flow(load_factory(str(fragile_file)), isolation=isolation)  # type: ignore[arg-type]
    good = world_flow(return_state=True)
    assert good.is_completed()
    cities_dataset = Path(good.result()["cities"]["dataset_uri"])
    before = _dataset_files(cities_dataset)
    cities_csv = fragile_file.parent / "raw" / "cities.csv"
    cities_csv.write_text(cities_csv.read_text() + "Eldorado,BR,100,false\n")

    bad = world_flow(return_state=True)

    assert bad.is_failed()
    with pytest.raises(FactoryRunError) as raised:
        bad.result()
    assert raised.value.not_run == {"key_metrics": "cities", "publish": "cities"}
    error = raised.value.failures["cities"]
    assert (error.flow, error.processor, error.cause_type) == ("cities", "check_city", "ValueError")
    runs = api.task_runs(bad)
    assert sorted(runs) == ["cities", "countries"]  # downstream tasks were never submitted
    assert runs["countries"].state.name == "Cached"
    assert runs["cities"].state.is_failed()
    assert runs["cities"].run_count == 3
    assert "processor 'check_city'" in runs["cities"].state.message
    assert "flow 'cities'" in runs["cities"].state.message
    assert _dataset_files(cities_dataset) == before
    logs = "\n".join(api.logs(bad))
    assert logs.count("Eldorado is not a real city") >= 3  # every attempt logged its error
