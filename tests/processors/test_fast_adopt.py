"""Factories pick the fast paths by default, and produce the same datasets as plain dataflows."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from dataflows import join, load, sort_rows
from dataflows.base.schema_validator import schema_validator

from dataflows_factory.factory import load_factory
from dataflows_factory.flow import normalize_steps
from dataflows_factory.runner import run

WORLD = Path(__file__).resolve().parents[2] / "examples" / "world"


def test_supported_steps_are_swapped() -> None:
    """load's schema cast, sort_rows and join closures are replaced by their fast twins."""
    steps = normalize_steps("f", [load("x.csv"), sort_rows("{a}"),
                                  join("a", ["k"], "b", ["k"], {"n": {"aggregate": "count"}})])
    assert steps[0].caster.__code__.co_names == ("fast_schema_validator",)
    assert steps[1].__module__ == "dataflows_factory.processors.sort"
    assert steps[2].__module__ == "dataflows_factory.processors.join"


def test_unsupported_options_keep_dataflows() -> None:
    """A load with a custom on_error keeps dataflows' own cast; unknown functions are untouched."""
    step = load("x.csv", cast_strategy=load.CAST_WITH_SCHEMA, on_error=load.ERRORS_DROP)
    normalize_steps("f", [step])
    assert "fast_schema_validator" not in step.caster.__code__.co_names
    strings = load("x.csv", cast_strategy=load.CAST_TO_STRINGS)
    normalize_steps("f", [strings])
    assert "fast_schema_validator" not in strings.caster.__code__.co_names


def test_switch_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """DFF_FAST_PATHS=0 runs plain dataflows steps."""
    monkeypatch.setenv("DFF_FAST_PATHS", "0")
    step = sort_rows("{a}")
    assert normalize_steps("f", [step]) == [step]
    loader = load("x.csv")
    normalize_steps("f", [loader])
    assert inspect_names(loader.caster) == {"schema_validator"}
    assert schema_validator is not None


def inspect_names(func: Any) -> set[str]:
    return set(func.__code__.co_names)


def test_world_factory_same_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The world example gives the same rows and content hash per flow, fast paths on or off."""
    project = tmp_path / "world"
    shutil.copytree(WORLD, project, ignore=shutil.ignore_patterns("data"))
    hashes = {}
    for flag in ("0", "1"):
        monkeypatch.setenv("DFF_FAST_PATHS", flag)
        factory = load_factory(str(project / "factory.py"))
        report = run(factory, store=str(tmp_path / f"store{flag}"), jobs=1, show_progress=False)
        assert report.ok, report.failed
        hashes[flag] = {name: (r.rows, r.content_hash) for name, r in report.results.items()}
    assert hashes["1"] == hashes["0"]
    assert hashes["1"]["key_metrics"][0]["key_metrics"] > 0
