"""``dff compile`` and ``dff step``: what orchestrators run a factory from, one step at a time."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click
from rich.text import Text

from ..errors import FlowExecutionError
from ..factory import load_factory
from ..store import redact
from ._common import (
    console,
    debug_enabled,
    error_line,
    errors,
    handle_errors,
    log_to_stderr,
    select_option,
    store_option,
    target_argument,
)

if TYPE_CHECKING:
    from ..lineage import ParentRun

__all__ = ["compile_plan", "step"]


@click.command(name="compile")
@target_argument
@click.option("--output", "-o", metavar="PLAN.json", default=None,
              help="Where to write the plan (default: <factory>.plan.json here).")
@select_option
@store_option
@handle_errors
def compile_plan(target: str, output: str | None, select: tuple[str, ...], store: str | None) -> None:
    """Write the factory's plan as JSON, for DAG files that must not import the factory."""
    from ..adapters.compiled import compile_plan as compile_factory
    from ..adapters.compiled import write_plan

    factory = load_factory(target)
    plan = compile_factory(factory, select=list(select) or None, store=store)
    path = output or f"{factory.name}.plan.json"
    write_plan(plan, path)
    units = len(plan.units())
    console.print(Text.assemble("compiled factory ", (factory.name, "bold"),
                                f": {len(plan.steps)} flow(s), {units} unit(s), code hash "
                                f"{plan.code_hash} -> ", (path, "bold")), highlight=False, soft_wrap=True)


@click.command()
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
@click.option("--lineage-parent", metavar="JSON", default=None,
              help="The orchestrator's run this step belongs to, as the parent of its OpenLineage "
                   'events: {"namespace": ..., "job": ..., "run_id": ..., "root": {...}}.')
@handle_errors
def step(target: str, flow: str, partition: str | None, store: str | None, force: bool,
         run_id: str | None, attempt: int, plan_path: str | None, outcome: str | None,
         lineage_parent: str | None) -> None:
    """Run one flow (or one partition) in this process, as an orchestrator task does."""
    from ..adapters import _interrupt
    from ..adapters.external import write_outcome
    from ..adapters.task import run_task_step

    log_to_stderr()
    # SIGTERM from a scheduler (or Ctrl-C) stops the step where it stands: its staging folder
    # is removed and nothing is published, as in the local runner's workers.
    _interrupt.install_handlers()
    try:
        _check_step(target, flow, partition)
        result = run_task_step(target, flow, store=store, partition=partition, force=force,
                               run_id=run_id, attempt=attempt, plan_path=plan_path,
                               lineage_parent=_parent(lineage_parent))
    except FlowExecutionError as error:
        from ..adapters.pool import error_payload

        payload = error_payload(flow, error, partition)
        if outcome:
            write_outcome(outcome, error=payload)
        if debug_enabled():
            click.echo(payload["traceback"], err=True)
        error_line(payload["text"])
        sys.exit(1)
    except _interrupt.Interrupted as stopped:
        # A failed try, as for a local runner's worker stopped by a signal of its own: the
        # caller may retry it.
        stopped_error = FlowExecutionError(flow, f"stopped: {stopped.reason}; nothing was published",
                                           cause_type="Interrupted", partition=partition)
        if outcome:
            write_outcome(outcome, error=stopped_error.to_dict())
        error_line(str(stopped_error))
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


def _parent(text: str | None) -> ParentRun | None:
    """``--lineage-parent``: the JSON of a :class:`ParentRun` (what ``ParentRun.to_dict`` gives)."""
    from ..lineage import ParentRun

    if not text:
        return None
    try:
        return ParentRun.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError) as error:
        raise click.BadParameter(f"not a parent run ({error}): give the JSON of "
                                 '{"namespace", "job", "run_id"[, "root"]}',
                                 param_hint="--lineage-parent") from None


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
