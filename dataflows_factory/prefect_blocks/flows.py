"""A factory as a Prefect flow: ``build_flow`` for a flow of its own, ``run_factory`` inside yours.

Each factory flow becomes one task run named after it; a partitioned flow becomes one task
run per partition (``sales[raw/eu.csv]``) and a merge task run (``sales``). A task is
submitted as soon as its upstream tasks have finished, so independent flows and partitions
run concurrently on the flow's task runner, and dependencies are passed to Prefect as
``wait_for`` futures (the UI draws them). Caching and submission: see ``_submitter``.

Either takes a compiled plan (``plan=``, a :class:`~dataflows_factory.adapters.plan.Plan` or
the JSON file ``dff compile`` wrote) where it takes a factory, and a task granularity
(``group_by``: one task per flow, per tag, per group a function names, or one for the
whole factory; see ``_groups``).
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Iterable
from typing import Any, Protocol, TypeAlias

from ..adapters.compiled import StalePlanError, check_plan, read_plan
from ..adapters.groups import Grouping, group_plan
from ..adapters.plan import Plan
from ..adapters.pool import Isolation, check_isolation
from ..adapters.step import StepResult
from ..errors import FactoryError, FactoryRefError
from ..factory import Factory, load_factory
from ..store import Store
from ._compat import Flow, FlowRunContext, ThreadPoolTaskRunner, flow
from ._keys import python_name
from ._submitter import Submitter
from .tasks import PrefectTranslator


class StoreBlock(Protocol):
    """What a store block gives (``FactoryStore``): blocks build on this module, not the reverse."""

    def get_store(self) -> Store: ...


__all__ = ["FactoryRunError", "build_flow", "run_factory"]

StoreLike: TypeAlias = "str | os.PathLike[str] | Store | StoreBlock | None"
PlanLike: TypeAlias = "Plan | str | os.PathLike[str] | None"


class FactoryRunError(FactoryError, RuntimeError):
    """Some flows of a factory failed inside a Prefect flow run; the others' results are kept.

    All three mappings are keyed by unit id: a flow's name, or ``flow[value]`` for one
    partition of it (whose failure leaves the flow's merge, keyed by its name, not run).
    """

    def __init__(self, factory: str, results: dict[str, StepResult],
                 failures: dict[str, BaseException], not_run: dict[str, str]) -> None:
        self.factory, self.results, self.failures, self.not_run = factory, results, failures, not_run
        lines = [f"factory {factory!r}: {len(failures)} flow(s) failed"]
        # A partition's error names its flow; the unit id adds which partition failed.
        lines += [f"  - {error}" if getattr(error, "flow", None) == unit else f"  - {unit}: {error}"
                  for unit, error in failures.items()]
        lines += [f"  - flow {name!r} not run: upstream {up!r} failed" for name, up in not_run.items()]
        super().__init__("\n".join(lines))

    def __reduce__(self) -> tuple[Any, ...]:
        # Prefect may pickle a failed flow run's exception; rebuild it from its parts.
        return (type(self), (self.factory, self.results, self.failures, self.not_run))


def run_factory(
    factory: Factory | str | None = None,
    *,
    plan: PlanLike = None,
    group_by: Grouping = "flow",
    select: str | Iterable[str] | None = None,
    store: StoreLike = None,
    force: bool = False,
    cache: bool = True,
    translator: PrefectTranslator | None = None,
    isolation: Isolation | None = None,
) -> dict[str, StepResult]:
    """Run a factory's flows as tasks of the current Prefect flow run; return their results.

    Results are keyed by flow name, in plan order; a partitioned flow adds one result per
    partition, keyed ``flow[value]`` (as in the local runner's report), before its own
    (the merged dataset).

    ``store`` is a path or URL, a :class:`~dataflows_factory.Store` or a ``FactoryStore``
    block (``FactoryStore.load("lake")``); by default the factory's own store.

    Call it inside your own ``@flow``, before or after your own tasks::

        @flow
        def nightly():
            results = run_factory("pipelines/world.py:factory", select="+key_metrics")
            notify(results["key_metrics"].dataset_uri)

    Raises :class:`FactoryRunError` after every runnable flow finished if any failed
    (downstream flows of a failed one are never submitted). ``force`` re-runs every flow;
    ``cache=False`` turns Prefect caching off (the executor still skips unchanged flows).

    ``isolation="process"`` runs each task's flow in a worker process, so concurrent
    tasks use separate cores whatever the task runner; ``"thread"`` runs it in the task's
    own thread. By default (``None``): ``"process"`` on Prefect's thread pool, ``"thread"``
    on a task runner whose tasks already run in worker processes of their own (Dask:
    a second pool in each Dask worker would double the interpreters and hide the work
    from Dask's memory monitor). A factory without an import reference (built inside a
    function) always runs in the task's thread.

    ``plan`` is a compiled plan (``dff compile``), or its file: the flows it holds run,
    from the factory it names (or ``factory``), into its store unless ``store`` is given.
    Each task checks it against the factory's code first; when the code changed, the
    tasks fail at once, without retries, with one line saying to re-run ``dff compile``.

    ``group_by`` sets how many flows one task runs: ``"flow"`` (default), ``"tag"`` (the
    flows sharing their first tag), ``"factory"`` (all in one) or a function of a flow's
    :class:`~dataflows_factory.adapters.plan.StepPlan` returning its group's name (``None``:
    a task of its own). Results stay keyed by flow (and partition) either way.
    """
    if isolation is not None:
        check_isolation(isolation)
    if FlowRunContext.get() is None:
        raise FactoryError("run_factory() runs inside a Prefect @flow; to run a factory on its own, "
                           "call build_flow(factory)()")
    compiled = _compiled(plan)
    factory = load_factory(_factory_or_ref(factory, compiled))
    target = _store(factory, compiled.store if store is None and compiled is not None else store)
    if compiled is None:
        to_run = factory.plan(select=select, store=target)
    else:
        to_run, current = _from_compiled(compiled, factory, select, target)
        cache = cache and current  # a stale plan's tasks fail: nothing to look up
    submitter = Submitter(to_run, factory, target, force, cache, translator or PrefectTranslator(),
                          isolation, groups=group_plan(to_run, group_by), compiled=compiled)
    results = submitter.run()
    if submitter.failures:
        raise FactoryRunError(factory.name, results, submitter.failures, submitter.not_run)
    return results


def _compiled(plan: PlanLike) -> Plan | None:
    return plan if plan is None or isinstance(plan, Plan) else read_plan(plan)


def _factory_or_ref(factory: Factory | str | None, compiled: Plan | None) -> Factory | str:
    if factory is not None:
        return factory
    if compiled is None:
        raise FactoryError("give a factory (or its import reference), or a compiled plan (plan=...)")
    if not compiled.factory_ref:
        raise FactoryRefError(f"the plan of factory {compiled.factory!r} names no factory to import: "
                              "write it with `dff compile FILE -o PLAN.json`")
    return compiled.factory_ref


def _from_compiled(compiled: Plan, factory: Factory, select: str | Iterable[str] | None,
                   store: Store) -> tuple[Plan, bool]:
    """What to run of a compiled plan, and whether it still matches the factory's code.

    The selected flows, their partitions listed now (they follow the data, like a plan
    built from the factory); when the code changed, the compiled plan itself: its tasks
    then fail, each with the one line that says to compile again.
    """
    selected = compiled.select(select)
    try:
        check_plan(compiled, factory)
    except StalePlanError:
        return selected, False
    return factory.plan(select=list(selected.names), store=store), True


def _portable(factory: Factory) -> Factory | str:
    """What the flow function keeps of ``factory``: its import reference, when another
    process can import it without running a script, else the factory itself.

    Task runners that run tasks elsewhere (Dask) pickle the flow function with the run's
    context, and the functions of a factory file loaded by path cannot be pickled; loading
    by reference again here is a lookup (modules and factory files are imported once).
    """
    try:
        ref = factory.get_ref()
    except FactoryRefError:
        return factory
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    target = ref.rpartition(":")[0]
    if main and target.endswith(".py") and os.path.abspath(target) == os.path.abspath(main):
        return factory  # by path, the script itself would run again
    return ref


def _store(factory: Factory, store: StoreLike) -> Store:
    """A ``FactoryStore`` block, a ``Store``, a path/URL or ``None`` (the factory's own)."""
    if store is None or isinstance(store, str | os.PathLike | Store):
        return factory.store(store)
    return store.get_store()


def build_flow(
    factory: Factory | str | None = None,
    *,
    plan: PlanLike = None,
    group_by: Grouping = "flow",
    name: str | None = None,
    select: str | Iterable[str] | None = None,
    store: StoreLike = None,
    translator: PrefectTranslator | None = None,
    max_workers: int | None = None,
    isolation: Isolation | None = None,
    **flow_kwargs: Any,
) -> Flow:  # type: ignore[type-arg]
    """Compile a factory into a Prefect flow with one task per factory flow (and partition).

    >>> world_flow = build_flow("examples/world/factory.py:factory")
    >>> world_flow()                        # doctest: +SKIP
    {'countries': {...}, 'cities': {...}, 'key_metrics': {...}, 'publish': {...}}

    The flow takes two parameters a deployment can set: ``select`` (a selection such as
    ``"+key_metrics"``, default the one given here) and ``force``. Builds the plan (so a
    bad factory fails here) but runs and reads nothing. Other keyword arguments go to
    ``@flow`` (``retries``, ``log_prints``, ``task_runner``...). The flow function is
    named ``<factory>_flow`` in the caller's module: bind the result to that name to
    ``serve()`` or deploy it by entrypoint.

    ``isolation`` is where each task runs its flow: ``"process"``, a worker process, so
    independent flows use separate cores; ``"thread"``, the task's thread; by default the
    one that suits the task runner (see :func:`run_factory`).

    From a compiled plan (``plan=``, see :func:`run_factory`), building the flow imports
    neither the factory nor reads anything but the plan; the flow run loads the factory.
    ``group_by`` sets the task granularity (see :func:`run_factory`); a grouping that makes
    groups wait for each other fails here, naming the flows.
    """
    if isolation is not None:
        check_isolation(isolation)
    compiled = _compiled(plan)
    if compiled is None:
        loaded = load_factory(_factory_or_ref(factory, None))
        built = loaded.plan(select=select, store=_store(loaded, store))
        factory = _portable(loaded)
    else:
        built = compiled.select(select)
    group_plan(built, group_by)
    default_select = select if isinstance(select, str) or select is None else ",".join(select)

    def run(select: str | None = default_select, force: bool = False) -> dict[str, Any]:
        results = run_factory(factory, plan=compiled, group_by=group_by, select=select, store=store,
                              force=force, translator=translator, isolation=isolation)
        return {flow_name: result.to_dict() for flow_name, result in results.items()}

    # serve() and deployments find a flow by module and function name: point them at the
    # caller's module, where the user binds the flow to a module-level name.
    caller = inspect.currentframe()
    module = caller.f_back.f_globals.get("__name__") if caller and caller.f_back else None
    run.__module__ = module or __name__
    run.__name__ = run.__qualname__ = python_name(built.factory)
    options: dict[str, Any] = {
        "name": name or built.factory,
        "description": built.description or f"dataflows-factory {built.factory!r}",
        "task_runner": ThreadPoolTaskRunner(
            max_workers=max_workers or max(4, len(built.selected_from or built.names))),
        "validate_parameters": True,
    }
    options.update(flow_kwargs)
    return flow(**options)(run)
