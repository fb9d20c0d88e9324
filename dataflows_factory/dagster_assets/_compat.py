"""Every import of Dagster goes through here, so a missing or too old Dagster fails in one place.

Importing :mod:`dataflows_factory.dagster_assets` without the ``dagster`` extra raises
:class:`~dataflows_factory.errors.MissingExtraError` naming the pip line to run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import MissingExtraError

try:
    import dagster
    from dagster import (
        AssetCheckKey,
        AssetCheckResult,
        AssetCheckSeverity,
        AssetCheckSpec,
        AssetDep,
        AssetExecutionContext,
        AssetKey,
        AssetsDefinition,
        AssetSpec,
        CodeReferencesMetadataValue,
        ConfigurableResource,
        DataVersion,
        Failure,
        LocalFileCodeReference,
        MaterializeResult,
        MetadataValue,
        PipesSubprocessClient,
        PipesTempFileMessageReader,
        RetryPolicy,
        StaticPartitionsDefinition,
        TableColumn,
        TableColumnConstraints,
        TableConstraints,
        TableRecord,
        TableSchema,
        multi_asset,
    )
    from pydantic import Field as PydanticField
except ImportError as cause:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtraError("dagster", "dagster") from cause

MINIMUM = (1, 13)
VERSION = tuple(int(part) for part in dagster.__version__.split(".")[:2] if part.isdigit())
if VERSION and VERSION < MINIMUM:  # pragma: no cover - the test environment has a current Dagster
    raise MissingExtraError("dagster", f"dagster>={'.'.join(map(str, MINIMUM))}")


def metadata_from_external(metadata: Mapping[str, Any]) -> dict[str, MetadataValue]:
    """Metadata in Pipes' external form (``{"raw_value", "type"}``) as ``MetadataValue``s, with
    the converter Dagster applies to what a Pipes process reports (private, hence here)."""
    from dagster._core.definitions.metadata.external_metadata import metadata_map_from_external

    return dict(metadata_map_from_external(metadata))


def code_reference(file_path: str, line_number: int) -> CodeReferencesMetadataValue:
    """A "view source" link for the asset page; the classes are beta, so their warning is muted."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is currently in beta")
        return CodeReferencesMetadataValue(
            code_references=[LocalFileCodeReference(file_path=file_path, line_number=line_number)]
        )


__all__ = [
    "AssetCheckKey",
    "AssetCheckResult",
    "AssetCheckSeverity",
    "AssetCheckSpec",
    "AssetDep",
    "AssetExecutionContext",
    "AssetKey",
    "AssetSpec",
    "AssetsDefinition",
    "CodeReferencesMetadataValue",
    "ConfigurableResource",
    "DataVersion",
    "Failure",
    "LocalFileCodeReference",
    "MaterializeResult",
    "MetadataValue",
    "PipesSubprocessClient",
    "PipesTempFileMessageReader",
    "PydanticField",
    "RetryPolicy",
    "StaticPartitionsDefinition",
    "TableColumn",
    "TableColumnConstraints",
    "TableConstraints",
    "TableRecord",
    "TableSchema",
    "code_reference",
    "metadata_from_external",
    "multi_asset",
]
