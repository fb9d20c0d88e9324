"""``dff trace``: one flow, step by step: each step's schema and first rows, and where it failed."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .._secrets import redact
from ..factory import load_factory
from ._common import console, error_line, handle_errors, store_option

__all__ = ["trace"]


@click.command()
@click.argument("target", metavar="FILE[:ATTR]")
@click.argument("flow")
@click.option("--rows", "-k", type=click.IntRange(min=0), default=5, show_default=True,
              help="Rows to show after each step.")
@click.option("--resource", "-r", "resources", multiple=True, metavar="NAME",
              help="Show only this resource (repeat for more).")
@click.option("--partition", default=None, help="The partition of a partitioned flow (default: "
                                                  "its first).")
@store_option
@handle_errors
def trace(target: str, flow: str, rows: int, resources: tuple[str, ...], partition: str | None,
          store: str | None) -> None:
    """Run FLOW of the factory in FILE here, writing nothing, and show each step: its name,
    the schema after it and its first rows; where a step fails, the row it failed on.

    Upstream flows' datasets are read from the store: run them first.
    """
    from ..adapters.trace import trace_flow

    result = trace_flow(load_factory(target), flow, rows=rows, store=store, partition=partition)
    # In a terminal, tables fit its width (long cells fold); into a file or a pipe (a CI log,
    # `| less -S`, a test) every row stays whole on one line, whatever $COLUMNS says.
    out = console if console.is_terminal else Console(markup=False, width=1 << 20)
    title = f"trace of flow {flow!r}" + (f", partition {result.partition!r}"
                                          if result.partition is not None else "")
    out.print(Text(title, style="bold"), highlight=False)
    shown: dict[str, Any] = {}  # resource -> (schema, rows) as last shown
    for step in result.steps:
        _print_step(out, step, set(resources), shown)
    if result.ok:
        sys.exit(0)
    if result.failed is not None:
        out.print(Text(f"step #{result.failed.position} {result.failed.name}: failed",
                           style="bold red"), highlight=False)
    if result.failing_row is not None:
        out.print(Text(f"  the row it failed on ({_where(result.error or {})}), as the "
                           "step before handed it on:"), highlight=False, soft_wrap=True)
        out.print(_row_table(result.failing_row))
    error_line((result.error or {}).get("text", "the flow failed"))
    sys.exit(1)


def _print_step(out: Console, step: Any, wanted: set[str], shown: dict[str, Any]) -> None:
    out.print(Text(f"step #{step.position} {step.name}", style="bold cyan"), highlight=False)
    for resource in sorted(wanted - set(step.schema)):
        out.print(Text(f"  {resource}: not in the package after this step", style="dim"),
                      highlight=False)
    for resource, fields in step.schema.items():
        if wanted and resource not in wanted:
            continue
        rows = step.rows.get(resource, [])
        if shown.get(resource) == (fields, rows):
            out.print(Text(f"  {resource}: unchanged", style="dim"), highlight=False)
            continue
        shown[resource] = (fields, rows)
        out.print(Text(f"  {resource}: {len(fields)} field(s), first {len(rows)} row(s)"),
                      highlight=False)
        table = Table()
        for name, kind in fields:
            table.add_column(Text(f"{name}\n{kind}"), overflow="fold")
        for row in rows:
            table.add_row(*(_cell(row.get(name)) for name, _ in fields))
        out.print(table)


def _where(error: dict[str, Any]) -> str:
    where = f"resource {error.get('resource')!r}"
    return f"{where}, row {error['row']}" if error.get("row") is not None else where


def _row_table(row: dict[str, Any]) -> Table:
    table = Table()
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for name, value in row.items():
        table.add_row(Text(str(name)), _cell(value))
    return table


def _cell(value: Any) -> Text:
    # Values are data, not markup; a URL in them may carry credentials.
    return Text("" if value is None else redact(str(value)))
