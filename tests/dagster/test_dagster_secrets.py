"""Dagster in-process: no credential in materialization or check metadata, the failure event,
or anything else of the run's event log."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, materialize
from dagster._serdes import serialize_value
from dagster_helpers import checks, materializations
from leaky import write_leaky_factory

from dataflows_factory import load_factory
from dataflows_factory.dagster_assets import FactoryResource, build_assets

CORE = "Kdg" + uuid.uuid4().hex[:8]  # in every password of the leaky factory; no output may contain it


def test_no_password_in_metadata_failure_or_event_log(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """A flow failing on password URLs and a flow whose schema and descriptor carry one: the
    event log (metadata, check results, failure with its causes, log lines) shows ``***``."""
    write_leaky_factory(tmp_path, name='secrets_dg', logger='dataflows_factory.step', core=CORE)
    factory = load_factory(str(tmp_path / "factory.py") + ":factory")
    instance = DagsterInstance.ephemeral()

    result = materialize(build_assets(factory), instance=instance, raise_on_error=False,
                         resources={"dff": FactoryResource()})

    assert not result.success
    (failure,) = [event for event in result.all_events
                  if event.event_type == DagsterEventType.STEP_FAILURE]
    description = failure.step_failure_data.user_failure_data.description
    assert "cannot connect to postgresql+psycopg2//***@db.example.com/shop" in description
    described = materializations(result)["secrets_dg/described"]
    assert "password=***" in str(described.metadata["schema/people"].value)
    assert checks(result)["secrets_dg/described"].passed
    entries = instance.all_logs(result.run_id)
    assert any("https://***@files.example.com/x" in entry.user_message for entry in entries)
    logged = [serialize_value(entry) for entry in entries]
    published = (tmp_path / "data" / "secrets_dg" / "described" / "datapackage.json").read_text()
    outputs = {"event log": "\n".join(logged), "python logs": caplog.text, "descriptor": published}
    assert [where for where, text in outputs.items() if CORE in text] == []
