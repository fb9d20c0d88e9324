"""The factories every engine runs, each copied into a private project folder per run.

Factories are files (Airflow and Prefect workers import a factory by reference): the world
example itself, and the ones in ``factories/``. Each case says which statuses its factory
promises, so the reference (the local runner) is checked too, not only compared.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shop import AMOUNTS

HERE = Path(__file__).resolve().parent
FACTORIES = HERE / "factories"
WORLD = HERE.parents[1] / "examples" / "world"


@dataclass(frozen=True)
class Case:
    """One factory of the suite: how to lay out its project, and what a run of it must give."""

    name: str
    layout: Callable[[Path], None]
    statuses: dict[str, str]
    error_names: dict[str, list[str]] = field(default_factory=dict)
    """For each failing unit, what its error line must name (flow, processor, resource, row)."""

    def project(self, folder: Path) -> Path:
        """A fresh copy of the factory's project under ``folder``; the factory file."""
        target = folder / self.name
        self.layout(target)
        return target / "factory.py"

    def __str__(self) -> str:
        return self.name


def _world(target: Path) -> None:
    shutil.copytree(WORLD, target, ignore=shutil.ignore_patterns("data", "__pycache__"))


def _from_factories(name: str) -> Callable[[Path], None]:
    def layout(target: Path) -> None:
        target.mkdir(parents=True)
        shutil.copy(FACTORIES / f"{name}.py", target / "factory.py")
        shutil.copytree(FACTORIES / "raw", target / "raw")

    return layout


def _shop(target: Path) -> None:
    # The inputs of the shared partitioned test factory (tests/shop.py).
    (target / "raw").mkdir(parents=True)
    shutil.copy(FACTORIES / "shop.py", target / "factory.py")
    for region, amounts in AMOUNTS.items():
        (target / "raw" / f"{region}.csv").write_text(
            "region,amount\n" + "".join(f"{region},{a}\n" for a in amounts))


CASES = [
    Case("world", _world, dict.fromkeys(["countries", "cities", "key_metrics", "publish"], "succeeded")),
    Case("shop", _shop, dict.fromkeys(
        [*(f"sales[raw/{region}.csv]" for region in sorted(AMOUNTS)), "sales", "total"], "succeeded")),
    Case("failing", _from_factories("failing"),
         {"stations": "succeeded", "checked": "failed", "summary": "not_run", "notify": "not_run"},
         {"checked": ["flow 'checked'", "processor 'reject_negative'", "resource 'readings'", "row 3",
                      "ValueError: negative reading -3 at station charlie"]}),
    Case("ordered", _from_factories("ordered"), dict.fromkeys(["extract", "audit", "catalog"], "succeeded")),
]
