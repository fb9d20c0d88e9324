"""Blocks: Prefect's standard block checks, CLI registration, save/load, runs driven by a block."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.testing.standard_test_suites import BlockStandardTestSuite

from dataflows_factory.prefect_blocks import DataflowsFactory, FactoryStore

SECRET = "s3cr3t-token-value-42"


class TestBlockStandards(BlockStandardTestSuite):
    """Description, documentation URL, field descriptions and code examples of every block."""

    @pytest.fixture(params=[FactoryStore, DataflowsFactory])
    def block(self, request: pytest.FixtureRequest) -> Any:
        return request.param

    def test_has_a_valid_image(self, block: Any) -> None:
        """No logo is shipped yet (Prefect shows its default); the suite's check downloads one."""
        assert block._logo_url is None


def test_prefect_block_register_cli_registers_both_blocks(prefect_api: str) -> None:
    """`prefect block register -m dataflows_factory.prefect_blocks` against the test API."""
    prefect = Path(sys.executable).with_name("prefect")
    done = subprocess.run(
        [str(prefect), "block", "register", "-m", "dataflows_factory.prefect_blocks"],
        env={**os.environ, "PREFECT_API_URL": prefect_api}, capture_output=True, text=True,
        timeout=240, check=False)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Successfully registered 2 blocks" in done.stdout, done.stdout
    with get_client(sync_client=True) as client:
        store_type = client.read_block_type_by_slug("dataflows-factory-store")
        factory_type = client.read_block_type_by_slug("dataflows-factory")
        schema = client.get_most_recent_block_schema_for_block_type(store_type.id)
    assert store_type.name == "Dataflows Factory Store"
    assert factory_type.name == "Dataflows Factory"
    assert schema is not None and "credentials.*" in schema.fields["secret_fields"]


def test_saved_blocks_load_back_and_drive_runs_without_printing_secrets(world_file: Path,
                                                                        tmp_path: Path, api) -> None:
    """A saved factory block (with a nested store block) loads back and runs the factory."""
    lake = tmp_path / "lake"
    FactoryStore(url=str(lake), credentials={"token": SECRET}).save("world-lake", overwrite=True)
    FactoryStore.load("world-lake")  # saved on its own, then referenced by the factory block
    DataflowsFactory(factory_ref=f"{world_file}:factory", store=FactoryStore.load("world-lake"),
                     select="+key_metrics").save("world", overwrite=True)

    loaded = DataflowsFactory.load("world")
    assert loaded.store.url == str(lake)
    assert loaded.store.credentials.get_secret_value() == {"token": SECRET}
    assert SECRET not in repr(loaded) and SECRET not in str(loaded)
    with get_client(sync_client=True) as client:
        document = client.read_block_document_by_name("world-lake", "dataflows-factory-store",
                                                      include_secrets=False)
    assert SECRET not in str(document.data)

    results = loaded.run()  # outside a flow: a flow run of its own

    assert sorted(results) == ["cities", "countries", "key_metrics"]
    assert {r.status for r in results.values()} == {"succeeded"}
    assert (lake / "world" / "key_metrics" / "datapackage.json").is_file()
    assert not (world_file.parent / "data").exists()  # the block's store, not the factory's

    @flow
    def nightly() -> dict[str, str]:
        block = DataflowsFactory.load("world")
        return {name: result.status for name, result in block.run(select="countries").items()}

    state = nightly(return_state=True)
    assert state.result() == {"countries": "skipped"}
    assert api.states(state) == {"countries": "Cached"}
    assert not any(SECRET in message for message in api.logs(state))
