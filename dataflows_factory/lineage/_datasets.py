"""A step's input and output datasets as OpenLineage datasets: pure functions, no emission.

Names follow the OpenLineage dataset naming spec: a local path is namespace ``file`` and
name the absolute path; an object store is namespace ``scheme://bucket`` and name the key
(``s3://bucket`` + ``world/cities``); any other URL is namespace ``scheme://host[:port]``
and name its path. User names, passwords and query strings never enter a name.

The Airflow operator's ``get_openlineage_facets_on_start/complete`` call
:func:`step_inputs` and :func:`step_outputs`; the step executor calls them too.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from dataflows import Flow, load

from .._secrets import redact, redact_value
from ..adapters._inputs import iter_steps
from ..adapters.results import StepResult
from ..factory import Factory, load_factory
from ..flow import DatasetStep
from ..partitions import part_dataset
from ..store import Store
from ._facets import PRODUCER, DffDatasetFacet, ol

__all__ = ["dataset_id", "load_sources", "step_inputs", "step_outputs"]

log = logging.getLogger("dataflows_factory.lineage")

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
# fsspec protocols whose first path part is a bucket or container: namespace scheme://bucket.
_OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "wasb", "wasbs",
                            "oss", "r2"})
_SQL = re.compile(r"^(postgres(?:ql)?|mysql|sqlite|mssql|oracle)(?:\+\w+)?$")


def dataset_id(url: str, table: str | None = None) -> tuple[str, str]:
    """``(namespace, name)`` of a dataset at ``url`` (a path or URL), without credentials.

    >>> dataset_id("/data/world/cities")
    ('file', '/data/world/cities')
    >>> dataset_id("s3://KEY:SECRET@bucket/world/cities")
    ('s3://bucket', 'world/cities')
    >>> dataset_id("postgresql://etl:pw@db:5432/shop", table="orders")
    ('postgres://db:5432', 'shop.orders')
    """
    if not _URL.match(url) or url.startswith("file://"):
        path = url[len("file://"):] if url.startswith("file://") else url
        return "file", os.path.abspath(path)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    authority = f"{host}:{parts.port}" if parts.port else host
    path = parts.path
    sql = _SQL.match(scheme)
    if sql:
        kind = "postgres" if sql.group(1).startswith("postgres") else sql.group(1)
        database = path.strip("/")
        name = ".".join(p for p in (database, table) if p) or database or authority
        return redact(f"{kind}://{authority}"), redact(name)
    if scheme in _OBJECT_STORES:
        return redact(f"{scheme}://{host}"), redact(path.lstrip("/") or "/")
    return redact(f"{scheme}://{authority}"), redact(path or "/")


def load_sources(flow: Flow) -> list[tuple[str, str | None]]:
    """The files and URLs the flow's ``load`` steps read (not upstream datasets), with the
    SQL table where the source is a database: ``[(source, table), ...]``, in flow order."""
    found: list[tuple[str, str | None]] = []
    for step in iter_steps(flow.chain):
        if not isinstance(step, load) or isinstance(step, DatasetStep):
            continue
        source = step.load_source
        if not isinstance(source, str) or source.startswith("env://"):
            continue  # an in-memory source, or a URL held by a variable: nothing to name
        options = getattr(step, "options", None) or {}
        table = options.get("table") if isinstance(options, Mapping) else None
        entry = (source, str(table) if table else None)
        if entry not in found:
            found.append(entry)
    return found


def step_inputs(
    factory: Factory | str, flow: str, *, store: str | os.PathLike[str] | Store | None = None,
    partition: str | None = None, sources: Sequence[tuple[str, str | None]] | None = None,
) -> list[Any]:
    """The input datasets of one step: the upstream flows' datasets (data dependencies, not
    order-only ones), then the files and URLs its flow loads.

    A partitioned flow's merge (``partition=None``) reads its parts. ``sources`` are the
    loads (:func:`load_sources` of the built flow); without them, the flow function is
    called to build the flow, which reads no rows.
    """
    loaded = load_factory(factory)
    spec = loaded.flows[flow]
    target = loaded.store(store)
    urls = [target.dataset_url(loaded.name, name) for name in spec.inputs]
    if spec.partitions is not None and partition is None:
        keys = spec.partitions.resolve(loaded.root)
        urls = [target.dataset_url(loaded.name, part_dataset(flow, key)) for key in keys]
        sources = []
    elif sources is None:
        sources = _sources_of(loaded, flow, target, partition)
    datasets = [dataset_id(url) for url in urls]
    datasets += [dataset_id(_absolute(source, str(loaded.root)), table) for source, table in sources]
    unique = list(dict.fromkeys(datasets))
    return [ol().InputDataset(namespace=namespace, name=name) for namespace, name in unique]


def step_outputs(
    factory: Factory | str, flow: str, *, store: str | os.PathLike[str] | Store | None = None,
    partition: str | None = None, result: StepResult | Mapping[str, Any] | None = None,
) -> list[Any]:
    """The output dataset of one step (the flow's, or its part's), with, once ``result``
    (the :class:`StepResult`, or its dict) is known: schema, output statistics (rows, bytes),
    version (the content hash) and the ``dataflowsFactory`` facet (hash and fingerprint)."""
    loaded = load_factory(factory)
    target = loaded.store(store)
    dataset = flow if partition is None else part_dataset(flow, partition)
    namespace, name = dataset_id(target.dataset_url(loaded.name, dataset))
    if result is None:
        return [ol().OutputDataset(namespace=namespace, name=name)]
    data = result.to_dict() if isinstance(result, StepResult) else redact_value(dict(result))
    classes = ol()
    facets: dict[str, Any] = {
        "schema": _schema_facet(data.get("schema") or {}),
        "dataSource": classes.DatasourceDatasetFacet(name=namespace, uri=_source_uri(namespace)),
        "dataflowsFactory": DffDatasetFacet(
            contentHash=data.get("content_hash") or None, fingerprint=data.get("fingerprint") or None,
            rows={str(k): int(v) for k, v in (data.get("rows") or {}).items()},
            partition=data.get("partition"), producer=PRODUCER),
    }
    if data.get("content_hash"):
        facets["version"] = classes.DatasetVersionDatasetFacet(datasetVersion=data["content_hash"])
    rows = sum(int(v) for v in (data.get("rows") or {}).values())
    statistics = classes.OutputStatisticsOutputDatasetFacet(
        rowCount=rows, size=int(data.get("bytes") or 0), fileCount=len(data.get("rows") or {}))
    return [classes.OutputDataset(namespace=namespace, name=name, facets=facets,
                                  outputFacets={"outputStatistics": statistics})]


def _schema_facet(schemas: Mapping[str, Any]) -> Any:
    """One resource: its fields. Several: a field per resource (type ``resource``) with the
    resource's fields nested, the way the schema facet describes structs."""
    classes = ol()

    def fields(schema: Mapping[str, Any]) -> list[Any]:
        return [classes.SchemaDatasetFacetFields(
                    name=str(field.get("name")), type=str(field.get("type") or "any"),
                    description=field.get("description") or None, ordinal_position=position)
                for position, field in enumerate(schema.get("fields") or [], start=1)]

    if len(schemas) == 1:
        return classes.SchemaDatasetFacet(fields=fields(next(iter(schemas.values()))))
    return classes.SchemaDatasetFacet(fields=[
        classes.SchemaDatasetFacetFields(name=str(resource), type="resource", fields=fields(schema),
                                         ordinal_position=position)
        for position, (resource, schema) in enumerate(schemas.items(), start=1)])


def _source_uri(namespace: str) -> str:
    return "file:///" if namespace == "file" else namespace


def _absolute(source: str, root: str) -> str:
    # The step resolves relative loads against the factory's folder; so do names.
    if _URL.match(source) or os.path.isabs(source):
        return source
    candidate = os.path.join(root, source)
    return candidate if os.path.exists(candidate) or not os.path.exists(source) else source


def _sources_of(factory: Factory, flow: str, store: Store, partition: str | None,
                ) -> list[tuple[str, str | None]]:
    spec = factory.flows[flow]
    datasets = {name: DatasetStep(name, store.descriptor_url(factory.name, name))
                for name in spec.inputs}
    try:
        built = spec.build(datasets, partition=partition)
    except Exception as error:
        # The step reports its own build failure; its inputs are then its upstream only.
        log.debug("flow %r could not be built to list its sources: %s", flow, redact(str(error)))
        return []
    return load_sources(built)
