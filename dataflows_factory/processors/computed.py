"""``add_computed_field`` with a row loop compiled for its fields.

dataflows' row loop looks up each field's operation and target and type-checks the
operation for every row. Here the loop is generated once per resource: one assignment per
field (``row[target] = operation(row)``), in the same order; string operations (``sum``,
``format``...) call dataflows' own aggregation code per row. Descriptors are changed
exactly as dataflows changes them (the same code, below).

An operation that raises has its exception tagged with the field it was computing
(:func:`computing_field` reads it), so the error names that field; a ``try`` costs nothing
until something is raised.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from dataflows.helpers.resource_matcher import ResourceMatcher
from dataflows.processors.add_computed_field import AGGREGATORS, get_new_fields

__all__ = ["add_computed_field", "computing_field"]

_COMPUTING = "dff_computing_field"  # the attribute an operation's exception is tagged with


def computing_field(error: BaseException) -> str | None:
    """The field an ``add_computed_field`` operation was computing when it raised ``error``."""
    field = getattr(error, _COMPUTING, None)
    return field if isinstance(field, str) else None


def _tag(error: BaseException, field: str) -> None:
    if computing_field(error) is None:  # the innermost computed field is the one to name
        # An exception type that takes no attributes: the error names less, that is all.
        with contextlib.suppress(AttributeError, TypeError):
            setattr(error, _COMPUTING, field)


def _aggregate(field: dict[str, Any]) -> Callable[[dict[str, Any]], Any]:
    def aggregate(row: dict[str, Any]) -> Any:
        # dataflows' per-row code for a string operation, as it is.
        values = [row.get(c) for c in field.get("source", []) if row.get(c) is not None]
        with_ = field.get("with", field.get("with_", ""))
        return AGGREGATORS[field["operation"]].func(values, with_, row)

    return aggregate


def _row_loop(fields: list[dict[str, Any]]) -> Callable[[Iterable[Any]], Iterator[Any]]:
    namespace: dict[str, Any] = {"tag": _tag}
    lines = ["def computed_rows(rows):", "    for row in rows:"]
    for i, field in enumerate(fields):
        operation = field["operation"]
        if isinstance(operation, str):
            namespace[f"op{i}"] = _aggregate(field)
        elif callable(operation):
            namespace[f"op{i}"] = operation
        else:
            continue  # dataflows does nothing for such a field
        target = repr(field["target"]["name"])
        lines += ["        try:",
                  f"            row[{target}] = op{i}(row)",
                  "        except Exception as error:",
                  f"            tag(error, {target})",
                  "            raise"]
    lines.append("        yield row")
    exec(compile("\n".join(lines) + "\n", "<dff compiled computed fields>", "exec"), namespace)
    return namespace["computed_rows"]  # type: ignore[no-any-return]


def add_computed_field(*args: Any, resources: Any = None, **kw: Any) -> Callable[[Any], Iterator[Any]]:
    """``dataflows.add_computed_field`` (same arguments, descriptors and rows), faster::

        add_computed_field(target={"name": "ratio", "type": "number"},
                           operation=lambda row: row["a"] / row["b"])
    """

    def func(package: Any) -> Iterator[Any]:
        matcher = ResourceMatcher(resources, package.pkg)
        assert len(args) < 2, "add_computed_fields expects at most one positional argument"
        fields = [kw] if len(args) == 0 else args[0]
        for resource in package.pkg.descriptor["resources"]:
            if matcher.match(resource["name"]):
                _check_sources(resource, fields)
                resource["schema"]["fields"].extend(get_new_fields(resource, fields))
        yield package.pkg
        for f in fields:
            if isinstance(f["target"], str):
                f["target"] = {"name": f["target"]}
        for resource in package:
            if not matcher.match(resource.res.name):
                yield resource
            else:
                yield _rows(_row_loop(fields), resource)

    return func


def _check_sources(resource: dict[str, Any], fields: list[dict[str, Any]]) -> None:
    # dataflows skips a source field that a row lacks: a misspelt one would sum nothing.
    names = {f["name"] for f in resource.get("schema", {}).get("fields", [])}
    for field in fields:
        sources = field.get("source")
        if isinstance(sources, str) or not sources or field.get("operation") == "format":
            continue  # format's source is unused; a single str is a format template
        missing = [name for name in sources if name not in names]
        if missing:
            target = field["target"]["name"] if isinstance(field["target"], dict) else field["target"]
            raise ValueError(
                f"add_computed_field: field {target!r} is computed from {missing}, which resource "
                f"{resource['name']!r} does not have; its fields are {sorted(names)}")


def _rows(loop: Callable[[Iterable[Any]], Iterator[Any]], resource: Any) -> Iterator[Any]:
    # A frame of this module stays on the stack while rows flow (yield from delegates
    # each row), so an error in an operation is traced to this processor.
    yield from loop(resource)
