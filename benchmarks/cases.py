"""One benchmark case in this process: ``python -m benchmarks.cases CASE IMPL ROWS OUT``.

Prints one JSON line: seconds, rows (input rows), peak RSS (MB) of this process and its
children. Each case runs in a fresh subprocess so peak RSS is the case's own.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from .generate import countries_path, generate

BUDGET = 16 * 1024 * 1024  # case c_budget: far below the data (1M rows ~ 500 MB in memory)


# -- the flows, as dataflows steps (shared by plain dataflows and the factory runner) --------

def steps_a(src: str) -> list[Any]:
    from dataflows import add_computed_field, filter_rows, load

    return [load(src, name="cities"),
            add_computed_field(target={"name": "value_per_1k", "type": "number"},
                               operation=lambda row: row["value"] * 1000 / (row["population"] + 1)),
            filter_rows(lambda row: row["value"] > 0)]


def steps_b(src: str) -> list[Any]:
    from dataflows import join, load

    return [load(src, name="cities"), load(countries_path(), name="countries"),
            join("cities", ["country"], "countries", ["code"], mode="half-outer",
                 fields={"cities": {"name": "id", "aggregate": "count"},
                         "city_population": {"name": "population", "aggregate": "sum"},
                         "max_value": {"name": "value", "aggregate": "max"}})]


def steps_c(src: str, budget: bool = False) -> list[Any]:
    from dataflows import load, sort_rows

    if budget:
        from dataflows_factory.processors.sort import sort_rows as fast_sort

        return [load(src, name="cities"), fast_sort("{country}{population}", memory_budget=BUDGET)]
    return [load(src, name="cities"), sort_rows("{country}{population}")]


STEPS: dict[str, Callable[[str], list[Any]]] = {
    "a": steps_a, "b": steps_b, "c": steps_c, "c_budget": lambda src: steps_c(src, budget=True),
}


def plain_dataflows(case: str, src: str, out: str) -> None:
    """dataflows as users run it: cast with the schema, Flow.process(), dump_to_path."""
    from dataflows import Flow, dump_to_path, load

    steps = STEPS[case](src)
    for step in steps:
        if type(step) is load:
            step.caster = _schema_caster()  # what load(cast_strategy=CAST_WITH_SCHEMA) sets
    Flow(*steps, dump_to_path(out)).process()


def _schema_caster() -> Any:
    from dataflows.base.schema_validator import schema_validator

    return lambda res, it: schema_validator(res, it)


def factory_runner(case: str, src: str, out: str) -> int:
    """The same steps as one flow of a factory, on the local runner (fast paths on)."""
    from dataflows import Flow

    from dataflows_factory import Factory
    from dataflows_factory.runner import run

    factory = Factory("bench", store=out)

    @factory.flow(name=f"case_{case}")
    def flow() -> Any:
        return Flow(*STEPS[case](src))

    report = run(factory, store=out, jobs=1, show_progress=False, force=True)
    if not report.ok:
        raise SystemExit(f"failed: {report.failed}")
    return report.results[f"case_{case}"].total_rows


def build_world_factory(src: str, out: str | None = None) -> Any:
    """(d) the examples/world shape at scale: two sources, a join flow, a sort of every city.

    Defining it reads no data, so the adapter benchmark (``benchmarks/adapters.py``) builds
    the same factory at import time in each orchestrator's environment.
    """
    from dataflows import Flow, add_computed_field, filter_rows, join, load, sort_rows, update_resource

    from dataflows_factory import Factory

    factory = Factory("world_bench", store=out)

    @factory.flow()
    def countries() -> Any:
        return Flow(load(countries_path(), name="countries"))

    @factory.flow()
    def cities() -> Any:
        return Flow(load(src, name="cities"), filter_rows(lambda row: row["population"] > 0))

    @factory.flow()
    def key_metrics(countries: Any, cities: Any) -> Any:
        return Flow(
            cities, countries,
            join("cities", ["country"], "countries", ["code"], mode="half-outer",
                 fields={"cities": {"name": "city", "aggregate": "count"},
                         "city_population": {"name": "population", "aggregate": "sum"}}),
            add_computed_field(target={"name": "urban_share", "type": "number"},
                               operation=lambda row: round((row["city_population"] or 0)
                                                           / row["population"], 4)),
            sort_rows("{code}", resources="countries"),
            update_resource("countries", name="key_metrics", path="key_metrics.csv"))

    @factory.flow()
    def largest(cities: Any) -> Any:
        # A second consumer of the big dataset: a sort of every city row inside the DAG.
        return Flow(cities, sort_rows("{population}", reverse=True))

    return factory


def world_factory(src: str, out: str, jobs: int = 2) -> None:
    """(d) on the local runner; Airflow, Prefect and Dagster runs of it: ``benchmarks/adapters.py``."""
    from dataflows_factory.runner import run

    report = run(build_world_factory(src, out), store=out, jobs=jobs, show_progress=False, force=True)
    if not report.ok:
        raise SystemExit(f"failed: {[r.error for r in report.failed]}")


def two_flows(src: str, out: str, jobs: int) -> None:
    """Two equal independent flows (case a on the same file) with ``jobs`` processes."""
    from dataflows import Flow

    from dataflows_factory import Factory
    from dataflows_factory.runner import run

    factory = Factory("pair", store=out)
    for name in ("left", "right"):
        factory.flow(name=name)(lambda: Flow(*steps_a(src)))
    report = run(factory, store=out, jobs=jobs, show_progress=False, force=True)
    if not report.ok:
        raise SystemExit(f"failed: {report.failed}")


# -- reference lines: the same logical work in dataframe libraries ---------------------------

def handwritten_sort(src: str, out: str) -> int:
    """(c) by hand with the csv module: each row cast to a typed tuple, sorted by
    (country, population) (stable, like the key's row-number suffix), written back."""
    import csv
    from datetime import date
    from decimal import Decimal
    from operator import itemgetter

    with open(src, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [(int(i), city, country, int(population), date.fromisoformat(day), Decimal(value))
                for i, city, country, population, day, value in reader]
    rows.sort(key=itemgetter(2, 3))
    with open(os.path.join(out, "out.csv"), "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return len(rows)


def pandas_case(case: str, src: str, out: str) -> None:
    import pandas as pd

    df = pd.read_csv(src, parse_dates=["date"])
    if case == "a":
        df["value_per_1k"] = df["value"] * 1000 / (df["population"] + 1)
        df = df[df["value"] > 0]
    elif case == "b":
        agg = df.groupby("country").agg(cities=("id", "count"), city_population=("population", "sum"),
                                        max_value=("value", "max"))
        df = pd.read_csv(countries_path()).merge(agg, left_on="code", right_index=True, how="left")
    else:
        df = df.sort_values(["country", "population"], kind="stable")
    df.to_csv(os.path.join(out, "out.csv"), index=False)


def polars_case(case: str, src: str, out: str) -> None:
    import polars as pl

    df = pl.read_csv(src, try_parse_dates=True)
    if case == "a":
        df = df.with_columns((pl.col("value") * 1000 / (pl.col("population") + 1)).alias("value_per_1k"))
        df = df.filter(pl.col("value") > 0)
    elif case == "b":
        agg = df.group_by("country").agg(pl.col("id").count().alias("cities"),
                                         pl.col("population").sum().alias("city_population"),
                                         pl.col("value").max().alias("max_value"))
        df = pl.read_csv(countries_path()).join(agg, left_on="code", right_on="country", how="left")
    else:
        df = df.sort(["country", "population"], maintain_order=True)
    df.write_csv(os.path.join(out, "out.csv"))


def duckdb_case(case: str, src: str, out: str) -> None:
    import duckdb

    query = {
        "a": f"SELECT *, value * 1000 / (population + 1) AS value_per_1k FROM read_csv_auto('{src}') "
             "WHERE value > 0",
        "b": "SELECT c.*, a.cities, a.city_population, a.max_value "
             f"FROM read_csv_auto('{countries_path()}') c "
             f"LEFT JOIN (SELECT country, count(id) cities, sum(population) city_population, "
             f"max(value) max_value FROM read_csv_auto('{src}') GROUP BY country) a ON a.country = c.code",
        "c": f"SELECT * FROM read_csv_auto('{src}') ORDER BY country, population",
    }[case]
    con = duckdb.connect()
    con.execute("SET threads TO 1")  # one core, like a dataflows flow
    con.execute(f"COPY ({query}) TO '{os.path.join(out, 'out.csv')}' (HEADER)")


def main(argv: list[str]) -> None:
    case, impl, rows = argv[0], argv[1], int(argv[2])
    src = generate(rows)
    out = tempfile.mkdtemp(prefix=f"dff-bench-{case}-{impl}-")
    if impl.startswith("plain"):
        os.environ["DFF_FAST_PATHS"] = "0"
    # Libraries are imported before the clock starts, like the interpreter itself: a fixed
    # start-up cost (``import dataflows`` alone takes 2-3 s here) that is not row work.
    # Reported apart as import_s.
    start = time.perf_counter()
    _import_for(impl)
    imported = time.perf_counter() - start
    start = time.perf_counter()
    rows_out = None
    try:
        if case == "d":
            world_factory(src, out)
        elif case == "pair":
            two_flows(src, out, jobs=int(impl.rsplit("_", 1)[1]))
        elif impl == "dataflows":
            plain_dataflows(case.replace("_budget", ""), src, out)
        elif impl in ("factory", "plain_factory"):
            rows_out = factory_runner(case, src, out)
        elif impl == "handwritten":
            if case != "c":
                raise SystemExit("the handwritten implementation is case c only")
            rows_out = handwritten_sort(src, out)
        elif impl == "dpp":  # datapackage-pipelines in its own environment: benchmarks/dpp.py
            from .dpp import run_pipeline

            rows_out = run_pipeline(case, src, out)
        else:
            {"pandas": pandas_case, "polars": polars_case, "duckdb": duckdb_case}[impl](
                case.replace("_budget", ""), src, out)
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(out, ignore_errors=True)
    usage, child = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    own, children = usage.ru_maxrss, child.ru_maxrss
    # CPU seconds of the process tree, imports included: steadier than wall time on a busy
    # shared machine (waiting for a core is not counted).
    cpu = usage.ru_utime + usage.ru_stime + child.ru_utime + child.ru_stime
    print(json.dumps({"case": case, "impl": impl, "rows": rows, "seconds": round(seconds, 3),
                      "import_s": round(imported, 3), "cpu_s": round(cpu, 2),
                      "rss_mb": round(max(own, children) / 1024, 1),
                      "rows_out": rows_out}))


def _import_for(impl: str) -> None:
    import importlib

    modules = {"pandas": ["pandas"], "polars": ["polars"], "duckdb": ["duckdb"],
               "handwritten": ["csv", "decimal"], "dpp": []}.get(
        impl, ["dataflows", "dataflows_factory", "dataflows_factory.runner"])
    for module in modules:
        importlib.import_module(module)


if __name__ == "__main__":
    main(sys.argv[1:])
