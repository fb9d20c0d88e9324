"""A failed step as the one error payload every engine reports (and lineage's FAIL event)."""

from __future__ import annotations

import traceback
from typing import Any

from .._secrets import redact_value
from ..errors import FactoryError, FlowExecutionError
from ..store import redact

__all__ = ["error_payload"]


def error_payload(flow: str, error: BaseException, partition: str | None = None) -> dict[str, Any]:
    """A failed step as the one error payload every engine reports: one line, and the
    traceback kept apart (for ``--debug``), both without credentials."""
    if not isinstance(error, FlowExecutionError):
        # A FactoryError raised while the flow function built its flow (a wrong return
        # value, a bad table name) is a clear message already; anything else is a bug or an
        # environment problem. Either way one line naming the flow.
        processor = getattr(error, "processor", None) or (
            "flow function" if isinstance(error, FactoryError) else None)
        error = FlowExecutionError(flow, redact(str(error) or repr(error)), processor=processor,
                                   cause_type=type(error).__name__, partition=partition)
    elif partition is not None and error.partition is None:
        error = error.in_partition(partition)
    payload = error.to_dict()
    payload["traceback"] = "".join(traceback.format_exception(error if error.__traceback__
                                                              else error.__cause__ or error))
    # Whole-value: a field of the error (a resource name, a partition) may hold a URL too.
    return redact_value(payload)
