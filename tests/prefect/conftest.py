"""One Prefect test API per session (a real local server on SQLite), and helpers to read it back."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

# Before Prefect is imported: no telemetry, no UI build, quiet server.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_UI_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_LOCAL_STORAGE_PATH,
    temporary_settings,
)
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="session", autouse=True)
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prefect API server for the whole session; cached results go to a private folder."""
    storage = tmp_path_factory.mktemp("prefect-results")
    with temporary_settings({PREFECT_LOCAL_STORAGE_PATH: str(storage)}), \
            prefect_test_harness(server_startup_timeout=180):
        yield str(PREFECT_API_URL.value())


class API:
    """Reads back what a flow run left in the Prefect API."""

    @staticmethod
    def task_runs(state: Any) -> dict[str, Any]:
        """The task runs of the flow run that ended in ``state``, by name.

        The server records task runs and their states from events, a moment after the flow
        run returns: read until every run has a final state and two reads agree.
        """
        from prefect.events.worker import EventsWorker

        EventsWorker.drain_all(timeout=60)
        flow_run = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        seen: dict[str, Any] | None = None
        deadline = time.monotonic() + 30
        with get_client(sync_client=True) as client:
            while True:
                runs = {run.name: run for run in client.read_task_runs(flow_run_filter=flow_run)}
                final = all(run.state is not None and run.state.is_final() for run in runs.values())
                summary = {name: (run.state_type, run.run_count) for name, run in runs.items()}
                if (final and summary == seen) or time.monotonic() > deadline:
                    return runs
                seen = summary if final else None
                time.sleep(0.2)

    def states(self, state: Any) -> dict[str, str]:
        """Task run name -> state name (Completed, Cached, Failed...)."""
        return {name: run.state.name for name, run in self.task_runs(state).items()}

    @staticmethod
    def _read_logs(state: Any) -> list[Any]:
        from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=60)  # logs are shipped in batches: send what is pending
        with get_client(sync_client=True) as client:
            return list(client.read_logs(log_filter=LogFilter(
                flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id]))))

    def logs(self, state: Any) -> list[str]:
        """Every message of the flow run and its task runs."""
        return [log.message for log in self._read_logs(state)]

    def task_logs(self, state: Any) -> dict[str, list[str]]:
        """Task run name -> the messages logged on that task run."""
        names = {run.id: name for name, run in self.task_runs(state).items()}
        found: dict[str, list[str]] = {name: [] for name in names.values()}
        for log in self._read_logs(state):
            if log.task_run_id in names:
                found[names[log.task_run_id]].append(log.message)
        return found


@pytest.fixture
def api() -> API:
    """Helpers that read flow runs, task runs and logs back from the test API."""
    return API()

