"""The step's progress lines (rows, rows/s) in Dagster's event log, redacted."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from .._secrets import RedactingFilter

__all__ = ["forward_logs"]

_STEP_LOGGER = "dataflows_factory.step"


class _ToDagsterLog(logging.Handler):
    def __init__(self, context: Any) -> None:
        super().__init__(logging.INFO)
        self.addFilter(RedactingFilter())  # the event log is an output like any other
        self.context = context

    def emit(self, record: logging.LogRecord) -> None:
        self.context.log.info(record.getMessage())


@contextlib.contextmanager
def forward_logs(context: Any) -> Iterator[None]:
    """Show run_step's progress lines (rows, rows/s) in Dagster's event log."""
    logger = logging.getLogger(_STEP_LOGGER)
    handler = _ToDagsterLog(context)
    level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
