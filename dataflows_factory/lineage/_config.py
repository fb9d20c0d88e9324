"""Whether to emit, under which namespace, with which run ids: nothing here imports openlineage.

Every step asks :func:`enabled` before doing any lineage work, so this module stays cheap:
a few environment look-ups and at most three ``stat`` calls.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["EMIT_ENV", "NAMESPACE_ENV", "ParentRun", "enabled", "factory_run", "job_name",
           "namespace_for", "run_uuid", "suppressed"]

NAMESPACE_ENV = "DFF_LINEAGE_NAMESPACE"
"""Overrides the jobs' namespace (before ``OPENLINEAGE_NAMESPACE``)."""

EMIT_ENV = "DFF_LINEAGE_EMIT"
"""``false`` turns the steps' own events off (an engine that emits for them sets it)."""

_OFF = frozenset({"0", "false", "no", "off"})
# uuid5 namespace of every run id derived here: the same parts give the same run id in
# any process and on any machine (a retry of a task finds its parent's id again).
_RUN_NAMESPACE = uuid.UUID("6f1c9a52-0d55-5b7e-9a0e-3c4f1d2b8e71")


def enabled() -> bool:
    """True when OpenLineage is configured the standard way and not switched off.

    Configured means one of: ``OPENLINEAGE_URL``, an ``OPENLINEAGE__TRANSPORT__*`` variable,
    ``OPENLINEAGE_CONFIG`` naming a file, or an ``openlineage.yml`` in the working folder or
    in ``~/.openlineage`` (where the client looks). ``OPENLINEAGE_DISABLED=true`` or
    ``DFF_LINEAGE_EMIT=false`` turn it off. Never imports openlineage.
    """
    env = os.environ
    if env.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    if env.get(EMIT_ENV, "").strip().lower() in _OFF:
        return False
    if env.get("OPENLINEAGE_URL") or any(key.startswith("OPENLINEAGE__TRANSPORT__") for key in env):
        return True
    candidates = (env.get("OPENLINEAGE_CONFIG"), os.path.join(os.getcwd(), "openlineage.yml"),
                  os.path.join(os.path.expanduser("~/.openlineage"), "openlineage.yml"))
    return any(path and os.path.isfile(path) for path in candidates)


@contextlib.contextmanager
def suppressed() -> Iterator[None]:
    """No step emits while the block runs, in this process and in the processes it starts.

    For an engine that emits the events itself (Airflow with its OpenLineage provider reads
    the operator's facets): the steps must not send a second copy. It sets
    ``DFF_LINEAGE_EMIT=false`` for the block because the steps may run in worker processes
    or in ``dff step`` in another interpreter, which see only the environment.
    """
    previous = os.environ.get(EMIT_ENV)
    os.environ[EMIT_ENV] = "false"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(EMIT_ENV, None)
        else:
            os.environ[EMIT_ENV] = previous


def namespace_for(factory_name: str) -> str:
    """The namespace of the factory's jobs: ``$DFF_LINEAGE_NAMESPACE``, else
    ``$OPENLINEAGE_NAMESPACE``, else ``dataflows-factory/<factory>``.

    >>> namespace_for("world")  # with neither variable set
    'dataflows-factory/world'
    """
    for name in (NAMESPACE_ENV, "OPENLINEAGE_NAMESPACE"):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return f"dataflows-factory/{factory_name}"


def job_name(factory_name: str, flow: str | None = None) -> str:
    """The job of a factory run (``world``) or of one flow's steps (``world.cities``).

    The factory's name stays in the flow's job so that jobs stay distinct when several
    factories share one namespace (``OPENLINEAGE_NAMESPACE=prod``). A partition's part is a
    run of its flow's job, not a job of its own (the partition is in the run's facet).
    """
    return factory_name if flow is None else f"{factory_name}.{flow}"


def run_uuid(*parts: str) -> str:
    """A deterministic run id (a UUID string) from ``parts``.

    >>> run_uuid("20261130T060000-ab12cd", "cities") == run_uuid("20261130T060000-ab12cd", "cities")
    True
    """
    # The unit separator cannot occur in the parts we join (names, ids, partition keys).
    return str(uuid.uuid5(_RUN_NAMESPACE, "\x1f".join(parts)))


@dataclass(frozen=True)
class ParentRun:
    """An orchestrator's run that a step belongs to: the job and run of the parent facet.

    ``root`` is the outermost run (an Airflow DAG run above a task instance) when it is not
    the parent itself. JSON-able (:meth:`to_dict`), so it travels to worker processes.
    """

    namespace: str
    job: str
    run_id: str
    root: ParentRun | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"namespace": self.namespace, "job": self.job, "run_id": self.run_id}
        if self.root is not None:
            data["root"] = self.root.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParentRun:
        root = data.get("root")
        return cls(namespace=str(data["namespace"]), job=str(data["job"]),
                   run_id=str(data["run_id"]), root=cls.from_dict(root) if root else None)


def factory_run(factory_name: str, run_id: str) -> ParentRun:
    """The local runner's run of a factory, as the parent of its steps."""
    return ParentRun(namespace=namespace_for(factory_name), job=job_name(factory_name),
                     run_id=run_uuid(factory_name, run_id))
