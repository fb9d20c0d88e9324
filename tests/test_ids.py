"""One id sanitizer: ``safe_id`` is valid, deterministic and collision-free, and pins the core's keys.

The ``*_KEYS``/``*_IDS`` tables below and in ``tests/<engine>/test_*_ids.py`` were computed with
the five sanitizers that ``safe_id`` replaced, before it replaced them: ids already in users'
stores, DAGs and asset catalogs must never change.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from dataflows_factory._naming import safe_id
from dataflows_factory.partitions import part_dataset, partition_key

# partition_key(name): the store's flow@<key> part folders
PARTITION_KEYS = {
    "key_metrics": "key_metrics",
    "world": "world",
    "a": "a",
    "World": "World",
    "UPPER_case": "UPPER_case",
    "sales report": "sales_report-54d4cf70",
    "sales  report": "sales_report-a8d4700d",
    "sales_report": "sales_report",
    "sales-report": "sales-report",
    "sales.report": "sales.report",
    "a..b": "a..b",
    "a...b": "a...b",
    "....": "_-dfa34768",
    ".hidden": "hidden-16924190",
    "trailing.": "trailing-44c12a4e",
    "_x": "x-a01e47cb",
    "x_": "x-3e16f53f",
    "-x": "x-a4209624",
    "x-": "x-c8b60efc",
    "raw/eu.csv": "raw_eu.csv-4563bbe8",
    "raw/sales/eu.csv": "raw_sales_eu.csv-e178dbab",
    "raw\\eu.csv": "raw_eu.csv-588d2c35",
    "../../etc/passwd": "etc_passwd-3754d6cb",
    "2026-01-01": "2026-01-01",
    "flow@key": "flow_key-d7130399",
    "a|b": "a_b-0eab8a0a",
    "a, b": "a_b-4a479db6",
    "[x]": "x-225893dd",
    "tab\there": "tab_here-5b876593",
    "new\nline": "new_line-58fb6729",
    " padded ": "padded-fcbb3c58",
    "café": "caf-850f7dc4",
    "naïve résumé": "na_ve_r_sum-4681baf4",
    "Straße": "Stra_e-58a3778c",
    "İstanbul": "stanbul-24ec8f72",
    "日本語": "_-77710aed",
    "emoji 🚀": "emoji-7bc2d225",
    "": "_-e3b0c442",
    " ": "_-36a9e7f1",
    "_": "_",
    "-": "_-3973e022",
    ".": "_-cdb4ee2a",
    "x" * 51: "x" * 51,
    "x" * 54: "x" * 54,
    "x" * 55: "x" * 55,
    "x" * 63: "x" * 63,
    "x" * 64: "x" * 64,
    "x" * 65: "x" * 55 + "-9537c5fd",
    "x" * 250: "x" * 55 + "-086d4a1c",
    "x" * 251: "x" * 55 + "-90d738c3",
    "x" * 300 + "a": "x" * 55 + "-f5e724b7",
    "x" * 300 + "b": "x" * 55 + "-2cb994e1",
    "a-" * 40: "a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-186c7a79",
    "raw/" + "d" * 60 + ".csv": "raw_" + "d" * 51 + "-c4f9cfcf",
    "v" * 50 + "...z": "v" * 50 + "...z",
}


def test_partition_keys_are_pinned() -> None:
    """partition_key gives, for every corpus name, the key the store's part folders already have."""
    assert {name: partition_key(name) for name in PARTITION_KEYS} == PARTITION_KEYS
    assert part_dataset("sales", "raw/eu.csv") == "sales@raw_eu.csv-4563bbe8"


def test_valid_names_are_kept() -> None:
    """A name already made of the allowed characters, and short enough, is its own id."""
    assert safe_id("key_metrics") == "key_metrics"
    assert safe_id("world.countries-2") == "world.countries-2"
    assert safe_id("x" * 250) == "x" * 250


@given(st.text(max_size=300), st.integers(min_value=10, max_value=300))
def test_any_name_gives_a_valid_stable_id(name: str, max_length: int) -> None:
    """Whatever the name, the id uses only the allowed characters, fits, and is deterministic."""
    for allowed, fill in ((r"A-Za-z0-9_.-", "_"), ("A-Za-z0-9_", "_"), ("a-z0-9", "-")):
        ident = safe_id(name, allowed=allowed, fill=fill, sep=fill, max_length=max_length)
        assert re.fullmatch(f"[{fill}{allowed}]+", ident)
        assert len(ident) <= max_length
        assert safe_id(name, allowed=allowed, fill=fill, sep=fill, max_length=max_length) == ident


@given(st.text(max_size=80), st.text(max_size=80))
def test_different_names_get_different_ids(first: str, second: str) -> None:
    """Two names never share an id, whether rewritten, truncated, or both."""
    if first != second:
        assert safe_id(first, max_length=40) != safe_id(second, max_length=40)


def test_rewritten_and_truncated_names_end_with_a_hash() -> None:
    """A rewritten or cut name becomes its cleaned text, cut to fit, then sep and 8 hex digits."""
    assert re.fullmatch(r"a_b_[0-9a-f]{8}", safe_id("a b"))
    assert safe_id("a b") != safe_id("a_b") != safe_id("a-b")
    assert re.fullmatch(r"x{11}-[0-9a-f]{8}", safe_id("x" * 300, max_length=20, sep="-"))


def test_engine_variants() -> None:
    """squeeze, strip, empty, hash_rewrites, strip_cut and digest_of do what the engines rely on."""
    assert safe_id("a  b", squeeze=False, hash_rewrites=False) == "a__b"
    assert re.fullmatch(r"x{11}_[0-9a-f]{8}", safe_id("x" * 30, max_length=20, hash_rewrites=False))
    assert safe_id("", empty="_", hash_rewrites=False) == "_"
    assert re.fullmatch(r"a-[0-9a-f]{8}", safe_id("-a-", allowed="a-z", fill="-", sep="-", strip="-"))
    name = "a" * 10 + "-b" * 20
    cut = safe_id(name, allowed="a-z", fill="-", sep="-", strip="-", max_length=20)
    assert re.fullmatch(r"a{10}--[0-9a-f]{8}", cut)
    cut = safe_id(name, allowed="a-z", fill="-", sep="-", strip="-", max_length=20, strip_cut=True)
    assert re.fullmatch(r"a{10}-[0-9a-f]{8}", cut)
    assert safe_id("a b", digest_of="x y")[-8:] == safe_id("x y")[-8:] != safe_id("a b")[-8:]
    assert safe_id("a b", algorithm="sha1")[-8:] != safe_id("a b")[-8:]
