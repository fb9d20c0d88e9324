"""Against the real Prefect API: no credential in task run logs, states, results, artifacts or
the exception the flow raises."""

from __future__ import annotations

import json
import traceback
import uuid
from pathlib import Path

import pytest
from leaky import write_leaky_factory
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

from dataflows_factory import load_factory
from dataflows_factory.prefect_blocks import artifact_key, build_flow

CORE = "Kpf" + uuid.uuid4().hex[:8]  # in every password of the leaky factory; no output may contain it


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_no_password_in_logs_states_results_artifacts_or_exception(tmp_path: Path, api,
                                                                   isolation: str) -> None:
    """A flow failing on password URLs and a flow whose schema and descriptor carry one: what
    Prefect stores and what the flow raises show ``***``, in a worker process or a thread."""
    write_leaky_factory(tmp_path, name='secrets_pf', logger='dataflows_factory.user', core=CORE)
    factory_flow = build_flow(load_factory(str(tmp_path / "factory.py")),
                              isolation=isolation)  # type: ignore[arg-type]

    state = factory_flow(return_state=True)

    assert state.is_failed()
    with pytest.raises(Exception) as raised:
        state.result()
    exception = "".join(traceback.format_exception(raised.value))
    assert "cannot connect to postgresql+psycopg2//***@db.example.com/shop" in exception
    runs = api.task_runs(state)
    assert {name: run.state.name for name, run in runs.items()} == {
        "leaky": "Failed", "described": "Completed"}
    states = [run.state.message or "" for run in runs.values()] + [state.message or ""]
    logs = api.logs(state)
    assert "connecting to https://***@files.example.com/x" in logs
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))
    assert {"table", "markdown"} <= {artifact.type for artifact in artifacts}
    assert artifact_key("secrets_pf", "described") in {artifact.key for artifact in artifacts}
    shown = [f"{artifact.description} {json.dumps(artifact.data)}" for artifact in artifacts]
    results = [p.read_text(errors="replace") for p in Path(PREFECT_LOCAL_STORAGE_PATH.value()).rglob("*")
               if p.is_file()]
    assert any("password=***" in text for text in results)  # described's StepResult
    published = (tmp_path / "data" / "secrets_pf" / "described" / "datapackage.json").read_text()
    outputs = {"exception": exception, "states": "\n".join(states), "logs": "\n".join(logs),
               "artifacts": "\n".join(shown), "results": "\n".join(results), "descriptor": published}
    assert [where for where, text in outputs.items() if CORE in text] == []
