"""A partitioned flow's partitions as Dagster partition keys: one pure, deterministic mapping.

Dagster keys are the partition *values* when every value is a usable key (``eu``,
``2026-01-01``, ``raw/eu.csv``), so ``--partition raw/eu.csv`` reads as the factory does;
when one value is not (Dagster rejects ``...`` and control characters, and ``|``, ``,``,
``[``, ``]`` break its multi-partition keys and selection syntax), the whole flow uses the
core's path-safe keys instead (``partition_key(value)``, the ``flow@<key>`` folder of the part),
so a flow's keys are either all its values or all its store keys, never a mix.
"""

from __future__ import annotations

import sys

from .._naming import safe_id
from ..adapters.plan import StepPlan
from ..dagster_pipes_step import dataset_of
from ..errors import FactoryDefinitionError
from ..partitions import partition_key
from ._compat import Failure, StaticPartitionsDefinition

__all__ = ["dagster_partition_keys", "dataset_of", "partition_value", "partitions_definition"]

# dagster._core.definitions.partitions.utils.base.INVALID_PARTITION_SUBSTRINGS, plus the
# characters MultiPartitionsDefinition reserves; copied because both live in private modules.
_INVALID = ("...", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0", "|", ",", "[", "]")


def _usable(key: str) -> bool:
    # Leading/trailing blanks survive Dagster but not a shell's `--partition` argument.
    return bool(key) and key == key.strip() and not any(bad in key for bad in _INVALID)


def _store_key(value: str) -> str:
    key = partition_key(value)
    if _usable(key):
        return key
    # The core keeps dots, so "a...b" is a safe path but not a Dagster key: each dot goes.
    return safe_id(key, allowed="A-Za-z0-9_-", max_length=sys.maxsize, sep="-", squeeze=False,
                   digest_of=value)


def dagster_partition_keys(step: StepPlan) -> dict[str, str]:
    """``{value: Dagster partition key}`` of a partitioned step, in partition order.

    >>> dagster_partition_keys(plan.step("sales"))
    {'raw/eu.csv': 'raw/eu.csv', 'raw/us.csv': 'raw/us.csv'}
    """
    if all(_usable(value) for value in step.partitions):
        return {value: value for value in step.partitions}
    keys = {value: _store_key(value) for value in step.partitions}
    if len(set(keys.values())) != len(keys):  # pragma: no cover - needs a sha256 prefix collision
        raise FactoryDefinitionError(f"flow {step.name!r}: partitions {step.partitions} give duplicate "
                                     "Dagster partition keys; rename the partitions")
    return keys


def partitions_definition(step: StepPlan) -> StaticPartitionsDefinition | None:
    """The step's partitions as a :class:`~dagster.StaticPartitionsDefinition` (None if unpartitioned)."""
    if not step.partitioned:
        return None
    return StaticPartitionsDefinition(list(dagster_partition_keys(step).values()))


def partition_value(step: StepPlan, key: str) -> str:
    """The partition value behind a Dagster partition key, from the plan as it is *now*.

    A file glob is listed again at run time: a key of a file that has gone since the
    definitions were loaded fails here, naming the flow and how to fix it.
    """
    for value, candidate in dagster_partition_keys(step).items():
        if candidate == key:
            return value
    raise Failure(
        description=f"flow {step.name!r} has no partition with Dagster key {key!r} now (its partitions: "
                    f"{list(step.partitions)}); reload the Dagster definitions to pick up the change",
        allow_retries=False,
    )
