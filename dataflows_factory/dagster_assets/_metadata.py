"""StepResult -> Dagster materialization metadata and check results; never rows, but a preview."""

from __future__ import annotations

from typing import Any

from .. import dagster_pipes_step as raw
from ..adapters.results import StepResult
from ..store import Store
from ._compat import AssetCheckResult, AssetCheckSeverity, AssetKey, MetadataValue, metadata_from_external
from .builder import CHECK_NAME

__all__ = ["check_result", "materialization_metadata", "merge_metadata"]


def materialization_metadata(result: StepResult, store: Store, preview_rows: int) -> dict[str, Any]:
    """What a materialization shows: rows, schema per resource, URI, size, timing, a preview.

    Built by :func:`dataflows_factory.dagster_pipes_step.materialization_metadata` in Pipes'
    external form and converted as Dagster converts what Pipes reports, so an asset run
    in process and one run through Pipes carry the same metadata.
    """
    return metadata_from_external(raw.materialization_metadata(result, store, preview_rows))


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


def check_result(store: Store, result: StepResult, key: AssetKey) -> AssetCheckResult:
    """Validate the stored dataset (files, hashes, types, counts) as the ``dataset_valid`` check;
    for one partition, the part that partition wrote (the same check Pipes' side reports)."""
    passed, description, metadata = raw.check_outcome(store, result)
    return AssetCheckResult(
        asset_key=key,
        check_name=CHECK_NAME,
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        description=description,
        metadata=metadata_from_external(metadata),
    )
