"""Adapter overhead: case (d) on the local runner, Airflow ``dag.test()``, Prefect and Dagster.

Each engine runs the same factory (``cases.build_world_factory``, 1M rows by default) in its
own process and nox environment, into its own fresh store, one after the other:

- local: ``run(factory, jobs=2, force=True)`` (``.nox/bench``);
- airflow: ``build_dag(factory, store=...)`` then ``dag.test()`` on a private AIRFLOW_HOME with
  a SQLite metadata database (migrated beforehand; the migration is reported, not counted);
- prefect: ``build_flow(factory, store=...)()`` under ``prefect_test_harness`` (its server
  start is reported as setup, inside the process's wall time);
- dagster: ``materialize(build_assets(factory), resources={"dff": FactoryResource(...)})``.

Per engine: total wall (process start to exit, measured here), processing = sum over flows
of ``StepResult.duration`` (from the report / XCom / task results / ``duration_s`` metadata),
the flows' span (first flow start to last flow end) and fixed start-up = total - span.
Datasets must be equal: same rows and content_hash per flow on every engine.

    .nox/bench/bin/python -m benchmarks.adapters [--rows 1000000] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .cases import build_world_factory
from .generate import cities_path, generate

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "adapters.md"
SUMMARY = ROOT / "benchmarks" / "RESULTS.md"
ENGINES = {"local": "bench", "airflow": "airflow", "prefect": "prefect", "dagster": "dagster"}
REF = "benchmarks.adapters:factory"
DAG_ID = "bench_world"

# The factory every engine imports by reference; defining it reads no data.
factory = build_world_factory(os.environ["DFF_BENCH_WORLD_SRC"]) if "DFF_BENCH_WORLD_SRC" in os.environ \
    else None
if factory is not None:
    factory.ref = REF


# -- in the engine's process ----------------------------------------------------------------

def _local(store: str, phases: dict[str, float]) -> dict[str, dict[str, Any]]:
    from dataflows_factory.runner import run

    report = run(factory, store=store, jobs=2, show_progress=False, force=True)
    return {name: result.to_dict() for name, result in report.results.items()}


def _airflow(store: str, phases: dict[str, float]) -> dict[str, dict[str, Any]]:
    import sqlite3

    from airflow.dag_processing.dagbag import DagBag

    # dag.test() needs a serialized DAG: load build_dag's result from the DAGs folder.
    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{DAG_ID}.py"
    path.write_text("from dataflows_factory.airflow_provider import build_dag\n"
                    f"dag = build_dag({REF!r}, dag_id={DAG_ID!r}, store={store!r})\n")
    bag = DagBag(dag_folder=str(path))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    dag = bag.dags[DAG_ID]
    start = time.perf_counter()
    run = dag.test()
    phases["dag_test_s"] = time.perf_counter() - start
    if run.state != "success":
        raise SystemExit(f"dag.test() ended {run.state}")
    db = os.path.join(os.environ["AIRFLOW_HOME"], "airflow.db")
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT task_id, value FROM xcom WHERE dag_id = ? AND run_id = ? "
                           "AND key = 'return_value'", (DAG_ID, run.run_id)).fetchall()
    out = {}
    for task, value in rows:
        while isinstance(value, (str, bytes)):  # stored as JSON text, possibly encoded twice
            value = json.loads(value)
        out[task] = value
    return out


def _prefect(store: str, phases: dict[str, float]) -> dict[str, dict[str, Any]]:
    from prefect.testing.utilities import prefect_test_harness

    from dataflows_factory.prefect_blocks import build_flow

    start = time.perf_counter()
    with prefect_test_harness(server_startup_timeout=180):
        phases["server_start_s"] = time.perf_counter() - start
        flow = build_flow(factory, store=store)
        start = time.perf_counter()
        results: dict[str, dict[str, Any]] = flow()
        phases["flow_call_s"] = time.perf_counter() - start
    return results


def _dagster(store: str, phases: dict[str, float]) -> dict[str, dict[str, Any]]:
    from dagster import materialize

    from dataflows_factory.dagster_assets import FactoryResource, build_assets

    start = time.perf_counter()
    result = materialize(build_assets(factory), resources={"dff": FactoryResource(store=store)})
    phases["materialize_s"] = time.perf_counter() - start
    if not result.success:
        raise SystemExit("materialize failed")
    out = {}
    for event in result.get_asset_materialization_events():
        flow = event.asset_key.path[-1]
        meta = {k: v.value for k, v in event.step_materialization_data.materialization.metadata.items()}
        # Metadata has no timestamps: the dataset's own descriptor says when it was published.
        descriptor = json.loads((Path(store) / factory.name / flow / "datapackage.json").read_text())
        finished = datetime.fromisoformat(descriptor["dff"]["produced_at"])
        out[flow] = {"duration": meta["duration_s"], "content_hash": meta["content_hash"],
                     "rows": {k[5:]: v for k, v in meta.items() if k.startswith("rows/")},
                     "finished_at": finished.isoformat(),
                     "started_at": (finished - timedelta(seconds=meta["duration_s"])).isoformat()}
    return out


def child(engine: str, store: str, out: str) -> None:
    phases: dict[str, float] = {}
    results = {"local": _local, "airflow": _airflow, "prefect": _prefect, "dagster": _dagster}[engine](
        store, phases)
    flows = {name: {key: r[key] for key in ("duration", "started_at", "finished_at", "content_hash", "rows")}
             for name, r in results.items()}
    Path(out).write_text(json.dumps({"flows": flows, "phases": phases}))


# -- the driver -------------------------------------------------------------------------------

def _python(engine: str) -> str:
    return str(ROOT / ".nox" / ENGINES[engine] / "bin" / "python")


def _airflow_env(home: Path) -> dict[str, str]:
    (home / "dags").mkdir(parents=True)
    return {"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False"}


def measure(engine: str, src: str, work: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DFF_BENCH_WORLD_SRC": src,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_UI_ENABLED": "false",
           "DO_NOT_TRACK": "1", "PREFECT_HOME": str(work / "prefect-home")}
    setup: dict[str, float] = {}
    if engine == "airflow":
        env.update(_airflow_env(work / "airflow-home"))
        start = time.perf_counter()
        subprocess.run([str(Path(_python(engine)).parent / "airflow"), "db", "migrate"], env=env,
                       check=True, capture_output=True, cwd=ROOT)
        setup["airflow_db_migrate_s"] = time.perf_counter() - start
    store, out = work / f"store-{engine}", work / f"{engine}.json"
    start = time.perf_counter()
    proc = subprocess.run([_python(engine), "-m", "benchmarks.adapters", "--child", engine,
                           "--store", str(store), "--out", str(out)], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    total = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{engine} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    data = json.loads(out.read_text())
    flows = data["flows"]
    starts = [datetime.fromisoformat(f["started_at"]) for f in flows.values()]
    ends = [datetime.fromisoformat(f["finished_at"]) for f in flows.values()]
    span = (max(ends) - min(starts)).total_seconds()
    return {"engine": engine, "total_s": total, "span_s": span, "startup_s": total - span,
            "processing_s": sum(f["duration"] for f in flows.values()), "flows": flows,
            "phases": {**setup, **data["phases"]}}


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def render(rows: int, runs: list[dict[str, Any]], before: str, after: str,
           repeat: int = 1) -> tuple[str, str]:
    local = runs[0]
    names = list(local["flows"])
    same = {r["engine"]: all((r["flows"][n]["rows"], r["flows"][n]["content_hash"])
                             == (local["flows"][n]["rows"], local["flows"][n]["content_hash"]) for n in names)
            for r in runs}
    lines = ["# Adapter overhead (issue 6): case (d) on every engine", "",
             f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {rows:,} city rows; "
             + ("one run per engine, in order" if repeat == 1 else
                f"{repeat} rounds of every engine, interleaved; each engine's line is its round with "
                "the least processing time (every round's processing time in `rounds`)"),
             f"- machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
             f"Linux {platform.release()}",
             f"- uptime before: `{before}`", f"- uptime after: `{after}`",
             "- processing = sum of the flows' `StepResult.duration`; span = first flow start to last "
             "flow end; start-up = total wall (process start to exit) - span; % = vs the local runner.",
             "", "| engine | total s | span s | start-up s | processing s | processing vs local | "
             "span vs local | datasets equal | rounds |", "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in runs:
        rounds = " / ".join(f"{x:.1f}" for x in r.get("rounds", [r["processing_s"]]))
        lines.append(f"| {r['engine']} | {r['total_s']:.1f} | {r['span_s']:.1f} | {r['startup_s']:.1f} | "
                     f"{r['processing_s']:.1f} | {r['processing_s'] / local['processing_s'] - 1:+.1%} | "
                     f"{r['span_s'] / local['span_s'] - 1:+.1%} | {'yes' if same[r['engine']] else 'NO'} | "
                     f"{rounds} |")
    lines += ["", "Per flow (duration s; rows; content_hash):", "",
              "| flow | rows | content_hash | " + " | ".join(r["engine"] for r in runs) + " |",
              "|---|---:|---|" + "---:|" * len(runs)]
    for n in names:
        f = local["flows"][n]
        lines.append(f"| {n} | {sum(f['rows'].values()):,} | `{f['content_hash'][:16]}` | "
                     + " | ".join(f"{r['flows'][n]['duration']:.1f}" for r in runs) + " |")
    lines += ["", "Engine phases (s): " + "; ".join(
        f"{r['engine']}: " + ", ".join(f"{k} {v:.1f}" for k, v in r["phases"].items())
        for r in runs if r["phases"]), ""]
    # Overhead is time an adapter adds: an engine running the flows one at a time (no core
    # shared with a sibling flow) may well process faster than the parallel local runner.
    worst = max(r["processing_s"] / local["processing_s"] - 1 for r in runs[1:])
    target = ("| adapter overhead: Airflow/Prefect/Dagster processing within 5 % of the local runner on (d) "
              "at 1M rows | " + ", ".join(
                  f"{r['engine']} {r['processing_s'] / local['processing_s'] - 1:+.1%} "
                  f"(span {r['span_s'] / local['span_s'] - 1:+.0%}, start-up {r['startup_s']:.0f} s)"
                  for r in runs[1:]) + f"; local {local['processing_s']:.0f} s processing, span "
              f"{local['span_s']:.0f} s; see results/adapters.md | {'yes' if worst <= 0.05 else 'no'} |")
    return "\n".join([*lines, target, ""]), target


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--write", action="store_true", help="write results/adapters.md and RESULTS.md")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of every engine, interleaved; each keeps its least processing time")
    parser.add_argument("--child")
    parser.add_argument("--store")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.store, args.out)
    src = generate(args.rows)
    assert src == cities_path(args.rows)
    before = _uptime()
    work = Path(tempfile.mkdtemp(prefix="dff-bench-adapters-"))
    engines = args.engines.split(",")
    best: dict[str, dict[str, Any]] = {}
    rounds: dict[str, list[float]] = {}
    try:
        for round_ in range(args.repeat):
            folder = work / f"round-{round_}"  # fresh stores: nothing is skipped as unchanged
            folder.mkdir()
            for engine in engines:
                run = measure(engine, src, folder)
                print(json.dumps({k: v for k, v in run.items() if k != "flows"}), flush=True)
                rounds.setdefault(engine, []).append(run["processing_s"])
                if engine not in best or run["processing_s"] < best[engine]["processing_s"]:
                    best[engine] = run
    finally:
        shutil.rmtree(work, ignore_errors=True)
    runs = [{**best[engine], "rounds": rounds[engine]} for engine in engines]
    text, target = render(args.rows, runs, before, _uptime(), repeat=args.repeat)
    print(text)
    if args.write:
        RESULTS.write_text(text)
        summary = SUMMARY.read_text().splitlines()
        summary = [target if line.startswith(("| adapters (", "| adapter overhead")) else line
                   for line in summary]
        SUMMARY.write_text("\n".join(summary) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
