"""parallelize runs a row function in worker processes, keeps order, and raises on failure."""

from __future__ import annotations

from typing import Any

import pytest
from dataflows import Flow
from dataflows.base.exceptions import ProcessorError

from dataflows_factory.processors.parallel import ParallelRowError, parallelize


def _square(row: dict[str, Any]) -> None:
    row["sq"] = row["x"] ** 2


def test_same_rows_in_order() -> None:
    """Rows come back transformed and in their original order, across chunks and workers."""
    results = Flow(({"x": i} for i in range(2500)), parallelize(_square, num_processors=2,
                                                                chunk_size=100)).results()[0][0]
    assert results == [{"x": i, "sq": i * i} for i in range(2500)]


def test_predicate_limits_rows() -> None:
    """Rows failing the predicate pass through unchanged, in place."""
    results = Flow([{"x": i} for i in range(10)],
                   parallelize(_square, num_processors=2, predicate=lambda row: row["x"] % 2 == 0,
                               chunk_size=3)).results()[0][0]
    assert results[0] == {"x": 0, "sq": 0} and results[1] == {"x": 1}


def test_failure_raises_with_row_number() -> None:
    """A failing row stops the flow with the resource and row named (dataflows' passes it through)."""

    def explode(row: dict[str, Any]) -> None:
        if row["x"] == 42:
            raise ValueError("bad row")

    with pytest.raises(ProcessorError) as caught:
        Flow([{"x": i} for i in range(100)], parallelize(explode, num_processors=2,
                                                         chunk_size=10)).process()
    error = caught.value.cause
    assert isinstance(error, ParallelRowError)
    assert error.row_number == 43 and "bad row" in str(error)
