"""Blocks: what a Prefect user configures in the UI: where datasets live, and which factory.

Register them with ``prefect block register -m dataflows_factory.prefect_blocks``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import Field

from ..adapters.step import StepResult
from ..factory import Factory, load_factory
from ..store import Store
from ._compat import Block, Flow, FlowRunContext, SecretDict

__all__ = ["DataflowsFactory", "FactoryStore"]

_DOCS = "https://pypi.org/project/dataflows-factory/"


class FactoryStore(Block):  # type: ignore[misc]
    """Where a factory's datasets live: a folder or an fsspec URL, with its credentials.

    Credentials (``key``/``secret`` for S3, ``token`` for GCS...) go in ``credentials``:
    Prefect stores them encrypted and never displays or prints them.

    >>> store = FactoryStore(url="s3://lake/world", storage_options={"endpoint_url": "http://minio:9000"},
    ...                      credentials={"key": "...", "secret": "..."})
    >>> store.get_store()                   # doctest: +SKIP
    Store('s3://lake/world')
    """

    _block_type_name = "Dataflows Factory Store"
    _block_type_slug = "dataflows-factory-store"
    _description = "Where dataflows-factory datasets live: a folder or an fsspec URL with credentials."
    _documentation_url = _DOCS  # type: ignore[assignment]  # pydantic validates it as HttpUrl
    _code_example = """
    ```python
    from dataflows_factory.prefect_blocks import FactoryStore

    factory_store = FactoryStore.load("BLOCK_NAME")
    store = factory_store.get_store()
    ```
    """

    url: str = Field(
        title="Store URL",
        description="A folder path or an fsspec URL such as s3://bucket/prefix; no credentials in it.",
    )
    storage_options: dict[str, Any] = Field(
        default_factory=dict,
        title="Storage options",
        description="Options for the fsspec filesystem that are not secret, such as endpoint_url.",
    )
    credentials: SecretDict = Field(
        default_factory=lambda: SecretDict({}),
        title="Credentials",
        description="Secret fsspec options (key, secret, token...), merged into the storage options.",
    )

    def get_store(self) -> Store:
        """The :class:`~dataflows_factory.Store` these settings describe."""
        secret: dict[str, Any] = self.credentials.get_secret_value() if self.credentials else {}
        return Store(self.url, **{**self.storage_options, **secret})


class DataflowsFactory(Block):  # type: ignore[misc]
    """A factory named by import reference, and the store it writes to; runs it as tasks.

    >>> block = DataflowsFactory(factory_ref="pipelines.world:factory", select="+key_metrics")
    >>> block.save("world")                 # doctest: +SKIP
    >>> DataflowsFactory.load("world").run()  # doctest: +SKIP
    """

    _block_type_name = "Dataflows Factory"
    _block_type_slug = "dataflows-factory"
    _description = "A dataflows-factory factory, by import reference, that runs as Prefect tasks."
    _documentation_url = _DOCS  # type: ignore[assignment]  # pydantic validates it as HttpUrl
    _code_example = """
    ```python
    from dataflows_factory.prefect_blocks import DataflowsFactory

    dataflows_factory = DataflowsFactory.load("BLOCK_NAME")
    results = dataflows_factory.run()   # inside a @flow: tasks of that flow
    ```
    """

    factory_ref: str = Field(
        title="Factory reference",
        description="Import reference of the factory: package.module:attr or /path/to/factory.py:attr.",
    )
    store: FactoryStore | None = Field(
        default=None,
        title="Store",
        description="Where datasets are written; the factory's own store when empty.",
    )
    select: str | None = Field(
        default=None,
        title="Selection",
        description="Flows to run, such as +key_metrics or tag:daily; all flows when empty.",
    )

    def get_factory(self) -> Factory:
        """Import the factory (its module must be importable where the flow runs)."""
        return load_factory(self.factory_ref)

    def get_store(self) -> Store:
        """The store to write to: the nested store block, or the factory's default."""
        return self.store.get_store() if self.store is not None else self.get_factory().store()

    def build_flow(self, **options: Any) -> Flow:  # type: ignore[type-arg]
        """The factory as a flow of its own (see :func:`~dataflows_factory.prefect_blocks.build_flow`)."""
        from .flows import build_flow

        # An empty field means every flow (an explicitly empty selection is an error).
        return build_flow(self.get_factory(), select=self.select or None, store=self.get_store(),
                          **options)

    def run(self, *, select: str | Iterable[str] | None = None, force: bool = False) -> dict[str, StepResult]:
        """Run the factory: as tasks of the current flow run, or as a flow run of its own."""
        from .flows import run_factory

        select = select if select is not None else (self.select or None)
        if FlowRunContext.get() is not None:
            return run_factory(self.get_factory(), select=select, store=self.get_store(), force=force)
        if select is not None and not isinstance(select, str):
            select = ",".join(select)
        built: Any = self.build_flow()
        results: dict[str, Any] = built(select=select, force=force)
        return {name: StepResult.from_dict(value) for name, value in results.items()}
