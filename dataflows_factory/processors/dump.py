"""``dump_to_path`` without the per-value overhead, writing byte-identical CSV files.

dataflows' dumper casts every value again (``schema_validator``) and then formats it
through a dict comprehension and ``csv.DictWriter``. Here the re-validation keeps values
whose type is already the schema's (an ``int`` in an integer field) as they are, and CSV
rows are built with one pre-compiled serializer per field. Descriptors, counters, hashes
and non-CSV formats are dataflows' own code (this is a subclass).
"""

from __future__ import annotations

import csv
import itertools
import operator
from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import date
from typing import Any

from dataflows import ResourceWrapper, ValidationError
from dataflows.processors.dumpers.formats import CSVFormat
from dataflows.processors.dumpers.to_path import PathDumper
from tableschema.exceptions import CastError

from .. import _dataflows
from ._casting import fast_schema_validator, field_casters, kept, row_caster

__all__ = ["FastPathDumper", "dump_to_path"]


def _serialize(serializer: Callable[[Any], Any], missing: list[Any]) -> Callable[[Any], Any]:
    # CSVFormat's per-value transform: None -> "", a missing value as it is, else serializer.
    def serialize(value: Any) -> Any:
        if value is None:
            return ""
        if value in missing:
            return value
        return serializer(value)

    return serialize


_DATE_FORMAT = CSVFormat.SERIALIZERS["date"](date(2000, 1, 2)) == "2000-01-02"


class _CSVWriter:
    """Writes rows as ``CSVFormat`` does; rows it can't prove simple go to a real one.

    The text goes to ``parts`` (``take()`` joins it), so a file is written a block at a
    time. ``write_block(rows, start)`` is compiled per schema: it reads each row's values in
    header order and hands them to ``csv.writer`` as they are where ``CSVFormat`` would
    write ``str(value)`` (the C writer calls ``str()`` on them itself and writes ``None`` as
    an empty field), and through the field's serializer otherwise; a block with any row it
    can't vouch for is written row by row (``write_row(row, index)``) instead, exactly.

    With ``validate`` (the resource's name), writing also does the dumper's schema
    validation (``fast_schema_validator``, whose errors it raises with the row's index): a
    row whose values all have their field's cast type already (or are ``None``) is written
    as it is; any other row is cast in place first, exactly as the validator would.
    """

    def __init__(self, schema: Any, validate: str | None = None) -> None:
        self.headers = [f.name for f in schema.fields]
        self.parts: list[str] = []
        sink = _Sink(self.parts.append)
        writer = csv.writer(sink)  # DictWriter's dialect: excel, "\r\n"
        writer.writerow(self.headers)
        # The exact fallback: a real CSVFormat writing to the same place.
        self.slow = _dataflows.csv_format_into(sink, schema)
        missing = schema.descriptor.get("missingValues", [])
        strings_only = all(isinstance(m, str) for m in missing)
        namespace: dict[str, Any] = {"writerow": writer.writerow, "writerows": writer.writerows,
                                     "slow": self.slow.write_row, "date": date}
        values = []
        for i, f in enumerate(schema.fields):
            serializer = CSVFormat.SERIALIZERS.get(f.type, str)
            namespace[f"s{i}"] = _serialize(serializer, missing)
            if serializer is str and strings_only:
                # A missing value is a str, written as it is: str() of it is itself.
                values.append(f"v{i}")
            elif f.type == "date" and _DATE_FORMAT and strings_only:
                # strftime("%Y-%m-%d") is isoformat() for four-digit years.
                values.append(f"(v{i}.isoformat() if type(v{i}) is date and v{i}.year > 999 "
                              f"else s{i}(v{i}))")
            else:
                values.append(f"s{i}(v{i})")
        count = len(self.headers)
        names = ", ".join(f"v{i}" for i in range(count))
        keys = ", ".join(f"row[{h!r}]" for h in self.headers)
        out = f"({', '.join(values)},)"
        lines = [
            "def write_cast(row):",
            f"    if len(row) != {count}:",
            "        return slow(row)  # raises KeyError on extra keys, as CSVFormat does",
            "    try:",
            f"        {names}, = {keys},",
            "    except KeyError:",
            "        return slow(row)",
            f"    writerow({out})",
        ]
        checks, always_cast = "True", False
        if validate is None:
            lines += ["def write_row(row, index):", "    write_cast(row)"]
        else:
            tests = []
            for i, (_, _, fast) in enumerate(field_casters(schema)):
                if fast is None:
                    tests.append("False")  # a field with options or constraints: always cast
                    continue
                namespace[f"T{i}"] = fast.keep
                namespace[f"M{i}"] = fast.missing
                tests.append(f"(v{i} is None or {kept(fast, f'v{i}', i)})")
            checks = " and ".join(tests) or "True"
            always_cast = "False" in tests
            namespace.update(cast_row=row_caster(schema), CastError=CastError,
                             ValidationError=ValidationError, name=validate)
            # The row caster's own test on the values just read: when it holds for every
            # field, casting would change nothing, and the row is written as it is.
            lines += [
                "def write_row(row, index):",
                f"    if len(row) != {count}:",
                "        return cast_and_write(row, index)",
                "    try:",
                f"        {names}, = {keys},",
                "    except KeyError:",
                "        return cast_and_write(row, index)",
                f"    if not ({checks}):",
                "        return cast_and_write(row, index)",
                f"    writerow({out})",
                "def cast_and_write(row, index):",
                "    try:",
                "        cast_row(row)",
                "    except CastError as error:",
                "        raise ValidationError(name, row, index, error) from error",
                "    write_cast(row)",
            ]
        lines += ["def write_block(rows, start):"]
        if count and not always_cast:
            # One comprehension for the block; any row it can't vouch for (other keys, a
            # value to cast, a serializer that raises) stops it before anything is written,
            # and the block goes row by row, where each row is written or fails exactly.
            namespace.update(pick=operator.itemgetter(*self.headers), Other=_Other, other=_other)
            target = "v0" if count == 1 else f"({names},)"
            lines += [
                "    try:",
                f"        block = [{out} for row, {target} in zip(rows, map(pick, rows))",
                f"                 if len(row) == {count} and {checks} or other()]",
                "    except Exception:",
                "        pass",
                "    else:",
                "        return writerows(block)",
            ]
        lines += ["    for index, row in enumerate(rows, start):", "        write_row(row, index)"]
        source = "\n".join(lines) + "\n"
        exec(compile(source, "<dff compiled csv writer>", "exec"), namespace)
        self.write_row: Callable[[Any, int], None] = namespace["write_row"]
        self.write_block: Callable[[list[Any], int], None] = namespace["write_block"]

    def take(self) -> str:
        """The text written since the last ``take()``."""
        text = "".join(self.parts)
        self.parts.clear()
        return text


class _Sink:
    """A file-like object for the csv writers: ``write`` is ``list.append``, in C."""

    def __init__(self, write: Callable[[str], Any]) -> None:
        self.write = write


class _Other(Exception):
    """A row of a block is not one the compiled comprehension writes."""


def _other() -> bool:
    raise _Other


# Rows are written a block at a time: up to this many, and about this much text.
_BLOCK_ROWS = 1024
_BLOCK_TEXT = 1 << 20


def _written(rows: Iterable[Any], writer: _CSVWriter,
             out: _dataflows.ResourceFile) -> Generator[Any, None, int]:
    """``rows`` as they pass, written by ``writer`` into ``out`` a block at a time; returns
    (as the generator's value) how many there were."""
    out.write(writer.take())  # the header
    source = iter(rows)
    done, size = 0, 1
    while block := list(itertools.islice(source, size)):
        writer.write_block(block, done)
        text = writer.take()
        out.write(text)
        yield from block
        done += len(block)
        # Blocks of ~1 MB of text: rows of any size hold little memory between writes.
        size = max(1, min(_BLOCK_ROWS, _BLOCK_TEXT * len(block) // (len(text) or 1)))
    return done


class FastPathDumper(PathDumper):  # type: ignore[misc]
    """dataflows' ``PathDumper`` with compiled re-validation and a compiled CSV writer."""

    def process_resources(self, resources: Any) -> Iterator[Any]:
        if self.schema_validator_options:
            yield from super().process_resources(resources)
            return
        # DumperBase.process_resources with the compiled validator in place of dataflows';
        # a plain CSV resource is validated by its compiled writer, in the same pass.
        yield from _dataflows.dump_resources(self, resources, self._validated_rows)

    def _validated_rows(self, resource: ResourceWrapper) -> Any:
        if _dataflows.dumps_plain_csv(self, resource.res.name):
            return self._csv_rows(resource, validate=True, count=True)
        return _dataflows.counted_rows(self, resource, self.process_resource(
            ResourceWrapper(resource.res, fast_schema_validator(resource.res, resource))))

    def process_resource(self, resource: ResourceWrapper) -> Any:
        if not _dataflows.dumps_plain_csv(self, resource.res.name):
            return super().process_resource(resource)
        return self._csv_rows(resource, validate=False, count=False)

    def _csv_rows(self, resource: ResourceWrapper, validate: bool, count: bool) -> Iterator[Any]:
        """The rows of a plain CSV resource, written as they pass (and counted into the
        descriptors with ``count``, as ``DumperBase.row_counter`` does)."""
        name = resource.res.descriptor["name"] if validate else None
        writer = _CSVWriter(resource.res.schema, validate=name)
        out = _dataflows.ResourceFile(self)
        try:
            done = yield from _written(resource, writer, out)
            out.finish(self, resource)
        except BaseException:  # a failed flow, or a reader that stopped: no file left behind
            out.discard()
            raise
        if count:
            _dataflows.record_row_count(self, resource, done)


def dump_to_path(out_path: str = ".", **options: Any) -> FastPathDumper:
    """Write the package to a folder, as ``dataflows.dump_to_path`` does, faster for CSV.

    Same arguments and the same files (byte for byte) as ``dataflows.dump_to_path``::

        Flow(load("cities.csv"), dump_to_path("out"))
    """
    return FastPathDumper(out_path, **options)
