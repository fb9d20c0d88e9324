"""Flows in their own environment through Dagster Pipes: ``build_assets(..., python=PYTHON)``.

Dagster's process and the flows' often cannot share a virtualenv (``dataflows`` pins what
Dagster also uses). With ``python=``, each flow's op starts
``PYTHON -m dataflows_factory.dagster_pipes_step`` with :class:`~dagster.PipesSubprocessClient`;
that process (``dataflows-factory`` and ``dagster-pipes``, no ``dagster``) runs the step and
reports the materialization and its ``dataset_valid`` check back, with the same metadata as
an in-process op. The op only passes references: the factory, the flow, the store, the
compiled plan's file (checked there against the factory's code).

Partitioned flows are not offered through Pipes (see ``docs/dagster.md``, Execution modes).
"""

# No `from __future__ import annotations`: Dagster reads the compute function's `context`
# annotation at definition time and rejects it as a string.

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from ..adapters.compiled import write_plan
from ..adapters.plan import StepPlan
from ..dagster_pipes_step import ERROR_KEY
from ..errors import FactoryDefinitionError
from ._compat import (
    AssetCheckKey,
    AssetExecutionContext,
    Failure,
    MetadataValue,
    PipesSubprocessClient,
    PipesTempFileMessageReader,
)
from ._context import text
from ._lineage import run_parent
from .builder import (
    CHECK_NAME,
    FACTORY_KEY,
    FLOW_KEY,
    registered_factory,
    registered_plan,
    registered_plan_path,
)

__all__ = ["STEP_MODULE", "pipes_compute"]

STEP_MODULE = "dataflows_factory.dagster_pipes_step"


def pipes_compute(step: StepPlan, python: str, resource_key: str) -> Callable[..., Iterator[Any]]:
    """The compute function of ``step``'s asset: the step runs with ``python`` under Pipes."""
    if step.partitioned:
        raise FactoryDefinitionError(
            f"flow {step.name!r} is partitioned: python= (Dagster Pipes) runs unpartitioned flows; "
            "build its asset in process (a second build_assets(select=...) without python=)")
    if not python:
        raise FactoryDefinitionError(f"flow {step.name!r}: python= is empty; give the path of the "
                                     "python of the flows' virtualenv")

    def compute(context: AssetExecutionContext) -> Iterator[Any]:
        yield from _run(context, getattr(context.resources, resource_key), python)

    return compute


class _Reader(PipesTempFileMessageReader):  # type: ignore[misc]
    """Pipes' temp-file reader that keeps its message handler: after a failed process, the
    error payload the step sent as a custom message is read from it."""

    handler: Any = None

    @property
    def expected_writer_count(self) -> int:
        # One process writes. Dagster 1.13's base property says the same with a PreviewWarning
        # on every run; overriding it keeps users' logs quiet.
        return 1

    @contextlib.contextmanager
    def read_messages(self, handler: Any) -> Iterator[Any]:
        self.handler = handler
        with super().read_messages(handler) as params:
            yield params


def _run(context: Any, resource: Any, python: str) -> Iterator[Any]:
    (key,) = context.selected_asset_keys
    spec = context.assets_def.specs_by_key[key]
    flow, reference = (text(spec.metadata[FLOW_KEY]), text(spec.metadata[FACTORY_KEY]))
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise Failure(description=f"flow {flow!r}: interpreter {python!r} does not exist or cannot be "
                                  "run; give the python of a virtualenv with dataflows-factory and "
                                  "dagster-pipes installed", allow_retries=False)
    compiled = registered_plan(reference)
    # Built from the factory itself, its default store is known in this process already.
    store = resource.store or (compiled.store if compiled else registered_factory(reference).store().url)
    reader = _Reader()
    with _plan_file(reference) as plan_path:
        extras = {"factory_ref": reference, "flow": flow, "asset_key": key.to_escaped_user_string(),
                  "store": store, "force": resource.force, "preview_rows": resource.preview_rows,
                  "plan_path": plan_path,
                  "check": AssetCheckKey(key, CHECK_NAME) in context.selected_asset_check_keys}
        parent = run_parent(context)
        if parent is not None:
            extras["lineage_parent"] = parent.to_dict()
        try:
            invocation = PipesSubprocessClient(message_reader=reader).run(
                command=[python, "-m", STEP_MODULE], context=context, extras=extras)
        except Exception as error:
            raise _failure(flow, reader, error) from None
    yield from invocation.get_results()


@contextlib.contextmanager
def _plan_file(reference: str) -> Iterator[str | None]:
    """The compiled plan's file for the step to check; a Plan given as an object is written
    to a temporary file for the length of the step."""
    compiled, path = registered_plan(reference), registered_plan_path(reference)
    if compiled is None or path is not None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="dff-plan-") as folder:
        target = os.path.join(folder, "plan.json")
        write_plan(compiled, target)
        yield target


def _failure(flow: str, reader: _Reader, error: Exception) -> Exception:
    """The step's own one-line error (naming flow, processor, row) when it sent one."""
    messages = reader.handler.get_custom_messages() if reader.handler is not None else ()
    payloads = [m[ERROR_KEY] for m in messages if isinstance(m, dict) and ERROR_KEY in m]
    if not payloads:
        failure: Exception = Failure(description=f"flow {flow!r}: the Pipes step failed: {error}")
        return failure
    payload = payloads[-1]
    metadata = {name: MetadataValue.text(str(value)) for name, value in payload.items()
                if value is not None and name not in ("traceback", "text", "retry", "changed_by")}
    failure = Failure(description=str(payload.get("text")), metadata=metadata,
                      allow_retries=bool(payload.get("retry", True)))
    return failure
