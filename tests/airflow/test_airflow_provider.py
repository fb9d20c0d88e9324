"""The package is a real Airflow provider: valid provider info, listed by the airflow CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.resources import files

import jsonschema
from airflow_support import airflow_cli

import dataflows_factory
import dataflows_factory.airflow_provider as provider


def test_provider_info_matches_airflows_schema() -> None:
    """get_provider_info() validates against the schema Airflow checks at discovery."""
    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    info = provider.get_provider_info()
    jsonschema.validate(info, schema)
    assert info["package-name"] == "dataflows-factory"
    assert info["versions"] == [dataflows_factory.__version__]


def test_airflow_providers_list_shows_the_provider() -> None:
    """`airflow providers list`, run as a subprocess, lists dataflows-factory and its version."""
    out = airflow_cli("providers", "list", "--output", "json").stdout
    listed = {p["package_name"]: p for p in json.loads(out[out.index("[") :])}
    assert listed["dataflows-factory"]["version"] == dataflows_factory.__version__


def test_public_surface() -> None:
    """The provider exports exactly these names (a change here is an API change)."""
    assert provider.__all__ == sorted(provider.__all__) == [
        "DataflowsExternalFlowOperator", "DataflowsFlowOperator", "DataflowsGroupOperator",
        "DataflowsTranslator", "TaskSpec", "asset_uri", "build_dag",
        "build_task_group", "get_provider_info", "task_id_for",
    ]
    for name in provider.__all__:
        assert getattr(provider, name) is not None


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_entry_point_module_does_not_import_airflow() -> None:
    """Airflow imports the entry point while importing itself, so the package must not import it."""
    done = _python("import sys, dataflows_factory.airflow_provider as p; p.get_provider_info(); "
                   "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_missing_extra_is_one_clear_error() -> None:
    """Without Airflow, importing the provider raises MissingExtraError naming the extra."""
    done = _python("import sys; sys.modules['airflow'] = None\n"
                   "try:\n    import dataflows_factory.airflow_provider\n"
                   "except ImportError as error:\n    print(type(error).__name__, error)")
    assert done.stdout.startswith("MissingExtraError"), done.stderr
    assert 'pip install "dataflows-factory[airflow]"' in done.stdout
