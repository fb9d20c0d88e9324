"""Run every benchmark case side by side and write benchmarks/RESULTS.md.

    python -m benchmarks                 # 100k and 1M rows, every case
    python -m benchmarks --rows 100000   # one size
    python -m benchmarks --quick         # 100k rows, no dataframe references

Each measurement is a fresh subprocess (``benchmarks.cases``): wall time, rows/s of input
rows, peak RSS. With ``--repeat N`` the whole plan runs N rounds, interleaved (so a busy
minute on a shared machine hits every implementation alike), and each line keeps its best
time, with every round's time beside it. Results are rewritten after every case, so an
interrupted run keeps what it measured.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from .generate import generate

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = {
    "a": "typed load -> computed field -> filter -> dump CSV",
    "b": "join cities into countries (count, sum, max)",
    "c": "sort_rows {country}{population}",
    "c_budget": "sort_rows with a 16 MB memory budget (spills to disk)",
    "d": "world-like factory: 2 sources, join flow, 1M-row sort flow (local runner, --jobs 2)",
    "pair": "two equal independent flows (case a each)",
}
REFERENCES = ("pandas", "polars", "duckdb")


def measure(case: str, impl: str, rows: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.cases", case, impl, str(rows)]
    done = subprocess.run(command, cwd=os.path.dirname(HERE), capture_output=True, text=True,
                          timeout=3600, check=False)
    if done.returncode != 0:
        return {"case": case, "impl": impl, "rows": rows, "error": done.stderr.strip()[-400:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def plan(sizes: list[int], references: bool) -> list[tuple[str, str, int]]:
    runs: list[tuple[str, str, int]] = []
    refs = [r for r in REFERENCES if references and importlib.util.find_spec(r)]
    for rows in sizes:
        for case in ("a", "b", "c"):
            runs += [(case, "dataflows", rows), (case, "factory", rows)]
            runs += [(case, ref, rows) for ref in refs]
        runs += [("c", "handwritten", rows)]  # a csv-module loop over typed tuples (issue 16)
        runs += [("c_budget", "factory", rows)]
        runs += [("d", "plain_factory", rows), ("d", "factory", rows)]
    runs += [("pair", "factory_1", max(sizes)), ("pair", "factory_2", max(sizes))]
    return runs


def machine() -> str:
    load = os.getloadavg()
    return (f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}; "
            f"load average before the run {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--rows", type=int, action="append", help="row count (repeatable)")
    parser.add_argument("--quick", action="store_true", help="100k rows, no references")
    parser.add_argument("--cases", help="comma-separated subset of " + ",".join(CASES))
    parser.add_argument("--impls", help="comma-separated subset of implementations (e.g. factory,pandas)")
    parser.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"))
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of the whole plan; each line keeps its best time (default 1)")
    parser.add_argument("--update", action="store_true",
                        help="re-measure the selected runs and merge them into the last results")
    args = parser.parse_args(argv)
    sizes = args.rows or ([100_000] if args.quick else [100_000, 1_000_000])
    for rows in sizes:
        generate(rows)
    runs = plan(sizes, references=not args.quick)
    if args.cases:
        wanted = set(args.cases.split(","))
        runs = [r for r in runs if r[0] in wanted]
    if args.impls:
        runs = [r for r in runs if r[1] in set(args.impls.split(","))]
    header = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine()}
    results: list[dict[str, Any]] = []
    saved = os.path.join(HERE, ".data", "results.json")
    previous: dict[str, Any] | None = None
    if args.update and os.path.exists(saved):
        with open(saved) as handle:
            previous = json.load(handle)
    elif args.update:  # a fresh clone: the committed table is the last results
        from .report import read_back

        found = read_back(args.output)
        previous = {"header": found[0], "results": found[1]} if found else None
    if previous is not None:
        selected = set(runs)
        results = [r for r in previous["results"] if (r["case"], r["impl"], r["rows"]) not in selected]
        header = {"date": f"{previous['header']['date']}; re-measured {header['date']}: "
                          + ", ".join(f"{c}/{i}/{n}" for c, i, n in runs),
                  "machine": f"{previous['header']['machine']}; before the re-measure: {machine()}",
                  # The lines not re-measured keep their rounds: say both.
                  "repeat": f"{previous['header'].get('repeat', '1')}; re-measure: {args.repeat}"}
    header.setdefault("repeat", str(args.repeat))
    measured: dict[tuple[str, str, int], dict[str, Any]] = {}
    for round_ in range(1, args.repeat + 1):
        for case, impl, rows in runs:
            print(f"[{round_}/{args.repeat}] {case:9} {impl:14} {rows:>9,} rows ...", end=" ", flush=True)
            result = measure(case, impl, rows)
            result["load"] = round(os.getloadavg()[0], 2)
            print(result.get("error") or f"{result['seconds']:.1f} s, {result['rss_mb']:.0f} MB")
            best = measured.get((case, impl, rows))
            measured[(case, impl, rows)] = _best(best, result)
            write(args.output, header, results + list(measured.values()))
    results += list(measured.values())
    order = {key: i for i, key in enumerate(plan(sorted({r["rows"] for r in results}), True))}
    results.sort(key=lambda r: (order.get((r["case"], r["impl"], r["rows"]), 0)))
    write(args.output, header, results)
    with open(saved, "w") as handle:
        json.dump({"header": header, "results": results}, handle, indent=1)
    return 0


def _best(best: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """The faster of two measurements of one line, with every round's seconds in ``runs``."""
    if best is None:
        return {**new, "runs": [new.get("seconds")]}
    runs = [*best["runs"], new.get("seconds")]
    slower = "seconds" not in new or ("seconds" in best and best["seconds"] <= new["seconds"])
    kept = best if slower else new
    return {**kept, "runs": runs, "rss_mb": max(best.get("rss_mb", 0), new.get("rss_mb", 0))}


def write(path: str, header: dict[str, str], results: list[dict[str, Any]]) -> None:
    from .report import render

    with open(path, "w", encoding="utf-8") as handle:
        handle.write(render(header, results, CASES))


if __name__ == "__main__":
    started = time.time()
    code = main()
    print(f"done in {time.time() - started:.0f} s")
    raise SystemExit(code)
