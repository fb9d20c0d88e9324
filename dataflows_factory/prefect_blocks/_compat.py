"""Every import of Prefect goes through here: one place for the extra check and version shims.

Importing :mod:`dataflows_factory.prefect_blocks` without Prefect raises
:class:`~dataflows_factory.errors.MissingExtraError` naming the extra to install.
"""

from __future__ import annotations

from ..errors import MissingExtraError

try:
    import prefect
    from prefect import Flow, Task, flow, get_run_logger, task
    from prefect.artifacts import create_markdown_artifact, create_table_artifact
    from prefect.blocks.core import Block
    from prefect.cache_policies import NO_CACHE
    from prefect.context import FlowRunContext, TaskRunContext
    from prefect.futures import PrefectFuture, as_completed
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect.types import SecretDict
except ImportError as cause:  # pragma: no cover - exercised in the core environment
    raise MissingExtraError("prefect", getattr(cause, "name", None) or "prefect") from cause

PREFECT_VERSION = tuple(int(part) for part in prefect.__version__.split(".")[:2] if part.isdigit())
if PREFECT_VERSION < (3, 0):  # pragma: no cover
    raise MissingExtraError("prefect", f"prefect>=3.0 (found {prefect.__version__})")

__all__ = [
    "PREFECT_VERSION",
    "Block",
    "NO_CACHE",
    "Flow",
    "FlowRunContext",
    "PrefectFuture",
    "SecretDict",
    "Task",
    "TaskRunContext",
    "ThreadPoolTaskRunner",
    "as_completed",
    "create_markdown_artifact",
    "create_table_artifact",
    "flow",
    "get_run_logger",
    "task",
]


def task_result_store(prefect_task: Task) -> object:  # type: ignore[type-arg]
    """The result store a task run would use, as seen from the flow that submits it."""
    from prefect.results import get_result_store

    return get_result_store().update_for_task(prefect_task)
