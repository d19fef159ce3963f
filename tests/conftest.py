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


@pytest.fixture(scope="session")
def grpc_url(postgres_url):
    """``grpc://...`` of a real ``python -m automl storage-proxy`` in front of the session's
    PostgreSQL server (CI installs the gRPC extra: a missing one fails there)."""
    import os
    import subprocess
    import sys

    from postgres import free_port

    try:
        import grpc  # noqa: F401
    except ImportError:
        if os.environ.get("AUTOML_REQUIRE_EXTRAS"):
            pytest.fail("grpcio is not installed (pip install 'automl[grpc]'); CI installs it")
        pytest.skip("the gRPC extra is not installed (pip install 'automl[grpc]')")
    port = free_port()
    proxy = subprocess.Popen(
        [sys.executable, "-m", "automl", "storage-proxy", postgres_url, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    first = proxy.stdout.readline()
    assert "served on grpc://" in first, first + proxy.stdout.read()
    yield f"grpc://127.0.0.1:{port}"
    proxy.terminate()
    out, _ = proxy.communicate(timeout=60)
    assert proxy.returncode == 0, out
