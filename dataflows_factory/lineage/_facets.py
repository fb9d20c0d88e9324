"""The OpenLineage client's classes (the ``lineage`` extra) and our two custom facets.

Importing this module imports ``openlineage``: only code that runs when lineage is enabled
(or an engine asking for facets) imports it. Without the extra it raises
:class:`~dataflows_factory.errors.MissingExtraError`.

Custom facets (their JSON schemas ship in ``dataflows_factory/lineage/facets/``):

- run facet ``dataflowsFactory``: the dff run id, attempt, partition, the step's status
  (``succeeded``, ``skipped`` when unchanged, ``failed``) and its fingerprint;
- dataset facet ``dataflowsFactory``: the dataset's content hash, the fingerprint of what
  produced it, and the rows per resource.
"""

from __future__ import annotations

from types import ModuleType, SimpleNamespace
from typing import Any, ClassVar

from .. import __version__
from ..errors import MissingExtraError

try:
    import attr
    from openlineage.client import event_v2, facet_v2
except ImportError as cause:  # pragma: no cover - the core tests install the extra
    raise MissingExtraError("lineage", "openlineage-python") from cause

__all__ = ["PRODUCER", "SCHEMA_BASE", "DffDatasetFacet", "DffRunFacet", "ol"]

PRODUCER = f"urn:dataflows-factory:{__version__}"
"""The ``producer`` of every event and facet we make."""

SCHEMA_BASE = "urn:dataflows-factory:facets:1-0-0:"
"""Prefix of our facets' ``_schemaURL``: the file name and ``$defs`` entry follow."""



def _classes() -> dict[str, Any]:
    # facet_v2 exports one module per facet (schema_dataset, parent_run, ...): their classes
    # by name, then the event classes and the base classes.
    found: dict[str, Any] = {}
    for name in facet_v2.__all__:
        value = getattr(facet_v2, name)
        if isinstance(value, ModuleType):
            found.update({key: item for key, item in vars(value).items()
                          if isinstance(item, type) and item.__module__ == value.__name__})
    found.update({name: getattr(event_v2, name) for name in event_v2.__all__})
    found.update({name: getattr(facet_v2, name) for name in facet_v2.__all__
                  if not isinstance(getattr(facet_v2, name), ModuleType)})
    return found


_CLASSES = SimpleNamespace(**_classes())


def ol() -> Any:
    """The client's event and facet classes by name: ``ol().RunEvent``, ``ol().SchemaDatasetFacet``."""
    return _CLASSES


@attr.define
class DffRunFacet(facet_v2.RunFacet):  # type: ignore[misc]
    """What dataflows-factory knows of a step run (run facet ``dataflowsFactory``)."""

    runId: str  # the spec's camelCase field names
    status: str
    attempt: int = attr.field(default=1)
    partition: str | None = attr.field(default=None)
    fingerprint: str | None = attr.field(default=None)
    _additional_skip_redact: ClassVar[list[str]] = ["runId", "status", "attempt", "fingerprint"]

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "DffRunFacet.json#/$defs/DffRunFacet"


@attr.define
class DffDatasetFacet(facet_v2.DatasetFacet):  # type: ignore[misc]
    """What dataflows-factory knows of a dataset (dataset facet ``dataflowsFactory``)."""

    contentHash: str | None = attr.field(default=None)
    fingerprint: str | None = attr.field(default=None)
    rows: dict[str, int] = attr.field(factory=dict)
    partition: str | None = attr.field(default=None)
    _additional_skip_redact: ClassVar[list[str]] = ["contentHash", "fingerprint", "rows"]

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "DffDatasetFacet.json#/$defs/DffDatasetFacet"
