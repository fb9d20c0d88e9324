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
from collections.abc import Callable, Iterator
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

    ``write_row`` is compiled per schema: it reads the row's values in header order and
    hands them to ``csv.writer`` as they are where ``CSVFormat`` would write ``str(value)``
    (the C writer calls ``str()`` on them itself and writes ``None`` as an empty field),
    and through the field's serializer otherwise.

    With ``validate`` (the resource's name), ``write_row`` also does the dumper's schema
    validation (``fast_schema_validator``, whose errors it raises with the row's index): a
    row whose values all have their field's cast type already (or are ``None``) is written
    as it is; any other row is cast in place first, exactly as the validator would.
    """

    def __init__(self, file: Any, schema: Any, validate: str | None = None) -> None:
        self.headers = [f.name for f in schema.fields]
        writer = csv.writer(file)  # DictWriter's dialect: excel, "\r\n"
        writer.writerow(self.headers)
        # The exact fallback: a real CSVFormat writing to the same file.
        self.slow = _dataflows.csv_format_into(file, schema)
        missing = schema.descriptor.get("missingValues", [])
        strings_only = all(isinstance(m, str) for m in missing)
        namespace: dict[str, Any] = {"writerow": writer.writerow, "slow": self.slow.write_row,
                                     "date": date}
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
        names = ", ".join(f"v{i}" for i in range(len(self.headers)))
        keys = ", ".join(f"row[{h!r}]" for h in self.headers)
        write = f"    writerow(({', '.join(values)},))"
        lines = [
            "def write_cast(row):",
            f"    if len(row) != {len(self.headers)}:",
            "        return slow(row)  # raises KeyError on extra keys, as CSVFormat does",
            "    try:",
            f"        {names}, = {keys},",
            "    except KeyError:",
            "        return slow(row)",
            write,
        ]
        entry = "write_cast"
        if validate is not None:
            entry = "write_row"
            checks = []
            for i, (_, _, fast) in enumerate(field_casters(schema)):
                if fast is None:
                    checks.append("False")  # a field with options or constraints: always cast
                    continue
                namespace[f"T{i}"] = fast.keep
                namespace[f"M{i}"] = fast.missing
                checks.append(f"(v{i} is None or {kept(fast, f'v{i}', i)})")
            namespace.update(cast_row=row_caster(schema), count=itertools.count(),
                             CastError=CastError, ValidationError=ValidationError, name=validate)
            # The row caster's own test on the values just read: when it holds for every
            # field, casting would change nothing, and the row is written as it is.
            lines += [
                "def write_row(row):",
                "    index = next(count)",
                f"    if len(row) != {len(self.headers)}:",
                "        return cast_and_write(row, index)",
                "    try:",
                f"        {names}, = {keys},",
                "    except KeyError:",
                "        return cast_and_write(row, index)",
                f"    if not ({' and '.join(checks)}):",
                "        return cast_and_write(row, index)",
                write,
                "def cast_and_write(row, index):",
                "    try:",
                "        cast_row(row)",
                "    except CastError as error:",
                "        raise ValidationError(name, row, index, error) from error",
                "    write_cast(row)",
            ]
        source = "\n".join(lines) + "\n"
        exec(compile(source, "<dff compiled csv writer>", "exec"), namespace)
        self.write_row: Callable[[dict[str, Any]], None] = namespace[entry]

    def finalize_file(self) -> None:
        pass


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
            return self._csv_rows(resource)
        return self.process_resource(
            ResourceWrapper(resource.res, fast_schema_validator(resource.res, resource)))

    def process_resource(self, resource: ResourceWrapper) -> Any:
        if not _dataflows.dumps_plain_csv(self, resource.res.name):
            return super().process_resource(resource)
        return self._csv_rows(resource, validate=False)

    def _csv_rows(self, resource: ResourceWrapper, validate: bool = True) -> Any:
        schema, name = resource.res.schema, resource.res.descriptor["name"]
        return _dataflows.write_resource_file(
            self, resource, lambda file: _CSVWriter(file, schema, validate=name if validate else None))


def dump_to_path(out_path: str = ".", **options: Any) -> FastPathDumper:
    """Write the package to a folder, as ``dataflows.dump_to_path`` does, faster for CSV.

    Same arguments and the same files (byte for byte) as ``dataflows.dump_to_path``::

        Flow(load("cities.csv"), dump_to_path("out"))
    """
    return FastPathDumper(out_path, **options)
