"""The OpenLineage spec's JSON Schemas, rebuilt from the model the client ships.

``openlineage-python`` ships no schema file: its ``openlineage.client.generated`` classes are
generated from the spec's JSON Schemas, one attrs class per schema definition, each knowing
the schema URL it came from (``_get_schema()``, the very ``schemaURL``/``_schemaURL`` its
events carry). This turns them back into JSON Schema documents, one per spec file, with each
class under ``$defs``: property types, enums, required properties (those without a default,
plus the ones the spec requires and the classes fill in themselves: an event's ``producer``
and ``schemaURL``, a facet's ``_producer`` and ``_schemaURL``) and the formats the spec
gives run ids, event times and URLs. A client upgrade that moves to a newer spec version
brings its schemas with it; nothing is downloaded.

>>> documents = model_documents()
>>> "https://openlineage.io/spec/2-0-2/OpenLineage.json" in {d["$id"] for d in documents}
True
"""

from __future__ import annotations

import enum
import importlib
import pkgutil
import types
import typing
from typing import Any

import attr
import openlineage.client.generated as generated
from openlineage.client.generated.base import BaseFacet

__all__ = ["model_documents"]

# What the spec says of these properties that the generated classes encode only as defaults
# (filled in after __init__) or as validators.
_REQUIRED = {"producer", "schemaURL", "_producer", "_schemaURL"}
_FORMATS = {"runId": "uuid", "eventTime": "date-time", "producer": "uri", "schemaURL": "uri",
            "_producer": "uri", "_schemaURL": "uri"}
_SCALARS: dict[Any, dict[str, Any]] = {str: {"type": "string"}, int: {"type": "integer"},
                                       float: {"type": "number"}, bool: {"type": "boolean"}}


def model_documents() -> list[dict[str, Any]]:
    """One JSON Schema document per spec file the client's model was generated from."""
    documents: dict[str, dict[str, Any]] = {}
    for cls in _model_classes():
        url, _, pointer = cls._get_schema().partition("#/$defs/")
        document = documents.setdefault(url, {
            "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": url, "$defs": {}})
        document["$defs"][pointer] = _object_schema(cls)
    return list(documents.values())


def _model_classes() -> list[type]:
    found = []
    for info in pkgutil.iter_modules(generated.__path__):
        module = importlib.import_module(f"{generated.__name__}.{info.name}")
        found += [value for value in vars(module).values()
                  if isinstance(value, type) and value.__module__ == module.__name__
                  and attr.has(value) and "#/$defs/" in getattr(value, "_get_schema", str)()]
    return found


def _object_schema(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    required = []
    for field in attr.fields(cls):
        schema = _type_schema(hints[field.name])
        if field.name in _FORMATS:
            schema = {**schema, "format": _FORMATS[field.name]}
        properties[field.name] = schema
        if field.default is attr.NOTHING or field.name in _REQUIRED:
            required.append(field.name)
    return {"type": "object", "properties": properties, "required": required}


def _type_schema(hint: Any) -> dict[str, Any]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        # The client drops None values when it serialises: an optional property is absent.
        options = [_type_schema(arg) for arg in args if arg is not type(None)]
        return options[0] if len(options) == 1 else {"anyOf": options}
    if origin is list:
        return {"type": "array", "items": _type_schema(args[0]) if args else {}}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type_schema(args[1]) if args else {}}
    if hint in _SCALARS:
        return _SCALARS[hint]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [member.value for member in hint]}
    if isinstance(hint, type) and issubclass(hint, BaseFacet):
        # Any facet goes here (a dict of facets by name): each is checked against the schema
        # its own _schemaURL names, by the caller.
        return {"type": "object", "required": ["_producer", "_schemaURL"]}
    if isinstance(hint, type) and attr.has(hint):
        # A definition of its own in the spec, or an object written inline where it is used.
        has_url = "#/$defs/" in getattr(hint, "_get_schema", str)()
        return {"$ref": hint._get_schema()} if has_url else _object_schema(hint)
    return {}
