"""Prefect 3 adapter: a factory as a flow of tasks, blocks, caching on fingerprints, artifacts.

>>> from dataflows_factory.prefect_blocks import build_flow
>>> world_flow = build_flow("examples/world/factory.py:factory")
>>> world_flow()                            # doctest: +SKIP

Importing this package without Prefect raises
:class:`~dataflows_factory.errors.MissingExtraError`
(``pip install "dataflows-factory[prefect]"``).
"""

from ._compat import PREFECT_VERSION
from ._keys import artifact_key, cache_key
from .blocks import DataflowsFactory, FactoryStore
from .flows import FactoryRunError, build_flow, run_factory
from .tasks import PrefectTranslator, publish_artifacts, run_flow_task

__all__ = [
    "PREFECT_VERSION",
    "DataflowsFactory",
    "FactoryRunError",
    "FactoryStore",
    "PrefectTranslator",
    "artifact_key",
    "build_flow",
    "cache_key",
    "publish_artifacts",
    "run_factory",
    "run_flow_task",
]
