"""The local run's own OpenLineage run closes when the runner itself raises (not a flow)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lineage_support import by_job, clear_lineage_config, file_transport, read_events, validate_event

from dataflows_factory import run
from dataflows_factory import runner as runner_module


@pytest.fixture
def lineage_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Events go to a file, whatever the machine's OpenLineage configuration says."""
    clear_lineage_config(monkeypatch, tmp_path / "home")
    path = tmp_path / "events.jsonl"
    for key, value in file_transport(path).items():
        monkeypatch.setenv(key, value)
    return path


@pytest.mark.parametrize(("raised", "state"), [(RuntimeError("scheduler bug"), "FAIL"),
                                               (KeyboardInterrupt(), "ABORT")])
def test_an_error_inside_the_runner_ends_the_factory_run(
        world_file: Path, lineage_file: Path, monkeypatch: pytest.MonkeyPatch,
        raised: BaseException, state: str) -> None:
    """START of job ``world`` is followed by FAIL (an error) or ABORT (Ctrl-C), and the
    error still reaches the caller."""
    def broken(self: object) -> None:
        raise raised

    monkeypatch.setattr(runner_module._Scheduler, "run", broken)
    with pytest.raises(type(raised)):
        run(str(world_file), jobs=1, show_progress=False)
    events = read_events(lineage_file)
    for event in events:
        validate_event(event)
    assert [e["eventType"] for e in by_job(events)["world"]] == ["START", state]
    if state == "FAIL":
        message = by_job(events)["world"][1]["run"]["facets"]["errorMessage"]["message"]
        assert message == "run failed: RuntimeError: scheduler bug"
