"""``dff graph``, ``list``, ``inspect``, ``processors``, ``validate``: look at a factory and its datasets."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from ..factory import load_factory
from ..store import redact
from ._common import console, error_line, handle_errors, select_option, store_option, target_argument

__all__ = ["graph", "inspect", "list_flows", "processors", "validate"]


@click.command()
@target_argument
@click.option("--format", "fmt", type=click.Choice(["text", "mermaid", "dot"]), default="text",
              show_default=True)
@select_option
@handle_errors
def graph(target: str, fmt: str, select: tuple[str, ...]) -> None:
    """Show the flows and their dependencies."""
    from ..graph import render

    click.echo(render(load_factory(target).plan(select=list(select) or None), fmt))


@click.command(name="list")
@target_argument
@store_option
@handle_errors
def list_flows(target: str, store: str | None) -> None:
    """List the flows, their dependencies and the state of their datasets."""
    factory = load_factory(target)
    where = factory.store(store)  # every command opens the store this one way
    plan = factory.plan(store=where)
    table = Table(title=f"factory {factory.name} · store {where.display_url}", title_justify="left")
    for column in ("flow", "upstream", "after", "tags", "retries", "rows", "produced", "description"):
        table.add_column(column)
    for step in plan.steps:
        descriptor = where.read_descriptor(plan.factory, step.name)
        rows = f"{descriptor.get('count_of_rows', 0):,}" if descriptor else "-"
        produced = descriptor.get("dff", {}).get("produced_at", "?")[:19] if descriptor else "never"
        table.add_row(step.name, ", ".join(step.inputs), ", ".join(step.after), ", ".join(step.tags),
                      str(step.retries), rows, produced, step.description.splitlines()[0]
                      if step.description else "")
    console.print(table)


@click.command()
@click.argument("target", metavar="FILE[:ATTR]")
@click.argument("flow")
@click.option("--resource", "-r", default=None, help="Only this resource.")
@click.option("--rows", "-n", "limit", type=click.IntRange(min=0), default=10, show_default=True)
@store_option
@handle_errors
def inspect(target: str, flow: str, resource: str | None, limit: int, store: str | None) -> None:
    """Show the schema and first rows of FLOW's dataset."""
    from ..datasets import iter_rows

    factory = load_factory(target)
    where = factory.store(store)
    if flow not in factory.flows:
        raise click.UsageError(f"factory {factory.name!r} has no flow {flow!r}; "
                               f"known flows: {sorted(factory.flows)}")
    with where.local_copy(factory.name, flow) as path:
        descriptor = json.loads(Path(path).read_text(encoding="utf-8"))
        names = [str(res.get("name")) for res in descriptor.get("resources", [])]
        if resource is not None and resource not in names:
            raise click.UsageError(f"the dataset of flow {flow!r} has no resource {resource!r}; "
                                   f"its resources are {names}")
        meta = descriptor.get("dff", {})
        console.print(Text(flow, style="bold"),
                      f"· {redact(where.dataset_url(factory.name, flow))} · produced "
                      f"{meta.get('produced_at', '?')} · run {meta.get('run_id', '?')}", highlight=False)
        for res in descriptor.get("resources", []):
            if resource and res["name"] != resource:
                continue
            fields = res.get("schema", {}).get("fields", [])
            console.print("\nresource", Text(str(res["name"]), style="bold"),
                          f"({res.get('count_of_rows', '?'):,} rows, "
                          f"{res.get('bytes', 0):,} bytes, {res.get('path')})")
            schema = Table("field", "type", "format")
            for item in fields:
                schema.add_row(item["name"], item.get("type", "any"), item.get("format", "default"))
            console.print(schema)
            rows = Table(*[item["name"] for item in fields])
            for row in itertools.islice(iter_rows(path, res["name"]), limit):
                rows.add_row(*["" if row.get(f["name"]) is None else str(row.get(f["name"])) for f in fields])
            console.print(rows)


@click.command()
@handle_errors
def processors() -> None:
    """List the processors flows can use: dataflows', ours and plugins'."""
    from ..processors import registry

    table = Table("processor", "from", "description")
    for info in registry():
        table.add_row(info.name, info.origin, info.description)
    console.print(table)


@click.command()
@target_argument
@select_option
@store_option
@handle_errors
def validate(target: str, select: tuple[str, ...], store: str | None) -> None:
    """Validate the stored datasets against their schemas (exit 1 if one is invalid)."""
    from ..datasets import validate_dataset

    factory = load_factory(target)
    where = factory.store(store)
    plan = factory.plan(select=list(select) or None, store=where)
    table = Table("flow", "status", "rows", "problems")
    invalid: dict[str, list[str]] = {}
    for step in plan.steps:
        problems, rows = validate_dataset(where, plan.factory, step.name)
        if problems:
            invalid[step.name] = problems
        status = Text("invalid", style="red") if problems else Text("valid", style="green")
        table.add_row(step.name, status, f"{rows:,}", "\n".join(problems[:5]))
    console.print(table)
    for flow, problems in invalid.items():  # the contract's one line per failure
        error_line(f"flow {flow!r}: dataset is invalid, {len(problems)} problem(s): "
                    + "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else ""))
    sys.exit(1 if invalid else 0)
