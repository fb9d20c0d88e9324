"""Fixtures for the Dagster tests: private copies of the examples, loaded definitions, helpers."""

from __future__ import annotations

import runpy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conformance.datasets import Dataset, local_datasets
from dagster import DagsterInstance

from dataflows_factory import Factory, load_factory

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
NUMBERS = "id,value\n1,10\n2,20\n3,30\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """examples/world and examples/dagster copied (without data) into a private folder."""
    for name in ("world", "dagster"):
        shutil.copytree(EXAMPLES / name, tmp_path / "examples" / name,
                        ignore=shutil.ignore_patterns("data", "__pycache__"))
    return tmp_path


@pytest.fixture
def example(project: Path) -> dict[str, Any]:
    """The namespace of the copied examples/dagster/definitions.py (``defs``, ``factory``)."""
    return runpy.run_path(str(project / "examples" / "dagster" / "definitions.py"))


@pytest.fixture
def world(example: dict[str, Any]) -> Factory:
    """The world factory the example definitions were built from."""
    factory: Factory = example["factory"]
    return factory


@pytest.fixture
def fragile(tmp_path: Path) -> Factory:
    """The fragile test factory in a private folder with its raw/numbers.csv."""
    folder = tmp_path / "fragile"
    (folder / "raw").mkdir(parents=True)
    shutil.copy(Path(__file__).with_name("fragile_factory.py"), folder / "factory.py")
    (folder / "raw" / "numbers.csv").write_text(NUMBERS)
    return load_factory(str(folder / "factory.py") + ":factory")


@pytest.fixture
def instance() -> DagsterInstance:
    """An in-memory Dagster instance kept across the runs of one test."""
    return DagsterInstance.ephemeral()


@pytest.fixture
def local_reference(tmp_path: Path) -> Callable[[Factory], dict[str, Dataset]]:
    """Run a factory with the local runner into its own store; ``{flow: (rows, content_hash)}``."""
    return lambda factory: local_datasets(factory, tmp_path / "local-store")
