"""What one Airflow task of ours costs before its first row, and which part is whose.

Two measurements, each for the package in this checkout ("after") and, with ``--before
PATH``, for another copy of it (a folder holding a ``dataflows_factory`` package, e.g. a
``git worktree`` of an older commit), rounds interleaved:

1. **Imports and the flow, in one process each** (Airflow's environment): a fresh Python
   imports what the task process already holds (``airflow.sdk``'s task runner: the
   supervisor forks the task from a worker that imported it), then ``dataflows`` (the
   factory file imports it: dataflows' own cost), then what our task path imports (the
   operator, ``run_task_step``, the factory), then runs a 5-row flow through
   ``run_task_step``. Each step is timed apart.
2. **A real task** on a real scheduler (LocalExecutor, PostgreSQL, a database of its own,
   ``dff_bench_task_start``, dropped afterwards): a DAG of one 5-row flow (``build_dag`` from a
   compiled plan), one DAG per copy of the package. A row function of the flow records, at
   its first row, the time and the task process's age (from ``/proc/self/stat``: since the
   fork, to a clock tick); the DAG file records when it starts to run in the task process.
   With the task instance's ``end_date`` this splits a task into: fork -> DAG file (Airflow's
   task runner starting), DAG file -> first row (``build_dag``, then ``execute``: imports,
   the factory, the flow set up), first row -> end (rows, publish, XCom, report). (The
   ``start_date`` is the supervisor's report right after the fork.)

Bytecode is compiled once into a cache of its own (``PYTHONPYCACHEPREFIX``), as an installed
wheel has it; the first round warms it and is not counted.

    .nox/airflow/bin/python benchmarks/task_start.py [--before PATH] [--rounds 5] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "task_start.md"
DB_NAME = "dff_bench_task_start"
FACTORY = '''\
import json
import os
import time

from dataflows import Flow

from dataflows_factory import Factory

factory = Factory("task_start", store={store!r})
_seen = []


def first_row(row):
    # The first row of the flow: when it arrived, and when this (task) process started: its
    # age from /proc (start in clock ticks since boot, field 22), exact to a tick.
    if not _seen:
        _seen.append(True)
        now = time.time()
        with open("/proc/self/stat") as stat:
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
        with open({marks!r}, "a") as marks:
            marks.write(json.dumps({{"pid": os.getpid(), "first_row": now,
                                    "process_start": now - age}}) + "\\n")


@factory.flow()
def tiny():
    return Flow([{{"id": i, "name": f"row {{i}}"}} for i in range(5)], first_row)
'''
DAG = '''\
import json
import os
import sys
import time

# When this file starts to run in the task process (the DAG processor's parses mark too),
# and which heavy libraries the process already holds from the one that forked it.
_held = sorted({{m.split(".")[0] for m in sys.modules}} & {heavy!r})
with open({dag_marks!r}, "a") as marks:
    marks.write(json.dumps({{"pid": os.getpid(), "dag_file": time.time(), "held": _held}}) + "\\n")

# This DAG's copy of the package: first on the path, and nothing of another copy loaded
# (the scheduler that forked this process may hold a module or two of it).
sys.path.insert(0, {root!r})
for _name in [m for m in sys.modules if m.split(".")[0] == "dataflows_factory"]:
    del sys.modules[_name]

from dataflows_factory.airflow_provider import build_dag  # noqa: E402

dag = build_dag(plan={plan!r}, dag_id={dag_id!r}, store={store!r}, force=True)
'''
PROBE = '''\
import json, sys, time
stamps = [time.perf_counter()]
import airflow.sdk.execution_time.task_runner  # the task process inherits it
stamps.append(time.perf_counter())
import dataflows
stamps.append(time.perf_counter())
from dataflows_factory.airflow_provider import build_dag
from dataflows_factory.adapters.task import run_task_step
from dataflows_factory.airflow_provider._lineage import step_lineage
from dataflows_factory.factory import load_factory
load_factory(sys.argv[1])
stamps.append(time.perf_counter())
run_task_step(sys.argv[1], "tiny", force=True)
stamps.append(time.perf_counter())
print(json.dumps(dict(zip(["airflow", "dataflows", "ours", "flow"],
                          [round(b - a, 3) for a, b in zip(stamps, stamps[1:])]))))
'''
PARTS = {"airflow": "airflow task runner (inherited by the task)", "dataflows": "import dataflows",
         "ours": "our task path imports + the factory", "flow": "the 5-row flow (run_task_step)"}
SPANS = {"fork_start": "fork -> start_date (the supervisor reports the start)",
         "fork_dag": "fork -> the DAG file runs (Airflow's task runner starts)",
         "dag_first": "DAG file -> first row (build_dag, execute: imports, factory, flow set-up)",
         "first_end": "first row -> end_date (5 rows, publish, XCom, report)",
         "fork_first": "fork -> first row (the start cost)"}


def environment(cache: Path) -> dict[str, str]:
    """The environment of every measured process: bytecode cached in ``cache``, as a wheel has it."""
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(cache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def probe(root: Path, factory_ref: str, env: dict[str, str]) -> dict[str, float]:
    """One fresh process with ``root``'s package first on the path: the seconds of each part."""
    done = subprocess.run([sys.executable, "-c", PROBE, factory_ref], capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(root)}, cwd=root, check=False)
    if done.returncode != 0:
        raise SystemExit(f"probe of {root} failed:\n{done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def write_files(folder: Path, variants: dict[str, Path]) -> tuple[str, Path]:
    """The tiny factory, its compiled plan and one DAG file per copy of the package."""
    (folder / "factory").mkdir(parents=True)
    factory = folder / "factory" / "factory.py"
    marks = folder / "marks.jsonl"
    factory.write_text(FACTORY.format(store=str(folder / "store" / "probe"), marks=str(marks)))
    plan = folder / "task_start.plan.json"
    subprocess.run([sys.executable, "-m", "dataflows_factory", "compile", str(factory), "-o", str(plan)],
                   check=True, capture_output=True)
    for name, root in variants.items():
        (folder / "home" / "dags" / f"task_start_{name}.py").write_text(DAG.format(
            root=str(root), plan=str(plan), dag_id=f"task_start_{name}", store=str(folder / "store" / name),
            dag_marks=str(folder / "dag_marks.jsonl"), heavy=HEAVY))
    return f"{factory}:factory", marks


HELD: set[str] = set()  # what the task processes held before the DAG file ran


def task_spans(cluster: Any, dag_id: str, marks: Path) -> dict[str, float]:
    """Trigger ``dag_id`` (one task), wait for success; the task's spans from its first-row mark."""
    seen = len(marks.read_text().splitlines()) if marks.exists() else 0
    run_id = cluster.trigger(dag_id)
    state = cluster.wait_for_run(dag_id, run_id, timeout=600)
    if state != "success":
        raise SystemExit(f"run {run_id} of {dag_id} ended {state}")
    (start, end), = cluster.query(
        "SELECT EXTRACT(EPOCH FROM start_date), EXTRACT(EPOCH FROM end_date) FROM task_instance "
        "WHERE dag_id = %s AND run_id = %s", (dag_id, run_id))
    lines = marks.read_text().splitlines()
    if len(lines) != seen + 1:
        raise SystemExit(f"expected one first-row mark from {dag_id}, found {len(lines) - seen}")
    mark = json.loads(lines[-1])
    # The task process's own DAG-file mark (the DAG processor parses the file too).
    dag_marks = marks.with_name("dag_marks.jsonl").read_text().splitlines()
    (dag_mark, *_) = [m for m in map(json.loads, dag_marks) if m["pid"] == mark["pid"]][::-1]
    dag_file = dag_mark["dag_file"]
    HELD.update(dag_mark["held"])
    time.sleep(2)  # let the executor's task process exit before the next run starts
    fork, first = mark["process_start"], mark["first_row"]
    return {"fork_start": float(start) - fork, "fork_dag": dag_file - fork, "dag_first": first - dag_file,
            "first_end": float(end) - first, "fork_first": first - fork}


Spans = dict[str, list[dict[str, float]]]
NO_BYTECODE = "after, no bytecode of ours"
# Libraries a task of ours imports, through dataflows or Airflow.
HEAVY = {"dataflows", "datapackage", "tableschema", "tabulator", "openpyxl", "sqlalchemy", "numpy",
         "rich", "requests", "jsonschema", "dataflows_factory"}


def run_cluster(folder: Path, variants: dict[str, Path], marks: Path, rounds: int) -> Spans:
    """Every variant's DAG on a real deployment, ``rounds + 1`` times interleaved (first: warm-up)."""
    sys.path.insert(0, str(ROOT / "tests" / "airflow"))  # the deployment helpers of the tests
    from airflow_cluster import AirflowCluster
    from airflow_support import airflow_cli, pg_execute

    pg_execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    pg_execute(f'CREATE DATABASE "{DB_NAME}"')
    cluster = AirflowCluster(folder / "home", DB_NAME)
    spans: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    try:
        airflow_cli("db", "migrate", timeout=600)
        cluster.start()
        cluster.wait_for_api()
        for name in variants:
            cluster.wait_for_dag(f"task_start_{name}")
        for round_ in range(rounds + 1):
            for name in variants:
                measured = task_spans(cluster, f"task_start_{name}", marks)
                print(f"[task {round_}] {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in measured.items()),
                      flush=True)
                if round_:
                    spans[name].append(measured)
    finally:
        cluster.stop()
        pg_execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    return spans


def importtime(factory_ref: str, env: dict[str, str]) -> list[tuple[str, float]]:
    """``-X importtime`` of the probe (this checkout, bytecode warm): self ms by top-level package
    of what is imported after the task runner, i.e. what a task of ours adds to the process."""
    for _ in range(2):  # the first run fills the bytecode cache
        done = subprocess.run([sys.executable, "-X", "importtime", "-c", PROBE, factory_ref], env=env,
                              cwd=ROOT, capture_output=True, text=True, check=True)
    lines = done.stderr.splitlines()
    mark = "| airflow.sdk.execution_time.task_runner"
    runner = next(i for i, line in enumerate(lines) if line.rstrip().endswith(mark))
    totals: dict[str, float] = {}
    for line in lines[runner + 1:]:
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            self_us, _, name = (part.strip() for part in line[len("import time:"):].split("|"))
            totals[name.split(".")[0]] = totals.get(name.split(".")[0], 0.0) + int(self_us) / 1000
    return sorted(totals.items(), key=lambda item: -item[1])


def probe_rounds(folder: Path, variants: dict[str, Path], factory_ref: str, rounds: int) -> Spans:
    """The in-process parts of every variant, ``rounds + 1`` times interleaved (first: warm-up).

    One more variant runs this checkout without bytecode of its own (a copy without
    ``__pycache__``, ``PYTHONDONTWRITEBYTECODE=1``; libraries keep theirs): how an editable
    install runs where nothing writes bytecode, as in this repository's nox environments.
    """
    source_only = folder / "source_only"
    shutil.copytree(ROOT / "dataflows_factory", source_only / "dataflows_factory",
                    ignore=shutil.ignore_patterns("__pycache__"))
    plain = {k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"}
    envs = {name: (root, dict(os.environ)) for name, root in variants.items()}
    envs[NO_BYTECODE] = (source_only, {**plain, "PYTHONDONTWRITEBYTECODE": "1"})
    parts: Spans = {name: [] for name in envs}
    for round_ in range(rounds + 1):
        for name, (root, env) in envs.items():
            measured = probe(root, factory_ref, env)
            print(f"[probe {round_}] {name}: {measured}", flush=True)
            if round_:
                parts[name].append(measured)
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="a folder holding another copy of dataflows_factory")
    parser.add_argument("--rounds", type=int, default=5, help="counted rounds of each (default 5)")
    parser.add_argument("--no-cluster", action="store_true", help="only the in-process measurement")
    parser.add_argument("--importtime", action="store_true", help="only print the -X importtime table")
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS.name}")
    args = parser.parse_args()
    variants = {"after": ROOT, **({"before": args.before.resolve()} if args.before else {})}
    folder = Path(tempfile.mkdtemp(prefix="dff-task-start-"))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from airflow_granularity import configure

    configure(folder / "home")  # AIRFLOW_HOME, LocalExecutor, ports: inherited by every component
    os.environ.update(environment(folder / "pycache"))
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{DB_NAME}"
    load_before = os.getloadavg()
    try:
        factory_ref, marks = write_files(folder, variants)
        imports = importtime(factory_ref, {**os.environ, "PYTHONPATH": str(ROOT)})
        if args.importtime:
            print("\n".join(imports_table(imports)))
            return
        parts = probe_rounds(folder, variants, factory_ref, args.rounds)
        spans = {} if args.no_cluster else run_cluster(folder, variants, marks, args.rounds)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report = render(args, parts, spans, load_before, os.getloadavg(), imports)
    print(report)
    if args.write:
        RESULTS.write_text(report)


def _median(values: list[dict[str, float]], key: str) -> str:
    return f"{statistics.median(v[key] for v in values):.2f}" if values else "-"


def render(args: argparse.Namespace, parts: dict[str, list[dict[str, float]]],
           spans: dict[str, list[dict[str, float]]], load_before: tuple[float, ...],
           load_after: tuple[float, ...], imports: list[tuple[str, float]]) -> str:
    import platform
    from importlib.metadata import version

    names = list(parts)
    lines = [
        "# Per-task start cost on Airflow: before the first row",
        "",
        f"`python benchmarks/task_start.py {' '.join(sys.argv[1:])}` — Airflow "
        f"{version('apache-airflow-core')}, dataflows {version('dataflows')}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs shared with other work (load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after). Medians of {args.rounds} rounds "
        "(interleaved, after one warm-up round), seconds.",
        "",
        "## In one process (imports, then the 5-row flow)",
        "",
        "| part | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
        *(f"| {label} | " + " | ".join(_median(parts[n], key) for n in names) + " |"
          for key, label in PARTS.items()),
        "",
        f"`{NO_BYTECODE}`: this checkout's package without bytecode (an editable install where "
        "PYTHONDONTWRITEBYTECODE is set, like this repository's nox environments before they "
        "compiled it); libraries keep their bytecode.",
    ]
    if spans:
        lines += ["", "## A real task (LocalExecutor, PostgreSQL): one 5-row flow", "",
                  "| span | " + " | ".join(spans) + " |", "|---|" + "---:|" * len(spans),
                  *(f"| {label} | " + " | ".join(_median(spans[n], key) for n in spans) + " |"
                    for key, label in SPANS.items()),
                  "", "Heavy libraries the task process already held when its DAG file started "
                  "(inherited from the executor process that forked it): "
                  f"{', '.join(sorted(HELD)) or 'none'}."]
    return "\n".join([*lines, "", *imports_table(imports), "", *READING, "", *summary(parts, spans), ""])


def imports_table(imports: list[tuple[str, float]]) -> list[str]:
    """The ``-X importtime`` table: what the task path imports after Airflow's task runner."""
    return ["## What the task path imports (`python -X importtime`, one run, bytecode warm)", "",
            "Self time by top-level package of every module imported after the task runner "
            f"(total {sum(ms for _, ms in imports):.0f} ms): the probe's `import dataflows`, our "
            "imports, the factory and the 5-row flow.", "",
            "| package | ms |", "|---|---:|",
            *(f"| {name} | {ms:.0f} |" for name, ms in imports[:15])]


READING = [
    "## Whose cost",
    "",
    "- **Airflow's**: the task runner until the DAG file runs (fork -> DAG file), and what the task "
    "process inherits from the executor process that forked it (Airflow, SQLAlchemy, jsonschema, "
    "rich: not paid again).",
    "- **dataflows'**: `import dataflows` (the factory file imports it). It imports openpyxl (its "
    "Excel dumper), tableschema-sql, datapackage, tableschema and tabulator whatever the flow does; "
    "numpy is not imported. Not ours to cut.",
    "- **ours**: our imports and loading the factory (~60 modules, nothing heavy of their own: "
    "without dataflows they add only ctypes, multiprocessing and tsv), and setting the flow up. "
    "Most of a small flow's set-up was datapackage re-checking its bundled profile schemas "
    "against the JSON Schema meta-schema for each of the ~16 packages and resources dataflows "
    "builds; `_dataflows._profiles` now checks each once per process (\"the 5-row flow\"). A "
    "successful task no longer imports the worker pool (only a failing one needs its error "
    "helpers). Without bytecode (an editable install with PYTHONDONTWRITEBYTECODE, as in this "
    "repository's nox environments until they compiled the package) our imports cost two to "
    "three times more.",
]


def summary(parts: Spans, spans: Spans) -> list[str]:
    """The section RESULTS.md shows (``report.py`` copies it from between the markers)."""
    names = [n for n in ("before", "after") if n in parts]
    rows = [(parts, "dataflows", "in one process: `import dataflows` (dataflows' own)"),
            (parts, "ours", "in one process: our task path imports + loading the factory"),
            (parts, "flow", "in one process: the 5-row flow (`run_task_step`)")]
    if spans:
        rows = [(spans, "fork_first", "a real task: fork -> first row"),
                (spans, "dag_first", "a real task: DAG file -> first row"), *rows]
    lines = ["<!-- RESULTS.md -->", "## Per-task start cost on Airflow (issue 16.4)", "",
             "One task of a 5-row flow on a real scheduler (LocalExecutor, PostgreSQL) and the same "
             "path in one process; medians of interleaved rounds, seconds, bytecode compiled (as "
             "installed from a wheel). See results/task_start.md.", "",
             "| measure | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    lines += [f"| {label} | " + " | ".join(_median(table.get(n, []), key) for n in names) + " |"
              for table, key, label in rows]
    if NO_BYTECODE in parts:
        lines.append(f"| our imports without bytecode (editable install, PYTHONDONTWRITEBYTECODE) | - | "
                     f"{_median(parts[NO_BYTECODE], 'ours')} |")
    return [*lines, "<!-- /RESULTS.md -->"]


if __name__ == "__main__":
    main()
