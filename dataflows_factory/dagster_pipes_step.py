"""What a flow's Dagster asset reports, and the external side of Dagster Pipes.

Two jobs that must not drift apart, so they live together, importing neither ``dagster``
nor ``dataflows`` at module level:

- :func:`materialization_metadata` and :func:`check_outcome` describe a finished step in
  Dagster's *external* metadata form (``{"raw_value": ..., "type": ...}``, what Pipes
  sends). The in-process resource turns the very same dicts into ``MetadataValue`` objects
  with Dagster's own converter, so both modes show the same keys and values.
- ``python -m dataflows_factory.dagster_pipes_step`` is the process that
  ``PipesSubprocessClient`` starts in the flows' own environment (``dataflows-factory`` and
  ``dagster-pipes``, no ``dagster``): it runs one step through
  :func:`~dataflows_factory.adapters.task.run_task_step` and reports the materialization and
  the ``dataset_valid`` check back through Pipes. A failed flow is reported as a custom
  message holding the one error payload every engine uses, and the process exits 1.

It sits outside :mod:`dataflows_factory.dagster_assets` because importing that package
imports Dagster, which the external environment does not have.
"""

from __future__ import annotations

import datetime
import decimal
import itertools
import sys
from collections.abc import Mapping
from typing import Any

from ._secrets import redact, redact_value
from .adapters.results import StepResult
from .datasets import iter_rows, validate_dataset
from .partitions import part_dataset
from .store import Store

__all__ = ["CHECK_NAME", "ERROR_KEY", "check_outcome", "dataset_of", "main", "materialization_metadata"]

CHECK_NAME = "dataset_valid"
ERROR_KEY = "dataflows_factory/error"
"""The key of the custom Pipes message that carries a failed flow's error payload."""

Raw = dict[str, Any]  # {"raw_value": ..., "type": ...}: Dagster's external metadata value
_MAX_PREVIEW_RESOURCES = 3


def _raw(kind: str, value: Any) -> Raw:
    return {"raw_value": value, "type": kind}


def dataset_of(flow: str, partition: str | None) -> str:
    """The store dataset a run wrote: the flow's, or ``flow@<key>`` for one partition's part
    (``partitions.part_dataset``, the naming the step executor uses)."""
    return flow if partition is None else part_dataset(flow, partition)


def table_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A Frictionless Table Schema as Dagster's external ``table_schema`` value.

    The primary key is named on its columns (``other: ["primary key"]``): the external form
    has no table-level constraints.
    """
    primary = schema.get("primaryKey") or []
    primary = [primary] if isinstance(primary, str) else list(primary)
    columns = []
    for field in schema.get("fields", []):
        constraints = field.get("constraints") or {}
        kind = str(field.get("type", "string"))
        if field.get("format") not in (None, "default"):
            kind += f" ({field['format']})"
        others = [f"{name}: {value}" for name, value in sorted(constraints.items())
                  if name not in ("required", "unique")]
        if field["name"] in primary:
            others.append("primary key")
        columns.append({
            "name": str(field["name"]),
            "type": kind,
            "description": field.get("description") or field.get("title"),
            "constraints": {"nullable": not constraints.get("required", False),
                            "unique": bool(constraints.get("unique", False)), "other": others},
        })
    return {"columns": columns}


def materialization_metadata(result: StepResult, store: Store, preview_rows: int) -> dict[str, Raw]:
    """What a materialization shows: rows, schema per resource, URI, size, timing, a preview."""
    uri = result.dataset_uri
    metadata: dict[str, Raw] = {
        "dagster/row_count": _raw("int", result.total_rows),
        "dataset_uri": _raw("path" if store.is_local else "url", uri),
        "bytes": _raw("int", result.bytes),
        "duration_s": _raw("float", float(result.duration)),
        "status": _raw("text", result.status),
        "content_hash": _raw("text", result.content_hash),
        "fingerprint": _raw("text", result.fingerprint),
        "attempt": _raw("int", result.attempt),
    }
    if result.partition is not None:  # Dagster records the key; the value is what the flow saw
        metadata["partition"] = _raw("text", result.partition)
    schemas = {name: table_schema(schema) for name, schema in result.schema.items()}
    for name, rows in result.rows.items():
        metadata[f"rows/{name}"] = _raw("int", rows)
    # Rows a load repaired: short ones padded with nulls, extra cells dropped on request.
    for name, rows in result.padded_rows.items():
        metadata[f"padded_rows/{name}"] = _raw("int", rows)
    for name, rows in result.truncated_rows.items():
        metadata[f"truncated_rows/{name}"] = _raw("int", rows)
    for name, schema in schemas.items():
        metadata[f"schema/{name}"] = _raw("table_schema", schema)
    if len(schemas) == 1:  # Dagster's own "Columns" view takes one table per asset
        metadata["dagster/column_schema"] = _raw("table_schema", next(iter(schemas.values())))
    # Only a local store can be previewed without downloading the whole dataset.
    if preview_rows > 0 and store.is_local:
        path = store.descriptor_url(result.factory, dataset_of(result.flow, result.partition))
        for name, schema in itertools.islice(schemas.items(), _MAX_PREVIEW_RESOURCES):
            metadata[f"preview/{name}"] = _preview(path, name, schema, preview_rows)
    return metadata


def _preview(path: str, resource: str, schema: dict[str, Any], rows: int) -> Raw:
    try:
        records = [{key: _plain(value) for key, value in row.items()}
                   for row in itertools.islice(iter_rows(path, resource), rows)]
    except Exception as error:  # a damaged dataset: the check reports it, the preview says so
        return _raw("text", redact(f"no preview: {type(error).__name__}: {error}"))
    return _raw("table", {"records": records, "schema": schema["columns"]})


def check_outcome(store: Store, result: StepResult) -> tuple[bool, str | None, dict[str, Raw]]:
    """The ``dataset_valid`` check: validate the stored dataset (files, hashes, types, counts);
    for one partition, the part it wrote. ``(passed, description, metadata)``."""
    problems, rows = validate_dataset(store, result.factory, dataset_of(result.flow, result.partition))
    problems = redact_value(problems)  # they quote the descriptor and the files
    description = None if not problems else f"{len(problems)} problem(s): {problems[0]}"
    return not problems, description, {
        "rows_checked": _raw("int", rows),
        "problems": _raw("json", problems),
        "dataset_uri": _raw("text", result.dataset_uri),
    }


def _plain(value: Any) -> str | int | float | bool | None:
    # Table records take only JSON scalars; dates, decimals and lists are shown as text.
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


# -- the external side of Pipes --------------------------------------------------------------


def _run(pipes: Any) -> int:
    """Run the step the orchestrator's extras name; report what Dagster shows; the exit code."""
    from .adapters.pool import error_payload
    from .adapters.task import run_task_step
    from .errors import FlowExecutionError
    from .lineage import ParentRun

    extras = pipes.extras
    flow, key = extras["flow"], extras["asset_key"]
    attempt = int(pipes.retry_number) + 1
    # The Dagster run, as the parent of the step's OpenLineage events (None: lineage is off).
    parent = extras.get("lineage_parent")
    try:
        result = run_task_step(extras["factory_ref"], flow, store=extras["store"],
                               force=bool(extras.get("force")), run_id=pipes.run_id, attempt=attempt,
                               plan_path=extras.get("plan_path"),
                               lineage_parent=ParentRun.from_dict(parent) if parent else None)
    except FlowExecutionError as error:
        payload = error_payload(flow, error, None)  # redacted, traceback kept apart
        pipes.log.error(payload["text"])
        pipes.report_custom_message({ERROR_KEY: payload})
        return 1
    store = Store(extras["store"])
    pipes.report_asset_materialization(
        asset_key=key, data_version=result.content_hash or None,
        metadata=materialization_metadata(result, store, int(extras.get("preview_rows", 5))))
    if extras.get("check", True):
        passed, _description, metadata = check_outcome(store, result)
        pipes.report_asset_check(check_name=CHECK_NAME, passed=passed, severity="ERROR",
                                 metadata=metadata, asset_key=key)
    return 0


def main() -> int:
    """``python -m dataflows_factory.dagster_pipes_step``: one step under Dagster Pipes."""
    from dagster_pipes import open_dagster_pipes  # type: ignore[import-not-found,unused-ignore]

    from .errors import FactoryError

    with open_dagster_pipes() as pipes:
        try:
            return _run(pipes)
        except FactoryError as error:  # a stale plan, a factory that cannot load: no retry helps
            message = redact(str(error))
            pipes.log.error(message)
            pipes.report_custom_message({ERROR_KEY: {"text": message, "retry": False}})
            return 2


if __name__ == "__main__":
    sys.exit(main())
