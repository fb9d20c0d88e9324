"""The one place that touches private parts of dataflows, tabulator, tableschema and datapackage.

Everything here relies on how these libraries work inside (name-mangled attributes, the
shape of the closures dataflows' processor factories return, ``Flow._chain()``, generator
frames, patched methods); each use says what it relies on. The rest of the package asks
these functions and never looks inside the libraries itself (``tests/test_dataflows_internals.py``
checks that).

The ranges in :data:`SUPPORTED` are the versions these uses were verified with (run
``tests/processors`` and ``tests/test_dataflows_internals.py`` on a new version before widening
them). Outside them :func:`supported` says no, once per process with a warning: the fast
paths stay off, plain dataflows runs and the datasets are the same, only slower::

    if supported():
        step = faster_twin(step)

:mod:`._versions` holds the versions; the rest is by what it touches: :mod:`._running` (the
chain, its processors and the frames of their errors), :mod:`._loads` (``load``, tabulator
streams, datapackage readers), :mod:`._closures` (the closures processor factories return),
:mod:`._dumpers`, :mod:`._profiles` (datapackage's profile schema checks, once per
process) and :mod:`._infer` (tableschema's type guesser: the same guesses, faster). Callers
import everything from here.
"""

from __future__ import annotations

from ._closures import closure_kind, closure_options, is_plain_schema_cast, widen_strptime_cache
from ._dumpers import (
    ResourceFile,
    counted_rows,
    csv_format_into,
    dump_resources,
    dumps_plain_csv,
    record_row_count,
)
from ._infer import FastTypeGuesser, PlainTypeGuesser, guess_types_faster
from ._loads import (
    after_process_datapackage,
    csv_dialect,
    file_source,
    guard_load_setup,
    loaded_field_names,
    pending_keyed_stream,
    preserves_missing_values,
    read_package_rows_with,
    reads_rows_as_parsed,
    sample_rows,
    table_stream,
)
from ._running import (
    Frame,
    calls_row_functions,
    cap_new_resources,
    error_frames,
    feed_input_rows,
    is_function_step,
    is_source,
    library_source_file,
    pass_rows_through,
    processor_error,
    processor_name,
    processors_of,
    step_function,
    stream,
    watch_output,
)
from ._versions import SUPPORTED, UnsupportedVersionWarning, installed_version, supported

__all__ = ["SUPPORTED", "FastTypeGuesser", "Frame", "PlainTypeGuesser", "ResourceFile",
           "UnsupportedVersionWarning", "after_process_datapackage",
           "calls_row_functions", "cap_new_resources", "closure_kind", "closure_options", "counted_rows",
           "csv_dialect", "csv_format_into", "dump_resources", "dumps_plain_csv", "error_frames",
           "feed_input_rows", "file_source", "guard_load_setup", "guess_types_faster",
           "installed_version", "is_function_step",
           "is_plain_schema_cast", "is_source", "library_source_file", "loaded_field_names",
           "pass_rows_through", "pending_keyed_stream", "preserves_missing_values", "processor_error",
           "processor_name", "processors_of", "read_package_rows_with", "reads_rows_as_parsed",
           "record_row_count", "sample_rows", "step_function", "stream", "supported", "table_stream",
           "watch_output", "widen_strptime_cache"]
