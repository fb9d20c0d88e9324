"""``dff run``: the factory on this machine, and its summary table."""

from __future__ import annotations

import json
import signal
import sys
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from ..factory import load_factory
from ..store import redact
from ._common import (
    console,
    debug_enabled,
    error_line,
    handle_errors,
    select_option,
    store_option,
    target_argument,
)

__all__ = ["run"]


@click.command()
@target_argument
@select_option
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Flows run in parallel (default: number of cores).")
@click.option("--force", is_flag=True, help="Run flows even when nothing changed.")
@store_option
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON.")
@click.option("--resume", is_flag=True,
              help="Run only the flows the last run did not finish (failed, not reached) and "
                   "their downstream.")
@click.option("--limit", type=click.IntRange(min=0), default=None, metavar="N",
              help="Sample run: every source yields at most N rows; the selected flows' "
                   "upstream run too; datasets go to a scratch store (--store, default "
                   ".dff-sample/ beside the factory), never the factory's own.")
@handle_errors
def run(target: str, select: tuple[str, ...], jobs: int | None, force: bool, store: str | None,
        progress: bool | None, as_json: bool, resume: bool, limit: int | None) -> None:
    """Run the factory in FILE (default: factory.py) on this machine.

    With `dff --debug run --jobs 1`, flows run one at a time in this process, with no
    progress bars: a breakpoint() in a flow stops here, in pdb.
    """
    from ..runner import run as run_factory

    factory = load_factory(target)
    # --debug --jobs 1: the steps run in this process, so pdb reads this terminal; progress
    # bars would redraw over its prompt.
    in_process = debug_enabled() and jobs == 1
    report = run_factory(factory, select=list(select) or None, jobs=jobs, force=force, store=store,
                         show_progress=False if in_process else progress, resume=resume,
                         limit=limit, in_process=in_process)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        if resume and not report.plan:
            console.print("nothing to resume: the last run finished every flow", highlight=False)
        _print_summary(report)
    debug = debug_enabled()
    for result in report.failed:
        if result.error:
            if debug and result.error.get("traceback"):
                click.echo(result.error["traceback"], err=True)
            error_line(result.error["text"])
    if report.interrupted:
        finished = sum(1 for name in report.plan if name in report.results
                       and report.results[name].status in ("succeeded", "skipped"))
        error_line(f"run {report.run_id} interrupted by {report.interrupted}: {finished} of "
                    f"{len(report.plan)} flow(s) finished, nothing published after the signal; "
                    f"`dff run --resume` runs the rest")
        # 128 + the signal number, as a shell reports a command that a signal stopped.
        sys.exit(128 + int(getattr(signal, report.interrupted)))
    sys.exit(0 if report.ok else 1)


def _print_summary(report: Any) -> None:
    title = f"factory {report.factory} · run {report.run_id}"
    caption = None
    if report.limit is not None:
        title += f" · sample run: at most {report.limit:,} rows per source"
        caption = "sample run: datasets in a scratch store (below), not the factory's store"
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    notes = {unit: _row_notes(result) for unit, result in report.results.items()}
    columns = ["flow", "status", "rows", "time", "rows/s", "attempts"]
    for column in columns + (["notes"] if any(notes.values()) else []):
        table.add_column(column, justify="right" if column in ("rows", "time", "rows/s") else "left")
    colours = {"succeeded": "green", "skipped": "cyan", "failed": "red", "upstream_failed": "yellow"}
    for unit, result in report.results.items():  # a partition shows as flow[partition]
        rate = result.total_rows / result.duration if result.duration and result.status == "succeeded" else 0
        cells = [
            unit, Text(result.status, style=colours.get(result.status, "white")),
            f"{result.total_rows:,}", f"{result.duration:.2f}s", f"{rate:,.0f}" if rate else "",
            str(result.attempt),
        ]
        table.add_row(*cells, *([notes[unit]] if len(table.columns) > len(cells) else []))
    console.print(table)
    console.print(f"datasets: {report.store} · manifest: {redact(report.manifest)}", highlight=False,
                  soft_wrap=True)


def _row_notes(result: Any) -> str:
    """What the loads repaired: short rows padded, extra cells dropped (on request)."""
    padded, cut = sum(result.padded_rows.values()), sum(result.truncated_rows.values())
    parts = [f"{padded:,} short row(s) padded"] if padded else []
    parts += [f"{cut:,} row(s) with extra cells cut"] if cut else []
    return "; ".join(parts)
