"""The processor registry: the standard ``dataflows`` processors, ours, and plugins.

Plugins register through the entry point group ``dataflows_factory.processors``; each entry
point names a processor factory (a callable returning a dataflows step), and the first line
of its docstring is its description::

    [project.entry-points."dataflows_factory.processors"]
    geocode = "my_package.processors:geocode"
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from importlib.metadata import entry_points

__all__ = ["ENTRY_POINT_GROUP", "ProcessorInfo", "registry"]

ENTRY_POINT_GROUP = "dataflows_factory.processors"

# dataflows ships no docstrings on its processors; these are ours, one line each.
_STANDARD = {
    "add_computed_field": "Add fields computed from other fields of each row.",
    "add_field": "Add a field with a constant (or computed) default value.",
    "add_metadata": "Add or update properties of the data package descriptor.",
    "checkpoint": "Cache the stream on disk and resume from it on the next run.",
    "concatenate": "Concatenate several resources into one, mapping their fields.",
    "conditional": "Apply a sub-flow only when a predicate on the package holds.",
    "deduplicate": "Drop rows whose primary key was already seen.",
    "delete_fields": "Remove fields from resources.",
    "delete_resource": "Remove resources from the package.",
    "dump_to_path": "Write the package (descriptor and resource files) to a folder.",
    "dump_to_sql": "Write resources to SQL tables (rewrite, append or update).",
    "dump_to_zip": "Write the package to a zip file.",
    "duplicate": "Duplicate a resource under a new name.",
    "filter_rows": "Keep rows that match equals/not-equals conditions or a predicate.",
    "finalizer": "Call a function once the stream has been fully processed.",
    "find_replace": "Find and replace patterns in field values.",
    "join": "Join two resources on key fields, with aggregates and outer modes.",
    "join_with_self": "Group a resource by key fields and aggregate the other fields.",
    "load": "Load a source (CSV, Excel, JSON, SQL, data package, ...) with schema inference.",
    "parallelize": "Apply a row function in worker processes (order not kept).",
    "printer": "Print rows of the stream, for debugging.",
    "rename_fields": "Rename fields of resources.",
    "select_fields": "Keep only the listed fields of resources.",
    "set_primary_key": "Set the primary key of resources.",
    "set_type": "Set the type (and options) of fields; values are cast on dump.",
    "sort_rows": "Sort the rows of resources by a key template.",
    "sources": "Load several sources at once.",
    "stream": "Serialise the stream to a file-like object.",
    "unpivot": "Turn columns into rows.",
    "unstream": "Read a stream written by stream().",
    "update_package": "Update properties of the data package descriptor.",
    "update_resource": "Update properties (name, path, ...) of resources.",
    "update_schema": "Update properties of resource schemas.",
    "update_stats": "Add statistics to the run's stats.",
    "validate": "Cast and validate rows against the resource schema.",
}

# Steps this library adds on top of dataflows.
# Fast twins of dataflows processors (same arguments, same output); factories use them
# automatically, see processors/_adopt.py. Import them from dataflows_factory.processors.<module>.
_OURS: dict[str, str] = {
    "add_computed_field": "(.computed) add_computed_field with a row loop compiled for its fields.",
    "dump_to_path": "(.dump) dump_to_path with compiled re-validation and CSV writing; same files.",
    "join": "(.join) join with a dict index instead of KVFile; same modes, aggregates, output.",
    "join_with_self": "(.join) join_with_self with a dict index instead of KVFile.",
    "parallelize": "(.parallel) parallelize that keeps row order and raises on a failing row.",
    "sort_rows": "(.sort) sort_rows in memory, spilling sorted runs to disk past a memory budget.",
    "to_sql": "(.sql) write resources to SQL tables (rewrite/append/update), names checked.",
}


@dataclass(frozen=True)
class ProcessorInfo:
    name: str
    origin: str
    description: str


def registry() -> list[ProcessorInfo]:
    """Every processor a flow can use, sorted by origin then name."""
    import dataflows

    found = [
        ProcessorInfo(name, "dataflows", description)
        for name, description in _STANDARD.items()
        if hasattr(dataflows, name)
    ]
    found += [ProcessorInfo(name, "dataflows_factory", text) for name, text in _OURS.items()]
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = entry.load()
            doc = (inspect.getdoc(target) or "").strip().splitlines()
            description = doc[0] if doc else ""
        except Exception as error:  # a broken plugin must not break the listing
            description = f"(cannot load: {error})"
        origin = entry.dist.name if entry.dist is not None else "plugin"
        found.append(ProcessorInfo(entry.name, origin, description))
    return found
