"""The package's surface, and the optional-extra rule: Dagster stays out of the core."""

from __future__ import annotations

import subprocess
import sys

import dataflows_factory.dagster_assets as dagster_assets


def test_public_surface_is_locked() -> None:
    """The public names are exactly these, sorted."""
    assert dagster_assets.__all__ == sorted(dagster_assets.__all__)
    assert dagster_assets.__all__ == [
        "CHECK_NAME", "DEFAULT_RESOURCE_KEY", "DagsterFactoryTranslator", "FactoryResource",
        "FlowAssetData", "build_asset_specs", "build_assets", "build_check_specs", "dagster_name",
        "default_asset_key", "factory_assets",
    ]


def test_core_does_not_import_dagster() -> None:
    """Importing the core, building a plan and running nothing leaves Dagster unimported."""
    code = ("import sys, dataflows_factory, dataflows_factory.runner, dataflows_factory.adapters.step;"
            "assert not [m for m in sys.modules if m.split('.')[0] == 'dagster'], 'dagster imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_missing_extra_names_the_pip_line() -> None:
    """Without Dagster importable, the package raises MissingExtraError with the extra to install."""
    code = (
        "import sys; sys.modules['dagster'] = None\n"
        "from dataflows_factory import MissingExtraError\n"
        "try:\n    import dataflows_factory.dagster_assets\n"
        "except MissingExtraError as error:\n    print(error.extra, '|', error)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("dagster |")
    assert 'pip install "dataflows-factory[dagster]"' in done.stdout
