"""What the docs site shows, collected once into plain JSON-able values (no HTML here).

Everything is read through the :class:`~dataflows_factory.store.Store` API, so a remote
fsspec store works like a local folder. The model is sorted and holds no clock reading of
its own: two builds over the same store give the same model, and so the same pages.
"""

from __future__ import annotations

import inspect
import itertools
import json
import os
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from .._secrets import redact_value
from ..adapters.plan import StepPlan
from ..datasets import iter_rows, validate_dataset
from ..errors import FactoryError
from ..factory import Factory
from ..store import Store
from .runs import RUNS_PER_FLOW, flow_runs

__all__ = ["PREVIEW_ROWS", "collect"]

PREVIEW_ROWS = 20
NOT_PRODUCED = "not produced yet"


def collect(factory: Factory, store: Store, *, select: Iterable[str] | None = None,
            preview_rows: int = PREVIEW_ROWS, validate: bool = True) -> dict[str, Any]:
    """The site's model: the factory, its flows (with datasets and runs) and the graph's edges.

    >>> model = collect(factory, factory.store())           # doctest: +SKIP
    >>> [flow["name"] for flow in model["flows"]]             # doctest: +SKIP
    ['countries', 'cities', 'key_metrics', 'publish']
    """
    plan = factory.plan(select=list(select) if select else None, store=store)
    shown = set(plan.names)
    runs = flow_runs(store, factory.name, plan.names, RUNS_PER_FLOW)
    flows = [_flow(factory, store, step, shown, runs.get(step.name, []), preview_rows, validate)
             for step in plan.steps]
    edges = [{"from": up, "to": step.name, "kind": "data" if up in step.inputs else "after"}
             for step in plan.steps for up in step.upstream if up in shown]
    model = {
        "factory": {"name": factory.name, "description": factory.description,
                    "store": store.display_url, "flows": len(flows)},
        "flows": flows,
        "edges": sorted(edges, key=lambda e: (e["from"], e["to"])),
    }
    # Whole-value, last: a description, a schema, a preview cell or an error may hold a URL
    # with credentials, and nothing leaves the model unredacted.
    return redact_value(model)


def _flow(factory: Factory, store: Store, step: StepPlan, shown: set[str],
          runs: list[dict[str, Any]], preview_rows: int, validate: bool) -> dict[str, Any]:
    name = step.name
    spec = factory.flows[name]
    downstream = sorted(other.name for other in factory.flows.values() if name in other.upstream)
    descriptor = store.read_descriptor(factory.name, name)
    dataset = _dataset(factory, store, name, descriptor, preview_rows) if descriptor else None
    validation = None
    if descriptor is not None and validate:
        problems, rows = validate_dataset(store, factory.name, name)
        validation = {"status": "invalid" if problems else "valid", "problems": problems,
                      "rows": rows}
    return {
        "name": name,
        "description": spec.description,
        "summary": spec.description.splitlines()[0] if spec.description else "",
        "code": _code_location(factory, spec.func),
        "inputs": [{"name": up, "linked": up in shown} for up in spec.inputs],
        "after": [{"name": up, "linked": up in shown} for up in spec.after if up not in spec.inputs],
        "downstream": [{"name": down, "linked": down in shown} for down in downstream],
        "tags": sorted(spec.tags),
        "retries": spec.retries,
        "partitions": sorted(step.partitions),
        "partitions_error": step.partitions_error,
        "status": runs[0]["status"] if runs else NOT_PRODUCED if dataset is None else "produced",
        "rows": dataset["rows"] if dataset else None,
        "dataset": dataset,
        "validation": validation,
        "runs": runs,
    }


def _code_location(factory: Factory, func: Any) -> dict[str, Any] | None:
    """Where the flow function is defined: its file (relative to the factory's folder when
    inside it, so the site does not depend on where the project was checked out) and line."""
    target = inspect.unwrap(func)
    try:
        path = inspect.getsourcefile(target)
        _, line = inspect.getsourcelines(target)
    except (OSError, TypeError):  # a function built at run time, a C function: no source
        return None
    if path is None:
        return None
    relative = os.path.relpath(path, factory.root)
    shown = path if relative.startswith(os.pardir) else relative
    return {"file": shown, "line": line}


def _dataset(factory: Factory, store: Store, name: str, descriptor: dict[str, Any],
             preview_rows: int) -> dict[str, Any]:
    meta = descriptor.get("dff", {})
    resources = [_resource(resource) for resource in descriptor.get("resources", [])]
    if preview_rows:
        with store.local_copy(factory.name, name) as path:
            for resource in resources:
                resource["preview"] = _preview(path, resource, preview_rows)
    return {
        "url": store.dataset_url(factory.name, name),
        "fingerprint": str(meta.get("fingerprint", "")),
        "content_hash": str(meta.get("content_hash", "")),
        "produced_at": str(meta.get("produced_at", "")),
        "run_id": str(meta.get("run_id", "")),
        "rows": sum(r["rows"] or 0 for r in resources),
        "bytes": sum(r["bytes"] or 0 for r in resources),
        "resources": resources,
    }


def _resource(resource: dict[str, Any]) -> dict[str, Any]:
    fields = resource.get("schema", {}).get("fields", [])
    return {
        "name": str(resource.get("name", "")),
        "path": str(resource.get("path", "")),
        "rows": resource.get("count_of_rows"),
        "bytes": resource.get("bytes"),
        "hash": str(resource.get("hash", "")),
        "fields": [{"name": str(f.get("name", "")), "type": str(f.get("type", "any")),
                    "format": str(f.get("format", "default")),
                    "constraints": _constraints(f.get("constraints", {}))} for f in fields],
        "preview": {"columns": [str(f.get("name", "")) for f in fields], "rows": [], "error": ""},
    }


def _constraints(constraints: dict[str, Any]) -> str:
    """``required, unique, minimum=0``: flags first, then values, each sorted."""
    flags = sorted(key for key, value in constraints.items() if value is True)
    values = sorted(f"{key}={_cell(value)}" for key, value in constraints.items()
                    if not isinstance(value, bool))
    return ", ".join(flags + values)


def _preview(path: str, resource: dict[str, Any], limit: int) -> dict[str, Any]:
    columns = resource["preview"]["columns"]
    rows: list[list[str]] = []
    error = ""
    try:
        for row in itertools.islice(iter_rows(path, resource["name"]), limit):
            rows.append([_cell(row.get(column)) for column in columns])
    except (FactoryError, OSError, ValueError, KeyError) as cause:
        # A dataset the preview cannot read is shown with what was read and why it stopped
        # (validation names every problem); the rest of the site is built as usual.
        error = f"{type(cause).__name__}: {cause}"
    return {"columns": columns, "rows": rows, "error": error}


def _cell(value: Any) -> str:
    """A value as the preview shows it: empty for null, ISO dates, JSON for arrays/objects."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | int | float | str):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)
