"""A factory as a Prefect flow: ``build_flow`` for a flow of its own, ``run_factory`` inside yours.

Each factory flow becomes one task run named after it. A task is submitted as soon as its
upstream tasks have finished, so independent flows run concurrently on the flow's task
runner, and dependencies are passed to Prefect as ``wait_for`` futures (the UI draws them).

Skip-unchanged is Prefect caching: the cache key is the flow's fingerprint (code, params,
upstream content hashes, input files), computed when the task is submitted, i.e. after
its upstream finished. A cached result is reused only if the dataset it describes is still
in the store, unchanged; otherwise the task runs again and overwrites the cache record.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable, Iterable
from typing import Any

from ..adapters.plan import Plan, StepPlan
from ..adapters.step import StepResult, step_fingerprint
from ..errors import FactoryError, FlowExecutionError
from ..factory import Factory, load_factory
from ..store import Store
from ._compat import NO_CACHE, Flow, FlowRunContext, PrefectFuture, ThreadPoolTaskRunner, as_completed, flow
from ._compat import task_result_store as _task_result_store
from ._keys import cache_key, python_name
from .blocks import FactoryStore
from .tasks import PrefectTranslator

__all__ = ["FactoryRunError", "build_flow", "run_factory"]

StoreLike = str | os.PathLike[str] | Store | FactoryStore | None


class FactoryRunError(FactoryError, RuntimeError):
    """Some flows of a factory failed inside a Prefect flow run; the others' results are kept."""

    def __init__(self, factory: str, results: dict[str, StepResult],
                 failures: dict[str, BaseException], not_run: dict[str, str]) -> None:
        self.factory, self.results, self.failures, self.not_run = factory, results, failures, not_run
        lines = [f"factory {factory!r}: {len(failures)} flow(s) failed"]
        lines += [f"  - {error}" for error in failures.values()]
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
) -> dict[str, StepResult]:
    """Run a factory's flows as tasks of the current Prefect flow run; return their results.

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
    """
    if FlowRunContext.get() is None:
        raise FactoryError("run_factory() runs inside a Prefect @flow; to run a factory on its own, "
                           "call build_flow(factory)()")
    factory = load_factory(factory)
    target = _store(factory, store)
    plan = factory.plan(select=select, store=target)
    return _Submitter(plan, factory, target, force, cache, translator or PrefectTranslator()).run()


class _Submitter:
    """Submits each step once its in-plan upstream succeeded; never submits below a failure."""

    def __init__(self, plan: Plan, factory: Factory, store: Store, force: bool, cache: bool,
                 translator: PrefectTranslator) -> None:
        self.plan, self.factory, self.store = plan, factory, store
        self.force, self.cache, self.translator = force, cache, translator
        context = FlowRunContext.get()
        self.run_id = str(context.flow_run.id) if context and context.flow_run else ""
        self.futures: dict[str, PrefectFuture] = {}  # type: ignore[type-arg]
        self.results: dict[str, StepResult] = {}
        self.failures: dict[str, BaseException] = {}
        self.not_run: dict[str, str] = {}

    def run(self) -> dict[str, StepResult]:
        names = set(self.plan.names)
        pending = list(self.plan.steps)
        running: dict[Any, str] = {}
        while pending or running:
            for step in list(pending):
                upstream = [name for name in step.upstream if name in names]
                blocker = next((n for n in upstream if n in self.failures or n in self.not_run), None)
                if blocker is not None:
                    self.not_run[step.name] = self.not_run.get(blocker, blocker)
                    pending.remove(step)
                elif all(name in self.results for name in upstream):
                    future = self._submit(step, [self.futures[name] for name in upstream])
                    self.futures[step.name] = future
                    running[future] = step.name
                    pending.remove(step)
            if running:
                done = next(as_completed(list(running)))
                self._collect(running.pop(done), done)
        results = {name: self.results[name] for name in self.plan.names if name in self.results}
        if self.failures:
            raise FactoryRunError(self.factory.name, results, self.failures, self.not_run)
        return results

    def _submit(self, step: StepPlan, wait_for: list[Any]) -> Any:
        prefect_task = self.translator.make_task(step)
        if self.cache:
            prefect_task = self._with_cache(prefect_task, step.name)
        else:
            prefect_task = prefect_task.with_options(cache_policy=NO_CACHE)
        return prefect_task.submit(self.factory, step.name, self.store, self.force, self.run_id,
                                   wait_for=wait_for)

    def _with_cache(self, prefect_task: Any, name: str) -> Any:
        try:
            fingerprint = step_fingerprint(self.factory, name, store=self.store)
        except FlowExecutionError:
            # e.g. an upstream dataset outside the selection is missing: let the task run
            # (and fail with that message in its own logs) instead of failing the submit.
            return prefect_task.with_options(cache_policy=NO_CACHE)
        key = cache_key(self.store.url, self.factory.name, name, fingerprint)
        refresh = self.force or not self._reusable(prefect_task, key, name, fingerprint)
        return prefect_task.with_options(cache_key_fn=_constant(key), refresh_cache=refresh)

    def _reusable(self, prefect_task: Any, key: str, name: str, fingerprint: str) -> bool:
        """True when the cache record for ``key`` still describes the dataset in the store.

        The fingerprint alone cannot see a dataset deleted or replaced after it was cached,
        so the record's content hash is compared with the published descriptor's, and the
        resource files must be present with their recorded sizes.
        """
        descriptor = self.store.read_descriptor(self.factory.name, name)
        if descriptor is None:
            return False
        published = descriptor.get("dff", {})
        if published.get("fingerprint") != fingerprint:
            return False
        if not self.store.has_files(self.factory.name, name, descriptor):
            return False
        try:
            result_store: Any = _task_result_store(prefect_task)
            if not result_store.exists(key):
                return True  # nothing cached yet: a cache miss, the task runs anyway
            cached = result_store.read(key).result
        except Exception:  # an unreadable record must not be served: refresh it
            return False
        return isinstance(cached, dict) and cached.get("content_hash") == published.get("content_hash")

    def _collect(self, name: str, future: Any) -> None:
        try:
            value = future.result()
        except Exception as error:
            self.failures[name] = error
            return
        result = StepResult.from_dict(value)
        if future.state.name == "Cached" and result.status != "skipped":
            # Served from Prefect's cache: nothing ran, the dataset is the one recorded.
            result = dataclasses.replace(result, status="skipped")
        self.results[name] = result


def _store(factory: Factory, store: StoreLike) -> Store:
    """A ``FactoryStore`` block, a ``Store``, a path/URL or ``None`` (the factory's own)."""
    if isinstance(store, FactoryStore):
        return store.get_store()
    return store if isinstance(store, Store) else factory.store(store)


def _constant(key: str) -> Callable[..., str]:
    def cache_key_fn(context: Any, parameters: Any) -> str:
        return key

    return cache_key_fn


def build_flow(
    factory: Factory | str,
    *,
    name: str | None = None,
    select: str | Iterable[str] | None = None,
    store: StoreLike = None,
    translator: PrefectTranslator | None = None,
    max_workers: int | None = None,
    **flow_kwargs: Any,
) -> Flow:  # type: ignore[type-arg]
    """Compile a factory into a Prefect flow with one task per factory flow.

    >>> world_flow = build_flow("examples/world/factory.py:factory")
    >>> world_flow()                        # doctest: +SKIP
    {'countries': {...}, 'cities': {...}, 'key_metrics': {...}, 'publish': {...}}

    The flow takes two parameters a deployment can set: ``select`` (a selection such as
    ``"+key_metrics"``, default the one given here) and ``force``. Builds the plan (so a
    bad factory fails here) but runs and reads nothing. Other keyword arguments go to
    ``@flow`` (``retries``, ``log_prints``, ``task_runner``...). The flow function is
    named ``<factory>_flow`` in the caller's module: bind the result to that name to
    ``serve()`` or deploy it by entrypoint.
    """
    factory = load_factory(factory)
    factory.plan(select=select, store=_store(factory, store))
    default_select = select if isinstance(select, str) or select is None else ",".join(select)

    def run(select: str | None = default_select, force: bool = False) -> dict[str, Any]:
        results = run_factory(factory, select=select, store=store, force=force, translator=translator)
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
