"""datapackage's profiles: check each profile's JSON Schema once per process, not per object."""

from __future__ import annotations

import functools
import json
from typing import Any


@functools.cache
def check_profiles_once() -> None:
    """From now on, ``datapackage.Profile`` checks a schema against its meta-schema once.

    Every ``Package`` and ``Resource`` that datapackage builds (dataflows builds a dozen for
    even a 5-row flow: each processor's package, the dumper's) makes a ``Profile`` whose
    ``__init__`` validates the bundled profile schema against the JSON Schema meta-schema
    (``Profile._check_schema``): about 50 ms each, most of a small flow's time. A schema that
    passed once passes again, so a passed schema is remembered (by its registry name, or by
    its content for a custom one); a schema that fails is checked, and fails, every time.
    Descriptors are still validated against the profile as before.
    """
    from datapackage.profile import Profile

    original = Profile._check_schema
    passed: set[str] = set()

    def _check_schema(self: Any) -> None:
        # `_name` is what Profile() was given: a registry id ("data-package"; the registry's
        # schemas are files shipped with datapackage), a URL or a dict (keyed by content).
        name = self._name
        key = (f"registry:{name}" if isinstance(name, str) and name in self._registry.available_profiles
               else "schema:" + json.dumps(self._schema, sort_keys=True, default=str))
        if key in passed:
            return
        original(self)
        passed.add(key)

    Profile._check_schema = _check_schema
