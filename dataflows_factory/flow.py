"""Flows: functions that return a ``dataflows.Flow``, registered on a factory.

A flow function's parameters *without* a default name upstream flows: each receives that
flow's dataset as a loadable step. Parameters *with* a default are flow parameters, which
``@factory.flow(params=...)`` can override; they enter the flow's fingerprint.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from dataflows import DataStreamProcessor, Flow, load, schema_validator

from ._row_shape import install as install_row_shape
from .errors import FlowReturnError, InvalidFlowNameError, InvalidStepError
from .partitions import Partitions, as_partitions
from .processors._adopt import accelerate

__all__ = ["DatasetStep", "FlowSpec", "check_name"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_ROW_PARAMS = ("row", "rows", "package")
PARTITION = "partition"  # the parameter through which a partitioned flow gets its partition


def check_name(name: object, what: str = "flow") -> str:
    """Return ``name`` if it is a safe identifier (it becomes a path, a task id, an asset key)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidFlowNameError(
            f"{what} name {name!r} is not a safe identifier: use letters, digits and '_' "
            "(at most 64, starting with a letter); it becomes a folder, a task id and an asset key"
        )
    return name


class DatasetStep(load):  # type: ignore[misc]
    """An upstream flow's dataset, as a ``dataflows`` step that loads every resource.

    Use it directly inside ``Flow(...)``, or pick resources with :meth:`resource`::

        @factory.flow()
        def report(key_metrics):
            return Flow(key_metrics.resource("key_metrics"), ...)
    """

    def __init__(self, flow: str, descriptor_path: str, resources: Any = None) -> None:
        super().__init__(descriptor_path, resources=resources)
        self.flow = flow
        self.descriptor_path = descriptor_path

    def process_datapackage(self, dp: Any) -> Any:
        dp = super().process_datapackage(dp)
        from .processors._adopt import enabled

        if enabled():  # our own CSVs: read with the csv module and compiled casters
            from .processors.dataset_reader import accelerate_dataset

            accelerate_dataset(self)
        return dp

    def resource(self, *names: str) -> DatasetStep:
        """A step that loads only the named resources of this dataset."""
        if not names:
            raise ValueError(f"dataset of flow {self.flow!r}: resource() needs at least one name")
        return DatasetStep(self.flow, self.descriptor_path, resources=list(names))

    def __repr__(self) -> str:
        return f"DatasetStep({self.flow!r}, resources={self.resources!r})"


@dataclass(frozen=True)
class FlowSpec:
    """A flow as registered on a factory: its function, dependencies and options."""

    name: str
    func: Callable[..., Any]
    inputs: tuple[str, ...]
    after: tuple[str, ...] = ()
    retries: int = 0
    retry_delay: float = 0.0
    description: str = ""
    tags: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    partitions: Partitions | None = None

    @classmethod
    def from_function(
        cls,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        after: Iterable[str] = (),
        retries: int = 0,
        retry_delay: float = 0.0,
        description: str | None = None,
        tags: Iterable[str] = (),
        params: Mapping[str, Any] | None = None,
        partitions: Partitions | Iterable[str] | None = None,
    ) -> FlowSpec:
        flow_name = check_name(name if name is not None else getattr(func, "__name__", None))
        if not callable(func):
            raise InvalidStepError(f"flow {flow_name!r}: {func!r} is not callable")
        if isinstance(after, str):
            after = [after]
        if not isinstance(retries, int) or retries < 0:
            raise InvalidStepError(f"flow {flow_name!r}: retries must be a non-negative int")
        signature = inspect.signature(func)
        inputs: list[str] = []
        defaults: dict[str, Any] = {}
        for parameter in signature.parameters.values():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                raise InvalidStepError(
                    f"flow {flow_name!r}: *args/**kwargs are not supported; name each upstream flow"
                )
            if parameter.name == PARTITION:
                continue
            if parameter.default is parameter.empty:
                inputs.append(parameter.name)
            else:
                defaults[parameter.name] = parameter.default
        split = as_partitions(partitions)
        if (split is not None) != (PARTITION in signature.parameters):
            raise InvalidStepError(
                f"flow {flow_name!r}: a partitioned flow takes a {PARTITION!r} parameter, and "
                f"only a flow declared with partitions=... may take one"
            )
        unknown = sorted(set(params or {}) - set(defaults))
        if unknown:
            raise InvalidStepError(
                f"flow {flow_name!r}: params {unknown} are not parameters with a default "
                f"of {func.__qualname__}()"
            )
        return cls(
            name=flow_name,
            func=func,
            inputs=tuple(inputs),
            after=tuple(check_name(a, "upstream flow") for a in after),
            retries=retries,
            retry_delay=float(retry_delay),
            description=(description or inspect.getdoc(func) or "").strip(),
            tags=tuple(tags),
            params={**defaults, **(params or {})},
            partitions=split,
        )

    @property
    def upstream(self) -> tuple[str, ...]:
        """Every flow this one waits for: data inputs first, then order-only ``after``."""
        return self.inputs + tuple(a for a in self.after if a not in self.inputs)

    @property
    def code_version(self) -> str:
        """A hash of the flow's code and parameters: cheap, reads no data (for parse time)."""
        from ._fingerprint import code_hash, fingerprint

        return fingerprint(code_hash(self.func), self.params, {}, {})[:16]

    def build(self, datasets: Mapping[str, DatasetStep], partition: str | None = None) -> Flow:
        """Call the flow function with its upstream datasets and return a checked ``Flow``."""
        kwargs: dict[str, Any] = {name: datasets[name] for name in self.inputs}
        if self.partitions is not None:
            kwargs[PARTITION] = partition
        result = self.func(**kwargs, **self.params)
        if isinstance(result, Flow):
            steps: tuple[Any, ...] = result.chain
        elif isinstance(result, list | tuple):
            steps = tuple(result)
        else:
            raise FlowReturnError(
                f"flow {self.name!r} returned {type(result).__name__}; a flow function must "
                "return a dataflows.Flow (or a list of steps)"
            )
        return Flow(*normalize_steps(self.name, steps))


def normalize_steps(flow: str, steps: Iterable[Any]) -> list[Any]:
    """Make every step one that ``dataflows.Flow`` really runs, or fail loudly.

    ``dataflows`` chains only plain functions: a bound method, a ``functools.partial`` or a
    callable object is silently dropped, and a function with another parameter name fails
    with a bare ``assert``. We wrap the first kind and reject the rest with the flow named.
    Plain ``load`` steps are made to cast values with their inferred schema, so numbers in a
    CSV arrive as numbers (pass ``cast_strategy=load.CAST_TO_STRINGS`` to keep strings),
    and fail on rows with more cells than the header (``extra_cells="drop"`` drops them).
    """
    out: list[Any] = []
    for position, step in enumerate(_flat(steps), start=1):
        if isinstance(step, Flow):
            # A Flow subclass with its own chain handling (dataflows' checkpoint): kept, with
            # its steps normalized in place.
            step.chain = tuple(normalize_steps(flow, step.chain))
            out.append(step)
        elif isinstance(step, DataStreamProcessor):
            if type(step) is load:
                _cast_by_default(step)
                install_row_shape(flow, position, step)  # extra cells fail, short rows count
            out.append(accelerate(step))  # fast twin if its options are supported
        elif inspect.isfunction(step) and len(inspect.signature(step).parameters) == 1:
            _parameter_name(flow, position, step)
            out.append(accelerate(step))  # sort_rows/join closures get their fast twins
        elif callable(step) and not isinstance(step, type):
            out.append(_as_function(flow, position, step))
        elif isinstance(step, Iterable) and not isinstance(step, str | bytes | Mapping):
            out.append(step)
        else:
            raise InvalidStepError(
                f"flow {flow!r}, step #{position}: {step!r} is not a dataflows step "
                "(a processor, a function of row/rows/package, a Flow or an iterable of rows)"
            )
    return out


def _flat(steps: Iterable[Any]) -> Iterator[Any]:
    # Nested plain Flows run exactly as their steps in line (dataflows threads one stream
    # through them); in line, "step #N" is the step's place in the flow as a whole.
    for step in steps:
        if type(step) is Flow:
            yield from _flat(step.chain)
        else:
            yield step


def _parameter_name(flow: str, position: int, step: Any) -> str:
    """The one required parameter of a function step: ``row``, ``rows`` or ``package``."""
    try:
        parameters = inspect.signature(step).parameters.values()
    except (TypeError, ValueError) as cause:
        raise InvalidStepError(
            f"flow {flow!r}, step #{position}: cannot read the signature of {step!r}"
        ) from cause
    required = [p.name for p in parameters if p.default is p.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if len(required) != 1 or required[0] not in _ROW_PARAMS:
        raise InvalidStepError(
            f"flow {flow!r}, step #{position}: {getattr(step, '__qualname__', step)!r} takes "
            f"{required}; a function step takes exactly one of {list(_ROW_PARAMS)}"
        )
    return required[0]


def _as_function(flow: str, position: int, step: Callable[..., Any]) -> Callable[..., Any]:
    # dataflows dispatches on the *name* of the single parameter, so the wrapper must be a
    # real function whose parameter carries that name.
    kind = _parameter_name(flow, position, step)
    if kind == "row":
        def row_step(row: Any) -> Any:
            return step(row)
        wrapper: Callable[..., Any] = row_step
    elif kind == "rows":
        def rows_step(rows: Any) -> Any:
            return step(rows)
        wrapper = rows_step
    else:
        def package_step(package: Any) -> Any:
            return step(package)
        wrapper = package_step
    name = getattr(step, "__name__", None) or getattr(
        getattr(step, "func", None), "__name__", type(step).__name__
    )
    wrapper.__name__ = wrapper.__qualname__ = str(name)
    return wrapper


def _cast_by_default(step: load) -> None:
    # load() keeps its cast choice only inside a lambda; an identity caster means "no cast"
    # (the default), which we replace with a schema cast: typed values by default.
    probe: Iterable[Any] = iter(())
    if step.caster(None, probe) is probe:
        step.caster = lambda res, it: schema_validator(res, it)
