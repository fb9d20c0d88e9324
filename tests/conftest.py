"""Shared fixtures: isolated copies of the example factories."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dataflows_factory import Factory, load_factory

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def copy_example(name: str, destination: Path) -> Path:
    """Copy examples/<name> (without stored data) to ``destination``; return the factory file."""
    target = destination / name
    shutil.copytree(EXAMPLES / name, target, ignore=shutil.ignore_patterns("data", "__pycache__"))
    return target / "factory.py"


@pytest.fixture
def world_file(tmp_path: Path) -> Path:
    """A private copy of examples/world, so each test has its own store and inputs."""
    return copy_example("world", tmp_path)


@pytest.fixture
def world(world_file: Path) -> Factory:
    """The world factory loaded from a private copy."""
    return load_factory(str(world_file))
