"""dataflows' dumpers inside: what a fast dumper reuses."""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import json
import locale
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from dataflows import ResourceWrapper
from dataflows.processors.dumpers.dumper_base import DumperBase
from dataflows.processors.dumpers.file_dumper import FileDumper, UmaskNamedTemporaryFile
from dataflows.processors.dumpers.formats import CSVFormat
from dataflows.processors.dumpers.to_path import PathDumper

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
    ``row_counter(resource, process_resource(ResourceWrapper(res, schema_validator(res, resource))))``:
    ``rows_of`` counts its rows (:func:`counted_rows` or :func:`record_row_count`)."""
    # The steps of DumperBase.process_resources in dataflows 0.5.12, in its order:
    # initialize(), row_counter() per resource, the package hash under the datapackage_hash
    # counter, handle_datapackage(), finalize().
    dumper.initialize()
    for resource in resources:
        yield rows_of(resource)
    if dumper.datapackage_hash:
        text = json.dumps(dumper.datapackage.descriptor, sort_keys=True, ensure_ascii=True,
                          indent=2 if dumper.pretty_descriptor else None)
        DumperBase.set_attr(dumper.datapackage.descriptor, dumper.datapackage_hash,
                            hashlib.md5(text.encode("ascii")).hexdigest())
    dumper.handle_datapackage()
    dumper.finalize()


def counted_rows(dumper: Any, resource: ResourceWrapper, rows: Iterator[Any]) -> Iterator[Any]:
    """``rows``, counted into the descriptors at their end (``DumperBase.row_counter``)."""
    rows_counted: Iterator[Any] = dumper.row_counter(resource, rows)
    return rows_counted


def record_row_count(dumper: Any, resource: ResourceWrapper, count: int) -> None:
    """What ``DumperBase.row_counter`` does after the last of ``count`` rows."""
    DumperBase.inc_attr(dumper.datapackage.descriptor, dumper.datapackage_rowcount, count)
    DumperBase.inc_attr(resource.res.descriptor, dumper.resource_rowcount, count)
    resource.res.commit()
    dumper.datapackage.commit()


# What open() encodes text with when no encoding is given (FileDumper's CSV files): UTF-8 in
# Python's UTF-8 mode, else the locale's.
_DEFAULT_ENCODING = codecs.lookup("utf-8" if sys.flags.utf8_mode else locale.getpreferredencoding(False)).name


class ResourceFile:
    """A CSV resource file being written a block of text at a time, as ``FileDumper`` writes
    it: the same bytes, size, MD5 ``hash`` and place (``finish``).

    Where the dumper is a plain ``PathDumper`` and text is UTF-8 (what ``open()`` writes
    here), the file is created beside the output, hashed as it is written and renamed into
    place: ``FileDumper`` reads it back in 1 KB pieces to hash it and copies it from the
    temporary folder. Anywhere else, it is ``FileDumper``'s own temporary file and ending.
    """

    def __init__(self, dumper: Any) -> None:
        self._direct = (type(dumper).write_file_to_output is PathDumper.write_file_to_output
                        and _DEFAULT_ENCODING == "utf-8")
        if self._direct:
            # The temporary file's umask-respecting mode is the one shutil.copy would carry.
            self._temp = UmaskNamedTemporaryFile(mode="wb", delete=False, dir=dumper.out_path,
                                                 prefix=".dff-", suffix=".tmp")
            self._md5 = hashlib.md5()
            self.size = 0
        else:
            self._temp = UmaskNamedTemporaryFile(mode=CSVFormat.FILE_MODE, delete=False, newline="")
        self.name: str = self._temp.name
        self._file = self._temp.file  # the wrapper forwards each write() through a Python call

    def write(self, text: str) -> None:
        if self._direct:
            data = text.encode("utf-8")  # what FileDumper's hash_handler hashes, too
            self._md5.update(data)
            self.size += len(data)
            self._file.write(data)
        else:
            self._file.write(text)

    def finish(self, dumper: Any, resource: ResourceWrapper) -> None:
        """``FileDumper.rows_processor`` after the last row: bytes, hash, file in place."""
        if not self._direct:
            self.size = self._file.tell()
        resource_descriptor = resource.res.descriptor
        for descriptor in dumper.datapackage.descriptor["resources"]:
            if descriptor["name"] == resource.res.descriptor["name"]:
                resource_descriptor = descriptor
        DumperBase.inc_attr(dumper.datapackage.descriptor, dumper.datapackage_bytes, self.size)
        DumperBase.inc_attr(resource_descriptor, dumper.resource_bytes, self.size)
        if dumper.resource_hash:
            digest = (self._md5 if self._direct else FileDumper.hash_handler(self._file)).hexdigest()
            if dumper.add_filehash_to_path:
                DumperBase.insert_hash_in_path(resource_descriptor, digest)
            DumperBase.set_attr(resource_descriptor, dumper.resource_hash, digest)
        self._file.close()
        if self._direct:
            self._move(os.path.join(dumper.out_path, resource.res.source), dumper.add_filehash_to_path)
        else:
            dumper.write_file_to_output(self.name, resource.res.source)
            os.unlink(self.name)

    def _move(self, path: str, keep_existing: bool) -> None:
        # PathDumper.write_file_to_output, renaming instead of copying.
        if keep_existing and os.path.exists(path):
            os.unlink(self.name)
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            os.replace(self.name, path)
        except OSError:  # another filesystem below the output folder
            shutil.copy(self.name, path)
            os.unlink(self.name)

    def discard(self) -> None:
        """Close and remove the file (the flow failed or stopped reading)."""
        self._file.close()
        with contextlib.suppress(OSError):
            os.unlink(self.name)


def csv_format_into(file: Any, schema: Any) -> Any:
    """A ``CSVFormat`` for ``schema`` whose rows go to ``file`` (with no header written)."""
    # FileFormat writes the header when it is built and rows through its `writer` attribute
    # (CSVFormat: a csv.DictWriter): build it on a scratch buffer, then point it at `file`.
    formatter = CSVFormat(io.StringIO(), schema)
    formatter.writer = csv.DictWriter(file, [f.name for f in schema.fields])
    return formatter

