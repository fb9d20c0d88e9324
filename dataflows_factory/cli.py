"""``dff``: the command line. Exit codes: 0 success, 1 a flow failed, 2 usage/definition error."""

from __future__ import annotations

import functools
import itertools
import json
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .errors import FactoryError, FlowExecutionError
from .factory import load_factory
from .store import redact

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_TARGET = "factory.py"
# Nothing printed is read as rich markup: flow names, partition labels (``sales[raw/a.csv]``),
# descriptions, values and messages are shown as they are; styles come from Text objects.
console = Console(markup=False)
errors = Console(stderr=True, markup=False)


def _handle_errors(command: F) -> F:
    """Turn library errors into one clear line and the contract's exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            return command(*args, **kwargs)
        except FactoryError as error:
            if debug:
                _print_traceback(error)
            kind = "" if isinstance(error, FlowExecutionError) else f"{type(error).__name__}: "
            _error_line(f"{kind}{error}")
            sys.exit(1 if isinstance(error, FlowExecutionError) else 2)
        except click.UsageError as error:  # a wrong argument: the message says it all
            _error_line(f"UsageError: {error.format_message()}")
            sys.exit(2)
        except Exception as error:  # an error in the user's factory file while importing it
            if debug:
                _print_traceback(error)
            hint = "" if debug else " (run with --debug for the traceback)"
            _error_line(f"{type(error).__name__}: {error}{hint}")
            sys.exit(2)
        except KeyboardInterrupt:  # Ctrl-C outside a run (while the factory is imported)
            _error_line("interrupted by SIGINT")
            sys.exit(128 + signal.SIGINT)

    return wrapper  # type: ignore[return-value]


def _print_traceback(error: BaseException) -> None:
    # Not a re-raise: Python would print the traceback, chained causes included, with the
    # credentials their messages and source lines carry. The same text, redacted.
    click.echo(redact("".join(traceback.format_exception(error))).rstrip("\n"), err=True)


def _error_line(text: str) -> None:
    # One line, whatever the terminal width (scripts and CI logs grep for it), no markup
    # read from the message, credentials hidden.
    errors.print(Text("error:", style="bold red"), redact(text), highlight=False, soft_wrap=True)


target_argument = click.argument("target", default=DEFAULT_TARGET, metavar="FILE[:ATTR]")
store_option = click.option("--store", metavar="URL", default=None,
                            help="Store folder or fsspec URL (default: $DFF_STORE, the factory's, ./data).")
select_option = click.option("--select", "-s", multiple=True, metavar="EXPR",
                             help="Flows to use: NAME, +NAME (with upstream), NAME+ (with "
                                  "downstream), tag:TAG; repeat or separate with commas.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="dataflows-factory", prog_name="dff")
def main(debug: bool) -> None:
    """Run factories of dataflows flows: locally, or compiled to an orchestrator."""


@main.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--from", "sources", multiple=True, metavar="SOURCE",
              help="Guess the flows from your data: a file (CSV, TSV, JSON, Excel), a glob, a folder "
                   "or an http(s)/s3 URL; repeat for more.")
@click.option("--to", "target", metavar="TARGET", default=None,
              help="With --from: a SQL database URL or env://VAR (a sink flow; the URL is read from "
                   "$DFF_SQL_URL or VAR at run time) or a folder/URL (the factory's store).")
@click.option("--blueprint", "-b", default=None, metavar="NAME",
              help="A named blueprint (see --list); default: hello, or the guessed one with --from.")
@click.option("--name", default=None, help="With --from: the factory's name (default: from DIRECTORY).")
@click.option("--copy", "copy_files", is_flag=True,
              help="With --from: copy local files from outside DIRECTORY into DIRECTORY/raw/ and read "
                   "them there (a self-contained project).")
@click.option("--list", "show_list", is_flag=True, help="List the named blueprints and exit.")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@_handle_errors
def init(directory: str, sources: tuple[str, ...], target: str | None, blueprint: str | None,
         name: str | None, copy_files: bool, show_list: bool, force: bool) -> None:
    """Create a runnable project in DIRECTORY (default: here): a named blueprint, or flows guessed
    from your files with --from."""
    from . import blueprints

    if show_list:
        for known, description in blueprints.named_blueprints().items():
            console.print(Text.assemble((f"{known:<20}", "bold"), description), highlight=False,
                          soft_wrap=True)
        return
    if sources and blueprint:
        raise click.UsageError("--blueprint and --from do not combine: --from guesses the blueprint from "
                               "your files (add --to URL for a SQL sink, as files-to-sql shows)")
    if (target or name or copy_files) and not sources:
        raise click.UsageError("--to, --name and --copy go with --from")
    folder = Path(directory)
    if not sources:
        blueprints.copy_blueprint(blueprint or "hello", folder, force=force)
    else:
        guessed = blueprints.init_guessed(folder, list(sources), to=target, name=name, copy=copy_files,
                                          force=force)
        for line in guessed.messages:
            console.print(line, highlight=False, soft_wrap=True)
    where = "" if directory == "." else f"cd {directory} && "
    console.print(Text.assemble("Created a dataflows-factory project in ", (str(folder), "bold"),
                                ". Next: ", (f"{where}dff run", "bold")))


@main.command()
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
@_handle_errors
def run(target: str, select: tuple[str, ...], jobs: int | None, force: bool, store: str | None,
        progress: bool | None, as_json: bool, resume: bool) -> None:
    """Run the factory in FILE (default: factory.py) on this machine."""
    from .runner import run as run_factory

    factory = load_factory(target)
    report = run_factory(factory, select=list(select) or None, jobs=jobs, force=force, store=store,
                         show_progress=progress, resume=resume)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        if resume and not report.plan:
            console.print("nothing to resume: the last run finished every flow", highlight=False)
        _print_summary(report)
    debug = click.get_current_context().find_root().params.get("debug", False)
    for result in report.failed:
        if result.error:
            if debug and result.error.get("traceback"):
                click.echo(result.error["traceback"], err=True)
            _error_line(result.error["text"])
    if report.interrupted:
        finished = sum(1 for name in report.plan if name in report.results
                       and report.results[name].status in ("succeeded", "skipped"))
        _error_line(f"run {report.run_id} interrupted by {report.interrupted}: {finished} of "
                    f"{len(report.plan)} flow(s) finished, nothing published after the signal; "
                    f"`dff run --resume` runs the rest")
        # 128 + the signal number, as a shell reports a command that a signal stopped.
        sys.exit(128 + int(getattr(signal, report.interrupted)))
    sys.exit(0 if report.ok else 1)


def _print_summary(report: Any) -> None:
    table = Table(title=f"factory {report.factory} · run {report.run_id}", title_justify="left")
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


@main.command()
@target_argument
@click.option("--format", "fmt", type=click.Choice(["text", "mermaid", "dot"]), default="text",
              show_default=True)
@select_option
@_handle_errors
def graph(target: str, fmt: str, select: tuple[str, ...]) -> None:
    """Show the flows and their dependencies."""
    from .graph import render

    click.echo(render(load_factory(target).plan(select=list(select) or None), fmt))


@main.command(name="compile")
@target_argument
@click.option("--output", "-o", metavar="PLAN.json", default=None,
              help="Where to write the plan (default: <factory>.plan.json here).")
@select_option
@store_option
@_handle_errors
def compile_plan(target: str, output: str | None, select: tuple[str, ...], store: str | None) -> None:
    """Write the factory's plan as JSON, for DAG files that must not import the factory."""
    from .adapters.compiled import compile_plan as compile_factory
    from .adapters.compiled import write_plan

    factory = load_factory(target)
    plan = compile_factory(factory, select=list(select) or None, store=store)
    path = output or f"{factory.name}.plan.json"
    write_plan(plan, path)
    units = len(plan.units())
    console.print(Text.assemble("compiled factory ", (factory.name, "bold"),
                                f": {len(plan.steps)} flow(s), {units} unit(s), code hash "
                                f"{plan.code_hash} -> ", (path, "bold")), highlight=False, soft_wrap=True)


@main.command()
@click.argument("target", metavar="FILE[:ATTR]")
@click.argument("flow")
@click.option("--partition", default=None, help="Run this partition of a partitioned flow "
                                                "(without it: merge the flow's parts).")
@store_option
@click.option("--force", is_flag=True, help="Run the flow even when nothing changed.")
@click.option("--run-id", default=None, help="The run this step belongs to (an orchestrator's).")
@click.option("--attempt", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--plan", "plan_path", metavar="PLAN.json", default=None,
              help="Fail when the factory's code no longer matches this compiled plan.")
@click.option("--outcome", metavar="FILE", default=None,
              help="Also write the result, or the error, as JSON to FILE (for the caller).")
@_handle_errors
def step(target: str, flow: str, partition: str | None, store: str | None, force: bool,
         run_id: str | None, attempt: int, plan_path: str | None, outcome: str | None) -> None:
    """Run one flow (or one partition) in this process, as an orchestrator task does."""
    from .adapters import _interrupt
    from .adapters.external import write_outcome
    from .adapters.task import run_task_step

    _log_to_stderr()
    # SIGTERM from a scheduler (or Ctrl-C) stops the step where it stands: its staging folder
    # is removed and nothing is published, as in the local runner's workers.
    _interrupt.install_handlers()
    try:
        _check_step(target, flow, partition)
        result = run_task_step(target, flow, store=store, partition=partition, force=force,
                               run_id=run_id, attempt=attempt, plan_path=plan_path)
    except FlowExecutionError as error:
        from .adapters.pool import error_payload

        payload = error_payload(flow, error, partition)
        if outcome:
            write_outcome(outcome, error=payload)
        if click.get_current_context().find_root().params.get("debug", False):
            click.echo(payload["traceback"], err=True)
        _error_line(payload["text"])
        sys.exit(1)
    except _interrupt.Interrupted as stopped:
        # A failed try, as for a local runner's worker stopped by a signal of its own: the
        # caller may retry it.
        stopped_error = FlowExecutionError(flow, f"stopped: {stopped.reason}; nothing was published",
                                           cause_type="Interrupted", partition=partition)
        if outcome:
            write_outcome(outcome, error=stopped_error.to_dict())
        _error_line(str(stopped_error))
        sys.exit(128 + max(stopped.signum, 0))
    except Exception as error:  # a wrong argument, a stale plan, a factory that does not import
        if outcome:
            text = error.format_message() if isinstance(error, click.UsageError) else str(error)
            write_outcome(outcome, unusable=f"{type(error).__name__}: {text}")
        raise
    if outcome:
        write_outcome(outcome, result=result)
    rows = f"{result.total_rows:,} rows" if result.rows else "no rows"
    unit = f"flow {flow!r}" + (f" partition {partition!r}" if partition is not None else "")
    errors.print(f"{unit}: {result.status}, {rows}, {result.duration:.2f} s -> "
                 f"{redact(result.dataset_uri)}", highlight=False, soft_wrap=True)


def _check_step(target: str, flow: str, partition: str | None) -> None:
    """A flow or partition the factory does not have is a wrong argument (exit 2), not a failed flow."""
    factory = load_factory(target)
    if flow not in factory.flows:
        raise click.UsageError(f"factory {factory.name!r} has no flow {flow!r}; "
                               f"known flows: {sorted(factory.flows)}")
    if partition is None:
        return
    step = factory.plan(select=flow).step(flow)
    if not step.partitioned and not step.partitions_error:
        raise click.UsageError(f"flow {flow!r} is not partitioned: run it without --partition")
    if step.partitions and partition not in step.partitions:
        shown = list(step.partitions[:10]) + (["..."] if len(step.partitions) > 10 else [])
        raise click.UsageError(f"flow {flow!r} has no partition {partition!r}; its partitions: {shown}")


def _log_to_stderr() -> None:
    # The step's own lines (rows, rows/s, warnings) for whoever reads this process's output.
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    package = logging.getLogger("dataflows_factory")
    package.addHandler(handler)
    package.setLevel(logging.INFO)


@main.command(name="list")
@target_argument
@store_option
@_handle_errors
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


@main.command()
@click.argument("target", metavar="FILE[:ATTR]")
@click.argument("flow")
@click.option("--resource", "-r", default=None, help="Only this resource.")
@click.option("--rows", "-n", "limit", type=click.IntRange(min=0), default=10, show_default=True)
@store_option
@_handle_errors
def inspect(target: str, flow: str, resource: str | None, limit: int, store: str | None) -> None:
    """Show the schema and first rows of FLOW's dataset."""
    from .datasets import iter_rows

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


@main.command()
@_handle_errors
def processors() -> None:
    """List the processors flows can use: dataflows', ours and plugins'."""
    from .processors import registry

    table = Table("processor", "from", "description")
    for info in registry():
        table.add_row(info.name, info.origin, info.description)
    console.print(table)


@main.command()
@target_argument
@select_option
@store_option
@_handle_errors
def validate(target: str, select: tuple[str, ...], store: str | None) -> None:
    """Validate the stored datasets against their schemas (exit 1 if one is invalid)."""
    from .datasets import validate_dataset

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
        _error_line(f"flow {flow!r}: dataset is invalid, {len(problems)} problem(s): "
                    + "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else ""))
    sys.exit(1 if invalid else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
