"""Shared fixtures."""

from __future__ import annotations

import pytest
from helpers import make_dist


@pytest.fixture
def dist_factory(tmp_path):
    """Make real dist-info records: ``dist_factory("pkg", "1.2")``."""
    return lambda name, version="1.0": make_dist(tmp_path / "site", name, version)
