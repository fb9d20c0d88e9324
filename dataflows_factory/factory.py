"""The model: a factory is a named DAG of flows, validated at definition time."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, overload

from .adapters.plan import Plan, StepPlan
from .errors import (
    DuplicateFlowError,
    FactoryCycleError,
    FactoryRefError,
    NoPartitionsError,
    UnknownUpstreamError,
)
from .flow import FlowSpec, check_name
from .partitions import Partitions
from .store import Store

__all__ = ["Factory", "load_factory"]

F = TypeVar("F", bound=Callable[..., Any])


class Factory:
    """One or more flows with dependencies between them.

    >>> factory = Factory("world", store="./data")
    >>> @factory.flow()
    ... def countries():
    ...     return Flow(load("raw/countries.csv"))

    ``store`` is a folder or fsspec URL; a relative folder is taken relative to ``root``,
    the folder of the file that created the factory, so the factory finds its data from
    any working directory (an Airflow worker's, say). Relative ``load()`` sources in its
    flows are resolved against ``root`` too.
    """

    def __init__(
        self,
        name: str,
        store: str | os.PathLike[str] | None = None,
        *,
        root: str | os.PathLike[str] | None = None,
        description: str = "",
    ) -> None:
        self.name = check_name(name, "factory")
        self.description = description
        caller = inspect.currentframe()
        caller_globals = caller.f_back.f_globals if caller and caller.f_back else {}
        caller_file = caller_globals.get("__file__")
        self.root = Path(root or (Path(caller_file).parent if caller_file else Path.cwd())).absolute()
        self._module = caller_globals.get("__name__")
        self._store = os.fspath(store) if store is not None else None
        self._flows: dict[str, FlowSpec] = {}
        self.ref: str | None = None

    def __repr__(self) -> str:
        return f"Factory({self.name!r}, flows={list(self._flows)})"

    # -- definition -----------------------------------------------------------------------

    @overload
    def flow(self, func: F) -> F: ...

    @overload
    def flow(
        self,
        func: None = None,
        *,
        name: str | None = None,
        after: Iterable[str] = (),
        retries: int = 0,
        retry_delay: float = 0.0,
        description: str | None = None,
        tags: Iterable[str] = (),
        params: Mapping[str, Any] | None = None,
        partitions: Partitions | Iterable[str] | None = None,
    ) -> Callable[[F], F]: ...

    def flow(
        self,
        func: F | None = None,
        *,
        name: str | None = None,
        after: Iterable[str] = (),
        retries: int = 0,
        retry_delay: float = 0.0,
        description: str | None = None,
        tags: Iterable[str] = (),
        params: Mapping[str, Any] | None = None,
        partitions: Partitions | Iterable[str] | None = None,
    ) -> F | Callable[[F], F]:
        """Register a flow: a function returning a ``dataflows.Flow``.

        Parameters without a default name upstream flows and receive their datasets;
        ``after`` adds order-only dependencies; ``params`` overrides parameters that have
        a default. ``partitions`` (a list, :func:`~dataflows_factory.partitions.files` or
        :func:`~dataflows_factory.partitions.dates`) runs the flow once per partition,
        passing it as the ``partition`` parameter. The function itself is returned unchanged.
        """

        def register(function: F) -> F:
            self.add(FlowSpec.from_function(
                function, name=name, after=after, retries=retries, retry_delay=retry_delay,
                description=description, tags=tags, params=params, partitions=partitions,
            ))
            return function

        return register(func) if func is not None else register

    def add(self, spec: FlowSpec) -> FlowSpec:
        """Register an already built :class:`FlowSpec`."""
        if spec.name in self._flows:
            raise DuplicateFlowError(
                f"factory {self.name!r} already has a flow named {spec.name!r}; "
                "give one of them another name (name=...)"
            )
        if spec.name in spec.upstream:
            raise FactoryCycleError([spec.name, spec.name])
        self._flows[spec.name] = spec
        return spec

    @property
    def flows(self) -> Mapping[str, FlowSpec]:
        return dict(self._flows)

    # -- validation -----------------------------------------------------------------------

    def validate(self) -> list[str]:
        """Check the whole graph; return flow names in a deterministic topological order."""
        for spec in self._flows.values():
            for upstream in spec.upstream:
                if upstream not in self._flows:
                    kind = "parameter" if upstream in spec.inputs else "after="
                    raise UnknownUpstreamError(
                        f"flow {spec.name!r} depends on {upstream!r} ({kind}), but factory "
                        f"{self.name!r} has no such flow; known flows: {sorted(self._flows)}"
                        + ("; give the parameter a default to make it a flow parameter"
                           if kind == "parameter" else "")
                    )
        order: list[str] = []
        state: dict[str, int] = {}  # 1 = on the current path, 2 = done

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                raise FactoryCycleError([*path[path.index(name):], name])
            state[name] = 1
            for upstream in self._flows[name].upstream:
                visit(upstream, [*path, name])
            state[name] = 2
            order.append(name)

        for name in self._flows:
            visit(name, [])
        return order

    # -- store, plan, run -----------------------------------------------------------------

    def store(self, override: str | os.PathLike[str] | Store | None = None) -> Store:
        """The store to use: ``override`` > ``$DFF_STORE`` > ``Factory(store=)`` > ``<root>/data``."""
        if isinstance(override, Store):
            return override
        if override is not None:
            return Store(override)
        if os.environ.get("DFF_STORE"):
            return Store(os.environ["DFF_STORE"])
        configured = self._store or "data"
        if "://" not in configured and not os.path.isabs(configured):
            configured = str(self.root / configured)
        return Store(configured)

    def plan(self, select: str | Iterable[str] | None = None,
             store: str | os.PathLike[str] | Store | None = None) -> Plan:
        """Validate the factory and describe it (or a selection) as an immutable,
        JSON-serialisable :class:`Plan`; runs nothing and reads no data."""
        order = self.validate()
        resolved = self.store(store)
        try:
            ref: str | None = self.get_ref()
        except Exception:  # a factory built in a test or a notebook: runnable locally only
            ref = None
        steps = []
        for name in order:
            spec = self.flows[name]
            partitions, problem = self._partitions(name)
            steps.append(StepPlan(
                name=name, inputs=spec.inputs, after=spec.after, retries=spec.retries,
                retry_delay=spec.retry_delay, description=spec.description, tags=spec.tags,
                output=resolved.dataset_url(self.name, name), partitions=partitions,
                partitions_error=problem,
            ))
        plan = Plan(factory=self.name, store=resolved.url, steps=tuple(steps), factory_ref=ref,
                    description=self.description)
        return plan.select(select)

    def _partitions(self, name: str) -> tuple[tuple[str, ...], str]:
        """The flow's partition values, and why it has none when a ``files()`` pattern
        matches no file: that flow fails when it runs, the others and the plan do not."""
        split = self.flows[name].partitions
        if split is None:
            return (), ""
        try:
            return split.resolve(self.root), ""
        except NoPartitionsError as error:
            return (), str(error)

    def get_ref(self) -> str:
        """An import reference (``module:attr`` or ``/path/file.py:attr``) to rebuild this factory."""
        if self.ref:
            return self.ref
        module = sys.modules.get(self._module or "")
        if module is not None:
            for attr, value in vars(module).items():
                if value is self:
                    module_file = getattr(module, "__file__", None)
                    if self._module not in ("__main__", None) and not self._module.startswith("_dff_"):
                        return f"{self._module}:{attr}"
                    if module_file:
                        return f"{os.path.abspath(module_file)}:{attr}"
        raise FactoryRefError(
            f"factory {self.name!r} is not a module-level name of an importable module; "
            "pass factory_ref='module:attr' explicitly"
        )


# -- loading factories by reference ---------------------------------------------------------

_FILE_MODULES: dict[str, Any] = {}
# One import per file, even when orchestrator threads load the same factory at once.
_IMPORT_LOCK = threading.RLock()


def load_factory(ref: str | Factory) -> Factory:
    """Import a factory from ``module:attr``, ``path/to/file.py:attr`` or ``path/to/file.py``.

    Without ``:attr`` the module must hold exactly one :class:`Factory`.
    """
    if isinstance(ref, Factory):
        return ref
    target, _, attr = ref.partition(":") if not _is_windows_drive(ref) else (ref, "", "")
    if os.path.isdir(target) and not os.path.isfile(os.path.join(target, "__init__.py")):
        raise FactoryRefError(
            f"{target!r} is a folder; name the factory's file in it (such as "
            f"{os.path.join(target, 'factory.py')!r}) or a module:attr")
    if target.endswith(".py") or os.sep in target or os.path.isfile(target):
        module = _import_file(target)
    else:
        try:
            module = importlib.import_module(target)
        except (ImportError, TypeError, ValueError) as cause:  # '' and '.' are not module names
            raise FactoryRefError(f"cannot import module {target!r} for factory {ref!r}: {cause}") from cause
    if attr:
        value = getattr(module, attr, None)
        if not isinstance(value, Factory):
            raise FactoryRefError(f"{ref!r}: {attr!r} is {type(value).__name__}, not a Factory")
        found = value
    else:
        factories = [(name, v) for name, v in vars(module).items() if isinstance(v, Factory)]
        if len(factories) != 1:
            raise FactoryRefError(
                f"{ref!r} defines {len(factories)} factories "
                f"({[name for name, _ in factories]}); name one as FILE:ATTR"
            )
        attr, found = factories[0]
    if found.ref is None:
        where = os.path.abspath(target) if module.__name__.startswith("_dff_") else target
        found.ref = f"{where}:{attr}"
    return found


def _is_windows_drive(ref: str) -> bool:
    return len(ref) > 2 and ref[1] == ":" and ref[2] in "\\/"


def _import_file(path: str) -> Any:
    with _IMPORT_LOCK:
        return _import_file_locked(path)


def _import_file_locked(path: str) -> Any:
    full = os.path.abspath(path)
    if full in _FILE_MODULES:
        return _FILE_MODULES[full]
    if not os.path.isfile(full):
        raise FactoryRefError(f"factory file {path!r} does not exist")
    name = "_dff_" + "".join(c if c.isalnum() else "_" for c in full)
    spec = importlib.util.spec_from_file_location(name, full)
    if spec is None or spec.loader is None:
        raise FactoryRefError(f"cannot import {path!r} as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # The factory's folder goes on sys.path so it can import its sibling modules.
    folder = os.path.dirname(full)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    _FILE_MODULES[full] = module
    return module
