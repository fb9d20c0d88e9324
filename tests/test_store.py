"""The store: published datasets follow the umask, staging stays private, remote errors name the store."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from dataflows import Flow

from dataflows_factory import Factory, StoreError, run_step
from dataflows_factory.store import Store


@pytest.fixture
def umask() -> Iterator[None]:
    """Restore the test process's umask afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_published_datasets_follow_the_umask_and_staging_is_private(
        tmp_path: Path, mask: int, umask: None) -> None:
    """With umask 022 a dataset folder is 0755 (as plain dataflows makes it), with 077 0700;
    a staging folder in use is 0700 whatever the umask."""
    os.umask(mask)
    factory = Factory("modes", root=tmp_path, store=str(tmp_path / "data"))
    staged_modes: list[int] = []

    def peek(rows):
        # While the flow streams, its staging folder is the only one in .staging.
        staging = tmp_path / "data" / "modes" / ".staging"
        staged_modes.extend(_mode(p) for p in staging.iterdir())
        yield from rows

    @factory.flow()
    def numbers():
        return Flow([{"n": 1}], peek)

    run_step(factory, "numbers")
    dataset = tmp_path / "data" / "modes" / "numbers"
    assert _mode(dataset) == 0o777 & ~mask
    assert all(_mode(p) == 0o666 & ~mask for p in dataset.iterdir())
    assert staged_modes == [0o700]


def test_a_remote_filesystem_error_names_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception from the store's filesystem becomes one StoreError naming the store
    (and never its secret); "not found" still reads as "not published"."""
    store = Store("memory://lake/prefix")
    assert store.read_descriptor("f", "flow") is None  # not found: not published yet

    class Denied(Exception):
        pass

    def refuse(*args: object, **kwargs: object) -> bytes:
        raise Denied("Unable to locate credentials")

    monkeypatch.setattr(store.fs._fs, "cat_file", refuse)
    with pytest.raises(StoreError) as caught:
        store.read_descriptor("f", "flow")
    text = str(caught.value)
    assert text.startswith("store 'memory://lake/prefix': cannot read memory://lake/prefix/f/flow/")
    assert "Denied: Unable to locate credentials; give the store its credentials" in text
