"""Shared fixtures."""

from __future__ import annotations

import pytest
from helpers import make_dist

# Session exports (real small studies) and servers for the serving tests.
pytest_plugins = ["serving_fixtures"]


@pytest.fixture
def dist_factory(tmp_path):
    """Make real dist-info records: ``dist_factory("pkg", "1.2")``."""
    return lambda name, version="1.0": make_dist(tmp_path / "site", name, version)


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server for the session; CI requires one (AUTOML_REQUIRE_POSTGRES=1)."""
    import os

    from postgres import postgres_bin, running_postgres

    bindir = postgres_bin()
    if bindir is None:
        message = "PostgreSQL server binaries not found (Debian: apt-get install postgresql)"
        if os.environ.get("AUTOML_REQUIRE_POSTGRES"):
            pytest.fail(message)
        pytest.skip(message)
    with running_postgres(bindir) as url:
        yield url
