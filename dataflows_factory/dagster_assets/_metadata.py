"""StepResult -> Dagster materialization metadata and check results; never rows, but a preview."""

from __future__ import annotations

import datetime
import decimal
import itertools
from collections.abc import Mapping
from typing import Any

from .._secrets import redact, redact_value
from ..adapters.step import StepResult
from ..datasets import iter_rows, validate_dataset
from ..store import Store
from ._compat import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    TableColumn,
    TableColumnConstraints,
    TableConstraints,
    TableRecord,
    TableSchema,
)
from ._partitions import dataset_of
from .builder import CHECK_NAME

__all__ = ["check_result", "materialization_metadata", "merge_metadata", "table_schema"]

_MAX_PREVIEW_RESOURCES = 3


def table_schema(schema: Mapping[str, Any]) -> TableSchema:
    """A Frictionless Table Schema as a Dagster :class:`~dagster.TableSchema`."""
    columns = []
    for field in schema.get("fields", []):
        constraints = field.get("constraints") or {}
        kind = str(field.get("type", "string"))
        if field.get("format") not in (None, "default"):
            kind += f" ({field['format']})"
        others = [f"{name}: {value}" for name, value in sorted(constraints.items())
                  if name not in ("required", "unique")]
        columns.append(TableColumn(
            name=str(field["name"]),
            type=kind,
            description=field.get("description") or field.get("title"),
            constraints=TableColumnConstraints(
                nullable=not constraints.get("required", False),
                unique=bool(constraints.get("unique", False)),
                other=others,
            ),
        ))
    primary = schema.get("primaryKey")
    if isinstance(primary, str):
        primary = [primary]
    table = TableConstraints(other=[f"primary key: {', '.join(primary)}"]) if primary else None
    return TableSchema(columns=columns, constraints=table)


def materialization_metadata(result: StepResult, store: Store, preview_rows: int) -> dict[str, Any]:
    """What a materialization shows: rows, schema per resource, URI, size, timing, a preview."""
    uri = result.dataset_uri
    metadata: dict[str, Any] = {
        "dagster/row_count": MetadataValue.int(result.total_rows),
        "dataset_uri": MetadataValue.path(uri) if store.is_local else MetadataValue.url(uri),
        "bytes": MetadataValue.int(result.bytes),
        "duration_s": MetadataValue.float(float(result.duration)),
        "status": MetadataValue.text(result.status),
        "content_hash": MetadataValue.text(result.content_hash),
        "fingerprint": MetadataValue.text(result.fingerprint),
        "attempt": MetadataValue.int(result.attempt),
    }
    if result.partition is not None:  # Dagster records the key; the value is what the flow saw
        metadata["partition"] = MetadataValue.text(result.partition)
    schemas = {name: table_schema(schema) for name, schema in result.schema.items()}
    for name, rows in result.rows.items():
        metadata[f"rows/{name}"] = MetadataValue.int(rows)
    # Rows a load repaired: short ones padded with nulls, extra cells dropped on request.
    for name, rows in result.padded_rows.items():
        metadata[f"padded_rows/{name}"] = MetadataValue.int(rows)
    for name, rows in result.truncated_rows.items():
        metadata[f"truncated_rows/{name}"] = MetadataValue.int(rows)
    for name, schema in schemas.items():
        metadata[f"schema/{name}"] = MetadataValue.table_schema(schema)
    if len(schemas) == 1:  # Dagster's own "Columns" view takes one table per asset
        metadata["dagster/column_schema"] = MetadataValue.table_schema(next(iter(schemas.values())))
    # Only a local store can be previewed without downloading the whole dataset.
    if preview_rows > 0 and store.is_local:
        path = store.descriptor_url(result.factory, dataset_of(result.flow, result.partition))
        for name, schema in itertools.islice(schemas.items(), _MAX_PREVIEW_RESOURCES):
            metadata[f"preview/{name}"] = _preview(path, name, schema, preview_rows)
    return metadata


def merge_metadata(merged: StepResult | None, missing: list[str], store: Store) -> dict[str, Any]:
    """What a partition's materialization says about the flow's merged dataset: merged now
    (or skipped as unchanged), or how many partitions it still waits for."""
    if merged is None:
        return {"merge/status": MetadataValue.text(f"waiting for {len(missing)} partition(s)"),
                "merge/missing": MetadataValue.json(missing)}
    uri = merged.dataset_uri
    return {
        "merge/status": MetadataValue.text(merged.status),
        "merge/dataset_uri": MetadataValue.path(uri) if store.is_local else MetadataValue.url(uri),
        "merge/row_count": MetadataValue.int(merged.total_rows),
        "merge/content_hash": MetadataValue.text(merged.content_hash),
    }


def _preview(path: str, resource: str, schema: TableSchema, rows: int) -> Any:
    try:
        records = [TableRecord(data={key: _plain(value) for key, value in row.items()})
                   for row in itertools.islice(iter_rows(path, resource), rows)]
    except Exception as error:  # a damaged dataset: the check reports it, the preview says so
        return MetadataValue.text(redact(f"no preview: {type(error).__name__}: {error}"))
    return MetadataValue.table(records=records, schema=schema)


def check_result(store: Store, result: StepResult, key: AssetKey) -> AssetCheckResult:
    """Validate the stored dataset (files, hashes, types, counts) as the ``dataset_valid`` check;
    for one partition, the part that partition wrote."""
    problems, rows = validate_dataset(store, result.factory, dataset_of(result.flow, result.partition))
    problems = redact_value(problems)  # they quote the descriptor and the files
    return AssetCheckResult(
        asset_key=key,
        check_name=CHECK_NAME,
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        description=None if not problems else f"{len(problems)} problem(s): {problems[0]}",
        metadata={
            "rows_checked": MetadataValue.int(rows),
            "problems": MetadataValue.json(problems),
            "dataset_uri": MetadataValue.text(result.dataset_uri),
        },
    )


def _plain(value: Any) -> str | int | float | bool | None:
    # TableRecord takes only JSON scalars; dates, decimals and lists are shown as text.
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value)
