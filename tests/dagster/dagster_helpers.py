"""Helpers shared by the Dagster tests: read dataset files and Dagster events back.

Datasets are compared with ``conformance.datasets.stored``, as in every suite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dagster import AssetKey, ExecuteInProcessResult


def files_of(store: Path, factory: str, flow: str) -> dict[str, bytes]:
    """Every file of a stored dataset, byte for byte."""
    folder = store / factory / flow
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def materializations(result: ExecuteInProcessResult) -> dict[str, Any]:
    """``{"factory/flow": AssetMaterialization}`` of one in-process run."""
    return {event.asset_key.to_user_string(): event.step_materialization_data.materialization
            for event in result.get_asset_materialization_events()}


def checks(result: ExecuteInProcessResult) -> dict[str, Any]:
    """``{"factory/flow": AssetCheckEvaluation}`` of one in-process run."""
    return {evaluation.asset_key.to_user_string(): evaluation
            for evaluation in result.get_asset_check_evaluations()}


def key(text: str) -> AssetKey:
    return AssetKey.from_user_string(text)
