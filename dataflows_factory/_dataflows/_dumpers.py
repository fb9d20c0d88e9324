"""dataflows' dumpers inside: what a fast dumper reuses."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from dataflows import ResourceWrapper
from dataflows.processors.dumpers.dumper_base import DumperBase
from dataflows.processors.dumpers.file_dumper import UmaskNamedTemporaryFile
from dataflows.processors.dumpers.formats import CSVFormat

# ---------------------------------------------------------------- dumpers

def dumps_plain_csv(dumper: Any, resource_name: str) -> bool:
    """Whether a ``dump_to_path`` writes ``resource_name`` as plain CSV with default options."""
    # FileDumper keeps its options in these attributes (set in __init__) and the formatter
    # class chosen per resource in file_formatters (set in process_datapackage).
    return (dumper.forced_format == "csv" and bool(dumper.force_format) and not dumper.use_titles
            and not dumper.temporal_format_property and not dumper.writer_options
            and not dumper.custom_formatters
            and dumper.file_formatters.get(resource_name) is CSVFormat)


def dump_resources(dumper: Any, resources: Iterable[ResourceWrapper],
                   rows_of: Callable[[ResourceWrapper], Iterator[Any]]) -> Iterator[Any]:
    """``DumperBase.process_resources`` with ``rows_of(resource)`` in place of its
    ``process_resource(ResourceWrapper(res, schema_validator(res, resource)))``."""
    # The steps of DumperBase.process_resources in dataflows 0.5.12, in its order:
    # initialize(), row_counter() per resource, the package hash under the datapackage_hash
    # counter, handle_datapackage(), finalize().
    dumper.initialize()
    for resource in resources:
        yield dumper.row_counter(resource, rows_of(resource))
    if dumper.datapackage_hash:
        text = json.dumps(dumper.datapackage.descriptor, sort_keys=True, ensure_ascii=True,
                          indent=2 if dumper.pretty_descriptor else None)
        DumperBase.set_attr(dumper.datapackage.descriptor, dumper.datapackage_hash,
                            hashlib.md5(text.encode("ascii")).hexdigest())
    dumper.handle_datapackage()
    dumper.finalize()


def write_resource_file(dumper: Any, resource: ResourceWrapper,
                        writer_for: Callable[[Any], Any]) -> Iterator[Any]:
    """The rows of ``resource``, written as they pass by ``writer_for(file)`` (an object with
    ``write_row(row)`` and ``finalize_file()``) into the dumper's next resource file."""
    # FileDumper.process_resource's temporary file (umask-respecting, CSVFormat's mode) and
    # its rows_processor, which counts bytes, hashes the file and moves it into place.
    temp_file = UmaskNamedTemporaryFile(mode=CSVFormat.FILE_MODE, delete=False, newline="")
    # The wrapper's file: tempfile's wrapper forwards every write() through a Python call.
    rows: Iterator[Any] = dumper.rows_processor(resource, writer_for(temp_file.file), temp_file)
    return rows


def csv_format_into(file: Any, schema: Any) -> Any:
    """A ``CSVFormat`` for ``schema`` whose rows go to ``file`` (with no header written)."""
    # FileFormat writes the header when it is built and rows through its `writer` attribute
    # (CSVFormat: a csv.DictWriter): build it on a scratch buffer, then point it at `file`.
    formatter = CSVFormat(io.StringIO(), schema)
    formatter.writer = csv.DictWriter(file, [f.name for f in schema.fields])
    return formatter

