"""The compiled add_computed_field gives dataflows' rows and descriptors."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from dataflows import Flow
from dataflows import add_computed_field as plain_add_computed_field
from dataflows.base.exceptions import ProcessorError

from dataflows_factory.flow import normalize_steps
from dataflows_factory.processors.computed import add_computed_field

ROWS = [{"a": i, "b": None if i % 3 == 0 else i * 2, "s": f"x{i}"} for i in range(10)]

CASES: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {"target": {"name": "c", "type": "integer"}, "operation": lambda row: row["a"] + 1}),
    ((), {"target": "c", "operation": "sum", "source": ["a", "b"]}),
    (([{"target": "avg", "operation": "avg", "source": ["a", "b"]},
       {"target": "f", "operation": "format", "with": "{s}-{a}"},
       {"target": "j", "operation": "join", "source": ["s", "a"], "with": "/"},
       {"target": "k", "operation": "constant", "with": "K"},
       {"target": {"name": "m", "type": "integer"}, "operation": lambda row: row["a"] * 2},
       {"target": "n", "operation": "multiply", "source": ["a", "b"]},
       {"target": "mx", "operation": "max", "source": ["a", "b"]}],), {}),
    ((), {"target": "c", "operation": "sum", "source": ["a"], "resources": ["other"]}),
]


def _outcome(step: Any) -> Any:
    try:
        data, package, _ = Flow(copy.deepcopy(ROWS), step).results()
    except ProcessorError as error:
        return type(error.cause).__name__, str(error.cause)
    return data, package.descriptor


@pytest.mark.parametrize("args,kw", CASES)
def test_same_rows_and_descriptor(args: tuple[Any, ...], kw: dict[str, Any]) -> None:
    expected = _outcome(plain_add_computed_field(*copy.deepcopy(args), **copy.deepcopy(kw)))
    assert _outcome(add_computed_field(*copy.deepcopy(args), **copy.deepcopy(kw))) == expected


def test_unknown_operation_fails_alike() -> None:
    kw = {"target": "c", "operation": "nope", "source": ["a"]}
    expected = _outcome(plain_add_computed_field(**kw))
    assert isinstance(expected, tuple) and expected[0] == "KeyError"
    assert _outcome(add_computed_field(**copy.deepcopy(kw))) == expected


def test_factories_adopt_it() -> None:
    step = normalize_steps("f", [plain_add_computed_field(target="c", operation=lambda row: 1)])[0]
    assert step.__module__ == "dataflows_factory.processors.computed"
