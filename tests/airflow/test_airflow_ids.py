"""Task ids and Asset URIs come from pure, deterministic functions that Airflow accepts."""

from __future__ import annotations

from airflow.sdk.definitions._internal.node import KEY_REGEX
from hypothesis import given
from hypothesis import strategies as st

from dataflows_factory.airflow_provider import asset_uri, task_id_for
from dataflows_factory.airflow_provider._ids import partition_task_id

# Computed with the sanitizer before _naming.safe_id replaced it (see tests/test_ids.py):
# task and DAG ids in users' metadata databases must never change.
# task_id_for(name)
TASK_IDS = {
    "key_metrics": "key_metrics",
    "world": "world",
    "a": "a",
    "World": "World",
    "UPPER_case": "UPPER_case",
    "sales report": "sales_report_54d4cf70",
    "sales  report": "sales_report_a8d4700d",
    "sales_report": "sales_report",
    "sales-report": "sales-report",
    "sales.report": "sales.report",
    "a..b": "a..b",
    "a...b": "a...b",
    "....": "....",
    ".hidden": ".hidden",
    "trailing.": "trailing.",
    "_x": "_x",
    "x_": "x_",
    "-x": "-x",
    "x-": "x-",
    "raw/eu.csv": "raw_eu.csv_4563bbe8",
    "raw/sales/eu.csv": "raw_sales_eu.csv_e178dbab",
    "raw\\eu.csv": "raw_eu.csv_588d2c35",
    "../../etc/passwd": ".._.._etc_passwd_3754d6cb",
    "2026-01-01": "2026-01-01",
    "flow@key": "flow_key_d7130399",
    "a|b": "a_b_0eab8a0a",
    "a, b": "a_b_4a479db6",
    "[x]": "_x__225893dd",
    "tab\there": "tab_here_5b876593",
    "new\nline": "new_line_58fb6729",
    " padded ": "_padded__fcbb3c58",
    "café": "caf__850f7dc4",
    "naïve résumé": "na_ve_r_sum__4681baf4",
    "Straße": "Stra_e_58a3778c",
    "İstanbul": "_stanbul_24ec8f72",
    "日本語": "__77710aed",
    "emoji 🚀": "emoji__7bc2d225",
    "": "_e3b0c442",
    " ": "__36a9e7f1",
    "_": "_",
    "-": "-",
    ".": ".",
    "x" * 51: "x" * 51,
    "x" * 54: "x" * 54,
    "x" * 55: "x" * 55,
    "x" * 63: "x" * 63,
    "x" * 64: "x" * 64,
    "x" * 65: "x" * 65,
    "x" * 250: "x" * 250,
    "x" * 251: "x" * 241 + "_90d738c3",
    "x" * 300 + "a": "x" * 241 + "_f5e724b7",
    "x" * 300 + "b": "x" * 241 + "_2cb994e1",
    "a-" * 40: "a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-",
    "raw/" + "d" * 60 + ".csv": "raw_" + "d" * 60 + ".csv_c4f9cfcf",
    "v" * 50 + "...z": "v" * 50 + "...z",
}

# task_id_for(name, prefix="world.")
PREFIXED_TASK_IDS = {
    "key_metrics": "world.key_metrics",
    "world": "world.world",
    "a": "world.a",
    "World": "world.World",
    "UPPER_case": "world.UPPER_case",
    "sales report": "world.sales_report_827fd6fd",
    "sales  report": "world.sales_report_6cf0f928",
    "sales_report": "world.sales_report",
    "sales-report": "world.sales-report",
    "sales.report": "world.sales.report",
    "a..b": "world.a..b",
    "a...b": "world.a...b",
    "....": "world.....",
    ".hidden": "world..hidden",
    "trailing.": "world.trailing.",
    "_x": "world._x",
    "x_": "world.x_",
    "-x": "world.-x",
    "x-": "world.x-",
    "raw/eu.csv": "world.raw_eu.csv_014967d4",
    "raw/sales/eu.csv": "world.raw_sales_eu.csv_2a14aec4",
    "raw\\eu.csv": "world.raw_eu.csv_b4d2158b",
    "../../etc/passwd": "world..._.._etc_passwd_9f65962d",
    "2026-01-01": "world.2026-01-01",
    "flow@key": "world.flow_key_4171cf36",
    "a|b": "world.a_b_9557a171",
    "a, b": "world.a_b_fd36731a",
    "[x]": "world._x__5a4fda50",
    "tab\there": "world.tab_here_79a7f431",
    "new\nline": "world.new_line_56fd9900",
    " padded ": "world._padded__57fcf3d2",
    "café": "world.caf__ddc385da",
    "naïve résumé": "world.na_ve_r_sum__970688e9",
    "Straße": "world.Stra_e_461f0bd0",
    "İstanbul": "world._stanbul_c0810825",
    "日本語": "world.__e391ee09",
    "emoji 🚀": "world.emoji__9b1a039f",
    "": "world.",
    " ": "world.__dd10b05e",
    "_": "world._",
    "-": "world.-",
    ".": "world..",
    "x" * 51: "world." + "x" * 51,
    "x" * 54: "world." + "x" * 54,
    "x" * 55: "world." + "x" * 55,
    "x" * 63: "world." + "x" * 63,
    "x" * 64: "world." + "x" * 64,
    "x" * 65: "world." + "x" * 65,
    "x" * 250: "world." + "x" * 235 + "_d138134b",
    "x" * 251: "world." + "x" * 235 + "_62395d24",
    "x" * 300 + "a": "world." + "x" * 235 + "_45405bd0",
    "x" * 300 + "b": "world." + "x" * 235 + "_0a044beb",
    "a-" * 40: "world.a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-",
    "raw/" + "d" * 60 + ".csv": "world.raw_" + "d" * 60 + ".csv_16adde4f",
    "v" * 50 + "...z": "world." + "v" * 50 + "...z",
}

# partition_task_id(name)
PARTITION_TASK_IDS = {
    "key_metrics": "key_metrics.partition",
    "world": "world.partition",
    "a": "a.partition",
    "World": "World.partition",
    "UPPER_case": "UPPER_case.partition",
    "sales report": "sales_report.partition_1e2b0f31",
    "sales  report": "sales_report.partition_0acb6a9c",
    "sales_report": "sales_report.partition",
    "sales-report": "sales-report.partition",
    "sales.report": "sales.report.partition",
    "a..b": "a..b.partition",
    "a...b": "a...b.partition",
    "....": ".....partition",
    ".hidden": ".hidden.partition",
    "trailing.": "trailing..partition",
    "_x": "_x.partition",
    "x_": "x_.partition",
    "-x": "-x.partition",
    "x-": "x-.partition",
    "raw/eu.csv": "raw_eu.csv.partition_aee52233",
    "raw/sales/eu.csv": "raw_sales_eu.csv.partition_c8c52304",
    "raw\\eu.csv": "raw_eu.csv.partition_cccf1d63",
    "../../etc/passwd": ".._.._etc_passwd.partition_1749570c",
    "2026-01-01": "2026-01-01.partition",
    "flow@key": "flow_key.partition_8f8fa909",
    "a|b": "a_b.partition_d7a9365a",
    "a, b": "a_b.partition_35b747e8",
    "[x]": "_x_.partition_8439515b",
    "tab\there": "tab_here.partition_57d87ade",
    "new\nline": "new_line.partition_5bf3db6f",
    " padded ": "_padded_.partition_6a4497bc",
    "café": "caf_.partition_1b3c685b",
    "naïve résumé": "na_ve_r_sum_.partition_934e3077",
    "Straße": "Stra_e.partition_513a5031",
    "İstanbul": "_stanbul.partition_4b9e1e1e",
    "日本語": "_.partition_fff149b3",
    "emoji 🚀": "emoji_.partition_366bc4b1",
    "": ".partition",
    " ": "_.partition_57535a54",
    "_": "_.partition",
    "-": "-.partition",
    ".": "..partition",
    "x" * 51: "x" * 51 + ".partition",
    "x" * 54: "x" * 54 + ".partition",
    "x" * 55: "x" * 55 + ".partition",
    "x" * 63: "x" * 63 + ".partition",
    "x" * 64: "x" * 64 + ".partition",
    "x" * 65: "x" * 65 + ".partition",
    "x" * 250: "x" * 241 + "_6dd0e3c7",
    "x" * 251: "x" * 241 + "_63eb45c1",
    "x" * 300 + "a": "x" * 241 + "_cabe23ee",
    "x" * 300 + "b": "x" * 241 + "_11048074",
    "a-" * 40: "a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-.partition",
    "raw/" + "d" * 60 + ".csv": "raw_" + "d" * 60 + ".csv.partition_2f5724e9",
    "v" * 50 + "...z": "v" * 50 + "...z.partition",
}


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


def test_ids_are_pinned() -> None:
    """Task ids, prefixed ids and partition task ids are what they were for every corpus name."""
    assert {name: task_id_for(name) for name in TASK_IDS} == TASK_IDS
    assert {name: task_id_for(name, prefix="world.") for name in PREFIXED_TASK_IDS} == PREFIXED_TASK_IDS
    assert {name: partition_task_id(name) for name in PARTITION_TASK_IDS} == PARTITION_TASK_IDS
