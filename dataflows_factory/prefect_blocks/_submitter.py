"""Submitting a plan's units as Prefect tasks, each once what it depends on has finished.

The units, their order and what a failure blocks come from the plan
(:meth:`~dataflows_factory.adapters.plan.Plan.units`, :class:`~dataflows_factory.adapters.plan.Schedule`):
a partitioned flow fans out to one task run per partition, all submitted together; its merge
task waits for every part, and the flows downstream wait for the merge, as for any flow.

Skip-unchanged is Prefect caching: a unit's cache key is its fingerprint (code, params,
partition, upstream content hashes, input files), computed when the task is submitted,
i.e. after its upstream finished. A cached result is reused only if the dataset (or part)
it describes is still in the store, unchanged; otherwise the task runs again and
overwrites the cache record.

A group of flows (``group_by``) is one task run that runs the local runner (see
``_groups``): it waits for the groups it reads from, and gives a result per flow.

On a task runner that runs tasks in other processes (``DaskTaskRunner``), tasks get the
factory's import reference instead of the factory: functions defined in a file loaded by
path cannot be pickled, and each worker process loads the factory once, from its own copy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..adapters._skip import reusable
from ..adapters.groups import Group
from ..adapters.plan import Plan, Schedule, Unit
from ..adapters.pool import Isolation
from ..adapters.step import StepResult, dataset_name, step_fingerprint
from ..errors import FactoryRefError, FlowExecutionError
from ..factory import Factory
from ..store import Store
from ._compat import NO_CACHE, FlowRunContext, PrefectFuture, ThreadPoolTaskRunner, as_completed
from ._compat import task_result_store as _task_result_store
from ._groups import make_group_task, task_units
from ._keys import cache_key
from .tasks import PrefectTranslator

__all__ = ["Submitter"]


class Submitter:
    """Submits each unit once its upstream units succeeded; never submits below a failure."""

    def __init__(self, plan: Plan, factory: Factory, store: Store, force: bool, cache: bool,
                 translator: PrefectTranslator, isolation: Isolation | None = None, *,
                 groups: tuple[Group, ...] = (), compiled: Plan | None = None) -> None:
        self.plan, self.factory, self.store = plan, factory, store
        self.force, self.cache, self.translator = force, cache, translator
        self.compiled = compiled
        self.units, self.groups = task_units(plan, groups) if groups else (plan.units(), {})
        context = FlowRunContext.get()
        self.run_id = str(context.flow_run.id) if context and context.flow_run else ""
        runner = context.task_runner if context else None
        here = runner is None or isinstance(runner, ThreadPoolTaskRunner)
        self.target: Factory | str = factory if here else _reference(factory, runner)
        # Tasks that run in worker processes already (Dask) run their flow in their thread.
        self.isolation: Isolation = isolation or ("process" if here else "thread")
        self.futures: dict[str, PrefectFuture] = {}  # type: ignore[type-arg]
        self.results: dict[str, StepResult] = {}
        self.failures: dict[str, BaseException] = {}
        self.not_run: dict[str, str] = {}

    def run(self) -> dict[str, StepResult]:
        """Run every unit that can run; results by unit id, in plan order (failures aside)."""
        schedule = Schedule(self.units)
        running: dict[Any, Unit] = {}
        while not schedule.done:
            for unit in schedule.ready():
                schedule.start(unit.id)
                future = self._submit(unit, [self.futures[d] for d in unit.deps])
                self.futures[unit.id] = future
                running[future] = unit
            if not running:  # pragma: no cover - a Schedule never stalls with nothing running
                break
            done = next(as_completed(list(running)))
            unit = running.pop(done)
            for blocked in schedule.finish(unit.id, ok=self._collect(unit.id, done)):
                self.not_run[blocked] = schedule.blocked[blocked]
        return {u.id: self.results[u.id] for u in self.plan.units() if u.id in self.results}

    def _submit(self, unit: Unit, wait_for: list[Any]) -> Any:
        group = self.groups.get(unit.id)
        if group is not None:
            # The runner inside skips unchanged flows itself: no Prefect cache on top.
            group_task = make_group_task(self.translator, unit.step).with_options(cache_policy=NO_CACHE)
            return group_task.submit(self.target, group.name, group.flows, self.store, self.force,
                                     self.run_id, plan=self.compiled, wait_for=wait_for)
        prefect_task = self.translator.make_task(unit.step, partition=unit.partition)
        if self.cache:
            prefect_task = self._with_cache(prefect_task, unit)
        else:
            prefect_task = prefect_task.with_options(cache_policy=NO_CACHE)
        return prefect_task.submit(self.target, unit.step.name, self.store, self.force, self.run_id,
                                   partition=unit.partition, isolation=self.isolation,
                                   plan=self.compiled, wait_for=wait_for)

    def _with_cache(self, prefect_task: Any, unit: Unit) -> Any:
        name, partition = unit.step.name, unit.partition
        try:
            fingerprint = step_fingerprint(self.factory, name, store=self.store, partition=partition)
        except FlowExecutionError:
            # e.g. an upstream dataset outside the selection is missing: let the task run
            # (and fail with that message in its own logs) instead of failing the submit.
            return prefect_task.with_options(cache_policy=NO_CACHE)
        key = cache_key(self.store.url, self.factory.name, name, fingerprint, partition=partition)
        dataset = dataset_name(self.factory, self.factory.flows[name], partition)
        refresh = self.force or not self._reusable(prefect_task, key, dataset, fingerprint)
        return prefect_task.with_options(cache_key_fn=_constant(key), refresh_cache=refresh)

    def _reusable(self, prefect_task: Any, key: str, dataset: str, fingerprint: str) -> bool:
        """True when the cache record for ``key`` still describes ``dataset`` in the store.

        The fingerprint alone cannot see a dataset (or a part) deleted or replaced after it
        was cached, so the record's content hash is compared with the published
        descriptor's, and the resource files must be present with their recorded sizes.
        """
        descriptor = reusable(self.store, self.factory.name, dataset, fingerprint)
        if descriptor is None:
            return False
        published = descriptor["dff"]
        try:
            result_store: Any = _task_result_store(prefect_task)
            if not result_store.exists(key):
                return True  # nothing cached yet: a cache miss, the task runs anyway
            cached = result_store.read(key).result
        except Exception:  # an unreadable record must not be served: refresh it
            return False
        return isinstance(cached, dict) and cached.get("content_hash") == published.get("content_hash")

    def _collect(self, unit: str, future: Any) -> bool:
        try:
            value = future.result()
        except Exception as error:
            self.failures[unit] = error
            return False
        if unit in self.groups:
            self.results.update({name: StepResult.from_dict(item) for name, item in value.items()})
            return True
        result = StepResult.from_dict(value)
        if future.state.name == "Cached" and result.status != "skipped":
            # Served from Prefect's cache: nothing ran, the dataset is the one recorded.
            result = dataclasses.replace(result, status="skipped")
        self.results[unit] = result
        return True


def _reference(factory: Factory, runner: Any) -> str:
    """The import reference tasks of ``runner``, which run elsewhere, load the factory from."""
    try:
        return factory.get_ref()
    except FactoryRefError:
        raise FactoryRefError(
            f"factory {factory.name!r} has no import reference, and {type(runner).__name__} runs "
            "tasks in other processes, which import the factory: define it at module level in a "
            "file (or module) that the workers can import too") from None


def _constant(key: str) -> Callable[..., str]:
    def cache_key_fn(context: Any, parameters: Any) -> str:
        return key

    return cache_key_fn
