"""datapackage's profile schemas are checked against the meta-schema once per process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from dataflows import Flow
from datapackage import Package
from datapackage.exceptions import ValidationError
from datapackage.profile import Profile

from dataflows_factory._dataflows import stream
from dataflows_factory._dataflows._profiles import check_profiles_once


@pytest.fixture()
def meta_checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The schemas (by title) datapackage checks against the meta-schema, in order."""
    checked: list[str] = []
    original = jsonschema.Draft4Validator.check_schema

    def check_schema(schema: Any) -> None:
        checked.append(str(schema.get("title", schema)))
        original(schema)

    monkeypatch.setattr(jsonschema.Draft4Validator, "check_schema", staticmethod(check_schema))
    yield checked


def test_a_registry_profile_is_checked_once_however_many_packages_use_it(meta_checks: list[str]) -> None:
    """After the first Package, more Packages and a flow check no profile schema again."""
    check_profiles_once()
    Package({"name": "first", "resources": []})
    stream(Flow([{"id": 1}, {"id": 2}]))
    Package({"name": "second", "resources": []})
    assert meta_checks.count("Data Package") <= 1
    assert len(meta_checks) == len(set(meta_checks))


def test_a_broken_profile_schema_still_fails_every_time() -> None:
    """A custom profile whose schema is not valid JSON Schema raises on each construction."""
    check_profiles_once()
    broken = {"type": 5}
    for _ in range(2):
        with pytest.raises(ValidationError, match="Profile is invalid"):
            Profile(broken)


def test_descriptors_are_still_validated_against_a_checked_profile() -> None:
    """Skipping the repeated schema check keeps validating descriptors against the profile."""
    check_profiles_once()
    Package({"name": "ok", "resources": []})
    with pytest.raises(ValidationError):
        Package({"name": "bad name with spaces", "resources": []}, strict=True)
