"""One root exception, and subclasses that also inherit the matching builtin.

Every error raised on purpose by dataflows-factory is a :class:`FactoryError`, so callers can
catch the library's errors with one ``except`` and still catch, say, ``ValueError`` the
usual way.
"""

from __future__ import annotations

import os
from typing import Any


class FactoryError(Exception):
    """Root of every error raised by dataflows-factory."""


class FactoryDefinitionError(FactoryError, ValueError):
    """A factory or flow is defined wrongly; raised at definition time, never at run time."""


class InvalidFlowNameError(FactoryDefinitionError):
    """A flow or factory name is not a safe identifier."""


class DuplicateFlowError(FactoryDefinitionError):
    """Two flows of one factory share a name."""


class UnknownUpstreamError(FactoryDefinitionError):
    """A flow depends on a flow the factory does not define."""


class FactoryCycleError(FactoryDefinitionError):
    """The flows' dependencies form a cycle."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__(
            "flows form a dependency cycle: " + " -> ".join(cycle)
            + "; remove one of these dependencies"
        )


class FlowReturnError(FactoryDefinitionError, TypeError):
    """A flow function returned something that is not a ``dataflows.Flow`` or a list of steps."""


class InvalidStepError(FactoryDefinitionError, TypeError):
    """A step in a flow is something ``dataflows`` would silently ignore or reject."""


class FactoryRefError(FactoryError, ImportError):
    """A ``module:attr`` or ``path.py:attr`` reference does not lead to a Factory."""


class StoreError(FactoryError, OSError):
    """The store cannot be opened, read or written."""


class DatasetNotFoundError(StoreError, FileNotFoundError):
    """A flow's dataset has not been produced yet (or was removed)."""


class SelectionError(FactoryError, ValueError):
    """A ``--select`` expression is empty or names no flow of the factory."""


class NoPartitionsError(FactoryDefinitionError):
    """A partitioned flow's ``files()`` pattern matches no file (only that flow fails)."""

    processor = "partitions"  # where a run reports it: the flow's partitions, not its function


class SampleStoreError(FactoryError, ValueError):
    """A sample run (``--limit``) was pointed at the factory's real store."""


class SourceError(FactoryError, ValueError):
    """A ``load`` source cannot be read as a table: an empty file, no header row."""


class DocsSiteError(FactoryError, ValueError):
    """``dff docs build`` was pointed at a folder that is not a docs site it may replace."""


class DataError(ValueError):
    """Bad data met while rows stream, with where it is: the step that read it, the resource,
    the 1-based data row, the field, and the kind of error (``CastError``...).

    Not a :class:`FactoryError` on purpose: the step executor passes those on as they are,
    and turns every other error into a :class:`FlowExecutionError` naming the flow.
    """

    def __init__(self, detail: str, *, kind: str, source: str = "", step: Any = None,
                 resource: str | None = None, row: int | None = None,
                 field: str | None = None) -> None:
        self.kind = kind
        self.step = step
        self.resource = resource
        self.row = row
        self.field = field
        # For the flow's error line, whose prefix names the resource, row and field already.
        self.message = f"{source}: {detail}" if source else detail
        where = [source] if source else []
        where += [f"row {row}"] if row is not None else []
        where += [f"field {field!r}"] if field else []
        super().__init__(f"{', '.join(where)}: {detail}" if where else detail)


class MissingExtraError(FactoryError, ImportError):
    """An orchestrator module was imported without its optional dependencies installed."""

    def __init__(self, extra: str, missing: str) -> None:
        self.extra = extra
        super().__init__(
            f"{missing!r} is not installed; install the extra with: "
            f'pip install "dataflows-factory[{extra}]"'
        )


class FlowExecutionError(FactoryError, RuntimeError):
    """A flow failed while running; names the flow, the processor and, for data, where.

    Attributes are plain values (no exception objects) so the error survives pickling
    across processes and can be reported by any orchestrator.
    """

    def __init__(
        self,
        flow: str,
        message: str,
        *,
        processor: str | None = None,
        position: int | None = None,
        resource: str | None = None,
        row: int | None = None,
        field: str | None = None,
        cause_type: str | None = None,
        partition: str | None = None,
        changed_by: list[dict[str, Any]] | None = None,
    ) -> None:
        self.flow = flow
        # One line: CLI output, logs and orchestrator UIs show it as one error line.
        self.message = " ".join(str(message).split())
        # The steps that could have set the failing value last ({"position", "processor"});
        # the message already names them, this is the same for programs.
        self.changed_by = [dict(step) for step in changed_by or ()]
        self.processor = processor
        self.position = position
        self.resource = resource
        self.row = row
        self.field = field
        self.cause_type = cause_type
        self.partition = partition
        super().__init__(self._render())

    def _render(self) -> str:
        where = [f"flow {self.flow!r}"]
        if self.processor:
            step = f"processor {self.processor!r}"
            if self.position is not None:
                step += f" (step #{self.position})"
            where.append(step)
        if self.resource:
            where.append(f"resource {self.resource!r}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field:
            where.append(f"field {self.field!r}")
        if self.partition is not None:
            where.append(f"partition {self.partition!r}")
        kind = f"{self.cause_type}: " if self.cause_type else ""
        return f"{', '.join(where)} failed: {kind}{self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_execution_error,
            (self.flow, self.message, self.processor, self.position, self.resource,
             self.row, self.field, self.cause_type, self.partition, self.changed_by),
        )

    def in_partition(self, partition: str) -> FlowExecutionError:
        """This error, naming the partition the flow was running."""
        return _rebuild_execution_error(
            self.flow, self.message, self.processor, self.position, self.resource, self.row,
            self.field, self.cause_type, partition, self.changed_by)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description, for manifests and orchestrator results."""
        return {
            "flow": self.flow,
            "processor": self.processor,
            "position": self.position,
            "resource": self.resource,
            "row": self.row,
            "field": self.field,
            "type": self.cause_type,
            "partition": self.partition,
            "changed_by": [dict(step) for step in self.changed_by],
            "message": self.message,
            "text": str(self),
        }

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> FlowExecutionError:
        """The error a :meth:`to_dict` payload describes; a ``traceback`` in it (where a
        worker or another process raised it) becomes a note."""
        error = cls(
            payload["flow"], payload["message"], processor=payload.get("processor"),
            position=payload.get("position"), resource=payload.get("resource"),
            row=payload.get("row"), field=payload.get("field"), cause_type=payload.get("type"),
            partition=payload.get("partition"), changed_by=payload.get("changed_by"))
        if payload.get("traceback"):
            error.add_note("where it was raised (in the worker):\n" + payload["traceback"])
        return error


def _rebuild_execution_error(
    flow: str, message: str, processor: str | None, position: int | None,
    resource: str | None, row: int | None, field: str | None, cause_type: str | None,
    partition: str | None = None, changed_by: list[dict[str, Any]] | None = None,
) -> FlowExecutionError:
    return FlowExecutionError(
        flow, message, processor=processor, position=position, resource=resource,
        row=row, field=field, cause_type=cause_type, partition=partition, changed_by=changed_by,
    )


class InvalidTableNameError(FactoryDefinitionError):
    """A SQL sink was given a table (or schema) name that is not a plain identifier."""

    processor = "to_sql"


def shown_path(path: str) -> str:
    """A file as error messages show it: relative to the working directory when it is inside
    it (``raw/sales.csv`` for ``dff run`` in the factory's folder), else as it is."""
    if "://" in path or not os.path.isabs(path):
        return path
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative
