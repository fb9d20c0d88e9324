"""The flow's package, checked once it is set up and before a row moves.

dataflows accepts a schema it cannot honour and fails later, far from the cause: a field of
an unknown type (``set_type('a', type='integr')``) breaks the dumper with ``'bool' object
has no attribute 'name'``, and a primary key naming no field is published as is. Every
processor has set its package up before rows stream, so the final descriptor is checked
then, and a problem is blamed on the first processor whose package shows it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from .. import _dataflows
from ..errors import FlowExecutionError

__all__ = ["check_package"]

# tableschema's field types (tableschema.types.cast_<type>).
TYPES = frozenset({"any", "array", "boolean", "date", "datetime", "duration", "geojson", "geopoint",
                   "integer", "number", "object", "string", "time", "year", "yearmonth"})


def check_package(flow: str, descriptor: dict[str, Any], processors: Sequence[Any]) -> None:
    """Raise a :class:`FlowExecutionError` for the first schema problem of ``descriptor``."""
    for problem in _problems(descriptor):
        resource, field, message, test = problem
        processor, position = _blame(processors, test)
        raise FlowExecutionError(flow, message, processor=processor, position=position,
                                 resource=resource, field=field, cause_type="SchemaError")


Problem = tuple[str, "str | None", str, Any]


def _problems(descriptor: dict[str, Any]) -> Iterator[Problem]:
    for resource in descriptor.get("resources", []):
        name = str(resource.get("name"))
        schema = resource.get("schema") or {}
        fields = [f for f in schema.get("fields", []) if isinstance(f, dict)]
        names = [str(f.get("name")) for f in fields]
        for field in fields:
            kind = field.get("type", "string")
            if kind not in TYPES:
                yield (name, str(field.get("name")),
                       f"field {field.get('name')!r} has type {kind!r}, which is not a "
                       f"Table Schema type; use one of {sorted(TYPES)}",
                       _field_typed(name, str(field.get("name")), kind))
        keys = schema.get("primaryKey") or []
        keys = [keys] if isinstance(keys, str) else list(keys)
        missing = [key for key in keys if key not in names]
        if missing:
            yield (name, missing[0],
                   f"primary key {keys} names field(s) {missing} that resource {name!r} does not "
                   f"have; its fields are {names}",
                   _key_missing(name, missing[0]))


def _field_typed(resource: str, field: str, kind: str) -> Any:
    def test(descriptor: dict[str, Any]) -> bool:
        return any(f.get("name") == field and f.get("type") == kind
                   for f in _fields(descriptor, resource))
    return test


def _key_missing(resource: str, key: str) -> Any:
    def test(descriptor: dict[str, Any]) -> bool:
        for res in descriptor.get("resources", []):
            if res.get("name") == resource:
                keys = (res.get("schema") or {}).get("primaryKey") or []
                keys = [keys] if isinstance(keys, str) else keys
                return key in keys and key not in [f.get("name") for f in _fields(descriptor, resource)]
        return False
    return test


def _fields(descriptor: dict[str, Any], resource: str) -> list[dict[str, Any]]:
    for res in descriptor.get("resources", []):
        if res.get("name") == resource:
            return [f for f in (res.get("schema") or {}).get("fields", []) if isinstance(f, dict)]
    return []


def _blame(processors: Sequence[Any], test: Any) -> tuple[str | None, int | None]:
    """The first processor whose package passes ``test`` (shows the problem)."""
    for processor in processors:
        package = getattr(processor, "datapackage", None)
        descriptor = getattr(package, "descriptor", None)
        if isinstance(descriptor, dict) and test(descriptor):
            name = _dataflows.processor_name(processor, type(processor).__name__)
            return name, getattr(processor, "position", None)
    return None, None
