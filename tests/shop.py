"""The partitioned test factory shared by the core and orchestrator suites.

One partition per input file (``raw/apac.csv``, ``raw/eu.csv``, ``raw/us.csv``) and a
downstream flow that reads the merged dataset.
"""

from __future__ import annotations

from pathlib import Path

from dataflows import Flow, load

from dataflows_factory import Factory
from dataflows_factory.partitions import files

AMOUNTS = {"eu": [10, 20], "us": [5], "apac": [7, 8, 9]}


def sales_factory(root: Path, *, retries: int = 0) -> Factory:
    """Write the regional CSVs under ``root/raw`` and return the ``shop`` factory."""
    (root / "raw").mkdir(parents=True, exist_ok=True)
    for region, amounts in AMOUNTS.items():
        (root / "raw" / f"{region}.csv").write_text(
            "region,amount\n" + "".join(f"{region},{a}\n" for a in amounts))
    factory = Factory("shop", store=root / "data", root=root)

    @factory.flow(partitions=files("raw/*.csv"), retries=retries)
    def sales(partition):  # type: ignore[no-untyped-def]
        return Flow(load(partition, name="sales"))

    @factory.flow()
    def total(sales):  # type: ignore[no-untyped-def]
        return Flow(sales)

    return factory
