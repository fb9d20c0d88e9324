"""Every import of Dagster goes through here, so a missing or too old Dagster fails in one place.

Importing :mod:`dataflows_factory.dagster_assets` without the ``dagster`` extra raises
:class:`~dataflows_factory.errors.MissingExtraError` naming the pip line to run.
"""

from __future__ import annotations

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
    "PydanticField",
    "RetryPolicy",
    "StaticPartitionsDefinition",
    "TableColumn",
    "TableColumnConstraints",
    "TableConstraints",
    "TableRecord",
    "TableSchema",
    "code_reference",
    "multi_asset",
]
