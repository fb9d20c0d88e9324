"""Sending run events: one client per process and configuration, failures logged once.

A lineage receiver that is down, slow or misconfigured never fails a flow: every emission
is wrapped, and the first failure in a process is logged as a warning (later ones at debug).
Nor does it slow the flows down for long: the HTTP transport retries a refused event for
about ten seconds, so after a failure the process sends nothing with that configuration
for a minute (the events of that minute are dropped, at debug level).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from .._secrets import redact
from ._config import ParentRun
from ._facets import PRODUCER, ol

__all__ = ["emit", "error_facet", "job_facets", "parent_facet", "warn_once"]

log = logging.getLogger("dataflows_factory.lineage")

_lock = threading.Lock()
_clients: dict[tuple[Any, ...], Any] = {}
_warned = False
_PAUSE_SECONDS = 60.0
_paused_until: dict[tuple[Any, ...], float] = {}  # per configuration (see _config_key)


def _config_key() -> tuple[Any, ...]:
    # A client reads its configuration once: a changed configuration (a test, a worker
    # given another environment) or a forked worker (whose HTTP session must not be the
    # parent's) gets its own.
    return (os.getpid(), os.getcwd(),
            tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("OPENLINEAGE"))))


def _client() -> Any:
    from openlineage.client import OpenLineageClient

    key = _config_key()
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = OpenLineageClient()
            _clients[key] = client
            # The client turns OPENLINEAGE_URL into OPENLINEAGE__TRANSPORT__* variables.
            _clients[_config_key()] = client
        return client


def warn_once(what: str, error: BaseException) -> None:
    """Log a failed emission: a warning the first time in this process, then at debug."""
    global _warned
    text = redact(f"{type(error).__name__}: {error}")
    if _warned:
        log.debug("OpenLineage: %s failed: %s", what, text)
        return
    _warned = True
    log.warning("OpenLineage: %s failed (the flows are not affected; later failures are "
                "logged at debug level): %s", what, text)


def parent_facet(parent: ParentRun) -> Any:
    """The ``parent`` run facet pointing at ``parent`` (and its root, or itself as root)."""
    from openlineage.client.generated import parent_run

    root = parent.root or parent
    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=parent.run_id),
        job=parent_run.Job(namespace=parent.namespace, name=parent.job),
        root=parent_run.Root(run=parent_run.RootRun(runId=root.run_id),
                             job=parent_run.RootJob(namespace=root.namespace, name=root.job)))


def error_facet(text: str, stack: str | None = None) -> Any:
    """The ``errorMessage`` run facet: ``text`` is the one-line message the CLI prints."""
    return ol().ErrorMessageRunFacet(message=redact(text), programmingLanguage="python",
                                     stackTrace=redact(stack) if stack else None)


def job_facets(kind: str, description: str | None = None) -> dict[str, Any]:
    """``jobType`` (batch, integration ``DATAFLOWS_FACTORY``, ``FLOW`` or ``FACTORY``) and,
    when given, ``documentation`` (the flow's docstring)."""
    classes = ol()
    facets: dict[str, Any] = {"jobType": classes.JobTypeJobFacet(
        processingType="BATCH", integration="DATAFLOWS_FACTORY", jobType=kind)}
    if description:
        facets["documentation"] = classes.DocumentationJobFacet(description=redact(description))
    return facets


def emit(
    state: str, *, namespace: str, job: str, run_id: str, parent: ParentRun | None = None,
    inputs: Sequence[Any] = (), outputs: Sequence[Any] = (),
    run_facets: Mapping[str, Any] | None = None, job_facets: Mapping[str, Any] | None = None,
) -> bool:
    """Send one run event (``state``: START, COMPLETE, FAIL, ABORT); False if it failed
    or was dropped (after a failure, for :data:`_PAUSE_SECONDS`)."""
    key = _config_key()
    if time.monotonic() < _paused_until.get(key, 0.0):
        log.debug("OpenLineage: %s event of %r dropped (the last emission failed)", state, job)
        return False
    try:
        classes = ol()
        facets = dict(run_facets or {})
        if parent is not None:
            facets["parent"] = parent_facet(parent)
        event = classes.RunEvent(
            eventType=classes.RunState[state],
            eventTime=datetime.now(UTC).isoformat(timespec="milliseconds"),
            run=classes.Run(runId=run_id, facets=facets),
            job=classes.Job(namespace=namespace, name=job, facets=dict(job_facets or {})),
            inputs=list(inputs), outputs=list(outputs), producer=PRODUCER)
        _client().emit(event)
    except Exception as error:
        _paused_until[key] = time.monotonic() + _PAUSE_SECONDS
        warn_once(f"emitting the {state} event of {job!r}", error)
        return False
    return True
