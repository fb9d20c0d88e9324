"""The descriptor half of ``join``: dataflows' schema rules for joined resources."""

from __future__ import annotations

import copy
import os
from typing import Any

from dataflows.processors.join import AGGREGATORS, expand_fields, order_fields


def _target_resource(fields: dict[str, Any], source_spec: dict[str, Any],
                     resource: dict[str, Any]) -> dict[str, Any]:
    target_fields = resource.setdefault("schema", {}).setdefault("fields", [])
    for name, spec in fields.items():
        aggregator = AGGREGATORS[spec["aggregate"]]
        data_type = aggregator.dataType
        to_copy: dict[str, Any] = {}
        if data_type is None:
            source_field = next((f for f in source_spec["schema"]["fields"]
                                 if f["name"] == spec["name"]), None)
            if source_field is None:
                raise KeyError(f"Failed to find field with name {spec['name']} in resource "
                               f"{source_spec['name']}")
            if aggregator.copyProperties:
                to_copy = copy.deepcopy(source_field)
            data_type = source_field["type"]
        existing = next((f for f in target_fields if f["name"] == name), None)
        if existing is not None:
            if existing["type"] != data_type:
                raise ValueError(f"Reusing {name} but with different data types: "
                                 f"{existing['type']} != {data_type}")
        else:
            to_copy.update({"name": name, "type": data_type})
            target_fields.append(to_copy)
    return resource


def process_datapackage(datapackage: dict[str, Any], state: dict[str, Any], source_name: str,
                        target_name: str, source_delete: bool, deduplication: bool) -> None:
    """Rewrite ``datapackage['resources']`` as dataflows' join does; ``state['fields']`` is
    replaced by the expanded, ordered field specs."""
    names = [r["name"] for r in datapackage["resources"]]
    if source_name not in names:
        raise ValueError(f"Source resource ({source_name}) not found package "
                         f"(target={target_name}, found: {names})")
    if target_name not in names:
        raise ValueError(f"Target resource ({target_name}) not found package "
                         f"(source={source_name}, found: {names})")
    new_resources = []
    source_spec: dict[str, Any] | None = None
    for resource in datapackage["resources"]:
        if resource["name"] == source_name:
            source_spec = resource
            schema_fields = source_spec.get("schema", {}).get("fields", [])
            expand_fields(state["fields"], schema_fields)
            state["fields"] = order_fields(state["fields"], schema_fields)
            if not source_delete:
                new_resources.append(resource)
            if deduplication:
                new_resources.append(_target_resource(
                    state["fields"], source_spec,
                    {"name": target_name, "path": os.path.join("data", target_name + ".csv")}))
        elif resource["name"] == target_name:
            if source_spec is None:
                raise ValueError(f"Source resource ({source_name}) must appear before target "
                                 f"resource ({target_name}), found: {names}")
            new_resources.append(_target_resource(state["fields"], source_spec, resource))
        else:
            new_resources.append(resource)
    datapackage["resources"] = new_resources
