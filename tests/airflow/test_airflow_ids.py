"""Task ids and Asset URIs come from pure, deterministic functions that Airflow accepts."""

from __future__ import annotations

from airflow.sdk.definitions._internal.node import KEY_REGEX
from hypothesis import given
from hypothesis import strategies as st

from dataflows_factory.airflow_provider import asset_uri, task_id_for


def test_valid_flow_names_are_kept() -> None:
    """Flow names are already valid ids: the task id is the flow name, unchanged."""
    assert task_id_for("key_metrics") == "key_metrics"
    assert task_id_for("countries", prefix="world.") == "world.countries"


@given(st.text(max_size=400))
def test_any_name_gives_a_valid_stable_id(name: str) -> None:
    """Whatever the name, the id is valid for Airflow, at most 250 chars, and deterministic."""
    task_id = task_id_for(name)
    assert KEY_REGEX.match(task_id) and task_id.isascii()
    assert len(task_id) <= 250
    assert task_id_for(name) == task_id


def test_rewritten_names_do_not_collide() -> None:
    """Two names that sanitize or truncate to the same text still get different ids."""
    assert task_id_for("a b") != task_id_for("a_b") != task_id_for("a-b")
    long_a, long_b = "x" * 300 + "a", "x" * 300 + "b"
    assert task_id_for(long_a) != task_id_for(long_b)
    assert task_id_for("a b") == task_id_for("a b")


def test_asset_uris() -> None:
    """Local dataset folders become file:// URIs; credentials never reach an Asset URI."""
    assert asset_uri("/data/world/countries") == "file:///data/world/countries"
    assert asset_uri("s3://key:secret@bucket/world/countries/") == "s3://bucket/world/countries"
    assert asset_uri("gs://bucket/world/countries") == "gs://bucket/world/countries"
