"""The test suite's own set-up holds: grouped tests stay together under pytest-xdist."""

from __future__ import annotations

import os

import pytest


@pytest.mark.xdist_group("grouping")
def test_xdist_groups_reach_the_scheduler(request: pytest.FixtureRequest) -> None:
    """Under ``--dist loadgroup`` a grouped test's id carries its group, so costly shared
    fixtures (the bad-input corpus, the docs site's browser) are set up on one worker only.
    pytest 9.2 with pytest-xdist 3.8 silently dropped every group; pyproject.toml pins below it."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:  # one process: nothing to group
        major, minor = (int(part) for part in pytest.__version__.split(".")[:2])
        assert (major, minor) < (9, 2)
    else:
        assert request.node.nodeid.endswith("@grouping"), request.node.nodeid
