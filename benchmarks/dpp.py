"""Case (a) on datapackage-pipelines (dpp), side by side with plain dataflows and the local runner.

dpp, the seed's predecessor, runs each processor of a pipeline in a process of its own and
passes rows between them as JSON lines. The same steps as ``cases.steps_a`` become a
``pipeline-spec.yaml`` written into a temporary folder: dpp's standard ``load`` (cast with the
schema, as our lines do), two ``flow:`` processors (``dpp_steps.py``: the computed field, then
the filter; dpp's own ``add_computed_field`` and ``filter`` cannot express them) and its
standard ``dump_to_path``; ``dpp run ./case_a`` runs it. dpp lives in its own environment
(``.nox/dpp``, built by ``nox -s bench_dpp``): it cannot share one with Airflow.

Every implementation runs as ``python -m benchmarks.cases a IMPL ROWS`` in a fresh process,
rounds interleaved; this driver also times that whole process (``wall``: interpreter start
and imports included, the fair figure for dpp, whose processors each import dataflows) and
samples the summed RSS of its process tree (dpp's processors run at the same time). Before
timing, one run of each keeps its output and the rows are compared.

    .nox/bench/bin/python -m benchmarks.dpp --rows 100000 --rounds 3 --once 1000000 --write

(dpp takes minutes a round at 1M rows here: ``--once`` measures a size in one round only.)
"""

from __future__ import annotations

import argparse
import csv
import glob
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DPP = ROOT / ".nox" / "dpp" / "bin" / "dpp"
RESULTS = ROOT / "benchmarks" / "results" / "dpp.md"
IMPLS = ("dataflows", "factory", "dpp")
SPEC = """\
case_a:
  pipeline:
    - run: load
      parameters: {{from: {src}, name: cities, cast_strategy: schema}}
    - flow: dpp_steps
      parameters: {{step: compute}}
    - flow: dpp_steps
      parameters: {{step: filter}}
    - run: dump_to_path
      parameters: {{out-path: {out}}}
"""


def run_pipeline(case: str, src: str, out: str, dpp: Path = DPP) -> int:
    """Run case (a) as a dpp pipeline writing into ``out``; return the rows it wrote."""
    if case != "a":
        raise SystemExit("the dpp implementation is case a only")
    if not dpp.exists():
        raise SystemExit(f"no dpp at {dpp}: build its environment with `nox -s bench_dpp`")
    folder = Path(tempfile.mkdtemp(prefix="dff-bench-dpp-spec-"))
    try:
        shutil.copy(Path(__file__).with_name("dpp_steps.py"), folder)
        (folder / "pipeline-spec.yaml").write_text(SPEC.format(src=json.dumps(src), out=json.dumps(out)))
        # dpp starts its processors as ``dpp`` and ``python`` from PATH: its own environment's.
        env = {**os.environ, "PATH": f"{dpp.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        env.pop("VIRTUAL_ENV", None)
        done = subprocess.run([str(dpp), "run", "./case_a"], cwd=folder, env=env, capture_output=True,
                              text=True, check=False)
        if done.returncode != 0 or "SUCCESS: ./case_a" not in done.stdout + done.stderr:
            raise SystemExit(f"dpp run failed ({done.returncode}):\n{(done.stdout + done.stderr)[-2000:]}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    with open(os.path.join(out, "cities.csv"), newline="", encoding="utf-8") as handle:
        return sum(1 for _ in handle) - 1


def measure(impl: str, rows: int) -> dict[str, Any]:
    """One fresh ``benchmarks.cases`` process: its JSON line, plus wall seconds and tree RSS."""
    import psutil

    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.cases", "a", impl, str(rows)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, largest, cpu = [0], [0], {}

    def sample() -> None:
        # Summed RSS of the process and its descendants, every 100 ms: dpp's processors
        # (and the runner's workers) are alive together, so the largest one understates it.
        # CPU is sampled too: dpp never waits for its own runner process, so rusage misses it.
        parent = psutil.Process(process.pid)
        while process.poll() is None:
            total = 0
            try:
                for proc in [parent, *parent.children(recursive=True)]:
                    rss = proc.memory_info().rss
                    total += rss
                    largest[0] = max(largest[0], rss)
                    times = proc.cpu_times()
                    cpu[proc.pid] = times.user + times.system
            except psutil.Error:
                pass  # a processor ended between the listing and the reading
            peak[0] = max(peak[0], total)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - start
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{impl} at {rows} rows failed:\n{stderr[-2000:]}")
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    result.update(wall=round(wall, 2), tree_mb=round(peak[0] / 2**20, 1),
                  largest_mb=round(largest[0] / 2**20, 1), tree_cpu=round(sum(cpu.values()), 1),
                  load=round(os.getloadavg()[0], 2))
    return result


def outputs_digest(rows: int) -> dict[str, tuple[int, str]]:
    """Run each implementation once, keeping its output: (row count, digest of its rows)."""
    from .generate import generate

    src = generate(rows)
    digests: dict[str, tuple[int, str]] = {}
    for impl in IMPLS:
        out = tempfile.mkdtemp(prefix=f"dff-bench-dpp-check-{impl}-")
        try:
            if impl == "dpp":
                run_pipeline("a", src, out)
            else:
                call = {"dataflows": f"plain_dataflows('a', {src!r}, {out!r})",
                        "factory": f"factory_runner('a', {src!r}, {out!r})"}[impl]
                subprocess.run([sys.executable, "-c", f"from benchmarks.cases import *; {call}"],
                               cwd=ROOT, check=True, capture_output=True)
            (path,) = [p for p in glob.glob(os.path.join(out, "**", "*.csv"), recursive=True)]
            digest, count = hashlib.sha256(), 0
            with open(path, newline="", encoding="utf-8") as handle:
                for row in csv.reader(handle):
                    digest.update(repr(row).encode())
                    count += 1
            digests[impl] = (count - 1, digest.hexdigest()[:16])
        finally:
            shutil.rmtree(out, ignore_errors=True)
    return digests


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dpp", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="row count (repeatable; default 100k)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--once", type=int, action="append", default=[],
                        help="also a row count measured in one round only (dpp is slow at 1M rows)")
    parser.add_argument("--check-rows", type=int, default=100_000, help="row count of the output check")
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS.name}")
    args = parser.parse_args(argv)
    sizes = args.rows or [100_000]
    load_before = os.getloadavg()
    check = outputs_digest(args.check_rows)
    print("output check:", check, flush=True)
    if len(set(check.values())) != 1:
        raise SystemExit(f"the implementations wrote different rows: {check}")
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    plan = [(r, rows) for r in range(args.rounds) for rows in sizes] + [(0, rows) for rows in args.once]
    for round_, rows in plan:
        for impl in IMPLS:
            result = measure(impl, rows)
            runs.setdefault((impl, rows), []).append(result)
            print(f"[{round_ + 1}] {impl:9} {rows:>9,} rows: {result['seconds']:.1f} s "
                  f"(wall {result['wall']:.1f} s), {result['tree_mb']:.0f} MB", flush=True)
    report = render(runs, check, args, load_before)
    print(report)
    if args.write:
        RESULTS.write_text(report)


def render(runs: dict[tuple[str, int], list[dict[str, Any]]], check: dict[str, tuple[int, str]],
           args: argparse.Namespace, load_before: tuple[float, ...]) -> str:
    from importlib.metadata import version

    query = "from importlib.metadata import version as v; print(v('datapackage-pipelines'), v('dataflows'))"
    dpp_version = subprocess.run([str(DPP.with_name("python")), "-c", query],
                                 capture_output=True, text=True, check=True).stdout.split()
    lines = [
        "# Case (a) on datapackage-pipelines, plain dataflows and the local runner",
        "",
        f"`python -m benchmarks.dpp {' '.join(sys.argv[1:])}` — datapackage-pipelines {dpp_version[0]} "
        f"(dataflows {dpp_version[1]}) in its own environment, dataflows {version('dataflows')} and "
        f"dataflows-factory here; Python {platform.python_version()}, {os.cpu_count()} CPUs shared with "
        f"other work (load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after).",
        "",
        "Case (a): typed `load` -> `add_computed_field` -> `filter_rows` -> dump CSV. dpp runs it as "
        "four processors (four processes: `load`, two `flow:` processors, `dump_to_path`) passing "
        "JSON rows. Output check at "
        f"{args.check_rows:,} rows (rows, digest of the CSV rows): "
        + ", ".join(f"{impl} {n:,} rows `{d}`" for impl, (n, d) in check.items())
        + (" — identical." if len(set(check.values())) == 1 else " — DIFFERENT."),
        "",
        "- `seconds`: the case's own clock (after its imports; for dpp the whole `dpp run`, whose "
        "four processors each start Python and import dataflows); `wall`: the whole case process, "
        "interpreter start and imports included: the like-for-like figure. Best round of each; "
        "every round's wall seconds listed.",
        "- `CPU s`: user + system CPU seconds of the case's process tree, imports included, sampled "
        "every 100 ms like the RSS (dpp never waits for its runner process, so rusage misses "
        "dpp's processors); the least of the rounds: steadier than wall time on a shared machine.",
        "- `largest MB`: peak RSS of the largest single process of the tree; `tree MB`: peak of the "
        "summed RSS of the tree (dpp's processors and the runner's worker run at the same time); "
        "both sampled every 100 ms (ru_maxrss misses dpp's processors, which dpp never waits for).",
        "",
        "| rows | implementation | seconds | wall | wall rounds | dpp wall / this wall | CPU s "
        "| dpp CPU / this CPU | largest MB | tree MB | load |",
        "|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for rows in sorted({rows for _, rows in runs}):
        dpp_best = min(r["wall"] for r in runs[("dpp", rows)])
        dpp_cpu = min(r["tree_cpu"] for r in runs[("dpp", rows)])
        for impl in IMPLS:
            results = runs[(impl, rows)]
            best = min(results, key=lambda r: r["wall"])
            lines.append(
                f"| {rows:,} | {impl} | {min(r['seconds'] for r in results):.1f} | {best['wall']:.1f} | "
                f"{' / '.join(format(r['wall'], '.1f') for r in results)} | {dpp_best / best['wall']:.2f}x | "
                f"{min(r['tree_cpu'] for r in results):.1f} | "
                f"{dpp_cpu / max(min(r['tree_cpu'] for r in results), 0.01):.2f}x | "
                f"{max(r['largest_mb'] for r in results):.0f} | {max(r['tree_mb'] for r in results):.0f} | "
                f"{max(r['load'] for r in results)} |")
    return "\n".join([*lines, "", *summary(runs, check), ""])


Runs = dict[tuple[str, int], list[dict[str, Any]]]


def summary(runs: Runs, check: dict[str, tuple[int, str]]) -> list[str]:
    """The section RESULTS.md shows (``report.py`` copies it from between the markers)."""
    def best(impl: str, rows: int, key: str) -> float:
        return float(min(r[key] for r in runs[(impl, rows)]))

    lines = ["<!-- RESULTS.md -->", "## datapackage-pipelines (issue 16.3)", "",
             "Case (a) on datapackage-pipelines 2.2.11 (a process per processor, JSON rows between "
             "them), plain dataflows and the local runner, each a whole process (start and imports "
             "included), rounds interleaved; the three write the same rows "
             f"({'checked' if len(set(check.values())) == 1 else 'NOT the same'}). See results/dpp.md.", "",
             "| rows | rounds | wall: dpp / dataflows / local runner | dpp vs dataflows "
             "| dpp vs local runner | CPU s: dpp / dataflows / local runner "
             "| tree RSS MB: dpp / dataflows / local runner |",
             "|---:|---:|---|---:|---:|---|---|"]
    for rows in sorted({rows for _, rows in runs}):
        wall = [best(impl, rows, "wall") for impl in ("dpp", "dataflows", "factory")]
        cpu = [best(impl, rows, "tree_cpu") for impl in ("dpp", "dataflows", "factory")]
        tree = [max(r["tree_mb"] for r in runs[(impl, rows)]) for impl in ("dpp", "dataflows", "factory")]
        lines.append(f"| {rows:,} | {len(runs[('dpp', rows)])} | {' / '.join(f'{w:.1f}' for w in wall)} s | "
                     f"{wall[0] / wall[1]:.1f}x slower (CPU {cpu[0] / cpu[1]:.1f}x) | "
                     f"{wall[0] / wall[2]:.1f}x slower (CPU {cpu[0] / cpu[2]:.1f}x) | "
                     f"{' / '.join(f'{c:.1f}' for c in cpu)} | {' / '.join(f'{t:.0f}' for t in tree)} |")
    return [*lines, "<!-- /RESULTS.md -->"]


if __name__ == "__main__":
    main()
