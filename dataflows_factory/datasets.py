"""Reading and checking stored datasets (for ``dff inspect``, ``dff validate`` and adapters)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

from .store import Store

__all__ = ["iter_rows", "validate_dataset"]


def iter_rows(descriptor_path: str, resource: str) -> Iterator[dict[str, Any]]:
    """Typed rows of one resource of a local data package; a bad row raises a
    :class:`~dataflows_factory.errors.DataError` naming the file, the data row and the field."""
    from datapackage import Package

    from .errors import shown_path
    from .processors.dataset_reader import row_errors

    package = Package(descriptor_path)
    found = package.get_resource(resource)
    if found is None:
        raise KeyError(f"{descriptor_path}: no resource {resource!r}")
    # The same reading as a flow's upstream dataset, so the same error; a store keeps each
    # dataset in a folder named after its flow.
    folder = os.path.basename(os.path.dirname(os.path.abspath(descriptor_path)))
    label = (f"dataset {folder!r}" if os.path.basename(descriptor_path) == "datapackage.json"
             else f"datapackage {shown_path(descriptor_path)!r}")
    yield from found.iter(keyed=True, cast=True, exc_handler=row_errors(found, label))


def validate_dataset(store: Store, factory: str, flow: str, max_problems: int = 20) -> tuple[list[str], int]:
    """Check a stored dataset: files present with their sizes and hashes, every value cast
    to its schema type, row counts as recorded. Returns (problems, rows read)."""
    from datapackage import Package
    from tableschema.exceptions import CastError

    problems: list[str] = []
    total = 0
    descriptor = store.read_descriptor(factory, flow)
    if descriptor is None:
        return [f"no dataset at {store.dataset_url(factory, flow)}"], 0
    with store.local_copy(factory, flow) as path:
        base = os.path.dirname(path)
        package = Package(path)
        for resource in package.resources:
            meta = resource.descriptor
            file_path = os.path.join(base, str(meta.get("path")))
            if not os.path.isfile(file_path):
                problems.append(f"{resource.name}: file {meta.get('path')} is missing")
                continue
            digest = hashlib.md5(usedforsecurity=False)
            with open(file_path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            if meta.get("hash") and digest.hexdigest() != meta["hash"]:
                problems.append(f"{resource.name}: file content differs from the recorded hash")
            count = 0
            iterator = resource.iter(keyed=True, cast=False)
            schema = resource.schema
            for count, row in enumerate(iterator, start=1):
                for field in schema.fields:
                    try:
                        field.cast_value(row.get(field.name))
                    except CastError as error:
                        if len(problems) < max_problems:
                            problems.append(f"{resource.name}: row {count}, field {field.name!r}: {error}")
            total += count
            recorded = meta.get("count_of_rows")
            if recorded is not None and recorded != count:
                problems.append(f"{resource.name}: {count} rows, the descriptor records {recorded}")
    return problems, total
