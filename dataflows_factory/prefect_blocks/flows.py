"""A factory as a Prefect flow: ``build_flow`` for a flow of its own, ``run_factory`` inside yours.

Each factory flow becomes one task run named after it; a partitioned flow becomes one task
run per partition (``sales[raw/eu.csv]``) and a merge task run (``sales``). A task is
submitted as soon as its upstream tasks have finished, so independent flows and partitions
run concurrently on the flow's task runner, and dependencies are passed to Prefect as
``wait_for`` futures (the UI draws them). Caching and submission: see ``_submitter``.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable
from typing import Any, Protocol, TypeAlias

from ..adapters.pool import Isolation, check_isolation
from ..adapters.step import StepResult
from ..errors import FactoryError
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
    factory: Factory | str,
    *,
    select: str | Iterable[str] | None = None,
    store: StoreLike = None,
    force: bool = False,
    cache: bool = True,
    translator: PrefectTranslator | None = None,
    isolation: Isolation = "process",
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

    ``isolation="process"`` (the default) runs each task's flow in a worker process, so
    concurrent tasks use separate cores whatever the task runner; ``"thread"`` runs it in
    the task's own thread. A factory without an import reference (built inside a
    function) always runs in the task's thread.
    """
    check_isolation(isolation)
    if FlowRunContext.get() is None:
        raise FactoryError("run_factory() runs inside a Prefect @flow; to run a factory on its own, "
                           "call build_flow(factory)()")
    factory = load_factory(factory)
    target = _store(factory, store)
    plan = factory.plan(select=select, store=target)
    submitter = Submitter(plan, factory, target, force, cache, translator or PrefectTranslator(),
                          isolation)
    results = submitter.run()
    if submitter.failures:
        raise FactoryRunError(factory.name, results, submitter.failures, submitter.not_run)
    return results


def _store(factory: Factory, store: StoreLike) -> Store:
    """A ``FactoryStore`` block, a ``Store``, a path/URL or ``None`` (the factory's own)."""
    if store is None or isinstance(store, str | os.PathLike | Store):
        return factory.store(store)
    return store.get_store()


def build_flow(
    factory: Factory | str,
    *,
    name: str | None = None,
    select: str | Iterable[str] | None = None,
    store: StoreLike = None,
    translator: PrefectTranslator | None = None,
    max_workers: int | None = None,
    isolation: Isolation = "process",
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

    ``isolation`` is where each task runs its flow: ``"process"`` (default), a worker
    process, so independent flows use separate cores; ``"thread"``, the task's thread
    (see :func:`run_factory`).
    """
    check_isolation(isolation)
    factory = load_factory(factory)
    factory.plan(select=select, store=_store(factory, store))
    default_select = select if isinstance(select, str) or select is None else ",".join(select)

    def run(select: str | None = default_select, force: bool = False) -> dict[str, Any]:
        results = run_factory(factory, select=select, store=store, force=force, translator=translator,
                              isolation=isolation)
        return {flow_name: result.to_dict() for flow_name, result in results.items()}

    # serve() and deployments find a flow by module and function name: point them at the
    # caller's module, where the user binds the flow to a module-level name.
    caller = inspect.currentframe()
    module = caller.f_back.f_globals.get("__name__") if caller and caller.f_back else None
    run.__module__ = module or __name__
    run.__name__ = run.__qualname__ = python_name(factory.name)
    options: dict[str, Any] = {
        "name": name or factory.name,
        "description": factory.description or f"dataflows-factory {factory.name!r}",
        "task_runner": ThreadPoolTaskRunner(max_workers=max_workers or max(4, len(factory.flows))),
        "validate_parameters": True,
    }
    options.update(flow_kwargs)
    return flow(**options)(run)
